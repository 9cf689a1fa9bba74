// storage/engine_log.cc: the log write path (EngineOptions::write_log).
//
// A data write is appended to the write log (one record: kind, live-key
// delta, data key, the record as the data tree would store it) and applied
// to the memory table; Commit() writes the iteration's records with one
// pwrite(2), and Sync() makes them durable. When the table or the log passes
// its bound, a checkpoint seals the log segment and freezes the table; the
// engine's checkpoint thread sorts it and writes it into the data tree in
// key order, a part per LMDB transaction (the last with the live-key count
// and the sealed segment's number in meta), and the loop finishes it with
// its next commit; the sealed segments are removed once a write-back of
// LMDB covers that commit (ReleaseLog, every checkpoint_sync_ms). Open replays
// the segments after the last checkpoint into the table (checkpointing at a
// segment's end when the table is past its bound). Records are whole
// record images, so replaying one the tree already holds changes nothing.
#include <lmdb.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "storage/coding.h"
#include "storage/data_key.h"
#include "storage/engine.h"
#include "storage/engine_internal.h"

namespace ringkv::storage {

namespace {

constexpr std::string_view kLogCheckpointMeta = "storage.log_checkpoint";
constexpr char kPut = 'P';
constexpr char kDelete = 'D';
// After a checkpoint failed, the next one is tried this much later,
// doubling with each failure in a row up to the maximum.
constexpr std::chrono::milliseconds kCheckpointRetryInterval{1000};
constexpr std::chrono::milliseconds kCheckpointRetryIntervalMax{60000};
// The checkpoint thread's nice value (Linux: per thread).
constexpr int kCheckpointNice = 10;
// How long the loop waits at a time for a checkpoint behind the writes
// (Engine::WaitForJob).
constexpr std::chrono::milliseconds kCheckpointWaitSlice{20};
// Checkpoints whose segments wait for a sync (LogState::removable).
constexpr size_t kRemovableEntriesMax = 64;

void EncodeLogRecord(char kind, int live_delta, std::string_view data_key, std::string_view record,
                     std::string* out) {
  out->clear();
  out->push_back(kind);
  out->push_back(static_cast<char>(live_delta + 1));  // -1, 0, +1 as 0, 1, 2.
  coding::PutVarint64(out, data_key.size());
  out->append(data_key);
  out->append(record);
}

bool DecodeLogRecord(std::string_view payload, char* kind, int* live_delta,
                     std::string_view* data_key, std::string_view* record) {
  if (payload.size() < 2) return false;
  *kind = payload[0];
  const int delta = static_cast<unsigned char>(payload[1]);
  if ((*kind != kPut && *kind != kDelete) || delta > 2) return false;
  *live_delta = delta - 1;
  payload.remove_prefix(2);
  uint64_t key_bytes = 0;
  if (!coding::GetVarint64(&payload, &key_bytes) || key_bytes == 0 || key_bytes > payload.size()) {
    return false;
  }
  *data_key = payload.substr(0, key_bytes);
  *record = payload.substr(key_bytes);
  return *kind == kPut || record->empty();
}

Status ReadCheckpoint(MDB_txn* txn, MDB_dbi meta, uint64_t* segment) {
  MDB_val key{kLogCheckpointMeta.size(), const_cast<char*>(kLogCheckpointMeta.data())};
  MDB_val value;
  int rc = mdb_get(txn, meta, &key, &value);
  if (rc == MDB_NOTFOUND) {
    *segment = 0;
    return Status::Ok();
  }
  if (rc != 0) return LmdbError("reading storage.log_checkpoint", rc);
  if (value.mv_size != 8) return Status::Corruption("storage.log_checkpoint is not 8 bytes");
  *segment = coding::DecodeFixed64(static_cast<const char*>(value.mv_data));
  return Status::Ok();
}

uint64_t EntryBytes(std::string_view key, const LogState::MemRecord& record) {
  return key.size() + record.bytes.size();
}

// Sets the table entry `entry` to `bytes` (a tombstone if so), keeping the
// table's byte count (which counts every entry, a new one with its key).
void SetEntry(LogState::Entry& entry, std::string_view bytes, bool tombstone,
              uint64_t* table_bytes) {
  *table_bytes -= EntryBytes(entry.first, entry.second);
  entry.second.bytes.assign(bytes);
  entry.second.tombstone = tombstone;
  *table_bytes += EntryBytes(entry.first, entry.second);
}

// A checkpoint the map has no room for: the new table's writes join the
// frozen one's (newer wins) in a new table, and the next attempt freezes
// all of them. Otherwise the deletes that make room would wait behind a
// frozen table that can never be written. Parts already written stay in
// the tree; the table still holds their records, so reads are unchanged.
void ThawFrozen(LogState* log) {
  for (LogState::Entry& entry : log->mem) {
    auto [it, inserted] = log->frozen.try_emplace(entry.first);
    if (inserted) log->frozen_bytes += it->first.size();
    SetEntry(*it, entry.second.bytes, entry.second.tombstone, &log->frozen_bytes);
  }
  log->mem = std::move(log->frozen);
  log->mem_bytes = log->frozen_bytes;
  // Not checkpointed after all: counted again until the next attempt.
  log->log_bytes_since_checkpoint += log->frozen_log_bytes;
  log->frozen_log_bytes = 0;
  log->frozen = LogState::Table();
  log->frozen_bytes = 0;
  log->frozen_order.clear();
  log->frozen_next = 0;
  log->frozen_room_end = 0;
}

}  // namespace

Status Engine::OpenWriteLog() {
  Impl& impl = *impl_;
  impl.write_log = std::make_unique<LogState>();
  LogState& log = *impl.write_log;
  log.cache = std::make_unique<RecordCache>(options_.record_cache_bytes);
  WriteLogOptions log_options;
  log_options.dir = options_.data_dir + "/log";
  // Segments removed at a write-back are reused by the rotations until the
  // next: about what the log retains between write-backs, or one segment
  // when it writes back at every release.
  log_options.spare_bytes_max = std::max(options_.log_retained_bytes_max, options_.log_bytes_max);
  if (Status status = WriteLog::Open(log_options, &log.wal); !status.ok()) return status;
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(impl.env, nullptr, MDB_RDONLY, &txn);
  if (rc != 0) return LmdbError("beginning a read transaction", rc);
  uint64_t checkpointed = 0;
  Status status = ReadCheckpoint(txn, impl.meta_dbi, &checkpointed);
  mdb_txn_abort(txn);
  if (!status.ok()) return status;
  // Segments up to the checkpoint are in the tree: not read. Past a
  // segment's end with the table over its bound, a checkpoint of what was
  // read: LMDB's last checkpoint on disk can be far behind the log after a
  // power loss (checkpoint_sync_ms), and the table would hold it all. After
  // one that fails (a full map, say, which the later segments' deletes may
  // make room in) the rest is read into the table as without it, and
  // writes are taken (a full map refuses them once a checkpoint with all
  // of it, the usual retry, finds no room either).
  uint64_t replaying = 0;
  bool replay_checkpoint_failed = false;
  status = log.wal->Replay(checkpointed, [&](uint64_t segment, std::string_view payload) {
    if (segment <= checkpointed) return Status::Ok();  // The newest, if ever.
    if (segment != replaying && replaying != 0 && !replay_checkpoint_failed &&
        (log.mem_bytes >= options_.memtable_bytes_max ||
         log.log_bytes_since_checkpoint >= options_.log_bytes_max)) {
      // Counted in checkpoint_failures if it fails.
      replay_checkpoint_failed = !CheckpointReplayed(replaying).ok();
    }
    replaying = segment;
    char kind = 0;
    int live_delta = 0;
    std::string_view data_key;
    std::string_view record;
    if (!DecodeLogRecord(payload, &kind, &live_delta, &data_key, &record)) {
      return Status::Corruption("write log: a record of segment " + std::to_string(segment) +
                                " does not decode");
    }
    auto [it, inserted] = log.mem.try_emplace(data_key);
    if (inserted) log.mem_bytes += it->first.size();
    SetEntry(*it, record, kind == kDelete, &log.mem_bytes);
    log.log_bytes_since_checkpoint += payload.size() + WriteLog::kRecordOverheadBytes;
    AdjustLiveKeys(live_delta);
    return Status::Ok();
  });
  if (!status.ok()) return status;
  if (replay_checkpoint_failed) log.map_full = false;
  // Segments a checkpoint covered but a crash kept: the tree holds them.
  // Make that commit durable before they go.
  if (checkpointed != 0 && log.wal->segments().front() <= checkpointed) {
    rc = mdb_env_sync(impl.env, 1);
    if (rc != 0) return LmdbError("mdb_env_sync", rc);
    if (Status removed = log.wal->RemoveThrough(checkpointed); !removed.ok()) return removed;
  }
  // Writes must go to a segment above the checkpoint, or the next replay
  // skips them. The newest is at or below it when a power loss took the
  // segment the checkpoint's Rotate created (its directory entry is synced
  // with the next Sync, the checkpoint's commit may reach the disk first).
  if (log.wal->newest_segment() <= checkpointed) {
    uint64_t sealed = 0;
    if (Status status = log.wal->Rotate(&sealed); !status.ok()) return status;
    if (Status status = log.wal->Sync(); !status.ok()) return status;
  }
  log.worker = std::thread([this] { CheckpointWorker(); });
  return Status::Ok();
}

bool Engine::MemLookup(std::string_view data_key, bool* tombstone, std::string_view* bytes) const {
  const LogState& log = *impl_->write_log;
  auto it = log.mem.find(data_key);
  if (it == log.mem.end()) {
    if (log.frozen.empty()) return false;
    it = log.frozen.find(data_key);
    if (it == log.frozen.end()) return false;
  }
  *tombstone = it->second.tombstone;
  *bytes = it->second.bytes;
  return true;
}

Status Engine::LogApply(char kind, std::string_view data_key, std::string_view record,
                        int live_delta) {
  LogState& log = *impl_->write_log;
  // A full map refuses what adds data; a delete (in this store a tombstone
  // put that takes a live key away, or a delete) is accepted: with the
  // frozen table thawed (ThawFrozen), it makes the next attempt smaller.
  if (log.map_full && kind == kPut && live_delta >= 0) {
    return Status::MapFull(
        "map full: the last checkpoint of the write log found no room in the LMDB map "
        "(map_size_bytes = " +
        std::to_string(options_.map_size_bytes) + "); delete data or raise map_size_bytes");
  }
  if (log.undo.empty()) log.live_keys_at_iteration = live_keys_;
  EncodeLogRecord(kind, live_delta, data_key, record, &log.payload);
  if (Status status = log.wal->Append(log.payload); !status.ok()) return status;
  log.log_bytes_since_checkpoint += log.payload.size() + WriteLog::kRecordOverheadBytes;
  log.cache->Erase(data_key);
  auto [it, inserted] = log.mem.try_emplace(data_key);
  LogState::Undo undo;
  undo.key_offset = log.undo_bytes.size();
  undo.key_size = data_key.size();
  log.undo_bytes.append(data_key);
  undo.existed = !inserted;
  if (undo.existed) {
    undo.tombstone = it->second.tombstone;
    undo.offset = log.undo_bytes.size();
    undo.size = it->second.bytes.size();
    log.undo_bytes.append(it->second.bytes);
  } else {
    log.mem_bytes += it->first.size();
  }
  log.undo.push_back(undo);
  // From the payload's copy: `record` may view this very entry.
  SetEntry(*it, std::string_view(log.payload).substr(log.payload.size() - record.size()),
           kind == kDelete, &log.mem_bytes);
  AdjustLiveKeys(live_delta);
  return Status::Ok();
}

Status Engine::LogCommit() {
  LogState& log = *impl_->write_log;
  if (log.undo.empty() && log.wal->buffered_bytes() == 0) return Status::Ok();
  Status status = log.wal->Flush();
  if (!status.ok()) {
    // The records never reached the log: take them back out of the table,
    // newest first, so that no later read sees a write that was lost (nor
    // a digest of one).
    impl_->digests->Clear();
    for (auto undo = log.undo.rbegin(); undo != log.undo.rend(); ++undo) {
      auto it =
          log.mem.find(std::string_view(log.undo_bytes).substr(undo->key_offset, undo->key_size));
      if (it == log.mem.end()) continue;
      if (undo->existed) {
        SetEntry(*it, std::string_view(log.undo_bytes).substr(undo->offset, undo->size),
                 undo->tombstone, &log.mem_bytes);
      } else {
        log.mem_bytes -= EntryBytes(it->first, it->second);
        log.mem.erase(it);
      }
    }
    live_keys_ = log.live_keys_at_iteration;
    log.undo.clear();
    log.undo_bytes.clear();
    return status;
  }
  log.undo.clear();
  log.undo_bytes.clear();
  if (log.undo_bytes.capacity() > (8u << 20)) std::string().swap(log.undo_bytes);
  AdvanceCommittedSequence(CommitKind::kLog);
  return Status::Ok();
}

Status Engine::MaybeCheckpoint() {
  Impl& impl = *impl_;
  LogState& log = *impl.write_log;
  if (impl.write_txn != nullptr || !log.undo.empty()) {
    return Status::InvalidArgument("checkpoint with writes not committed");
  }
  auto past_bound = [&] {
    return log.mem_bytes >= options_.memtable_bytes_max ||
           log.log_bytes_since_checkpoint >= options_.log_bytes_max;
  };
  Status finished;
  switch (log.job.load(std::memory_order_acquire)) {
    case LogState::kRunning:
      // The new table filled up before the thread wrote the frozen one: the
      // tables together stay under about three times memtable_bytes_max
      // (the log since the freeze under twice log_bytes_max), so the loop
      // waits (the one stall left, and only under writes faster than the
      // tree takes them).
      if (log.mem_bytes + log.frozen_bytes < 3 * options_.memtable_bytes_max &&
          log.log_bytes_since_checkpoint < 2 * options_.log_bytes_max) {
        return Status::Ok();
      }
      if (!log.job_wait_counted) {
        log.job_wait_counted = true;
        ++log.checkpoint_waits;
      }
      // In slices: between them the loop serves what it has read (peers'
      // acks and replies, gossip's heartbeat, timers), and each of its
      // commits waits again while the tables stay past the bound. One wait
      // to the end stopped a node for seconds on a saturated machine: its
      // writes failed UNAVAILABLE and gossip took it for down
      // (docs/benchmarks.md, twenty-fourth pass). Past a hard bound (four
      // times memtable_bytes_max, or the log at three times log_bytes_max)
      // it waits to the end, as memory must stay bounded.
      if (log.mem_bytes + log.frozen_bytes < 4 * options_.memtable_bytes_max &&
          log.log_bytes_since_checkpoint < 3 * options_.log_bytes_max &&
          !WaitForJob(kCheckpointWaitSlice)) {
        return Status::Ok();
      }
      finished = WaitForCheckpoint();
      break;  // And the new table is frozen at once.
    case LogState::kDone:
      finished = FinishCheckpoint();
      break;
    default:
      break;
  }
  const bool in_progress = !log.frozen.empty();  // A failed part is retried.
  // While the map is full the table may stay under its bound (its puts
  // refused, deletes shrinking it): retried then too, or never.
  if (!in_progress && (log.mem.empty() || !(past_bound() || log.map_full))) return finished;
  if (log.checkpoint_failures > 0 && std::chrono::steady_clock::now() < log.retry_at) {
    return finished;
  }
  if (!in_progress) {
    // Freeze the table: later writes go to a new one, and the sealed
    // segment holds exactly the frozen writes (and earlier ones). A newest
    // segment with no record (a retry after a failed checkpoint, nothing
    // written since) is not sealed again: the one before it holds them
    // all, and a full map retried for hours must not pile up segments.
    uint64_t sealed = 0;
    if (log.wal->flushed_bytes() == WriteLog::kHeaderBytes && log.wal->buffered_bytes() == 0 &&
        log.wal->newest_segment() > 1) {
      sealed = log.wal->newest_segment() - 1;
    } else if (Status status = log.wal->Rotate(&sealed); !status.ok()) {
      return status;
    }
    FreezeTable(sealed);
  }
  // The loop's read snapshot would keep the pages the parts free from
  // being reused (its next one is newer than the job's start).
  EndIteration();
  std::lock_guard<std::mutex> lock(log.job_mutex);
  ResetJob();
  log.job.store(LogState::kRunning, std::memory_order_release);
  log.job_cv.notify_one();
  return finished;
}

void Engine::FreezeTable(uint64_t sealed) {
  LogState& log = *impl_->write_log;
  log.frozen = std::move(log.mem);
  log.mem = LogState::Table();
  log.frozen_bytes = log.mem_bytes;
  log.mem_bytes = 0;
  log.frozen_log_bytes = log.log_bytes_since_checkpoint;
  log.log_bytes_since_checkpoint = 0;
  log.frozen_order.clear();
  log.frozen_next = 0;
  log.order_room_first = log.map_full;
  log.frozen_segment = sealed;
  log.live_keys_at_freeze = live_keys_;
}

void Engine::ResetJob() {
  LogState& log = *impl_->write_log;
  log.job_wait_counted = false;
  log.job_rc = 0;
  log.job_stopped = false;
  log.job_parts = 0;
  log.job_part_max_us = 0;
  log.job_learn_map_pages = 0;
}

Status Engine::CheckpointReplayed(uint64_t sealed) {
  LogState& log = *impl_->write_log;
  FreezeTable(sealed);
  ResetJob();
  RunCheckpoint();  // Here: the thread starts after the replay.
  log.job.store(LogState::kDone, std::memory_order_release);
  return FinishCheckpoint();
}

Status Engine::WaitForCheckpoint() {
  Impl& impl = *impl_;
  if (impl.write_log == nullptr) return Status::Ok();
  LogState& log = *impl.write_log;
  if (impl.write_txn != nullptr || !log.undo.empty()) {
    return Status::InvalidArgument("checkpoint with writes not committed");
  }
  (void)WaitForJob(std::nullopt);
  if (log.job.load(std::memory_order_acquire) != LogState::kDone) return Status::Ok();
  return FinishCheckpoint();
}

// The loop's wait for the job in progress: to its end, or at most `limit`
// (a slice, MaybeCheckpoint); true when the job is no longer running. The
// thread runs at the loop's priority meanwhile, when the process may raise
// it (root, or RLIMIT_NICE): at nice +10 on a machine whose cores other
// processes fill, it got too little of them to end.
bool Engine::WaitForJob(std::optional<std::chrono::milliseconds> limit) {
  LogState& log = *impl_->write_log;
  EndIteration();  // Its snapshot would pin the pages the parts free.
  auto not_running = [&] { return log.job.load() != LogState::kRunning; };
  if (not_running()) return true;
  const id_t tid = static_cast<id_t>(log.worker_tid.load());
  const bool boosted = tid != 0 && setpriority(PRIO_PROCESS, tid, 0) == 0;
  bool ended = true;
  {
    std::unique_lock<std::mutex> lock(log.job_mutex);
    if (limit) {
      ended = log.done_cv.wait_for(lock, *limit, not_running);
    } else {
      log.done_cv.wait(lock, not_running);
    }
  }
  if (boosted) (void)setpriority(PRIO_PROCESS, tid, kCheckpointNice);
  return ended;
}

Status Engine::FinishCheckpoint() {
  Impl& impl = *impl_;
  LogState& log = *impl.write_log;
  {
    // Pairs with the thread's release: what the job wrote is visible.
    std::lock_guard<std::mutex> lock(log.job_mutex);
    log.job.store(LogState::kIdle, std::memory_order_relaxed);
  }
  impl.commits += log.job_parts;
  log.checkpoint_step_max_us = log.job_part_max_us;
  if (log.job_learn_map_pages != 0) impl.LearnFromMapFull(log.job_learn_map_pages);
  if (log.job_rc != 0 || log.job_stopped) {
    // The parts written stay in the tree, and the table still holds their
    // records, so reads are unchanged; the rest is tried again later.
    ++log.checkpoint_failures;
    ++log.failed_attempts_in_row;
    const int doublings = static_cast<int>(std::min<uint64_t>(log.failed_attempts_in_row - 1, 6));
    log.retry_at =
        std::chrono::steady_clock::now() +
        std::min(kCheckpointRetryIntervalMax, kCheckpointRetryInterval * (1 << doublings));
    log.map_full = log.job_rc == MDB_MAP_FULL;
    if (log.map_full) ThawFrozen(&log);
    return log.job_stopped ? Status::Busy("checkpoint stopped")
                           : LmdbError("checkpointing the write log", log.job_rc);
  }
  // The loop's read snapshot may be older than the last part: reads must
  // not go to the tree for the frozen records before they see them there.
  EndIteration();
  AdvanceCommittedSequence(CommitKind::kCheckpoint);
  log.checkpoint_failures = 0;
  log.failed_attempts_in_row = 0;
  log.map_full = false;
  log.frozen_order.clear();
  log.frozen_order.shrink_to_fit();
  log.frozen_next = 0;
  log.frozen_room_end = 0;
  log.frozen_bytes = 0;
  {
    // Freeing tens of thousands of entries is the thread's work too.
    std::lock_guard<std::mutex> lock(log.job_mutex);
    if (log.retired.empty()) log.retired = std::move(log.frozen);
    log.job_cv.notify_one();
  }
  log.frozen = LogState::Table();
  ++log.checkpoints;
  std::lock_guard<std::mutex> lock(log.removable_mutex);
  log.removable.push_back({log.frozen_segment, committed_sequence_, log.frozen_log_bytes});
  log.retained_bytes.fetch_add(log.frozen_log_bytes, std::memory_order_relaxed);
  log.frozen_log_bytes = 0;
  // Bounded while no write-back succeeds (at kRemovableEntriesMax one is
  // due): the oldest entry goes, and its segments (and bytes) wait for the
  // next one's instead.
  if (log.removable.size() > kRemovableEntriesMax) {
    const uint64_t bytes = log.removable.front().log_bytes;
    log.removable.pop_front();
    log.removable.front().log_bytes += bytes;
  }
  log.removable_count.store(log.removable.size(), std::memory_order_relaxed);
  return Status::Ok();
}

void Engine::SetCheckpointListener(std::function<void()> fn) {
  if (impl_->write_log == nullptr) return;
  LogState& log = *impl_->write_log;
  std::lock_guard<std::mutex> lock(log.job_mutex);
  log.on_job_done = std::move(fn);
}

void Engine::CheckpointWorker() {
  LogState& log = *impl_->write_log;
  // Below the loop's priority: a checkpoint takes the CPU the loop leaves
  // (1 KB SETs on a 3-node cluster on 2 cores, docs/benchmarks.md: +15%
  // throughput, p99 -17%), and one that falls behind is caught up by the
  // loop waiting for it (MaybeCheckpoint). A failure leaves the priority.
  const long tid = syscall(SYS_gettid);
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(tid), kCheckpointNice);
  log.worker_tid.store(tid);
  std::unique_lock<std::mutex> lock(log.job_mutex);
  for (;;) {
    log.job_cv.wait(lock, [&] {
      return log.stop.load() || log.job.load() == LogState::kRunning || !log.retired.empty();
    });
    if (!log.retired.empty()) {
      LogState::Table retired = std::move(log.retired);
      log.retired = LogState::Table();
      lock.unlock();
      retired = LogState::Table();  // Frees it here, not on the loop.
      lock.lock();
      continue;
    }
    if (log.job.load() != LogState::kRunning) return;  // Stopped.
    lock.unlock();
    RunCheckpoint();
    lock.lock();
    log.job.store(LogState::kDone, std::memory_order_release);
    log.done_cv.notify_all();
    if (log.on_job_done) log.on_job_done();
  }
}

