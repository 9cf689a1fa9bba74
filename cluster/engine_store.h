// cluster/engine_store.h: the ReplicaStore of a real node, on its LMDB
// engine. Records are encoded sibling sets (docs/storage_format.md) in the
// key's partition; a merge that changes nothing writes nothing. Hints are
// the engine's hint store (PutHint and friends), bounded by the engine's
// HintLimits (EngineOptions::hint_limits, Engine::SetHintLimits).
//
// Writes join the engine's current loop-iteration transaction (group
// commit): the caller commits as usual, and must not report a replica write
// as durable before that commit (and sync, under fsync = always).
//
// Ownership: the engine is not owned and must outlive the store.
// Thread safety: loop thread only, like the engine.
#ifndef RINGKV_CLUSTER_ENGINE_STORE_H_
#define RINGKV_CLUSTER_ENGINE_STORE_H_

#include <string>
#include <string_view>

#include "cluster/replica_store.h"
#include "storage/engine.h"
#include "storage/sibling_set.h"

namespace ringkv::cluster {

class EngineStore : public ReplicaStore {
 public:
  // `engine` is not owned.
  explicit EngineStore(storage::Engine* engine);

  EngineStore(const EngineStore&) = delete;
  EngineStore& operator=(const EngineStore&) = delete;

  storage::ActorId actor() const override;
  storage::Status Read(std::string_view key, storage::SiblingSet* set, bool* found) override;
  // The record's bytes, checked with storage::CheckSiblingSetChecksum.
  storage::Status ReadEncoded(std::string_view key, std::string* encoded, bool* found) override;
  storage::Status ReadDigested(std::string_view key, storage::SiblingSet* set, bool* found,
                               ReadDigest* digest) override;
  storage::Status ReadVersionDigest(std::string_view key, ReadDigest* digest) override;
  void PrefetchVersionDigest(std::string_view key) override { engine_->PrefetchDigest(key); }
  bool encoded_records() const override { return true; }
  // Also keeps the engine's live-key counter: +1 when the key becomes live
  // (storage::IsLive), -1 when it stops being live.
  storage::Status Merge(std::string_view key, const storage::SiblingSet& incoming,
                        storage::SiblingSet* merged) override {
    return MergeEncoded(key, incoming, {}, merged);
  }
  // One B-tree search and no merge: the result supersedes the record read.
  storage::Status Update(std::string_view key, const Updater& apply, storage::SiblingSet* set,
                         std::string* encoded = nullptr) override;
  // Stores `encoded` as it is when the merge is `incoming`.
  storage::Status MergeEncoded(std::string_view key, const storage::SiblingSet& incoming,
                               std::string_view encoded, storage::SiblingSet* merged) override;

  storage::Status PutHint(std::string_view target, std::string_view key,
                          const storage::SiblingSet& set, int64_t now_ms, bool* dropped) override;
  storage::Status ReadHints(std::string_view key, storage::SiblingSet* set, bool* found) override;
  storage::Status ScanHints(std::string_view target, storage::HintScanCursor* cursor, size_t limit,
                            const HintVisitor& visit) override;
  storage::Status DeleteHintIfUnchanged(std::string_view target, std::string_view key,
                                        uint64_t version, bool* deleted) override;
  storage::Status ExpireHints(int64_t now_ms, size_t limit, uint64_t* expired) override;
  void GetHintStats(storage::HintStats* stats) const override;

 private:
  // Read, for a key whose partition the caller has.
  storage::Status ReadAt(uint32_t partition, std::string_view key, storage::SiblingSet* set,
                         bool* found,
                         storage::Engine::ReadFor purpose = storage::Engine::ReadFor::kRead);
  // Encodes `set` and writes it as the record of `key`.
  storage::Status Store(uint32_t partition, std::string_view key, const storage::SiblingSet& set,
                        int live_delta);

  storage::Engine* const engine_;    // Not owned.
  std::string encoded_;              // Reused encoding buffer.
  storage::SiblingSetView current_;  // Reused view of the record being merged into.
};

}  // namespace ringkv::cluster

#endif  // RINGKV_CLUSTER_ENGINE_STORE_H_
