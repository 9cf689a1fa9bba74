// tests/unit/cluster/sim_memory_store.h: a ReplicaStore in memory, for the
// coordinator tests and the deterministic simulation. It can be told to fail
// so tests can exercise the store-error paths, or be sabotaged so the
// simulation can show that its checks catch a store that loses writes.
//
// Hints follow the engine's contract (storage/engine.h): one per (target,
// key), merged; bounded by HintLimits (refused, never evicted); a version
// that changes whenever the stored set does. Their size, for bytes_max, is
// target + key + encoded set.
#ifndef RINGKV_TESTS_UNIT_CLUSTER_SIM_MEMORY_STORE_H_
#define RINGKV_TESTS_UNIT_CLUSTER_SIM_MEMORY_STORE_H_

#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "cluster/replica_store.h"
#include "storage/engine.h"
#include "storage/sibling_set.h"

namespace ringkv::cluster {

class MemoryStore : public ReplicaStore {
 public:
  // Ways to break the store on purpose (tests of the simulation's checks).
  enum class Sabotage {
    kNone,
    kForgetEveryThirdMerge,
    kIncomingSiblingsWin,
    kForgetHints,  // PutHint claims success and stores nothing.
  };

  struct Hint {
    storage::SiblingSet set;
    uint64_t version = 0;
    int64_t created_ms = 0;
    uint64_t bytes = 0;
  };
  using HintMap = std::map<std::string, std::map<std::string, Hint, std::less<>>, std::less<>>;

  explicit MemoryStore(storage::ActorId actor, storage::HintLimits limits = {})
      : actor_(actor), limits_(limits) {}

  storage::ActorId actor() const override { return actor_; }

  storage::Status Read(std::string_view key, storage::SiblingSet* set, bool* found) override {
    ++reads_;
    if (fail_) return storage::Status::IoError("injected failure");
    auto it = records_.find(std::string(key));
    *found = it != records_.end();
    *set = *found ? it->second : storage::SiblingSet();
    return storage::Status::Ok();
  }

  // The record, encoded here (this store keeps records decoded).
  storage::Status ReadEncoded(std::string_view key, std::string* encoded, bool* found) override {
    storage::SiblingSet set;
    storage::Status status = Read(key, &set, found);
    encoded->clear();
    if (status.ok() && *found) storage::EncodeSiblingSet(set, encoded);
    return status;
  }
  // Off unless a test turns it on: the coordinator tests hand replies over
  // without the wire codec, so an encoded_set would never become a set.
  bool encoded_records() const override { return encoded_records_; }

