// Tests for cluster/timer_queue.h.
#include "cluster/timer_queue.h"

#include <doctest/doctest.h>

#include <set>
#include <utility>
#include <vector>

#include "unit/cluster/sim_random.h"

namespace ringkv::cluster {
namespace {

std::vector<std::pair<int64_t, uint64_t>> Drain(TimerQueue* queue) {
  std::vector<std::pair<int64_t, uint64_t>> order;
  while (!queue->empty()) {
    order.emplace_back(queue->front().time_ms, queue->front().id);
    queue->pop_front();
  }
  return order;
}

TEST_CASE("timer queue: entries come out in time order, ties in push order") {
  TimerQueue queue;
  CHECK(queue.empty());
  queue.Push(10, 1);
  queue.Push(10, 2);
  queue.Push(30, 3);
  queue.Push(20, 4);  // Earlier than the back: inserted in place.
  queue.Push(5, 5);
  queue.Push(30, 6);
  CHECK(queue.size() == 6);
  CHECK(Drain(&queue) == std::vector<std::pair<int64_t, uint64_t>>{
                             {5, 5}, {10, 1}, {10, 2}, {20, 4}, {30, 3}, {30, 6}});
}

TEST_CASE("timer queue: PopWhile drops stale entries off the front only") {
  TimerQueue queue;
  for (uint64_t id = 1; id <= 5; ++id) queue.Push(static_cast<int64_t>(id) * 10, id);
  std::set<uint64_t> ended = {1, 2, 4};
  queue.PopWhile([&ended](const TimerQueue::Entry& entry) { return ended.count(entry.id) > 0; });
  CHECK(queue.size() == 3);  // 3 is live, so 4 stays behind it.
  CHECK(queue.front().id == 3);
  ended.insert(3);
  queue.PopWhile([&ended](const TimerQueue::Entry& entry) { return ended.count(entry.id) > 0; });
  CHECK(queue.size() == 1);
  CHECK(queue.front().id == 5);
}

TEST_CASE("timer queue: random pushes drain sorted, as a multiset would") {
  SimRandom random(42);
  TimerQueue queue;
  std::multiset<std::pair<int64_t, uint64_t>> expected;
  int64_t now = 0;
  for (uint64_t id = 1; id <= 2000; ++id) {
    now += static_cast<int64_t>(random.Below(3));
    // Mostly now + a fixed delay; sometimes earlier (a clock that went back).
    const int64_t time = random.Chance(0.9) ? now + 100 : now - static_cast<int64_t>(random.Below(50));
    queue.Push(time, id);
    expected.emplace(time, id);
  }
  std::vector<std::pair<int64_t, uint64_t>> drained = Drain(&queue);
  REQUIRE(drained.size() == expected.size());
  for (size_t i = 1; i < drained.size(); ++i) CHECK(drained[i - 1].first <= drained[i].first);
  CHECK(std::multiset<std::pair<int64_t, uint64_t>>(drained.begin(), drained.end()) == expected);
}

}  // namespace
}  // namespace ringkv::cluster
