// storage/engine_internal.h: the private state of Engine (internal to
// storage/, shared by engine.cc, engine_write.cc and engine_meta.cc).
//
// Everything here is used from the loop thread only, except the atomics,
// which Sync() reads from another thread, and the checkpoint job of the
// write log (LogState), which its own thread runs.
#ifndef RINGKV_STORAGE_ENGINE_INTERNAL_H_
#define RINGKV_STORAGE_ENGINE_INTERNAL_H_

#include <absl/container/flat_hash_map.h>
#include <lmdb.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "storage/engine.h"
#include "storage/inline_bytes.h"
#include "storage/map_space.h"
#include "storage/record_cache.h"
#include "storage/write_log.h"

namespace ringkv::storage {

// Views between LMDB values and byte strings.
inline MDB_val ToVal(std::string_view bytes) {
  return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}

inline std::string_view FromVal(const MDB_val& value) {
  return {static_cast<const char*>(value.mv_data), value.mv_size};
}

// Frees an LMDB cursor when the scope ends.
class CursorGuard {
 public:
  explicit CursorGuard(MDB_cursor* cursor) : cursor_(cursor) {}
  ~CursorGuard() { mdb_cursor_close(cursor_); }
  CursorGuard(const CursorGuard&) = delete;
  CursorGuard& operator=(const CursorGuard&) = delete;

 private:
  MDB_cursor* cursor_;
};

inline constexpr unsigned kMaxDatabases = 8;
// The replay log keeps a copy of the transaction's writes so they survive
// LMDB killing the transaction on MDB_MAP_FULL. Past this size the
// transaction is committed early instead of growing the copy further.
inline constexpr size_t kReplayLogBytesMax = 64u << 20;
// LMDB fails a transaction past 131071 dirty pages (MDB_TXN_FULL); commit
// early well before that.
inline constexpr uint64_t kDirtyPagesMax = 65536;
// Meta names starting with this belong to the engine (identity, counters);
// PutMeta refuses them.
inline constexpr std::string_view kReservedMetaPrefix = "storage.";

// The hint store's bookkeeping. Counts and bytes follow the records exactly:
// a transaction that is lost takes its changes here with it (see
// Impl::hints_at_begin).
struct HintAccounting {
  struct Target {
    uint64_t count = 0;
    uint64_t bytes = 0;
  };
  std::map<std::string, Target, std::less<>> targets;  // Only targets with hints.
  uint64_t count = 0;
  uint64_t bytes = 0;
  uint64_t expired = 0;
  uint64_t delivered = 0;

  void Add(std::string_view target, uint64_t record_bytes);
  void Remove(std::string_view target, uint64_t record_bytes);
};

// The persisted hint counters (meta entry storage.hint_counters).
struct HintCounters {
  uint64_t dropped_count_limit = 0;
  uint64_t dropped_bytes_limit = 0;
  uint64_t expired = 0;
  uint64_t delivered = 0;
  friend bool operator==(const HintCounters&, const HintCounters&) = default;
};
inline constexpr std::string_view kHintCountersMetaName = "storage.hint_counters";
inline constexpr size_t kHintCountersBytes = 32;

// Turns an LMDB error code into a Status (MapFull for MDB_MAP_FULL).
Status LmdbError(std::string_view what, int rc);
// The steady clock in milliseconds.
int64_t SteadyNowMs();

// Writes the meta entry storage.live_keys in `txn`; returns an LMDB code.
int PutLiveKeys(MDB_txn* txn, MDB_dbi meta_dbi, uint64_t live_keys);

// The log write path (EngineOptions::write_log; engine_log.cc): data
// writes go to the write log and this memory table, and reach the data
// tree only at checkpoints.
struct LogState {
  struct MemRecord {
    // The record as the data tree would store it; inline up to 47 bytes
    // (a record holds a value of up to about 15 bytes).
    InlineBytes<47> bytes;
    bool tombstone = false;  // A delete: hides the tree's record.
  };
  // How to undo one write of the iteration if its log write fails: the
  // entry's key and its previous record, both kept in `undo_bytes` (the
  // table moves its entries when it grows).
  struct Undo {
    size_t key_offset = 0;
    size_t key_size = 0;
    bool existed = false;
    bool tombstone = false;
    size_t offset = 0;
    size_t size = 0;
  };

