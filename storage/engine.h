// storage/engine.h: one node's LMDB environment.
//
// Layout (docs/storage_format.md has the bytes):
//   - "data":  partition-prefixed keys -> encoded sibling sets. A partition's
//              keys are contiguous, so a partition can be scanned, hashed,
//              streamed or dropped as a range. Keys longer than LMDB's key
//              limit are stored under a hash of the key, with the full key
//              kept in the record; callers never see the difference.
//   - "hints": writes held for another node (hinted handoff): one record per
//              (target member, key), keyed so a target's hints are one
//              range. See "Hinted handoff" below.
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
// Hinted handoff: PutHint stores a write meant for a member that is away,
// merged into that member's hint for the key, in the same iteration
// transaction as data writes (so it is as durable as they are). Reads may
// merge in ReadHints; delivery scans a target's hints (ScanHints) and, once
// the owner acknowledged one, deletes it only if it did not change since it
// was scanned (DeleteHintIfUnchanged), so a write hinted during delivery is
// never lost. Storage is bounded by HintLimits: a hint that would pass the
// count or bytes maximum is refused (never an older one evicted), and
// ExpireHints drops hints older than the age maximum. Per-target count and
// bytes are recomputed by a scan at Open; the event counters (dropped,
// expired, delivered) are kept in meta with the commits that change them.
//
// Thread safety: every method except Sync() and ReleaseLog() must be called
// from the loop thread. Sync() may run concurrently with them. With the
// write log, the engine runs checkpoints on a thread of its own (see
// EngineOptions::write_log and SetCheckpointListener).
#ifndef RINGKV_STORAGE_ENGINE_H_
#define RINGKV_STORAGE_ENGINE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/digest_cache.h"
#include "storage/sibling_set.h"
#include "storage/status.h"
#include "storage/version_vector.h"

struct MDB_txn;  // lmdb.h

