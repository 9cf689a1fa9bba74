// What every drill shares: the network, the cluster, the monitor, the load
// and the timeline, set up in that order and torn down in reverse; the
// bounded waits on what the monitor sees; the checks, each of which is also
// a line in the timeline; and the final checkers. The timeline is printed
// when the Drill ends, also when a REQUIRE aborted it.
//
// Two forms: the CI form (the ctest default: short phases, 300 ms gossip)
// and the long form (RINGKV_DRILL_LONG=1, which scripts/drill.sh --long
// sets: long phases, the server's default 1 s gossip).
//
// Ownership: a Drill owns everything it sets up. Thread safety: one thread
// (the test's); the monitor and the load run their own threads inside.
#ifndef RINGKV_TESTS_DRILLS_DRILL_H_
#define RINGKV_TESTS_DRILLS_DRILL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "drills/checker.h"
#include "drills/drill_cluster.h"
#include "drills/load.h"
#include "drills/monitor.h"
#include "drills/netns.h"
#include "drills/timeline.h"

namespace ringkv::drills {

struct DrillForm {
  bool long_form = false;
  int gossip_interval_ms = 300;
  // 2.5 intervals, the ratio docs/gossip.md gives for the default 1 s
  // interval, so the short form is the default scaled down.
  int suspect_after_ms = 750;
  int poll_ms = 50;  // The monitor's; the resolution of every measurement.
  LoadOptions load;

  // `ci_ms` in the CI form, `long_ms` in the long form.
  int Ms(int ci_ms, int long_ms) const { return long_form ? long_ms : ci_ms; }
  const char* name() const { return long_form ? "long form" : "CI form"; }
};

// The CI form, or the long form when RINGKV_DRILL_LONG=1.
DrillForm FormFromEnvironment();

// Whether the drills can run here (root, ip, nft, namespaces). When not, the
// test returns early with a MESSAGE, except under CI=true, where it fails:
// CI must not pass by skipping.
bool DrillsCanRun();

class Drill {
 public:
  Drill(std::string title, DrillForm form, DrillClusterOptions cluster_options = {});
  // Stops the load and the monitor, adds the verdict and prints the
  // timeline to stdout; then tears down cluster and network.
  ~Drill();

  Drill(const Drill&) = delete;
  Drill& operator=(const Drill&) = delete;

  const DrillForm& form() const { return form_; }
  Network& network() { return *network_; }
  DrillCluster& cluster() { return *cluster_; }
  Monitor& monitor() { return *monitor_; }
  Timeline& timeline() { return timeline_; }
  int interval_ms() const { return cluster_->options().gossip_interval_ms; }

  // Waits until every node lists every member alive, for at most
  // `timeout_ms` (at once when MEMBERS is unsupported); a check.
  void WaitAllAlive(int timeout_ms);

  // The load runs from StartLoad to StopLoad; StopLoad returns its writes.
  void StartLoad();
  std::vector<WriteRecord> StopLoad();
  // Names the phase that starts now; StopLoad adds a section counting the
  // writes that started in each phase by outcome.
  void Phase(std::string name);

  // A check: CHECK_MESSAGE, and a line in the timeline. Returns `ok`.
  bool Check(bool ok, const std::string& what, const std::string& detail = "");

  // Waits until every node in `observers` has listed `member` in `state`
  // at or after `since_ms`, for at most `timeout_ms` (at once when MEMBERS
  // is unsupported). Returns each observer's first sighting (NowMs clock),
  // nullopt for those that did not.
  std::map<int, std::optional<int64_t>> WaitSeenBy(const std::vector<int>& observers, int member,
                                                   const std::string& state, int64_t since_ms,
                                                   int timeout_ms);
  // Every node but `member`.
  std::vector<int> Others(int member) const;
  // Adds a section listing each observer's sighting relative to `since_ms`.
  // Returns the latest sighting's delay, or -1 if some observer has none.
  int64_t ReportSightings(const std::string& heading,
                          const std::map<int, std::optional<int64_t>>& seen, int64_t since_ms);

  // Waits until no node holds hints for `target` (monitor samples), for at
  // most `timeout_ms`. Returns whether it happened.
  bool WaitHintsDrained(int target, int timeout_ms);

  // The end of drills 1-3 once the load stopped: placement (polled until
  // clean or bounded), then the set checker at R = N, each checked.
  void FinalChecks(const std::vector<WriteRecord>& writes);

  // Counts the writes sent to nodes other than `excluded` that started and
  // ended in [from_ms, to_ms): one still in flight at to_ms may have met
  // what happened then (a write forwarded to a node killed at that moment
  // fails rightly). Checks that at least `minimum_ok_fraction` of them
  // succeeded (and that there were some).
  void CheckWritesSucceeded(const std::vector<WriteRecord>& writes, int excluded, int64_t from_ms,
                            int64_t to_ms, double minimum_ok_fraction, const std::string& what);

 private:
  void AddWriteSection(const std::vector<WriteRecord>& writes);

  const DrillForm form_;
  Timeline timeline_;
  std::unique_ptr<Network> network_;
  std::unique_ptr<DrillCluster> cluster_;
  std::unique_ptr<Monitor> monitor_;
  std::unique_ptr<Load> load_;
  std::vector<std::pair<std::string, int64_t>> phases_;  // Name, start (NowMs).
  int checks_failed_ = 0;
  int checks_passed_ = 0;
};

}  // namespace ringkv::drills

#endif  // RINGKV_TESTS_DRILLS_DRILL_H_