  // Lets `mem` be searched by a string_view without building a string.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
  };

  // An open-addressing table (Abseil's Swiss table): a lookup in a table
  // of 100,000+ entries touches about half the cache lines of
  // std::unordered_map's bucket, node before and node, and it is the
  // hottest code of a replica's write (docs/benchmarks.md). Entries move
  // when it grows: nothing keeps a pointer into `mem` across a write.
  // Keys up to 31 bytes are held in the slot itself (TableKey).
  using Table = absl::flat_hash_map<TableKey, MemRecord, KeyHash, std::equal_to<>>;
  using Entry = Table::value_type;

  std::unique_ptr<WriteLog> wal;
  Table mem;               // By data key: writes since the last checkpoint began.
  uint64_t mem_bytes = 0;  // Keys plus records held in `mem`.
  // A checkpoint in progress: the table it writes into the tree (read
  // after `mem`, before the tree; nobody changes it until the checkpoint
  // ends), the sealed segment it covers, and the live-key count when it
  // began (what the tree counts once it is done).
  Table frozen;
  uint64_t frozen_bytes = 0;
  uint64_t frozen_segment = 0;
  uint64_t frozen_log_bytes = 0;  // The log written since the last freeze.
  uint64_t live_keys_at_freeze = 0;
  // Records read from the tree (EngineOptions::record_cache_bytes): after
  // `mem` and `frozen`, before the tree. A key written goes from it at
  // once (LogApply), so what it holds is the tree's current record: only
  // checkpoints write the data tree (never the loop's transactions), and
  // they write keys that `mem` or `frozen` hold, where reads stop until
  // the checkpoint ended.
  std::unique_ptr<RecordCache> cache;

  // The checkpoint job (Engine::RunCheckpoint), on a thread of its own so
  // that neither its sort nor its B-tree writes stall the loop. The loop
  // starts it (kRunning) and finishes it once the thread set kDone
  // (Engine::FinishCheckpoint); the fields below the mutex belong to the
  // thread while it runs and to the loop otherwise.
  enum JobState : int { kIdle, kRunning, kDone };
  std::thread worker;
  std::mutex job_mutex;
  std::condition_variable job_cv;   // Wakes the thread: a job, a table to free, stop.
  std::condition_variable done_cv;  // Wakes a loop waiting for the job.
  std::atomic<int> job{kIdle};
  std::atomic<bool> stop{false};
  Table retired;                      // A finished frozen table, freed by the thread.
  std::function<void()> on_job_done;  // Called by the thread; guarded by job_mutex.
  std::atomic<long> worker_tid{0};    // The thread's id, for its priority (0: not known).
  bool job_wait_counted = false;      // checkpoint_waits counted this job's wait.
  // The frozen table in key order, `frozen_next` entries written so far.
  // With the writes that make room ordered first (after a full map; see
  // Engine::RunCheckpoint), where they end: a part stops there, so that
  // the other puts begin a new transaction. 0: not ordered so.
  std::vector<const Entry*> frozen_order;
  size_t frozen_next = 0;
  size_t frozen_room_end = 0;
  bool order_room_first = false;  // Set by the loop: the map was full.
  // The job's outcome: the LMDB code of the part that failed (0: none),
  // parts committed, the longest part, and the map's pages if LMDB found
  // it full where the estimate did not (the loop learns from it).
  int job_rc = 0;
  bool job_stopped = false;
  uint64_t job_parts = 0;
  uint64_t job_part_max_us = 0;
  uint64_t job_learn_map_pages = 0;

