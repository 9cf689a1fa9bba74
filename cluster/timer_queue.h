// cluster/timer_queue.h: (time, id) entries in time order, for the
// coordinator's request deadlines and delays.
//
// Entries are never erased from the middle. The owner skips an entry whose
// request has ended (or no longer waits for that time) when it reaches the
// front, and pops such entries off the front as requests end (PopWhile), so
// a queue holds its live entries plus the ended ones behind a live entry
// that is still waiting: at most the requests started within one timeout.
// Pushing in time order, the usual case (now plus a fixed delay, with a
// clock that does not go back), is O(1) without allocating per entry; an
// earlier time is inserted in place.
//
// Thread safety: none.
#ifndef RINGKV_CLUSTER_TIMER_QUEUE_H_
#define RINGKV_CLUSTER_TIMER_QUEUE_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>

namespace ringkv::cluster {

class TimerQueue {
 public:
  struct Entry {
    int64_t time_ms = 0;
    uint64_t id = 0;
  };

  void Push(int64_t time_ms, uint64_t id) {
    if (entries_.empty() || entries_.back().time_ms <= time_ms) {
      entries_.push_back({time_ms, id});
      return;
    }
    auto at = std::upper_bound(entries_.begin(), entries_.end(), time_ms,
                               [](int64_t time, const Entry& entry) { return time < entry.time_ms; });
    entries_.insert(at, {time_ms, id});
  }

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  // REQUIRES: !empty().
  const Entry& front() const { return entries_.front(); }
  void pop_front() { entries_.pop_front(); }

  // Pops entries off the front while `stale(entry)` says so.
  template <typename Stale>
  void PopWhile(Stale stale) {
    while (!entries_.empty() && stale(entries_.front())) entries_.pop_front();
  }

 private:
  std::deque<Entry> entries_;
};

}  // namespace ringkv::cluster

#endif  // RINGKV_CLUSTER_TIMER_QUEUE_H_