void Engine::StopCheckpointWorker() {
  if (impl_->write_log == nullptr) return;
  LogState& log = *impl_->write_log;
  if (!log.worker.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(log.job_mutex);
    log.stop.store(true);
    log.job_cv.notify_one();
  }
  log.worker.join();  // A job stops after its current part.
  log.worker_tid.store(0);  // Its id may name another thread now.
}

void Engine::RunCheckpoint() {
  Impl& impl = *impl_;
  LogState& log = *impl.write_log;
  // A read snapshot of the thread's own: to order a full map's writes, and
  // to count the freelist.
  MDB_txn* read_txn = nullptr;
  int rc = mdb_txn_begin(impl.env, nullptr, MDB_RDONLY, &read_txn);
  if (rc != 0) {
    log.job_rc = rc;
    return;
  }
  mdb_txn_reset(read_txn);
  if (log.frozen_order.empty()) {
    log.frozen_order.reserve(log.frozen.size());
    for (const LogState::Entry& entry : log.frozen) log.frozen_order.push_back(&entry);
    // In key order. After a checkpoint found the map full, first the
    // writes that make room (deletes, and puts no larger than the tree's
    // record: the keyspace's tombstones for DEL), then the rest, so that
    // the room they make is there for the puts.
    auto by_key = [](const LogState::Entry* a, const LogState::Entry* b) {
      return a->first < b->first;
    };
    log.frozen_room_end = 0;
    if (log.order_room_first && mdb_txn_renew(read_txn) == 0) {
      auto shrinks = [&](const LogState::Entry* entry) {
        if (entry->second.tombstone) return true;
        MDB_val key = ToVal(entry->first);
        MDB_val in_tree;
        return mdb_get(read_txn, impl.data_dbi, &key, &in_tree) == 0 &&
               in_tree.mv_size >= entry->second.bytes.size();
      };
      auto end = std::stable_partition(log.frozen_order.begin(), log.frozen_order.end(), shrinks);
      mdb_txn_reset(read_txn);
      log.frozen_room_end = static_cast<size_t>(end - log.frozen_order.begin());
      std::sort(log.frozen_order.begin(), end, by_key);
      std::sort(end, log.frozen_order.end(), by_key);
    } else {
      std::sort(log.frozen_order.begin(), log.frozen_order.end(), by_key);
    }
  }
  bool last = false;
  while (rc == 0 && !last) {
    if (log.stop.load()) {
      log.job_stopped = true;
      break;
    }
    rc = CheckpointPart(read_txn, &last);
  }
  mdb_txn_abort(read_txn);
  log.job_rc = rc;
}

