// tests/unit/cluster/sim_memory_store.h: a ReplicaStore in memory, for the
// coordinator tests and the deterministic simulation. It can be told to fail
// so tests can exercise the store-error paths, or be sabotaged so the
// simulation can show that its checks catch a store that loses writes.
#ifndef RINGKV_TESTS_UNIT_CLUSTER_SIM_MEMORY_STORE_H_
#define RINGKV_TESTS_UNIT_CLUSTER_SIM_MEMORY_STORE_H_

#include <map>
#include <string>
#include <string_view>

#include "cluster/replica_store.h"
#include "storage/sibling_set.h"

namespace ringkv::cluster {

class MemoryStore : public ReplicaStore {
 public:
  // Ways to break the store on purpose (tests of the simulation's checks).
  enum class Sabotage { kNone, kForgetEveryThirdMerge, kIncomingSiblingsWin };

  explicit MemoryStore(storage::ActorId actor) : actor_(actor) {}

  storage::ActorId actor() const override { return actor_; }

  storage::Status Read(std::string_view key, storage::SiblingSet* set, bool* found) override {
    ++reads_;
    if (fail_) return storage::Status::IoError("injected failure");
    auto it = records_.find(std::string(key));
    *found = it != records_.end();
    *set = *found ? it->second : storage::SiblingSet();
    return storage::Status::Ok();
  }

  storage::Status Merge(std::string_view key, const storage::SiblingSet& incoming,
                        storage::SiblingSet* merged) override {
    ++merges_;
    if (fail_) return storage::Status::IoError("injected failure");
    if (sabotage_ == Sabotage::kForgetEveryThirdMerge && merges_ % 3 == 0) {
      if (merged != nullptr) *merged = incoming;
      return storage::Status::Ok();  // Claims success, stores nothing.
    }
    storage::SiblingSet& record = records_[std::string(key)];
    if (sabotage_ == Sabotage::kIncomingSiblingsWin) {
      // A plausible merge bug: clocks join, but siblings only the local side
      // holds are dropped even when the other side never saw them.
      record.clock.Join(incoming.clock);
      record.siblings = incoming.siblings;
    } else {
      storage::Merge(&record, incoming);
    }
    if (merged != nullptr) *merged = record;
    return storage::Status::Ok();
  }

  // Direct access for tests, bypassing the counters and failures.
  const std::map<std::string, storage::SiblingSet, std::less<>>& records() const {
    return records_;
  }
  const storage::SiblingSet* Find(std::string_view key) const {
    auto it = records_.find(key);
    return it == records_.end() ? nullptr : &it->second;
  }
  void set_fail(bool fail) { fail_ = fail; }
  void set_sabotage(Sabotage sabotage) { sabotage_ = sabotage; }
  int reads() const { return reads_; }
  int merges() const { return merges_; }

 private:
  storage::ActorId actor_;
  std::map<std::string, storage::SiblingSet, std::less<>> records_;
  bool fail_ = false;
  Sabotage sabotage_ = Sabotage::kNone;
  int reads_ = 0;
  int merges_ = 0;
};

}  // namespace ringkv::cluster

#endif  // RINGKV_TESTS_UNIT_CLUSTER_SIM_MEMORY_STORE_H_
