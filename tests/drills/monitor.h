// Watches a drill's cluster from the inside: one thread per node asks the
// node, over its own loopback (never cut by a fault), for MEMBERS and HINTS
// every `poll_ms`. Every sample is kept, and every change is written to the
// timeline as it is seen: a member's state as each node sees it, hints piling
// up and draining, a node that stops answering and answers again.
//
// Times are when a reply arrived (cluster_test::NowMs clock): the change
// happened at most one poll interval plus one round trip earlier, which is
// the resolution of every measurement made from these samples.
//
// A server without MEMBERS or HINTS ("unknown command") is noted once in
// the timeline and not asked again; the drill's checks then fail with that
// reason instead of waiting for their bounds.
//
// Ownership: the Monitor keeps a reference to the cluster, which must
// outlive it; the destructor stops and joins the threads.
// Thread safety: the queries may be called from any thread while polling.
#ifndef RINGKV_TESTS_DRILLS_MONITOR_H_
#define RINGKV_TESTS_DRILLS_MONITOR_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "drills/drill_cluster.h"
#include "drills/drill_replies.h"
#include "drills/timeline.h"

namespace ringkv::drills {

class Monitor {
 public:
  // One poll of one node.
  struct Sample {
    int64_t at_ms = 0;
    bool answered = false;  // False: the node did not answer in time.
    bool has_members = false;
    bool has_hints = false;
    std::map<std::string, std::string> states;    // Member name -> state.
    std::map<std::string, HintTargetView> hints;  // Target name -> hints.
  };

  // Starts polling at once. `timeline` must outlive the Monitor.
  Monitor(const DrillCluster& cluster, Timeline* timeline, int poll_ms);
  ~Monitor();

  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // Stops and joins the threads; the samples stay.
  void Stop();

  int poll_ms() const { return poll_ms_; }
  // Non-empty when a node answered the command with "unknown command" (the
  // error text), so the features it shows are not in this server.
  std::string MembersUnsupported() const;
  std::string HintsUnsupported() const;
  // Replies that did not match the contract (drill_replies.h), first few.
  std::vector<std::string> ParseErrors() const;

  // The latest sample of `observer` in which it answered, or nullopt.
  std::optional<Sample> Latest(int observer) const;
  // The first sample of `observer` at or after `since_ms` in which it lists
  // `member` in `state`: its time, or nullopt if none (yet).
  std::optional<int64_t> FirstSeen(int observer, const std::string& member,
                                   const std::string& state, int64_t since_ms) const;
  // Every (time, observer, member) at which a member was seen suspect in
  // [from_ms, to_ms], observers' views of themselves included.
  struct Sighting {
    int64_t at_ms;
    int observer;
    std::string member;
  };
  std::vector<Sighting> SuspectSightings(int64_t from_ms, int64_t to_ms) const;
  // The largest number of hints for `target`, summed over the holders'
  // latest samples, at any moment in [from_ms, to_ms]. -1 with no sample.
  int64_t PeakHints(const std::string& target, int64_t from_ms, int64_t to_ms) const;
  // Hints for `target` held right now, summed over every node's latest
  // sample; nullopt when some node that answered has no HINTS sample.
  std::optional<int64_t> HintsHeld(const std::string& target) const;
  // Sum over holders of the growth of `delivered` (or `dropped`) for
  // `target` between the first sample at or after `since_ms` and the latest.
  int64_t DeliveredSince(const std::string& target, int64_t since_ms) const;
  int64_t DroppedSince(const std::string& target, int64_t since_ms) const;

 private:
  // What one node's thread remembers between polls to word its events.
  struct Reporter {
    bool answering = true;           // The cluster started with every node answering.
    std::optional<Sample> previous;  // The last sample with an answer.
    std::map<std::string, int64_t> hints_reported_ms;   // Per target.
    std::map<std::string, int64_t> delivered_at_first;  // Per target, while held.
  };

  void Poll(int index);
  Sample Ask(int index, RedisContext* context);
  void Report(int index, const Sample& sample, Reporter* reporter);
  void ReportHints(int index, const Sample& sample, Reporter* reporter);
  int64_t GrowthSince(const std::string& target, int64_t since_ms, bool delivered) const;

  const DrillCluster& cluster_;
  Timeline* timeline_;  // Not owned.
  const int poll_ms_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<std::vector<Sample>> samples_;  // Per node; guarded by mutex_.
  std::string members_unsupported_;           // Guarded by mutex_.
  std::string hints_unsupported_;             // Guarded by mutex_.
  std::vector<std::string> parse_errors_;     // Guarded by mutex_.
  std::vector<std::thread> threads_;
};

}  // namespace ringkv::drills

#endif  // RINGKV_TESTS_DRILLS_MONITOR_H_