namespace ringkv::storage {

// Bounds on the hint store (config keys hints_count_max, hints_bytes_max,
// hints_age_max_ms). A count or bytes maximum of 0 refuses every hint.
struct HintLimits {
  uint64_t count_max = 100000;
  uint64_t bytes_max = 256ULL << 20;  // Hint keys plus records, as stored.
  int64_t age_max_ms = 3LL * 3600 * 1000;
};

struct HintTargetStats {
  std::string target;
  uint64_t count = 0;
  uint64_t bytes = 0;
};

struct HintStats {
  std::vector<HintTargetStats> targets;  // Targets holding hints, by name.
  uint64_t count = 0;
  uint64_t bytes = 0;
  // Persisted across restarts:
  uint64_t dropped_count_limit = 0;  // PutHint refused: count_max reached.
  uint64_t dropped_bytes_limit = 0;  // PutHint refused: bytes_max reached.
  uint64_t expired = 0;              // Dropped by ExpireHints.
  uint64_t delivered = 0;            // Deleted by DeleteHintIfUnchanged.
};

// Where a ScanHints of one target stands. Start with a default cursor; the
// position is opaque (the stored key of the last hint visited), so resuming
// is exact even for the empty key and long keys.
struct LogState;

struct HintScanCursor {
  std::string position;
  bool done = false;  // The scan has passed the target's last hint.
};

struct EngineOptions {
  std::string data_dir;  // Created if missing.
  uint64_t map_size_bytes = 1ULL << 30;
  uint32_t partition_count = 64;  // Q: fixed when the data dir is created.
  std::string node_name;          // Kept in meta at creation; must match later.
  // Refuse a write that would not fit before LMDB sees it (see above). Only
  // tests turn this off, to exercise the recovery from LMDB's own
  // MDB_MAP_FULL.
  bool check_map_space = true;
  HintLimits hint_limits;
  // The log write path (docs/storage_format.md, "Write log"): data writes
  // are appended to a write log in data_dir/log and kept in a memory table,
  // and reach LMDB's data tree in sorted transactions (a checkpoint, a part
  // per commit) once the table holds memtable_bytes_max or the log grew by
  // log_bytes_max since the last one. Hints and meta are written to LMDB as
  // before.
  bool write_log = false;
  uint64_t memtable_bytes_max = 64ULL << 20;
  uint64_t log_bytes_max = 256ULL << 20;
  // With the write log, records read from the tree are kept in a cache of
  // this many bytes (keys, records and 64 bytes per entry; CLOCK
  // eviction; storage/record_cache.h); 0: none.
  uint64_t record_cache_bytes = 256ULL << 20;
  // The digest cache (storage/digest_cache.h; FindDigest, CacheDigest):
  // at most this many bytes, taken at its first entry; 0: none.
  uint64_t digest_cache_bytes = 16ULL << 20;
  // A checkpoint runs on a thread of its own and writes the frozen table
  // into the tree this much (keys plus records) per commit. Between parts
  // LMDB's single writer is free for the loop's own commits (hints, meta),
  // which wait for at most one part: about 7 ms per MB of 1 KB records on
  // the development machine.
  uint64_t checkpoint_step_bytes = 1ULL << 20;
  // What checkpoints wrote into the tree (their parts, and their ends) is
  // written back to disk (mdb_env_sync) by ReleaseLog, before it removes
  // the segments they covered, once the last write-back is
  // checkpoint_sync_ms old, or those segments hold log_retained_bytes_max,
  // or 64 finished checkpoints wait (tree_write_back_due()); 0 for either
  // bound: at every release. Until then the log holds their records. LMDB's
  // copy-on-write rewrites the same pages many times in that interval, and
  // each write-back costs a write-protect fault on the next write to every
  // page it cleaned. (Hints and meta are written back by the next Sync().)
  int64_t checkpoint_sync_ms = 30000;
  uint64_t log_retained_bytes_max = 1ULL << 30;
};

// Who this node is. Created with the data directory and kept in it.
struct NodeIdentity {
  std::string name;
  ActorId actor = 0;       // Random, nonzero; the incarnation.
  int64_t created_ms = 0;  // Unix ms when the data dir was created.
};

struct EngineStats {
  uint64_t map_size_bytes = 0;
  uint64_t used_bytes = 0;    // Pages in use (last page number + 1) * page size.
  uint64_t data_entries = 0;  // Records in "data", tombstones included.
  uint64_t hint_entries = 0;
  uint64_t commits = 0;
  uint64_t syncs = 0;
  uint64_t lmdb_syncs = 0;  // The syncs that had LMDB commits to sync (mdb_env_sync).
  // The log write path (zero otherwise).
  uint64_t memtable_entries = 0;  // Records and tombstones not checkpointed yet.
  uint64_t memtable_bytes = 0;
  uint64_t log_segments = 0;
  uint64_t log_spares = 0;  // Removed segments kept for reuse (WriteLog).
  // Log bytes that finished checkpoints covered, kept until a sync writes
  // those checkpoints back (EngineOptions::checkpoint_sync_ms).
  uint64_t log_retained_bytes = 0;
  uint64_t checkpoints = 0;
  uint64_t checkpoint_failures = 0;
  uint64_t checkpoint_step_max_us = 0;  // The longest part of the last checkpoint.
  // Times the loop waited for a checkpoint because the new table reached
  // twice its bound first.
  uint64_t checkpoint_waits = 0;
  // The record cache (the log write path; zero otherwise).
  uint64_t record_cache_bytes = 0;
  uint64_t record_cache_entries = 0;
  uint64_t record_cache_hits = 0;
  uint64_t record_cache_misses = 0;
  uint64_t record_cache_evictions = 0;
  // The digest cache.
  uint64_t digest_cache_bytes = 0;
  uint64_t digest_cache_hits = 0;
  uint64_t digest_cache_misses = 0;
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
  // (or the memory table, or the record cache) and stays valid until the
  // next Put/Delete/Commit/EndIteration. Status::NotFound if absent.
  // ReadFor::kUpdate, for a read the caller follows with a write of the
  // key: a record from the tree is not copied into the record cache, since
  // the write would take it out at once.
  enum class ReadFor { kRead, kUpdate };
  Status Get(uint32_t partition, std::string_view key, std::string_view* value,
             ReadFor purpose = ReadFor::kRead);

