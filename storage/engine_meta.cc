// storage/engine_meta.cc: opening the named databases and the node's
// identity, created with the data directory and checked on every later open.
#include <lmdb.h>
#include <sys/random.h>

#include <chrono>
#include <string>

#include "storage/coding.h"
#include "storage/engine.h"
#include "storage/engine_internal.h"

namespace ringkv::storage {

namespace {

constexpr uint32_t kStorageFormatVersion = 1;

// Aborts a transaction unless it was handed back (committed).
class TxnGuard {
 public:
  explicit TxnGuard(MDB_txn* txn) : txn_(txn) {}
  ~TxnGuard() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
  }
  TxnGuard(const TxnGuard&) = delete;
  TxnGuard& operator=(const TxnGuard&) = delete;
  MDB_txn* Release() {
    MDB_txn* txn = txn_;
    txn_ = nullptr;
    return txn;
  }

 private:
  MDB_txn* txn_;
};

std::string MetaName(std::string_view suffix) {
  return std::string(kReservedMetaPrefix) + std::string(suffix);
}

Status PutRaw(MDB_txn* txn, MDB_dbi dbi, std::string_view suffix, std::string_view bytes) {
  const std::string name = MetaName(suffix);
  MDB_val key{name.size(), const_cast<char*>(name.data())};
  MDB_val value{bytes.size(), const_cast<char*>(bytes.data())};
  int rc = mdb_put(txn, dbi, &key, &value, 0);
  return rc == 0 ? Status::Ok() : LmdbError("writing " + name, rc);
}

// Reads meta entry `suffix`; *found is false if absent.
Status GetRaw(MDB_txn* txn, MDB_dbi dbi, std::string_view suffix, std::string* bytes) {
  const std::string name = MetaName(suffix);
  MDB_val key{name.size(), const_cast<char*>(name.data())};
  MDB_val value;
  int rc = mdb_get(txn, dbi, &key, &value);
  if (rc == MDB_NOTFOUND) return Status::NotFound(name);
  if (rc != 0) return LmdbError("reading " + name, rc);
  bytes->assign(static_cast<const char*>(value.mv_data), value.mv_size);
  return Status::Ok();
}

// Reads a fixed-width little-endian integer entry of `width` bytes.
Status GetFixed(MDB_txn* txn, MDB_dbi dbi, std::string_view suffix, size_t width, uint64_t* value) {
  std::string bytes;
  if (Status status = GetRaw(txn, dbi, suffix, &bytes); !status.ok()) {
    if (status.IsNotFound())
      return Status::Corruption("meta entry " + MetaName(suffix) + " missing");
    return status;
  }
  if (bytes.size() != width) {
    return Status::Corruption("meta entry " + MetaName(suffix) + " has " +
                              std::to_string(bytes.size()) + " bytes, expected " +
                              std::to_string(width));
  }
  *value = width == 8 ? coding::DecodeFixed64(bytes.data()) : coding::DecodeFixed32(bytes.data());
  return Status::Ok();
}

Status RandomActor(ActorId* actor) {
  // Zero means "no actor" in version vectors; draw again in that case.
  for (int attempt = 0; attempt < 16; ++attempt) {
    if (getrandom(actor, sizeof(*actor), 0) != static_cast<ssize_t>(sizeof(*actor))) {
      return Status::IoError("getrandom failed while creating the node's actor id");
    }
    if (*actor != 0) return Status::Ok();
  }
  return Status::IoError("getrandom returned only zeros");
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Status Engine::OpenDatabasesAndIdentity() {
  Impl& impl = *impl_;
  MDB_txn* raw_txn = nullptr;
  int rc = mdb_txn_begin(impl.env, nullptr, 0, &raw_txn);
  if (rc != 0) return LmdbError("beginning the opening transaction", rc);
  TxnGuard txn(raw_txn);
  if ((rc = mdb_dbi_open(raw_txn, "data", MDB_CREATE, &impl.data_dbi)) != 0 ||
      (rc = mdb_dbi_open(raw_txn, "hints", MDB_CREATE, &impl.hints_dbi)) != 0 ||
      (rc = mdb_dbi_open(raw_txn, "meta", MDB_CREATE, &impl.meta_dbi)) != 0) {
    return LmdbError("opening the named databases", rc);
  }
  const MDB_dbi meta = impl.meta_dbi;
  std::string name;
  Status status = GetRaw(raw_txn, meta, "name", &name);
  if (status.IsNotFound()) {
    // A new data directory: this is a new node incarnation.
    identity_.name = options_.node_name;
    identity_.created_ms = NowMs();
    if (Status s = RandomActor(&identity_.actor); !s.ok()) return s;
    std::string actor, created, partitions, version, live;
    coding::PutFixed64(&actor, identity_.actor);
    coding::PutFixed64(&created, static_cast<uint64_t>(identity_.created_ms));
    coding::PutFixed32(&partitions, options_.partition_count);
    coding::PutFixed32(&version, kStorageFormatVersion);
    coding::PutFixed64(&live, 0);
    for (Status s :
         {PutRaw(raw_txn, meta, "name", identity_.name), PutRaw(raw_txn, meta, "actor", actor),
          PutRaw(raw_txn, meta, "created_ms", created),
          PutRaw(raw_txn, meta, "partition_count", partitions),
          PutRaw(raw_txn, meta, "format_version", version),
          PutRaw(raw_txn, meta, "live_keys", live)}) {
      if (!s.ok()) return s;
    }
  } else if (!status.ok()) {
    return status;
  } else {
    uint64_t version = 0, partitions = 0, actor = 0, created = 0, live = 0;
    if (Status s = GetFixed(raw_txn, meta, "format_version", 4, &version); !s.ok()) return s;
    if (version != kStorageFormatVersion) {
      return Status::InvalidArgument("data_dir " + options_.data_dir + " has storage format " +
                                     std::to_string(version) + "; this build reads format " +
                                     std::to_string(kStorageFormatVersion));
    }
    if (name != options_.node_name) {
      return Status::InvalidArgument("data_dir " + options_.data_dir + " belongs to node '" + name +
                                     "', but this node is named '" + options_.node_name + "'");
    }
    if (Status s = GetFixed(raw_txn, meta, "partition_count", 4, &partitions); !s.ok()) return s;
    if (partitions != options_.partition_count) {
      return Status::InvalidArgument(
          "data_dir " + options_.data_dir + " was created with partition_count " +
          std::to_string(partitions) + ", but partition_count is " +
          std::to_string(options_.partition_count) + " (it is fixed when the cluster is created)");
    }
    for (Status s : {GetFixed(raw_txn, meta, "actor", 8, &actor),
                     GetFixed(raw_txn, meta, "created_ms", 8, &created),
                     GetFixed(raw_txn, meta, "live_keys", 8, &live)}) {
      if (!s.ok()) return s;
    }
    if (actor == 0) return Status::Corruption("meta entry storage.actor is zero");
    identity_.name = name;
    identity_.actor = actor;
    identity_.created_ms = static_cast<int64_t>(created);
    live_keys_ = live;
  }
  impl.persisted_live_keys = live_keys_;
  rc = mdb_txn_commit(txn.Release());
  if (rc != 0) return LmdbError("committing the opening transaction", rc);
  return Status::Ok();
}

}  // namespace ringkv::storage
