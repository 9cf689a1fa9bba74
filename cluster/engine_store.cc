// cluster/engine_store.cc: ReplicaStore on storage::Engine.
#include "cluster/engine_store.h"

#include <cassert>
#include <utility>

#include "storage/sibling_set.h"

namespace ringkv::cluster {

EngineStore::EngineStore(storage::Engine* engine) : engine_(engine) { assert(engine_ != nullptr); }

storage::ActorId EngineStore::actor() const { return engine_->identity().actor; }

storage::Status EngineStore::Read(std::string_view key, storage::SiblingSet* set, bool* found) {
  return ReadAt(storage::PartitionOf(key, engine_->partition_count()), key, set, found);
}

storage::Status EngineStore::ReadAt(uint32_t partition, std::string_view key,
                                    storage::SiblingSet* set, bool* found,
                                    storage::Engine::ReadFor purpose) {
  *found = false;
  *set = storage::SiblingSet();
  std::string_view encoded;
  storage::Status status = engine_->Get(partition, key, &encoded, purpose);
  if (status.IsNotFound()) return storage::Status::Ok();
  if (!status.ok()) return status;
  // Decode before anything else touches the engine: `encoded` views LMDB's
  // map only until the next write.
  status = storage::DecodeSiblingSet(encoded, set);
  if (!status.ok()) {
    *set = storage::SiblingSet();
    return status;
  }
  *found = true;
  return storage::Status::Ok();
}

storage::Status EngineStore::ReadDigested(std::string_view key, storage::SiblingSet* set,
                                          bool* found, ReadDigest* digest) {
  *found = false;
  *set = storage::SiblingSet();
  std::string_view encoded;
  storage::Status status =
      engine_->Get(storage::PartitionOf(key, engine_->partition_count()), key, &encoded);
  if (status.IsNotFound()) {
    *digest = *DigestOf({});
    return storage::Status::Ok();
  }
  if (!status.ok()) return status;
  // Both before anything else touches the engine: `encoded` views LMDB's
  // map only until the next write. A record that decodes has a digest.
  status = storage::DecodeSiblingSet(encoded, set);
  if (!status.ok()) {
    *set = storage::SiblingSet();
    return status;
  }
  *digest = *DigestOf(encoded);
  *found = true;
  return storage::Status::Ok();
}

storage::Status EngineStore::ReadVersionDigest(std::string_view key, ReadDigest* digest) {
  // The engine keeps the digests found here until the key is written
  // (Engine::FindDigest): a replica's conditional read then touches one
  // line instead of the record.
  if (engine_->FindDigest(key, digest)) return storage::Status::Ok();
  std::string_view encoded;
  storage::Status status =
      engine_->Get(storage::PartitionOf(key, engine_->partition_count()), key, &encoded);
  if (status.IsNotFound())
    encoded = {};
  else if (!status.ok())
    return status;
  // Neither a copy nor the values: `encoded` views the stored bytes.
  std::optional<ReadDigest> value = DigestOf(encoded);
  if (!value) return storage::Status::Corruption("record does not parse");
  *digest = *value;
  engine_->CacheDigest(key, *value);
  return storage::Status::Ok();
}

storage::Status EngineStore::ReadEncoded(std::string_view key, std::string* encoded, bool* found) {
  *found = false;
  encoded->clear();
  const uint32_t partition = storage::PartitionOf(key, engine_->partition_count());
  std::string_view stored;
  storage::Status status = engine_->Get(partition, key, &stored);
  if (status.IsNotFound()) return storage::Status::Ok();
  if (!status.ok()) return status;
  // The checksum (over every byte) and the format version, not a full
  // parse, which would cost half of what sending the bytes saves. A record
  // damaged on disk still becomes an error reply here rather than bytes the
  // requester refuses (it would close the connection); one that passes is
  // as our encoder wrote it, and the requester decodes it in full anyway.
  if (!(status = storage::CheckSiblingSetChecksum(stored)).ok()) return status;
  // A copy: `stored` views LMDB's map only until the next write, and the
  // reply leaves at the end of the loop iteration.
  encoded->assign(stored);
  *found = true;
  return storage::Status::Ok();
}

storage::Status EngineStore::MergeEncoded(std::string_view key,
                                          const storage::SiblingSet& incoming,
                                          std::string_view incoming_encoded,
                                          storage::SiblingSet* merged) {
  const uint32_t partition = storage::PartitionOf(key, engine_->partition_count());
  std::string_view encoded;
  storage::Status status =
      engine_->Get(partition, key, &encoded, storage::Engine::ReadFor::kUpdate);
  const bool found = status.ok();
  if (!found && !status.IsNotFound()) return status;
  // A record that does not decode is left alone: overwriting it would drop
  // whatever it held without anyone noticing. `encoded` views LMDB's map
  // only until the Put below.
  if (found && !(status = current_.Parse(encoded)).ok()) return status;
  if (!found || storage::MergeYieldsIncoming(current_, incoming)) {
    // The common case (a coordinator's write, its replication): the result
    // is `incoming` itself, so the record is never decoded into a set.
    // Unchanged only if the record already is `incoming`: same clock and
    // (given the check above) the same siblings.
    const bool unchanged = found ? current_.clock() == incoming.clock &&
                                       current_.sibling_count() == incoming.siblings.size()
                                 : incoming == storage::SiblingSet();
    if (!unchanged) {
      const bool was_live = found && current_.live();
      const int live_delta = (storage::IsLive(incoming) ? 1 : 0) - (was_live ? 1 : 0);
      status = incoming_encoded.empty()
                   ? Store(partition, key, incoming, live_delta)
                   : engine_->Put(partition, key, incoming_encoded, live_delta);
      if (!status.ok()) return status;
    }
    if (merged != nullptr) *merged = incoming;
    return storage::Status::Ok();
  }
  storage::SiblingSet current;
  if (!(status = storage::DecodeSiblingSet(encoded, &current)).ok()) return status;
  storage::SiblingSet next = current;
  storage::Merge(&next, incoming);
  // Replication, read repair and duplicates often bring what is already
  // here; skipping the write keeps them off the disk.
  if (!(next == current)) {
    const int live_delta = (storage::IsLive(next) ? 1 : 0) - (storage::IsLive(current) ? 1 : 0);
    status = Store(partition, key, next, live_delta);
    if (!status.ok()) return status;
  }
  if (merged != nullptr) *merged = std::move(next);
  return storage::Status::Ok();
}

storage::Status EngineStore::Update(std::string_view key, const Updater& apply,
                                    storage::SiblingSet* set, std::string* stored_bytes) {
  if (stored_bytes != nullptr) stored_bytes->clear();
  // As in Merge, a record that does not decode is left alone (ReadAt fails).
  const uint32_t partition = storage::PartitionOf(key, engine_->partition_count());
  bool found = false;
  storage::Status status = ReadAt(partition, key, set, &found, storage::Engine::ReadFor::kUpdate);
  if (!status.ok()) return status;
  const bool was_live = found && storage::IsLive(*set);
  apply(set);
  // The engine was not touched since ReadAt's Get: the Put reuses its position.
  const int live_delta = (storage::IsLive(*set) ? 1 : 0) - (was_live ? 1 : 0);
  status = Store(partition, key, *set, live_delta);
  // Handed over, not copied: the next Store encodes into a fresh buffer.
  if (status.ok() && stored_bytes != nullptr) stored_bytes->swap(encoded_);
  return status;
}

storage::Status EngineStore::PutHint(std::string_view target, std::string_view key,
                                     const storage::SiblingSet& set, int64_t now_ms,
                                     bool* dropped) {
  return engine_->PutHint(target, key, set, now_ms, dropped);
}

storage::Status EngineStore::ReadHints(std::string_view key, storage::SiblingSet* set,
                                       bool* found) {
  storage::Status status = engine_->ReadHints(key, set);
  *found = status.ok();
  return status.IsNotFound() ? storage::Status::Ok() : status;
}

storage::Status EngineStore::ScanHints(std::string_view target, storage::HintScanCursor* cursor,
                                       size_t limit, const HintVisitor& visit) {
  return engine_->ScanHints(target, cursor, limit, visit);
}

storage::Status EngineStore::DeleteHintIfUnchanged(std::string_view target, std::string_view key,
                                                   uint64_t version, bool* deleted) {
  return engine_->DeleteHintIfUnchanged(target, key, version, deleted);
}

storage::Status EngineStore::ExpireHints(int64_t now_ms, size_t limit, uint64_t* expired) {
  return engine_->ExpireHints(now_ms, limit, expired);
}

void EngineStore::GetHintStats(storage::HintStats* stats) const { engine_->GetHintStats(stats); }

storage::Status EngineStore::Store(uint32_t partition, std::string_view key,
                                   const storage::SiblingSet& set, int live_delta) {
  encoded_.clear();
  storage::EncodeSiblingSet(set, &encoded_);
  return engine_->Put(partition, key, encoded_, live_delta);
}

}  // namespace ringkv::cluster
