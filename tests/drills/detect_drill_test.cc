// Drill 4 of the failure-drill issue: failure-detection time and false
// suspicion. First a healthy cluster under load, in which no node may ever
// see any member suspect (20 s in the CI form, 5 minutes in the long form).
// Then a node is killed with kill -9, and the time from the kill until each
// other node lists it suspect is measured; the goal is at most 3 gossip
// intervals. The long form measures three kills, of different nodes, each
// restarted before the next.
//
// The measurement comes from the monitor's polls, every 25 ms here, so it is
// late by at most a poll interval plus a round trip; the bound allows one
// poll interval on top of the 3 gossip intervals.
//
// Needs MEMBERS and the gossip config keys (drill_replies.h).
#include <algorithm>
#include <chrono>
#include <thread>

#include "cluster/cluster_replies.h"
#include "drills/drill.h"

namespace ringkv::drills {
namespace {

using cluster_test::NowMs;

constexpr int kDetectionIntervalsMax = 3;
constexpr int kDetectPollMs = 25;
// How long to wait for a detection at all, in gossip intervals, before it
// counts as never.
constexpr int kDetectionWaitIntervals = 10;

TEST_CASE("drill: failure detection time after kill -9, and no false suspect under load") {
  if (!DrillsCanRun()) return;
  DrillForm form = FormFromEnvironment();
  form.poll_ms = kDetectPollMs;
  Drill drill("drill detect: detection time and false suspicion", form);
  DrillCluster& cluster = drill.cluster();
  Monitor& monitor = drill.monitor();
  const int interval_ms = drill.interval_ms();

  drill.Phase("healthy");
  int64_t healthy_from_ms = NowMs();
  drill.StartLoad();
  int healthy_ms = form.Ms(20000, 300000);
  std::this_thread::sleep_for(std::chrono::milliseconds(healthy_ms));
  int64_t healthy_to_ms = NowMs();
  std::vector<Observations::Sighting> false_suspects =
      monitor.observations().SuspectSightings(healthy_from_ms, healthy_to_ms);
  std::string first;
  if (!false_suspects.empty()) {
    first = ": first " + cluster.name(false_suspects[0].observer) + " saw " +
            false_suspects[0].member + " suspect";
  }
  bool observed = monitor.observations().Latest(0) && monitor.observations().Latest(0)->has_members;
  drill.Check(observed && false_suspects.empty(),
              "no false suspect during " + std::to_string(healthy_ms / 1000) + " s of healthy load",
              observed ? ": " + std::to_string(false_suspects.size()) + " sightings" + first
                       : ": MEMBERS never answered (" + monitor.MembersUnsupported() + ")");

  std::vector<int> victims = form.long_form ? std::vector<int>{2, 4, 1} : std::vector<int>{2};
  int64_t worst_ms = 0;
  bool all_detected = true;
  for (int victim : victims) {
    std::string name = cluster.name(victim);
    drill.Phase("kill " + name);
    int64_t kill_ms =
        drill.timeline().Add("FAULT", "kill -9 " + name + " (pid " +
                                          std::to_string(cluster.process(victim).pid()) + ")");
    cluster.Kill9(victim);
    auto seen = drill.WaitSeenBy(drill.Others(victim), victim, "suspect", kill_ms,
                                 kDetectionWaitIntervals * interval_ms);
    int64_t detection_ms = drill.ReportSightings(
        "detection of " + name + ": from kill -9 to suspect on each other node", seen, kill_ms);
    all_detected = all_detected && detection_ms >= 0;
    worst_ms = std::max(worst_ms, detection_ms);
    int64_t bound_ms = kDetectionIntervalsMax * interval_ms + form.poll_ms;
    drill.Check(detection_ms >= 0 && detection_ms <= bound_ms,
                "every other node saw " + name + " suspect within " +
                    std::to_string(kDetectionIntervalsMax) + " gossip intervals (+ one poll, " +
                    std::to_string(bound_ms) + " ms) of the kill",
                detection_ms >= 0 ? ": the last after " + std::to_string(detection_ms) + " ms"
                                  : ": not every node did");

    drill.timeline().Add("HEAL", "restart " + name);
    cluster.Restart(victim);
    int64_t back_ms = drill.timeline().Add("node", name + " is back");
    auto alive = drill.WaitSeenBy(drill.Others(victim), victim, "alive", back_ms,
                                  kDetectionWaitIntervals * interval_ms);
    drill.Check(std::all_of(alive.begin(), alive.end(),
                            [](const auto& entry) { return entry.second.has_value(); }),
                "every other node saw " + name + " alive again after its restart");
  }
  std::vector<WriteRecord> writes = drill.StopLoad();
  drill.CheckWritesSucceeded(writes, -1, healthy_from_ms, healthy_to_ms, 1.0,
                             "every write succeeded while the cluster was healthy");
  if (all_detected) {
    char line[160];
    std::snprintf(line, sizeof line, "worst detection %lld ms = %.2f gossip intervals of %d ms\n",
                  static_cast<long long>(worst_ms), static_cast<double>(worst_ms) / interval_ms,
                  interval_ms);
    drill.timeline().AddSection("detection summary", line);
  }
}

}  // namespace
}  // namespace ringkv::drills