  std::vector<Undo> undo;  // This iteration's writes, oldest first.
  std::string undo_bytes;
  uint64_t live_keys_at_iteration = 0;
  uint64_t log_bytes_since_checkpoint = 0;
  // Per finished checkpoint, oldest first: the newest segment it covered,
  // removed once a write-back of LMDB covers the checkpoint's commit (its
  // sequence). One entry per checkpoint, not a single mark that each one
  // moves on: a sync always starts before the newest checkpoint under a
  // steady load, and would never cover the mark. Guarded by
  // removable_mutex: ReleaseLog runs on the thread pool.
  struct Removable {
    uint64_t segment = 0;
    uint64_t after_sequence = 0;
    uint64_t log_bytes = 0;  // Of the segments it covered (and no older entry).
  };
  mutable std::mutex removable_mutex;
  std::deque<Removable> removable;
  // The entries' log_bytes, summed, and their count: read without the
  // mutex (tree_write_back_due).
  std::atomic<uint64_t> retained_bytes{0};
  std::atomic<size_t> removable_count{0};
  // The last checkpoint found no room in the map: writes that add data
  // are refused until one succeeds.
  bool map_full = false;
  uint64_t checkpoints = 0;
  uint64_t checkpoint_failures = 0;
  // After a failed checkpoint, when to try again (has_pending_writes is
  // true from then on, so that an idle node retries too: a full map
  // refuses puts, and nothing else would commit).
  std::chrono::steady_clock::time_point retry_at{};
  uint64_t failed_attempts_in_row = 0;  // Since the last whole checkpoint.
  uint64_t checkpoint_step_max_us = 0;  // The longest part of the last checkpoint.
  uint64_t checkpoint_waits = 0;        // Checkpoints the loop waited for (a full table).
  std::string payload;                  // Scratch for encoding log records.
};

struct Engine::WriteRecord {
  MDB_dbi dbi = 0;
  std::string_view lmdb_key;
  std::string_view value;
  size_t record_bytes = 0;    // value plus the long-key prefix, if any.
  std::string_view long_key;  // Not empty: the record starts with this key.
  // A put that takes a live key away (the keyspace's tombstone for DEL):
  // like a delete, the map-space estimate never refuses it, so that a full
  // map can be emptied in a store whose deletes are writes
  // (MakeRoomOnReserve).
  bool takes_key_away = false;
};

struct Engine::Impl {
  struct LoggedWrite {
    MDB_dbi dbi;
    bool is_delete;
    size_t offset;  // Into log_bytes: key, then value.
    size_t key_bytes;
    size_t value_bytes;
  };

  // EngineOptions::digest_cache_bytes (Engine::FindDigest).
  std::unique_ptr<DigestCache> digests;

  // Returns the write transaction if one is open, else the read snapshot,
  // renewed if needed. nullptr (and *status set) if LMDB fails.
  MDB_txn* ReadTxn(Status* status);
  void LogWrite(MDB_dbi dbi, std::string_view key, std::string_view value, bool is_delete);
  void ClearLog();
  // Pages in LMDB's freelist that a new write transaction may reuse.
  uint64_t CountReusableFreePages();
  // The same, read in `read_txn` (idle: reset or never begun; left reset),
  // counting what commits before transaction `last_txnid` freed. Any thread.
  static uint64_t CountReusableFreePagesIn(MDB_txn* read_txn, uint64_t last_txnid);
  // The map-space estimate's view at the start of write transaction `txn`
  // (also sets last_txnid and map_pages, which the freelist count uses).
  MapSpaceSnapshot SpaceSnapshot(MDB_txn* txn);
  // The same without setting them: the checkpoint thread's (*last_txnid
  // receives the last commit's id).
  MapSpaceSnapshot ReadSpaceSnapshot(MDB_txn* txn, uint64_t* last_txnid) const;

  int lock_fd = -1;  // Holds the exclusive lock on data_dir/ringkv.lock.
  MDB_env* env = nullptr;
  MDB_dbi data_dbi = 0;
  MDB_dbi hints_dbi = 0;
  MDB_dbi meta_dbi = 0;
  MDB_txn* write_txn = nullptr;
  MDB_txn* read_txn = nullptr;  // Created once; reset and renewed.
  bool read_txn_active = false;
  size_t page_size = 4096;
  size_t max_key_bytes = 511;

