// What the monitor saw, kept and judged: every sample of every node's
// MEMBERS and HINTS, the changes between a node's samples written to the
// timeline as they arrive (a member's state as the node sees it, hints piling
// up and draining, a node that stops answering and answers again), and the
// queries the drills make of them (when was a member first seen suspect,
// how many hints were held at the peak, how many were delivered).
//
// Pure: no sockets, no clock of its own, so checker_test.cc feeds it made-up
// samples. The Monitor (monitor.h) feeds it from the real nodes.
//
// Thread safety: Add for one node index from one thread at a time (the
// monitor has a thread per node); the queries from any thread.
#ifndef RINGKV_TESTS_DRILLS_OBSERVATIONS_H_
#define RINGKV_TESTS_DRILLS_OBSERVATIONS_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "drills/drill_replies.h"
#include "drills/timeline.h"

namespace ringkv::drills {

// One poll of one node.
struct Sample {
  int64_t at_ms = 0;      // When the reply arrived (cluster_test::NowMs clock).
  bool answered = false;  // False: the node did not answer in time.
  bool has_members = false;
  bool has_hints = false;
  std::map<std::string, std::string> states;    // Member name -> state.
  std::map<std::string, HintTargetView> hints;  // Target name -> hints.
};

class Observations {
 public:
  // `names` are the nodes' names by index. `timeline` must outlive this.
  Observations(std::vector<std::string> names, Timeline* timeline);

  Observations(const Observations&) = delete;
  Observations& operator=(const Observations&) = delete;

  // Writes what changed since node `index`'s previous sample to the
  // timeline, then keeps the sample.
  void Add(int index, Sample sample);

  // The latest sample of `observer` in which it answered, or nullopt.
  std::optional<Sample> Latest(int observer) const;
  // The first sample of `observer` at or after `since_ms` in which it lists
  // `member` in `state`: its time, or nullopt if none (yet).
  std::optional<int64_t> FirstSeen(int observer, const std::string& member,
                                   const std::string& state, int64_t since_ms) const;
  // Each time in [from_ms, to_ms] that an observer began to list a member
  // suspect (observers' views of themselves included), by time.
  struct Sighting {
    int64_t at_ms;
    int observer;
    std::string member;
  };
  std::vector<Sighting> SuspectSightings(int64_t from_ms, int64_t to_ms) const;
  // The largest number of hints for `target`, summed over every holder's
  // latest sample at each moment, in [from_ms, to_ms]. -1 with no sample.
  int64_t PeakHints(const std::string& target, int64_t from_ms, int64_t to_ms) const;
  // Hints for `target` held now, summed over every node's latest answered
  // sample; nullopt when such a sample lacks HINTS.
  std::optional<int64_t> HintsHeld(const std::string& target) const;
  // Sum over holders of how much `delivered` (or `dropped`) for `target`
  // grew from their first sample at or after `since_ms` to their largest.
  int64_t DeliveredSince(const std::string& target, int64_t since_ms) const;
  int64_t DroppedSince(const std::string& target, int64_t since_ms) const;

 private:
  // What one node's samples looked like last time, to word the changes.
  struct Reporter {
    bool answering = true;           // The cluster starts with every node answering.
    std::optional<Sample> previous;  // The last sample with an answer.
    std::map<std::string, int64_t> hints_reported_ms;   // Per target.
    std::map<std::string, int64_t> delivered_at_first;  // Per target, while held.
  };

  void Report(int index, const Sample& sample, Reporter* reporter);
  void ReportMembers(int index, const Sample& sample, const Reporter& reporter);
  void ReportHints(int index, const Sample& sample, Reporter* reporter);
  int64_t GrowthSince(const std::string& target, int64_t since_ms, bool delivered) const;

  const std::vector<std::string> names_;
  Timeline* timeline_;               // Not owned.
  std::vector<Reporter> reporters_;  // reporters_[i] is touched by Add(i) only.
  mutable std::mutex mutex_;
  std::vector<std::vector<Sample>> samples_;  // Per node; guarded by mutex_.
};

}  // namespace ringkv::drills

#endif  // RINGKV_TESTS_DRILLS_OBSERVATIONS_H_
