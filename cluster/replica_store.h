// cluster/replica_store.h: what the protocol objects need from a node's own
// storage. The node implements it on LMDB (cluster/engine_store.h); the
// deterministic simulator implements it in memory.
//
// Thread safety: loop thread only.
#ifndef RINGKV_CLUSTER_REPLICA_STORE_H_
#define RINGKV_CLUSTER_REPLICA_STORE_H_

#include <string_view>

#include "storage/sibling_set.h"
#include "storage/status.h"
#include "storage/version_vector.h"

namespace ringkv::cluster {

class ReplicaStore {
 public:
  virtual ~ReplicaStore() = default;

  // This node's actor (identity + incarnation) for the dots it creates.
  virtual storage::ActorId actor() const = 0;

  // Reads `key`. *found is false (and ok returned) when there is no record.
  virtual storage::Status Read(std::string_view key, storage::SiblingSet* set, bool* found) = 0;

  // Merges `incoming` into the record of `key` (storage::Merge) and stores
  // the result; *merged (if not null) receives it. Merging what is already
  // there changes nothing.
  virtual storage::Status Merge(std::string_view key, const storage::SiblingSet& incoming,
                                storage::SiblingSet* merged) = 0;
};

}  // namespace ringkv::cluster

#endif  // RINGKV_CLUSTER_REPLICA_STORE_H_