  std::atomic<uint64_t> committed_sequence{0};
  // The committed sequence of the last LMDB commit the next sync writes
  // back (hints, meta, every commit without the write log), of the last
  // finished checkpoint (written back per checkpoint_sync_ms), and the
  // sequence the last mdb_env_sync covered. (Sync() runs one call at a
  // time, but for the server's last one at shutdown: at worst an extra
  // msync.)
  std::atomic<uint64_t> lmdb_sequence{0};
  std::atomic<uint64_t> checkpoint_sequence{0};
  std::atomic<uint64_t> lmdb_synced_sequence{0};
  // Checkpoint parts committed (by the checkpoint thread), the count the
  // last mdb_env_sync covered, and when it ran: parts, as finished
  // checkpoints, are written back once that is checkpoint_sync_ms ago
  // (Engine::tree_write_back_due).
  std::atomic<uint64_t> checkpoint_parts{0};
  // Set while the loop waits for LMDB's writer lock (BeginWrite): the
  // checkpoint thread does not begin its next part meanwhile.
  std::atomic<bool> loop_wants_writer{false};
  std::atomic<uint64_t> checkpoint_parts_synced{0};
  std::atomic<int64_t> lmdb_synced_at_ms{0};
  std::atomic<uint64_t> syncs{0};
  std::atomic<uint64_t> lmdb_syncs{0};
  uint64_t commits = 0;
  uint64_t persisted_live_keys = 0;

  // State of the open write transaction.
  MapSpaceEstimate space;
  uint64_t last_txnid = 0;  // Of the last commit when the transaction began.
  uint64_t map_pages = 0;
  uint64_t live_keys_at_begin = 0;
  bool map_full_in_txn = false;  // LMDB itself reported MDB_MAP_FULL.
  bool refused_in_txn = false;   // The estimate refused a write.
  // Set when writes that were answered ok were lost; Commit() reports it.
  Status lost_writes;
  // Grows each time LMDB reports a full map the estimate let through.
  // Read by the checkpoint thread too.
  std::atomic<uint64_t> learned_reserve_pages{0};

  // Makes later estimates more careful after LMDB's own MDB_MAP_FULL.
  void LearnFromMapFull(uint64_t map_pages);

  // Hints. Refusals (dropped_*) stay counted even if their transaction is
  // lost: they were reported to the caller.
  HintAccounting hints;
  // A copy taken before the transaction's first hint change; restored if
  // the transaction is lost, dropped when it commits.
  std::optional<HintAccounting> hints_at_begin;
  uint64_t hints_dropped_count_limit = 0;
  uint64_t hints_dropped_bytes_limit = 0;
  HintCounters persisted_hint_counters;
  std::string hint_expiry_position;  // Round-robin walk of ExpireHints.
  std::string hint_key_buffer;

  HintCounters CurrentHintCounters() const {
    return {hints_dropped_count_limit, hints_dropped_bytes_limit, hints.expired, hints.delivered};
  }
  // Call before changing `hints` in the write transaction.
  void NoteHintChange() {
    if (!hints_at_begin) hints_at_begin = hints;
  }
  // The write transaction was lost: its hint changes are gone too.
  void RestoreHintsAtBegin() {
    if (hints_at_begin) hints = std::move(*hints_at_begin);
    hints_at_begin.reset();
  }

  std::unique_ptr<LogState> write_log;  // Null unless options.write_log.

  std::vector<LoggedWrite> log;
  std::string log_bytes;
  std::string key_buffer;  // Scratch for data keys.

  // A cursor on the data tree in write_txn, opened at its first use; LMDB
  // frees it when the transaction ends. When the last engine call was a Get
  // in write_txn, the cursor stands on that record and `cursor_key` holds
  // its data key, so a Put of the same key right after it (a read-merge-
  // write) needs no second descent of the tree. Every other call clears it.
  MDB_cursor* data_cursor = nullptr;
  std::string cursor_key;
  // Returns data_cursor, opening it if needed; nullptr (and *rc) on failure.
  MDB_cursor* DataCursor(int* rc);
  // Reserves value->mv_size bytes for the record of `lmdb_key` in write_txn
  // (MDB_RESERVE: value->mv_data receives where to write it). Returns an
  // LMDB code. ReserveData is for the data tree and uses data_cursor.
  int Reserve(MDB_dbi dbi, std::string_view lmdb_key, MDB_val* value);
  int ReserveData(std::string_view lmdb_key, MDB_val* value);
  // Forgets write_txn's cursor: call whenever write_txn ends.
  void WriteTxnEnded() {
    write_txn = nullptr;
    data_cursor = nullptr;
    cursor_key.clear();
  }
};

}  // namespace ringkv::storage

#endif  // RINGKV_STORAGE_ENGINE_INTERNAL_H_
