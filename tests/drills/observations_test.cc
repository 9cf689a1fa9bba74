// Observations on made-up samples: a node killed, seen suspect, its hints
// piling up on two others and draining after it returns. This is how the
// drills' queries and timeline lines are checked before the server has
// MEMBERS and HINTS.
#include "drills/observations.h"

#include <doctest/doctest.h>

namespace ringkv::drills {
namespace {

class Script {
 public:
  explicit Script(Observations* observations, int64_t base_ms)
      : observations_(observations), base_ms_(base_ms) {}

  // A sample of node `index` at base + `at_ms`: n1..n3 with n3 in
  // `n3_state`, and the hints for n3 it holds (count < 0: no entry).
  void Add(int index, int64_t at_ms, const std::string& n3_state, int64_t count = -1,
           int64_t delivered = 0, int64_t dropped = 0) {
    Sample sample;
    sample.at_ms = base_ms_ + at_ms;
    sample.answered = true;
    sample.has_members = true;
    sample.has_hints = true;
    sample.states = {{"n1", "alive"}, {"n2", "alive"}, {"n3", n3_state}};
    if (count >= 0) {
      HintTargetView hints;
      hints.target = "n3";
      hints.count = count;
      hints.delivered = delivered;
      hints.dropped = dropped;
      sample.hints["n3"] = hints;
    }
    observations_->Add(index, sample);
  }

  void Silent(int index, int64_t at_ms) {
    Sample sample;
    sample.at_ms = base_ms_ + at_ms;
    observations_->Add(index, sample);
  }

 private:
  Observations* observations_;
  int64_t base_ms_;
};

TEST_CASE("drill observations: suspicion, hints piling up and draining, in queries and timeline") {
  Timeline timeline("observations");
  Observations observations({"n1", "n2", "n3"}, &timeline);
  const int64_t base = timeline.start_ms();
  Script script(&observations, base);
  for (int i = 0; i < 3; ++i) script.Add(i, 0, "alive");
  script.Add(0, 500, "alive");
  // n3 is killed at 1000.
  script.Silent(2, 1100);
  script.Add(0, 1300, "suspect", 5);
  script.Add(1, 1400, "suspect", 4);
  script.Add(0, 1600, "suspect", 12);
  script.Add(2, 2400, "alive");  // Back.
  script.Add(0, 2500, "alive", 3, 9);
  script.Add(1, 2600, "alive", 0, 4, 1);
  script.Add(0, 2800, "alive");  // Drained: no entry any more.

  CHECK(observations.FirstSeen(0, "n3", "suspect", base + 1000) == base + 1300);
  CHECK(observations.FirstSeen(1, "n3", "suspect", base + 1000) == base + 1400);
  CHECK_FALSE(observations.FirstSeen(2, "n3", "suspect", base + 1000));
  CHECK(observations.FirstSeen(0, "n3", "alive", base + 2000) == base + 2500);

  std::vector<Observations::Sighting> sightings = observations.SuspectSightings(base, base + 3000);
  REQUIRE(sightings.size() == 2);
  CHECK(sightings[0].observer == 0);
  CHECK(sightings[0].at_ms == base + 1300);
  CHECK(sightings[1].observer == 1);
  CHECK(sightings[1].member == "n3");
  CHECK(observations.SuspectSightings(base + 2000, base + 3000).empty());

  // 5, then 5 + 4, then 12 + 4 = 16, then 3 + 4, 3 + 0, 0.
  CHECK(observations.PeakHints("n3", base + 1000, base + 3000) == 16);
  CHECK(observations.PeakHints("n3", base + 2550, base + 3000) == 3);
  CHECK(observations.PeakHints("n1", base, base + 3000) == 0);
  CHECK(observations.HintsHeld("n3") == 0);
  CHECK(observations.DeliveredSince("n3", base + 1000) == 9 + 4);
  CHECK(observations.DroppedSince("n3", base + 1000) == 1);
  REQUIRE(observations.Latest(2));
  CHECK(observations.Latest(2)->at_ms == base + 2400);

  std::string text = timeline.Render();
  for (const char* line :
       {"member   n1 sees n3 suspect", "member   n2 sees n3 suspect", "member   n1 sees n3 alive",
        "node     n3 does not answer on its loopback", "node     n3 answers again on its loopback",
        "hints    n1 holds 5 hints (0 bytes) for n3",
        "hints    n1 holds no more hints for n3 (9 delivered since it began holding)",
        "hints    n2 holds no more hints for n3 (4 delivered since it began holding)",
        "hints    n2 dropped 1 hints for n3"}) {
    CHECK_MESSAGE(text.find(line) != std::string::npos, line << "\n" << text);
  }
  // The healthy start is no news.
  CHECK(text.find("sees n1") == std::string::npos);
}

TEST_CASE("drill observations: hints held is unknown while a node answers without HINTS") {
  Timeline timeline("observations");
  Observations observations({"n1", "n2"}, &timeline);
  Sample with_hints;
  with_hints.at_ms = timeline.start_ms();
  with_hints.answered = true;
  with_hints.has_hints = true;
  observations.Add(0, with_hints);
  CHECK(observations.HintsHeld("n2") == 0);  // n2 never answered: nothing seen there.
  Sample without = with_hints;
  without.has_hints = false;
  observations.Add(1, without);
  CHECK_FALSE(observations.HintsHeld("n2"));
  CHECK(observations.PeakHints("n2", 0, timeline.start_ms() + 1) == 0);
}

}  // namespace
}  // namespace ringkv::drills
