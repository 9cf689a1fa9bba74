// server/keyspace.h: data operations on this node's own storage.
//
// The Op layer between command handlers and storage: handlers parse
// arguments and write replies; these functions read and write versioned
// values and return results. Every write goes through the sibling-set rules
// of storage/sibling_set.h, so the records a single node writes are the ones
// a cluster replica merges.
//
// Views returned by Read() point into the storage map: they are valid until
// the next write through this Keyspace or the end of the loop iteration.
//
// Thread safety: loop thread only.
#ifndef RINGKV_SERVER_KEYSPACE_H_
#define RINGKV_SERVER_KEYSPACE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/engine.h"
#include "storage/sibling_set.h"
#include "storage/status.h"

namespace ringkv::server {

class Keyspace {
 public:
  // `engine` is not owned and must outlive the Keyspace.
  explicit Keyspace(storage::Engine* engine) : engine_(engine) {}

  // Reads `key`. On ok, *found tells whether a record exists; if it does,
  // *view holds it (siblings, tombstones included).
  // kUpdate when a write of the key follows (storage::Engine::Get).
  storage::Status Read(std::string_view key, storage::SiblingSetView* view, bool* found,
                       storage::Engine::ReadFor purpose = storage::Engine::ReadFor::kRead);

  // Writes `value` (or a tombstone) as this node's actor with the local
  // context: the new version supersedes every version this node holds.
  // `current` is the key's record as just read (nullptr if none).
  storage::Status WriteLocal(std::string_view key, const storage::SiblingSetView* current,
                             std::string_view value, bool tombstone, int64_t now_ms);

  storage::Engine& engine() { return *engine_; }

 private:
  storage::Engine* engine_;  // Not owned.
  std::string scratch_;      // Encoding buffer, reused across writes.
};

}  // namespace ringkv::server

#endif  // RINGKV_SERVER_KEYSPACE_H_