  // Writes or deletes the record of `key` in `partition`, in the
  // iteration's write transaction. `live_delta` (-1, 0, +1) adjusts the
  // live-key counter, persisted with the same transaction.
  Status Put(uint32_t partition, std::string_view key, std::string_view value, int live_delta);
  Status Delete(uint32_t partition, std::string_view key, int live_delta);

  // A digest the caller computed from `key`'s record as Get returned it
  // (the cluster's conditional reads: the digest of its versions), kept
  // until the record may have changed: every Put or Delete of the key drops
  // it, and a transaction's writes taken back (a failed commit) drop them
  // all. So a digest found is that of the record Get would return now.
  // Bounded (EngineOptions::digest_cache_bytes); keys over
  // DigestCache::kMaxKeyBytes are never cached. Any partition: the key
  // alone names the record.
  bool FindDigest(std::string_view key, Digest128* digest);
  // Starts loading the lines a FindDigest of `key` reads (DigestCache::
  // Prefetch); changes nothing.
  void PrefetchDigest(std::string_view key) const;
  void CacheDigest(std::string_view key, const Digest128& digest);

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

  // Flushes every transaction committed before the call to disk, except
  // what checkpoints wrote into the tree (the log holds their records;
  // ReleaseLog writes it back). Thread safe; returns the committed sequence
  // it covers in *durable_sequence. With the write log: the log first, then
  // LMDB.
  Status Sync(uint64_t* durable_sequence);

  // The write log: removes the log segments a checkpoint covered once
  // `durable_sequence` covers its commit and, if `after_tree_sync`, a
  // write-back of LMDB (mdb_env_sync) ran after it; first runs that
  // write-back if tree_write_back_due(). The server passes a Sync's
  // sequence (or, from its cron, the committed one) and true; with fsync =
  // "no" (nothing is ever synced) committed_sequence() and false. It
  // unlinks and syncs the directory, so it belongs on the thread pool:
  // thread safe, one call at a time. Does nothing without the write log.
  Status ReleaseLog(uint64_t durable_sequence, bool after_tree_sync);
  // Whether what checkpoints wrote waits for a write-back that is due
  // (EngineOptions::checkpoint_sync_ms). Thread safe.
  bool tree_write_back_due() const;
  // Whether a checkpoint left segments for ReleaseLog. Loop thread.
  bool log_release_pending() const;
  // The write log's checkpoints run on a thread of their own. `fn` is
  // called on that thread when one ends; the loop then finishes it with its
  // next Commit() (has_pending_writes() is true until then). `fn` must not
  // call into the engine: wake the loop (uv_async_send).
  void SetCheckpointListener(std::function<void()> fn);
  // Waits for the checkpoint in progress, if any, and finishes it. Loop
  // thread; REQUIRES: no write transaction or uncommitted log writes.
  // For tests, which need to know when one is done.
  Status WaitForCheckpoint();

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

  // --- Hinted handoff (engine_hints.cc). `target` is a member name of 1 to
  // 255 bytes (else kInvalidArgument); keys are binary, any length.

  // Stores `set` as a hint of `key` for `target`, in the iteration's write
  // transaction. If the target already has a hint for the key, stores the
  // Merge of both (one record per target and key), keeping its created_ms.
  // Returns ok with *dropped true, and counts it, if the hint would pass
  // limits().count_max (a new hint) or bytes_max: refusing rather than
  // evicting keeps a write's W honest, since the caller then knows this copy
  // does not exist and must not count it. A full map is kMapFull with
  // *dropped false, as for data writes; the stored hint stays as it was.
  Status PutHint(std::string_view target, std::string_view key, const SiblingSet& set,
                 int64_t now_ms, bool* dropped);

