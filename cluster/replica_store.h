// cluster/replica_store.h: what the protocol objects need from a node's own
// storage: its records (the keys it owns) and its hint store (writes it
// holds for other members, hinted handoff). The node implements it on LMDB
// (cluster/engine_store.h); the tests and the deterministic simulator
// implement it in memory (tests/unit/cluster/sim_memory_store.h).
//
// Thread safety: loop thread only.
#ifndef RINGKV_CLUSTER_REPLICA_STORE_H_
#define RINGKV_CLUSTER_REPLICA_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "cluster/messages.h"
#include "storage/engine.h"
#include "storage/sibling_set.h"
#include "storage/status.h"
#include "storage/version_vector.h"

namespace ringkv::cluster {

class ReplicaStore {
 public:
  using HintVisitor =
      std::function<bool(std::string_view key, const storage::SiblingSet& set, uint64_t version)>;

  virtual ~ReplicaStore() = default;

  // This node's actor (identity + incarnation) for the dots it creates.
  virtual storage::ActorId actor() const = 0;

  // Reads `key`. *found is false (and ok returned) when there is no record.
  virtual storage::Status Read(std::string_view key, storage::SiblingSet* set, bool* found) = 0;

  // Reads the record of `key` as stored: its encoded sibling set
  // (docs/storage_format.md), copied into *encoded. At least its checksum
  // and format version are checked, so a damaged record is kCorruption here
  // too, not bytes a peer's decoder refuses. *found is false (and ok
  // returned) when there is no record. Only called when encoded_records().
  virtual storage::Status ReadEncoded(std::string_view key, std::string* encoded, bool* found) = 0;
  // Read, and *digest the digest of the record as ReadEncoded would give it
  // (DigestOf; of no bytes when there is none). The default encodes the
  // set it read.
  virtual storage::Status ReadDigested(std::string_view key, storage::SiblingSet* set, bool* found,
                                       ReadDigest* digest) {
    storage::Status status = Read(key, set, found);
    if (!status.ok()) return status;
    std::string bytes;
    if (*found) storage::EncodeSiblingSet(*set, &bytes);
    *digest = *DigestOf(bytes);  // Our own encoding parses.
    return status;
  }
  // Only the digest of the record of `key`, as ReadDigested gives it; a
  // store may read no more of the record than its versions (a record whose
  // structure does not parse is kCorruption). The default is ReadDigested.
  virtual storage::Status ReadVersionDigest(std::string_view key, ReadDigest* digest) {
    storage::SiblingSet set;
    bool found = false;
    return ReadDigested(key, &set, &found, digest);
  }
  // A hint that ReadVersionDigest(key) comes soon: a store may start
  // loading what it will read. The default does nothing.
  virtual void PrefetchVersionDigest(std::string_view /*key*/) {}
  // True if the store keeps records encoded and this node's messages pass
  // through the wire codec, so record bytes may travel as they are: a
  // replica serving a peer's read sends ReadEncoded's bytes
  // (GetReply::encoded_set), and a coordinator sends the bytes Update
  // stored (PutRequest::encoded_set). False where messages are handed over
  // in memory, since only the codec turns those bytes back into a set.
  virtual bool encoded_records() const = 0;

  // Merges `incoming` into the record of `key` (storage::Merge) and stores
  // the result; *merged (if not null) receives it. Merging what is already
  // there changes nothing.
  virtual storage::Status Merge(std::string_view key, const storage::SiblingSet& incoming,
                                storage::SiblingSet* merged) = 0;
  // As Merge, with `encoded` the encoding of `incoming` (or empty): when the
  // merge is `incoming` itself, the store may write those bytes instead of
  // encoding the set again.
  virtual storage::Status MergeEncoded(std::string_view key, const storage::SiblingSet& incoming,
                                       std::string_view encoded, storage::SiblingSet* merged) {
    (void)encoded;
    return Merge(key, incoming, merged);
  }
  // A coordinator's write in one step: reads the record of `key` into *set
  // (empty when there is none), lets `apply` change it, and stores the
  // result, which REQUIRES superseding (or equalling) what was read, as
  // storage::ApplyWrite's does. *set is then the stored record, and
  // *encoded (if not null, and only when encoded_records()) its bytes as
  // stored. On an error nothing is stored. The default reads, then merges.
  using Updater = std::function<void(storage::SiblingSet* set)>;
  virtual storage::Status Update(std::string_view key, const Updater& apply,
                                 storage::SiblingSet* set, std::string* encoded = nullptr) {
    if (encoded != nullptr) encoded->clear();
    bool found = false;
    storage::Status status = Read(key, set, &found);
    if (!status.ok()) return status;
    apply(set);
    return Merge(key, *set, nullptr);
  }

  // --- Hints: one per (target member, key), with the contract of the
  // engine's hint store (storage/engine.h, "Hinted handoff"). `target` is a
  // member name of 1 to 255 bytes.

  // Merges `set` into the hint of `key` for `target`. *dropped is true (and
  // ok returned, nothing changed) when the hint limits refused it; the store
  // counts the refusal.
  virtual storage::Status PutHint(std::string_view target, std::string_view key,
                                  const storage::SiblingSet& set, int64_t now_ms,
                                  bool* dropped) = 0;

  // The merge of every target's hint of `key`; *found is false (and ok
  // returned) when no target has one.
  virtual storage::Status ReadHints(std::string_view key, storage::SiblingSet* set,
                                    bool* found) = 0;

  // Visits the hints of `target` after the cursor, at most `limit`, in a
  // stable order, moving the cursor past each one visited (also past one
  // that does not decode, which is then kCorruption). `version` identifies
  // the hint's stored state. REQUIRES: `visit` does not change the store.
  virtual storage::Status ScanHints(std::string_view target, storage::HintScanCursor* cursor,
                                    size_t limit, const HintVisitor& visit) = 0;

  // Deletes the hint of `key` for `target` if its version is still
  // `version` (and counts it delivered); *deleted says whether it did.
  virtual storage::Status DeleteHintIfUnchanged(std::string_view target, std::string_view key,
                                                uint64_t version, bool* deleted) = 0;

  // Deletes hints older than the age limit among the next `limit` of a
  // round-robin walk; *expired counts them.
  virtual storage::Status ExpireHints(int64_t now_ms, size_t limit, uint64_t* expired) = 0;

  // Per-target counts and bytes, and the (persisted) event counters.
  virtual void GetHintStats(storage::HintStats* stats) const = 0;
};

}  // namespace ringkv::cluster

#endif  // RINGKV_CLUSTER_REPLICA_STORE_H_
