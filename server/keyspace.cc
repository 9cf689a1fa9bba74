#include "server/keyspace.h"

#include <utility>

namespace ringkv::server {

storage::Status Keyspace::Read(std::string_view key, storage::SiblingSetView* view, bool* found,
                               storage::Engine::ReadFor purpose) {
  uint32_t partition = storage::PartitionOf(key, engine_->partition_count());
  std::string_view encoded;
  storage::Status status = engine_->Get(partition, key, &encoded, purpose);
  if (status.IsNotFound()) {
    *found = false;
    return storage::Status::Ok();
  }
  if (!status.ok()) return status;
  *found = true;
  return view->Parse(encoded);
}

storage::Status Keyspace::WriteLocal(std::string_view key, const storage::SiblingSetView* current,
                                     std::string_view value, bool tombstone, int64_t now_ms) {
  // The local context is the record's whole clock, so the write supersedes
  // every sibling this node holds: start from the clock alone.
  storage::SiblingSet next;
  if (current) next.clock = current->clock();
  bool was_live = current && current->live();
  storage::Sibling version;
  version.timestamp_ms = now_ms;
  version.tombstone = tombstone;
  if (!tombstone) version.value.assign(value);
  storage::VersionVector context = next.clock;
  storage::ApplyWrite(&next, context, engine_->identity().actor, std::move(version));

  scratch_.clear();
  storage::EncodeSiblingSet(next, &scratch_);
  int live_delta = (tombstone ? 0 : 1) - (was_live ? 1 : 0);
  uint32_t partition = storage::PartitionOf(key, engine_->partition_count());
  return engine_->Put(partition, key, scratch_, live_delta);
}

}  // namespace ringkv::server