  // Reads the hint of `key` for `target`. *version as in ScanHints; header
  // times in *created_ms / *updated_ms. Any out pointer may be null.
  // Status::NotFound if there is none.
  Status GetHint(std::string_view target, std::string_view key, SiblingSet* set, uint64_t* version,
                 int64_t* created_ms, int64_t* updated_ms);

  // Merges every target's hint of `key` into *merged (replacing it), for
  // serving reads while owners are away. Status::NotFound if no target has
  // one. Costs one lookup per target holding hints.
  Status ReadHints(std::string_view key, SiblingSet* merged);

  // Calls fn(key, set, version) for the hints of `target` after
  // cursor->position, in hint-key order (partition, then as data keys), at
  // most `limit` of them, and moves the cursor past each one visited. fn
  // returns false to stop. `version` identifies the hint's stored state (a
  // hash of its sibling set) for DeleteHintIfUnchanged. Views are valid only
  // during the call. A hint whose set does not decode is kCorruption, with
  // the cursor already past it, so delivery can report it and go on.
  // REQUIRES: fn does not write, commit or end the iteration; the cursor was
  // started on the same target.
  Status ScanHints(
      std::string_view target, HintScanCursor* cursor, size_t limit,
      const std::function<bool(std::string_view key, const SiblingSet& set, uint64_t version)>& fn);

  // Deletes the hint of `key` for `target` if its version is still
  // `version`, and counts it delivered: call it once the owner acknowledged
  // the set scanned with that version. If the hint changed since (a newer
  // write was merged in), it stays for the next delivery pass; *deleted
  // says which happened (false as well if there is no hint).
  Status DeleteHintIfUnchanged(std::string_view target, std::string_view key, uint64_t version,
                               bool* deleted);

  // Deletes the hints created more than limits().age_max_ms before now_ms
  // among the next `limit` hints of a round-robin walk over all targets,
  // and counts them in *expired (and in the stats). Bounded work per call:
  // a hint may outlive the age maximum by up to count / limit calls.
  Status ExpireHints(int64_t now_ms, size_t limit, uint64_t* expired);

  const HintLimits& hint_limits() const { return options_.hint_limits; }
  // New limits apply to later calls; hints already stored are kept.
  void SetHintLimits(const HintLimits& limits) { options_.hint_limits = limits; }
  void GetHintStats(HintStats* stats) const;

 private:
  explicit Engine(const EngineOptions& options);
  struct Impl;         // LMDB handles and per-transaction state.
  struct WriteRecord;  // One record headed for the write transaction.

