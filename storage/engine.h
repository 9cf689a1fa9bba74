// storage/engine.h: one node's LMDB environment.
//
// Layout (docs/storage_format.md has the bytes):
//   - "data":  partition-prefixed keys -> encoded sibling sets. A partition's
//              keys are contiguous, so a partition can be scanned, hashed,
//              streamed or dropped as a range. Keys longer than LMDB's key
//              limit are stored under a hash of the key, with the full key
//              kept in the record; callers never see the difference.
//   - "hints": writes held for another node (hinted handoff).
//   - "meta":  node identity (name, actor/incarnation, creation time),
//              partition count, live-key counter.
//
// Transactions follow the event loop (group commit). Within one loop
// iteration, the first write opens a write transaction and every later write
// joins it; Commit() (called once per iteration) commits it without syncing.
// Reads see the open write transaction if there is one, otherwise a read
// snapshot taken at the first read and released by EndIteration(). Sync()
// makes every committed transaction durable and may run on another thread
// (the libuv thread pool) while the loop goes on.
//
// A write that would not fit in the map fails with kMapFull before touching
// LMDB, and leaves earlier writes of the transaction intact; reads keep
// working.
//
// Thread safety: every method except Sync() must be called from the loop
// thread. Sync() may run concurrently with them.
#ifndef RINGKV_STORAGE_ENGINE_H_
#define RINGKV_STORAGE_ENGINE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "storage/status.h"
#include "storage/version_vector.h"

namespace ringkv::storage {

struct EngineOptions {
  std::string data_dir;             // Created if missing.
  uint64_t map_size_bytes = 1ULL << 30;
  uint32_t partition_count = 64;    // Q: fixed when the data dir is created.
  std::string node_name;            // Kept in meta at creation; must match later.
  // Refuse a write that would not fit before LMDB sees it (see above). Only
  // tests turn this off, to exercise the recovery from LMDB's own
  // MDB_MAP_FULL.
  bool check_map_space = true;
};

// Who this node is. Created with the data directory and kept in it.
struct NodeIdentity {
  std::string name;
  ActorId actor = 0;           // Random, nonzero; the incarnation.
  int64_t created_ms = 0;      // Unix ms when the data dir was created.
};

struct EngineStats {
  uint64_t map_size_bytes = 0;
  uint64_t used_bytes = 0;       // Pages in use (last page number + 1) * page size.
  uint64_t data_entries = 0;     // Records in "data", tombstones included.
  uint64_t hint_entries = 0;
  uint64_t commits = 0;
  uint64_t syncs = 0;
};

// Partition of a key: the 64-bit XXH3 hash cut into `partition_count` equal
// ranges, i.e. (hash * Q) >> 64.
uint64_t KeyHash(std::string_view key);
uint32_t PartitionOf(std::string_view key, uint32_t partition_count);

class Engine {
 public:
  // Opens (or creates) the environment in options.data_dir. Fails if the
  // directory holds another node's data (name differs) or another partition
  // count (kInvalidArgument), or if another Engine, in this process or
  // another, has it open (kBusy: an exclusive lock on data_dir/ringkv.lock).
  static Status Open(const EngineOptions& options, std::unique_ptr<Engine>* engine);
  ~Engine();

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const NodeIdentity& identity() const { return identity_; }
  uint32_t partition_count() const { return options_.partition_count; }

  // Reads the record of `key` in `partition`. On ok, *value views LMDB's map
  // and stays valid until the next Put/Delete/Commit/EndIteration.
  // Status::NotFound if absent.
  Status Get(uint32_t partition, std::string_view key, std::string_view* value);

  // Writes or deletes the record of `key` in `partition`, in the
  // iteration's write transaction. `live_delta` (-1, 0, +1) adjusts the
  // live-key counter, persisted with the same transaction.
  Status Put(uint32_t partition, std::string_view key, std::string_view value,
             int live_delta);
  Status Delete(uint32_t partition, std::string_view key, int live_delta);

  // Commits the write transaction, if one is open, without syncing.
  // Each commit advances committed_sequence(). On error none of the
  // iteration's writes may be reported as done: the transaction was lost
  // (kMapFull if LMDB ran out of room while committing, or earlier writes
  // lost to a failure the engine could not recover from). The engine may
  // also commit on its own in the middle of an iteration when a transaction
  // grows very large; that commit advances the sequence too.
  Status Commit();
  bool has_pending_writes() const;
  uint64_t committed_sequence() const { return committed_sequence_; }

  // Releases the read snapshot so LMDB can reuse old pages. Call at the end
  // of every loop iteration, after Commit().
  void EndIteration();

  // Flushes every transaction committed before the call to disk. Thread
  // safe; returns the committed sequence it covers in *durable_sequence.
  Status Sync(uint64_t* durable_sequence);

  // Calls fn(key, value) for the keys of `partition` in order, starting after
  // `start_after` (empty: from the start), at most `limit` records. fn
  // returns false to stop. Views are valid only during the call. "In order"
  // is the order of data keys: keys of up to 508 bytes in byte order, then
  // longer keys in hash order (docs/storage_format.md). REQUIRES: fn does not
  // write, commit or end the iteration.
  Status ScanPartition(uint32_t partition, std::string_view start_after, size_t limit,
                       const std::function<bool(std::string_view key, std::string_view value)>& fn);

  // Node-local metadata (small values), written in the iteration's
  // transaction.
  Status GetMeta(std::string_view name, std::string* value);
  Status PutMeta(std::string_view name, std::string_view value);

  uint64_t live_keys() const { return live_keys_; }
  Status GetStats(EngineStats* stats);

 private:
  explicit Engine(const EngineOptions& options);
  struct Impl;          // LMDB handles and per-transaction state.
  struct WriteRecord;   // One record headed for the write transaction.

  Status OpenDatabasesAndIdentity();
  Status CheckPartition(uint32_t partition) const;
  // Opens the iteration's write transaction if none is open.
  Status BeginWrite();
  // Writes `record` after checking that it fits in the map.
  Status WriteToTxn(const WriteRecord& record);
  // After LMDB failed a write, the transaction is dead: replays its earlier
  // writes into a new one and returns the failure of this write only.
  Status RecoverFromFailedWrite(std::string_view what, int lmdb_error);
  // Commits early when the replay log of the transaction grows too big.
  Status CommitIfLogFull();
  Status CommitTxn();
  void AdjustLiveKeys(int live_delta);

  EngineOptions options_;
  NodeIdentity identity_;
  uint64_t committed_sequence_ = 0;
  uint64_t live_keys_ = 0;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ringkv::storage

#endif  // RINGKV_STORAGE_ENGINE_H_
