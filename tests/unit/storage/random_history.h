// tests/unit/storage/random_history.h: seeded random histories of sibling
// sets, for the property tests of Merge and of the encoding.
//
// A few replicas (one actor each) take writes from clients whose contexts are
// the clocks of random earlier states (so often stale), and merge each
// other's states at random. Every state ever reached is recorded, so tests
// can combine states that a real cluster could hold at once.
#ifndef RINGKV_TESTS_UNIT_STORAGE_RANDOM_HISTORY_H_
#define RINGKV_TESTS_UNIT_STORAGE_RANDOM_HISTORY_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "storage/sibling_set.h"

namespace ringkv::storage::testing {

struct RandomHistory {
  std::vector<ActorId> actors;
  std::vector<SiblingSet> replicas;  // Current state of each replica.
  std::vector<SiblingSet> states;    // Every state reached, in order.
};

inline RandomHistory MakeRandomHistory(uint64_t seed, int replica_count, int steps) {
  std::mt19937_64 random(seed);
  RandomHistory history;
  for (int i = 0; i < replica_count; ++i) {
    // Spread actors over the whole range, including the extremes.
    history.actors.push_back(i == 0 ? ~0ULL : random() | 1);
  }
  history.replicas.resize(replica_count);
  history.states.push_back(SiblingSet{});
  for (int step = 0; step < steps; ++step) {
    const int replica = static_cast<int>(random() % replica_count);
    SiblingSet& set = history.replicas[replica];
    if (random() % 3 != 0) {
      // A client write with the context of a random state seen so far,
      // or none at all (a blind write).
      VersionVector context;
      if (random() % 4 != 0) context = history.states[random() % history.states.size()].clock;
      Sibling version;
      version.timestamp_ms = static_cast<int64_t>(random() % 1000) - 10;
      version.tombstone = random() % 5 == 0;
      if (!version.tombstone) version.value = "v" + std::to_string(step);
      if (random() % 4 == 0) version.expire_at_ms = static_cast<int64_t>(random() % 100000) + 1;
      ApplyWrite(&set, context, history.actors[replica], version);
    } else {
      const int from = static_cast<int>(random() % replica_count);
      Merge(&set, history.replicas[from]);
    }
    history.states.push_back(set);
  }
  return history;
}

}  // namespace ringkv::storage::testing

#endif  // RINGKV_TESTS_UNIT_STORAGE_RANDOM_HISTORY_H_