  // The default (read, then Merge, so the sabotage applies), and the
  // stored set's bytes when a test turned encoded records on.
  storage::Status Update(std::string_view key, const Updater& apply, storage::SiblingSet* set,
                         std::string* encoded = nullptr) override {
    storage::Status status = ReplicaStore::Update(key, apply, set, nullptr);
    if (encoded != nullptr) {
      encoded->clear();
      if (status.ok() && encoded_records_) storage::EncodeSiblingSet(*set, encoded);
    }
    return status;
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

  storage::Status PutHint(std::string_view target, std::string_view key,
                          const storage::SiblingSet& set, int64_t now_ms, bool* dropped) override {
    *dropped = false;
    if (fail_) return storage::Status::IoError("injected failure");
    if (sabotage_ == Sabotage::kForgetHints) return storage::Status::Ok();
    auto target_it = hints_.find(target);
    Hint* existing = nullptr;
    if (target_it != hints_.end()) {
      auto it = target_it->second.find(key);
      if (it != target_it->second.end()) existing = &it->second;
    }
    Hint next;
    next.created_ms = existing ? existing->created_ms : now_ms;
    next.set = existing ? existing->set : storage::SiblingSet();
    storage::Merge(&next.set, set);
    if (existing && next.set == existing->set) return storage::Status::Ok();
    std::string encoded;
    storage::EncodeSiblingSet(next.set, &encoded);
    next.bytes = target.size() + key.size() + encoded.size();
    const uint64_t old_bytes = existing ? existing->bytes : 0;
    if (!existing && hint_count_ >= limits_.count_max) {
      ++stats_.dropped_count_limit;
      *dropped = true;
      return storage::Status::Ok();
    }
    if (hint_bytes_ - old_bytes + next.bytes > limits_.bytes_max) {
      ++stats_.dropped_bytes_limit;
      *dropped = true;
      return storage::Status::Ok();
    }
    next.version = ++last_version_;
    hint_bytes_ = hint_bytes_ - old_bytes + next.bytes;
    if (!existing) ++hint_count_;
    hints_[std::string(target)][std::string(key)] = std::move(next);
    return storage::Status::Ok();
  }

  storage::Status ReadHints(std::string_view key, storage::SiblingSet* set, bool* found) override {
    *set = storage::SiblingSet();
    *found = false;
    if (fail_) return storage::Status::IoError("injected failure");
    for (const auto& [target, keys] : hints_) {
      auto it = keys.find(key);
      if (it == keys.end()) continue;
      storage::Merge(set, it->second.set);
      *found = true;
    }
    return storage::Status::Ok();
  }

  // The cursor's position is "k" + the last key visited, so that the empty
  // key has a position too.
  storage::Status ScanHints(std::string_view target, storage::HintScanCursor* cursor, size_t limit,
                            const HintVisitor& visit) override {
    if (fail_) return storage::Status::IoError("injected failure");
    if (cursor->done) return storage::Status::Ok();
    auto target_it = hints_.find(target);
    if (target_it == hints_.end()) {
      cursor->done = true;
      return storage::Status::Ok();
    }
    const auto& keys = target_it->second;
    auto it =
        cursor->position.empty() ? keys.begin() : keys.upper_bound(cursor->position.substr(1));
    for (size_t count = 0; count < limit && it != keys.end(); ++count) {
      cursor->position = "k" + it->first;
      // Copies: the visitor may not change the store, but a test's visitor
      // must not see it change under it either.
      const std::string key = it->first;
      const Hint hint = it->second;
      ++it;
      if (!visit(key, hint.set, hint.version)) return storage::Status::Ok();
    }
    if (it == keys.end()) cursor->done = true;
    return storage::Status::Ok();
  }

  storage::Status DeleteHintIfUnchanged(std::string_view target, std::string_view key,
                                        uint64_t version, bool* deleted) override {
    *deleted = false;
    if (fail_) return storage::Status::IoError("injected failure");
    auto target_it = hints_.find(target);
    if (target_it == hints_.end()) return storage::Status::Ok();
    auto it = target_it->second.find(key);
    if (it == target_it->second.end()) return storage::Status::Ok();
    if (it->second.version != version) return storage::Status::Ok();
    EraseHint(target_it, it);
    ++stats_.delivered;
    *deleted = true;
    return storage::Status::Ok();
  }

  // Examines every hint (tests hold few), not `limit` of them.
  storage::Status ExpireHints(int64_t now_ms, size_t limit, uint64_t* expired) override {
    *expired = 0;
    if (fail_) return storage::Status::IoError("injected failure");
    if (limit == 0) return storage::Status::Ok();
    for (auto target_it = hints_.begin(); target_it != hints_.end();) {
      auto next_target = std::next(target_it);
      for (auto it = target_it->second.begin(); it != target_it->second.end();) {
        auto next = std::next(it);
        if (now_ms - it->second.created_ms > limits_.age_max_ms) {
          const bool last = target_it->second.size() == 1;
          EraseHint(target_it, it);
          ++stats_.expired;
          ++*expired;
          if (last) break;  // The target's map is gone.
        }
        it = next;
      }
      target_it = next_target;
    }
    return storage::Status::Ok();
  }

  void GetHintStats(storage::HintStats* stats) const override {
    *stats = stats_;
    stats->targets.clear();
    for (const auto& [target, keys] : hints_) {
      storage::HintTargetStats entry{target, keys.size(), 0};
      for (const auto& [key, hint] : keys) entry.bytes += hint.bytes;
      stats->targets.push_back(std::move(entry));
    }
    stats->count = hint_count_;
    stats->bytes = hint_bytes_;
  }

  // Direct access for tests, bypassing the counters and failures.
  const std::map<std::string, storage::SiblingSet, std::less<>>& records() const {
    return records_;
  }
  const storage::SiblingSet* Find(std::string_view key) const {
    auto it = records_.find(key);
    return it == records_.end() ? nullptr : &it->second;
  }
  const HintMap& hints() const { return hints_; }
  const Hint* FindHint(std::string_view target, std::string_view key) const {
    auto target_it = hints_.find(target);
    if (target_it == hints_.end()) return nullptr;
    auto it = target_it->second.find(key);
    return it == target_it->second.end() ? nullptr : &it->second;
  }
  uint64_t hint_count() const { return hint_count_; }
  void set_fail(bool fail) { fail_ = fail; }
  void set_encoded_records(bool encoded_records) { encoded_records_ = encoded_records; }
  void set_sabotage(Sabotage sabotage) { sabotage_ = sabotage; }
  void set_hint_limits(const storage::HintLimits& limits) { limits_ = limits; }
  int reads() const { return reads_; }
  int merges() const { return merges_; }

 private:
  void EraseHint(HintMap::iterator target_it,
                 std::map<std::string, Hint, std::less<>>::iterator it) {
    hint_bytes_ -= it->second.bytes;
    --hint_count_;
    target_it->second.erase(it);
    if (target_it->second.empty()) hints_.erase(target_it);
  }

  storage::ActorId actor_;
  storage::HintLimits limits_;
  std::map<std::string, storage::SiblingSet, std::less<>> records_;
  HintMap hints_;
  uint64_t hint_count_ = 0;
  uint64_t hint_bytes_ = 0;
  uint64_t last_version_ = 0;
  storage::HintStats stats_;  // Only the event counters are kept here.
  bool fail_ = false;
  bool encoded_records_ = false;
  Sabotage sabotage_ = Sabotage::kNone;
  int reads_ = 0;
  int merges_ = 0;
};

}  // namespace ringkv::cluster

#endif  // RINGKV_TESTS_UNIT_CLUSTER_SIM_MEMORY_STORE_H_