  Status OpenDatabasesAndIdentity();
  Status CheckPartition(uint32_t partition) const;
  // Checks `target` and encodes the hint key of (`target`, `key`) into the
  // Impl's reused hint key buffer; *hashed says whether the key is stored
  // by its hash (a long key).
  Status EncodeHintKeyFor(std::string_view target, std::string_view key, bool* hashed);
  // Opens the iteration's write transaction if none is open.
  Status BeginWrite();
  // Writes `record` after checking that it fits in the map.
  Status WriteToTxn(const WriteRecord& record);
  // For a write that makes room (a delete, or a put that takes a live key
  // away), which the estimate never refuses: a transaction of many could
  // still outgrow the reserve kept for them, so when the estimate says the
  // map is full and the transaction holds other writes, those are
  // committed first and this one begins a new transaction.
  Status MakeRoomOnReserve(size_t key_bytes, size_t value_bytes);
  // After LMDB failed a write, the transaction is dead: replays its earlier
  // writes into a new one and returns the failure of this write only.
  Status RecoverFromFailedWrite(std::string_view what, int lmdb_error);
  // Commits early when the replay log of the transaction grows too big.
  Status CommitIfLogFull();
  Status CommitTxn();
  void AdjustLiveKeys(int live_delta);
  // Counts a commit: advances committed_sequence() and publishes it to
  // Sync(), with what kind of commit it was (what Sync() must write back
  // for it, and when), published before the sequence, so that a Sync() that
  // reads the sequence sees it.
  enum class CommitKind {
    kLog,         // Only the write log: no LMDB write-back.
    kLmdb,        // An LMDB commit that the next sync writes back.
    kCheckpoint,  // A checkpoint's end: written back per checkpoint_sync_ms.
  };
  void AdvanceCommittedSequence(CommitKind kind);
  // mdb_env_sync, then records the committed sequence and the checkpoint
  // parts it covers (read before it starts). Thread safe.
  Status WriteBackLmdb();
  // The write log (engine_log.cc).
  Status OpenWriteLog();
  // Appends a put ('P', `record` as stored) or delete ('D') of data key
  // `data_key` to the log and applies it to the memory table.
  Status LogApply(char kind, std::string_view data_key, std::string_view record, int live_delta);
  // Writes the iteration's log records; on failure undoes them in the
  // memory table.
  Status LogCommit();
  // Finishes the checkpoint job that ended, if any; begins one when the
  // memory table or the log is past its bound (or after a failure, once
  // its retry is due). Waits for the one in progress only when the new
  // table reached twice its bound meanwhile, and then in slices of 20 ms
  // (WaitForJob) up to a hard bound. Loop thread.
  Status MaybeCheckpoint();
  // Freezes the table for a checkpoint that covers segment `sealed`.
  void FreezeTable(uint64_t sealed);
  // Clears the checkpoint job's results. Under job_mutex, or before the
  // thread starts.
  void ResetJob();
  // Open: checkpoints the table replayed so far (segments up to `sealed`)
  // on the calling thread.
  Status CheckpointReplayed(uint64_t sealed);
  // The loop's side of a job that ended: makes its outcome visible
  // (counters, the tables, the segments to release, a retry).
  Status FinishCheckpoint();
  // Waits for the job in progress to end, or at most `limit`, with the
  // thread at the loop's priority meanwhile; true if it is not running.
  bool WaitForJob(std::optional<std::chrono::milliseconds> limit);
  // The checkpoint thread: runs jobs, frees retired tables, until stop.
  void CheckpointWorker();
  void StopCheckpointWorker();
  // The job: orders the frozen table (once), then writes it into the tree
  // a part per transaction, the meta entries with the last part. Stops at
  // the first part that fails. Checkpoint thread.
  void RunCheckpoint();
  // One part: the next frozen records up to checkpoint_step_bytes.
  // Returns an LMDB code; *last says whether it was the last part.
  int CheckpointPart(MDB_txn* read_txn, bool* last);
  // Whether the memory table holds `data_key`: then *tombstone says if it
  // is a delete, else *bytes views its record (valid until the next write,
  // commit or end of iteration).
  bool MemLookup(std::string_view data_key, bool* tombstone, std::string_view* bytes) const;
  // The stored record of `data_key` (the memory table first, then the
  // tree); NotFound if absent or deleted.
  Status ReadDataKey(std::string_view data_key, std::string_view* value);
  // The data tree's record of `data_key` only.
  Status ReadTreeKey(std::string_view data_key, std::string_view* value);

  // Hints: the counts and bytes by a scan at Open, and the persisted
  // counters.
  Status LoadHintAccounting();
  // Deletes a stored hint record in the write transaction and its
  // accounting. REQUIRES: a write transaction is open and the record exists.
  Status DeleteHintRecord(std::string_view hint_key, std::string_view target,
                          uint64_t record_bytes);

  EngineOptions options_;
  NodeIdentity identity_;
  uint64_t committed_sequence_ = 0;
  uint64_t live_keys_ = 0;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ringkv::storage

#endif  // RINGKV_STORAGE_ENGINE_H_