int Engine::CheckpointPart(MDB_txn* read_txn, bool* last) {
  Impl& impl = *impl_;
  LogState& log = *impl.write_log;
  // The loop first, if it waits for the writer lock (Engine::BeginWrite):
  // it gets the lock as soon as it is free, which it is between parts.
  // Bounded, in case it is slow to: the lock then decides.
  for (int spins = 0; spins < 100000 && impl.loop_wants_writer.load(std::memory_order_acquire);
       ++spins) {
    std::this_thread::yield();
  }
  const auto started = std::chrono::steady_clock::now();
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(impl.env, nullptr, 0, &txn);
  if (rc != 0) return rc;
  MDB_cursor* cursor = nullptr;
  rc = mdb_cursor_open(txn, impl.data_dbi, &cursor);
  // The same estimate as a B-tree write's: puts stop short of the reserve
  // kept for deletes, so that the deletes that make room can be written.
  uint64_t last_txnid = 0;
  MapSpaceEstimate space;
  const MapSpaceSnapshot snapshot = impl.ReadSpaceSnapshot(txn, &last_txnid);
  space.Begin(snapshot);
  const size_t first = log.frozen_next;
  size_t next = first;
  uint64_t written = 0;
  while (rc == 0 && next < log.frozen_order.size() && written < options_.checkpoint_step_bytes) {
    if (next == log.frozen_room_end && next > first) break;
    const LogState::Entry& entry = *log.frozen_order[next];
    MDB_val key = ToVal(entry.first);
    const bool tombstone = entry.second.tombstone;
    if (!tombstone && log.frozen_room_end > 0) {
      // Retrying after a full map: what an earlier attempt's parts wrote
      // is not written again (a rewrite would copy its pages for nothing).
      MDB_val found;
      if (mdb_cursor_get(cursor, &key, &found, MDB_SET) == 0 &&
          FromVal(found) == std::string_view(entry.second.bytes)) {
        written += EntryBytes(entry.first, entry.second);
        ++next;
        continue;
      }
    }
    const size_t value_bytes = tombstone ? 0 : entry.second.bytes.size();
    if (options_.check_map_space && !space.Fits(entry.first.size(), value_bytes)) {
      if (!space.freelist_counted()) {
        space.AddFreelistPages(Impl::CountReusableFreePagesIn(read_txn, last_txnid));
      }
      if (!space.Fits(entry.first.size(), value_bytes)) {
        // The part ends with what fits: the pages older parts freed become
        // reusable as parts commit. A write that makes room (a delete, or
        // one ordered first after a full map) goes on the reserve kept for
        // it, one per part at least, as deletes do on the B-tree path.
        if (next > first) break;
        if (!tombstone && next >= log.frozen_room_end) {
          rc = MDB_MAP_FULL;
          break;
        }
      }
    }
    if (tombstone) {
      MDB_val found;
      rc = mdb_cursor_get(cursor, &key, &found, MDB_SET);
      if (rc == 0) {
        rc = mdb_cursor_del(cursor, 0);
      } else if (rc == MDB_NOTFOUND) {
        rc = 0;
      }
    } else {
      MDB_val value = ToVal(entry.second.bytes);
      rc = mdb_cursor_put(cursor, &key, &value, 0);
    }
    // An estimate that let a put through was wrong: keep a larger reserve.
    // Writes that make room run on the reserve on purpose, without it.
    if (rc == MDB_MAP_FULL && !tombstone && next >= log.frozen_room_end) {
      log.job_learn_map_pages = snapshot.map_pages;
    }
    space.Account(entry.first.size(), value_bytes);
    written += EntryBytes(entry.first, entry.second);
    ++next;
  }
  *last = next == log.frozen_order.size();
  if (rc == 0 && *last) {
    // With the last part: the count and the segment, as of the freeze.
    rc = PutLiveKeys(txn, impl.meta_dbi, log.live_keys_at_freeze);
    if (rc == 0) {
      std::string segment;
      coding::PutFixed64(&segment, log.frozen_segment);
      MDB_val segment_key = ToVal(kLogCheckpointMeta);
      MDB_val segment_value = ToVal(segment);
      rc = mdb_put(txn, impl.meta_dbi, &segment_key, &segment_value, 0);
    }
  }
  if (rc == 0) {
    rc = mdb_txn_commit(txn);  // Frees the transaction (and cursor) even on failure.
  } else {
    mdb_txn_abort(txn);
  }
  log.job_part_max_us = std::max<uint64_t>(
      log.job_part_max_us,
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::steady_clock::now() - started)
                                .count()));
  if (rc != 0) return rc;  // Nothing of this part changed.
  ++log.job_parts;
  impl.checkpoint_parts.fetch_add(1, std::memory_order_release);
  log.frozen_next = next;
  return 0;
}

