// Watches a drill's cluster from the inside: one thread per node asks the
// node, over its own loopback (never cut by a fault), for MEMBERS and HINTS
// every `poll_ms`, and hands each sample to Observations (observations.h),
// which keeps it and writes what changed to the timeline: a member's state
// as each node sees it, hints piling up and draining, a node that stops
// answering and answers again.
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
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "drills/drill_cluster.h"
#include "drills/drill_replies.h"
#include "drills/observations.h"
#include "drills/timeline.h"

namespace ringkv::drills {

class Monitor {
 public:
  // Starts polling at once. `timeline` must outlive the Monitor.
  Monitor(const DrillCluster& cluster, Timeline* timeline, int poll_ms);
  ~Monitor();

  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // Stops and joins the threads; the observations stay.
  void Stop();

  int poll_ms() const { return poll_ms_; }
  // Every sample so far, and the queries on them.
  const Observations& observations() const { return observations_; }
  // Non-empty when a node answered the command with "unknown command" (the
  // error text), so the features it shows are not in this server.
  std::string MembersUnsupported() const;
  std::string HintsUnsupported() const;
  // Replies that did not match the contract (drill_replies.h), first few.
  std::vector<std::string> ParseErrors() const;

 private:
  void Poll(int index);
  Sample Ask(int index, RedisContext* context);
  // Parses one reply into `sample`; notes an unsupported command or a
  // reply that breaks the contract.
  void Take(int index, const std::string& command, const redisReply* reply, Sample* sample);

  const DrillCluster& cluster_;
  Timeline* timeline_;  // Not owned.
  const int poll_ms_;
  Observations observations_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::string members_unsupported_;        // Guarded by mutex_.
  std::string hints_unsupported_;          // Guarded by mutex_.
  std::vector<std::string> parse_errors_;  // Guarded by mutex_.
  std::vector<std::thread> threads_;
};

}  // namespace ringkv::drills

#endif  // RINGKV_TESTS_DRILLS_MONITOR_H_