bool Engine::log_release_pending() const {
  if (impl_->write_log == nullptr) return false;
  LogState& log = *impl_->write_log;
  std::lock_guard<std::mutex> lock(log.removable_mutex);
  return !log.removable.empty();
}

bool Engine::tree_write_back_due() const {
  const Impl& impl = *impl_;
  // The pointer is set at Open and never changes: safe on another thread.
  const LogState* log = impl.write_log.get();
  if (log == nullptr) return false;
  const bool pending = impl.checkpoint_sequence.load(std::memory_order_acquire) >
                           impl.lmdb_synced_sequence.load(std::memory_order_acquire) ||
                       impl.checkpoint_parts.load(std::memory_order_acquire) !=
                           impl.checkpoint_parts_synced.load(std::memory_order_relaxed);
  if (!pending) return false;
  return SteadyNowMs() - impl.lmdb_synced_at_ms.load(std::memory_order_relaxed) >=
             options_.checkpoint_sync_ms ||
         log->retained_bytes.load(std::memory_order_relaxed) >= options_.log_retained_bytes_max ||
         log->removable_count.load(std::memory_order_relaxed) >= kRemovableEntriesMax;
}

Status Engine::ReleaseLog(uint64_t durable_sequence, bool after_tree_sync) {
  // The pointer is set at Open and never changes: safe on another thread.
  if (impl_->write_log == nullptr) return Status::Ok();
  LogState& log = *impl_->write_log;
  // A checkpoint's segments go once the tree it wrote is on disk: written
  // back here when that is due.
  if (after_tree_sync) {
    if (tree_write_back_due()) {
      if (Status status = WriteBackLmdb(); !status.ok()) return status;
    }
    durable_sequence =
        std::min(durable_sequence, impl_->lmdb_synced_sequence.load(std::memory_order_acquire));
  }
  // The newest checkpoint the sync covers: it covers the older ones too.
  uint64_t segment = 0;
  {
    std::lock_guard<std::mutex> lock(log.removable_mutex);
    for (const LogState::Removable& entry : log.removable) {
      if (entry.after_sequence > durable_sequence) break;
      segment = entry.segment;
    }
  }
  if (segment == 0) return Status::Ok();
  // A failure leaves the segments for the next release (Open removes what
  // a checkpoint covered, too).
  if (Status status = log.wal->RemoveThrough(segment); !status.ok()) return status;
  std::lock_guard<std::mutex> lock(log.removable_mutex);
  while (!log.removable.empty() && log.removable.front().segment <= segment) {
    log.retained_bytes.fetch_sub(log.removable.front().log_bytes, std::memory_order_relaxed);
    log.removable.pop_front();
  }
  log.removable_count.store(log.removable.size(), std::memory_order_relaxed);
  return Status::Ok();
}

}  // namespace ringkv::storage
