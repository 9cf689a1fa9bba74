// storage/engine.cc: the LMDB environment, transactions and records.
//
// Identity and meta encodings live in engine_meta.cc; the data-key layout in
// data_key.cc; the map-full estimate in map_space.cc.
#include "storage/engine.h"

#include <fcntl.h>
#include <lmdb.h>
#include <sys/file.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <vector>

#include "storage/data_key.h"
#include "storage/engine_internal.h"

namespace ringkv::storage {

uint64_t KeyHash(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

uint32_t PartitionOf(std::string_view key, uint32_t partition_count) {
  return static_cast<uint32_t>((static_cast<unsigned __int128>(KeyHash(key)) * partition_count) >>
                               64);
}

int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {

Status CheckHashedRecord(std::string_view key, std::string_view* record) {
  std::string_view stored_key;
  std::string_view payload;
  if (!SplitHashedRecord(*record, &stored_key, &payload)) {
    return Status::Corruption("data record of a long key does not start with its key");
  }
  if (stored_key != key) {
    // Two keys with one XXH3-128 hash, or a damaged record: either way the
    // slot does not hold this key's data.
    return Status::Corruption("long key does not match the key stored under its hash");
  }
  *record = payload;
  return Status::Ok();
}

}  // namespace

void Engine::AdjustLiveKeys(int live_delta) {
  // The counter is a statistic (DBSIZE): a caller's miscount must not wrap
  // it around to 2^64.
  if (live_delta < 0 && live_keys_ < static_cast<uint64_t>(-static_cast<int64_t>(live_delta))) {
    live_keys_ = 0;
  } else {
    live_keys_ += static_cast<uint64_t>(static_cast<int64_t>(live_delta));
  }
}

Status LmdbError(std::string_view what, int rc) {
  if (rc == MDB_MAP_FULL) {
    return Status::MapFull(std::string(what) + ": the LMDB map is full (raise map_size_bytes)");
  }
  std::string message(what);
  message += ": ";
  message += mdb_strerror(rc);
  return Status::IoError(message);
}

Engine::Engine(const EngineOptions& options) : options_(options), impl_(std::make_unique<Impl>()) {}

Engine::~Engine() {
  // The checkpoint thread stops after its current part (asked first: it
  // would go on with part after part once the lock below is free); the
  // transactions go before it is joined, as it may be waiting for the
  // writer lock an open write transaction holds.
  if (impl_->write_log != nullptr) impl_->write_log->stop.store(true);
  if (impl_->write_txn != nullptr) mdb_txn_abort(impl_->write_txn);
  if (impl_->read_txn != nullptr) mdb_txn_abort(impl_->read_txn);
  impl_->write_txn = nullptr;
  impl_->read_txn = nullptr;
  StopCheckpointWorker();
  if (impl_->env != nullptr) mdb_env_close(impl_->env);
  if (impl_->lock_fd >= 0) close(impl_->lock_fd);  // Releases the lock.
}

Status Engine::Open(const EngineOptions& options, std::unique_ptr<Engine>* engine) {
  if (options.data_dir.empty()) return Status::InvalidArgument("data_dir is empty");
  if (options.partition_count == 0 || options.partition_count > kPartitionCountMax) {
    return Status::InvalidArgument("partition_count must be in 1..65536, got " +
                                   std::to_string(options.partition_count));
  }
  std::error_code error;
  std::filesystem::create_directories(options.data_dir, error);
  if (error) {
    return Status::IoError("cannot create data_dir " + options.data_dir + ": " + error.message());
  }
  std::unique_ptr<Engine> opened(new Engine(options));
  Impl& impl = *opened->impl_;
  impl.digests = std::make_unique<DigestCache>(options.digest_cache_bytes);
  // One Engine per data directory: two writers would share an actor id,
  // and LMDB must not be opened twice in one process.
  const std::string lock_path = options.data_dir + "/ringkv.lock";
  impl.lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (impl.lock_fd < 0) return Status::IoError("cannot open " + lock_path + ": " + strerror(errno));
  if (flock(impl.lock_fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::Busy("data_dir " + options.data_dir + " is in use by another ringkv engine");
    }
    return Status::IoError("cannot lock " + lock_path + ": " + strerror(errno));
  }
  int rc = mdb_env_create(&impl.env);
  if (rc != 0) return LmdbError("mdb_env_create", rc);
  if ((rc = mdb_env_set_maxdbs(impl.env, kMaxDatabases)) != 0 ||
      (rc = mdb_env_set_mapsize(impl.env, options.map_size_bytes)) != 0) {
    return LmdbError("configuring the LMDB environment", rc);
  }
  // NOSYNC: commits only write; Sync() makes them durable (group commit and
  // the fsync policy live above us). NOTLS: the read snapshot is ours, not
  // the thread's. NORDAHEAD: records are random accesses. WRITEMAP: pages
  // are changed in place in the shared map, so a commit writes only its
  // meta page instead of pwrite()ing a copy of every dirty page (measured:
  // +54% SET throughput with 3-byte values, +38% with 1 KB, redis-benchmark
  // -P 16). The price is that a wild write by this process could reach the
  // map; MVCC, kill -9 safety and Sync() are unchanged.
  rc = mdb_env_open(impl.env, options.data_dir.c_str(),
                    MDB_NOSYNC | MDB_NOTLS | MDB_NORDAHEAD | MDB_WRITEMAP, 0640);
  if (rc != 0) return LmdbError("opening LMDB in " + options.data_dir, rc);
  // Free the reader slots of processes that died holding them (kill -9),
  // which would otherwise pin old pages forever.
  int dead_readers = 0;
  (void)mdb_reader_check(impl.env, &dead_readers);
  impl.max_key_bytes = static_cast<size_t>(mdb_env_get_maxkeysize(impl.env));
  MDB_stat env_stat;
  mdb_env_stat(impl.env, &env_stat);
  impl.page_size = env_stat.ms_psize;

  if (Status status = opened->OpenDatabasesAndIdentity(); !status.ok()) return status;
  // What opening wrote (a new node's identity) is durable before anything
  // else: Sync() writes LMDB back only after later commits.
  rc = mdb_env_sync(impl.env, 1);
  if (rc != 0) return LmdbError("mdb_env_sync", rc);
  impl.lmdb_synced_at_ms.store(SteadyNowMs());
  rc = mdb_txn_begin(impl.env, nullptr, MDB_RDONLY, &impl.read_txn);
  if (rc != 0) return LmdbError("beginning the read transaction", rc);
  mdb_txn_reset(impl.read_txn);
  if (Status status = opened->LoadHintAccounting(); !status.ok()) return status;
  if (options.write_log) {
    if (Status status = opened->OpenWriteLog(); !status.ok()) return status;
  } else {
    // Writes held in a log would be invisible to a node without it.
    std::error_code ignored;
    for (const auto& entry :
         std::filesystem::directory_iterator(options.data_dir + "/log", ignored)) {
      if (entry.path().extension() == ".log") {
        return Status::InvalidArgument(
            "data_dir " + options.data_dir +
            " holds a write log (storage.write_path = \"log\"): open it with that setting");
      }
    }
  }
  *engine = std::move(opened);
  return Status::Ok();
}

Status Engine::BeginWrite() {
  Impl& impl = *impl_;
  if (impl.write_txn != nullptr) return Status::Ok();
  // Reads move to the write transaction; dropping the snapshot lets this
  // transaction reuse the pages the last one freed.
  EndIteration();
  // LMDB's writer lock is not fair: the checkpoint thread, which takes it
  // again right after each part, would keep the loop waiting for the whole
  // checkpoint. It lets the loop in first while this is set.
  impl.loop_wants_writer.store(true, std::memory_order_release);
  int rc = mdb_txn_begin(impl.env, nullptr, 0, &impl.write_txn);
  impl.loop_wants_writer.store(false, std::memory_order_release);
  if (rc != 0) {
    impl.write_txn = nullptr;
    return LmdbError("beginning a write transaction", rc);
  }
  impl.space.Begin(impl.SpaceSnapshot(impl.write_txn));
  impl.live_keys_at_begin = live_keys_;
  impl.hints_at_begin.reset();
  impl.map_full_in_txn = false;
  impl.refused_in_txn = false;
  impl.ClearLog();
  return Status::Ok();
}

MapSpaceSnapshot Engine::Impl::SpaceSnapshot(MDB_txn* txn) {
  MapSpaceSnapshot snapshot = ReadSpaceSnapshot(txn, &last_txnid);
  map_pages = snapshot.map_pages;
  return snapshot;
}

MapSpaceSnapshot Engine::Impl::ReadSpaceSnapshot(MDB_txn* txn, uint64_t* last_txnid) const {
  MDB_envinfo info;
  mdb_env_info(env, &info);
  MDB_stat data_stat;
  mdb_stat(txn, data_dbi, &data_stat);
  // Hints share the transaction: count their tree as one written too.
  MDB_stat hints_stat;
  mdb_stat(txn, hints_dbi, &hints_stat);
  MapSpaceSnapshot snapshot;
  snapshot.page_size = page_size;
  snapshot.map_pages = info.me_mapsize / page_size;
  snapshot.last_page = info.me_last_pgno;
  snapshot.tree_pages = data_stat.ms_branch_pages + data_stat.ms_leaf_pages +
                        hints_stat.ms_branch_pages + hints_stat.ms_leaf_pages;
  snapshot.depth = std::max<uint64_t>({data_stat.ms_depth, hints_stat.ms_depth, 1});
  snapshot.extra_reserve_pages = learned_reserve_pages.load();
  *last_txnid = info.me_last_txnid;
  return snapshot;
}

MDB_txn* Engine::Impl::ReadTxn(Status* status) {
  if (write_txn != nullptr) return write_txn;
  if (!read_txn_active) {
    int rc = mdb_txn_renew(read_txn);
    if (rc != 0) {
      *status = LmdbError("renewing the read transaction", rc);
      return nullptr;
    }
    read_txn_active = true;
  }
  return read_txn;
}

void Engine::EndIteration() {
  if (impl_->write_log) impl_->write_log->cache->ReleaseRetired();
  if (impl_->read_txn_active) {
    mdb_txn_reset(impl_->read_txn);
    impl_->read_txn_active = false;
  }
}

Status Engine::CheckPartition(uint32_t partition) const {
  if (partition < options_.partition_count) return Status::Ok();
  return Status::InvalidArgument("partition " + std::to_string(partition) + " out of range (" +
                                 std::to_string(options_.partition_count) + " partitions)");
}

Status Engine::Get(uint32_t partition, std::string_view key, std::string_view* value,
                   ReadFor purpose) {
  if (Status status = CheckPartition(partition); !status.ok()) return status;
  Impl& impl = *impl_;
  const DataKeyKind kind = EncodeDataKey(partition, key, impl.max_key_bytes, &impl.key_buffer);
  if (impl.write_log) {
    // The memory tables, then the records read from the tree before: the
    // cache holds the tree's current record (LogState::cache), so a hit
    // needs no snapshot.
    bool tombstone = false;
    if (MemLookup(impl.key_buffer, &tombstone, value) ||
        impl.write_log->cache->Find(impl.key_buffer, value)) {
      impl.cursor_key.clear();
      if (tombstone) return Status::NotFound();
      if (kind == DataKeyKind::kHashed) return CheckHashedRecord(key, value);
      return Status::Ok();
    }
  }
  Status status;
  MDB_txn* txn = impl.ReadTxn(&status);
  if (txn == nullptr) return status;
  MDB_val lmdb_key = ToVal(impl.key_buffer);
  MDB_val lmdb_value;
  int rc = 0;
  if (txn == impl.write_txn) {
    // Through the write cursor, so that a Put of this key can follow
    // without searching again (see Impl::cursor_key); a coordinator reads
    // a record twice before writing it, and the second read needs no
    // search either.
    MDB_cursor* cursor = impl.DataCursor(&rc);
    if (cursor == nullptr) return LmdbError("mdb_cursor_open", rc);
    const bool positioned = impl.cursor_key == impl.key_buffer;
    impl.cursor_key.clear();
    rc = mdb_cursor_get(cursor, &lmdb_key, &lmdb_value, positioned ? MDB_GET_CURRENT : MDB_SET_KEY);
    if (rc == 0) impl.cursor_key = impl.key_buffer;
  } else {
    impl.cursor_key.clear();
    rc = mdb_get(txn, impl.data_dbi, &lmdb_key, &lmdb_value);
    // Cached from the read snapshot only: it holds what the tree held
    // when it was taken, and a checkpoint's end takes a new one
    // (FinishCheckpoint), so this is the tree's current record.
    if (rc == 0 && impl.write_log && purpose == ReadFor::kRead) {
      impl.write_log->cache->Insert(impl.key_buffer, FromVal(lmdb_value));
    }
  }
  if (rc == MDB_NOTFOUND) return Status::NotFound();
  if (rc != 0) return LmdbError("mdb_get", rc);
  *value = FromVal(lmdb_value);
  if (kind == DataKeyKind::kHashed) return CheckHashedRecord(key, value);
  return Status::Ok();
}

Status Engine::Put(uint32_t partition, std::string_view key, std::string_view value,
                   int live_delta) {
  if (Status status = CheckPartition(partition); !status.ok()) return status;
  Impl& impl = *impl_;
  impl.digests->Erase(key);
  if (!impl.write_log) {
    if (Status status = BeginWrite(); !status.ok()) return status;
  }
  const DataKeyKind kind = EncodeDataKey(partition, key, impl.max_key_bytes, &impl.key_buffer);
  size_t record_bytes = value.size();
  if (kind == DataKeyKind::kHashed) {
    // Never overwrite another key that shares the hash.
    std::string_view existing;
    Status status = ReadDataKey(impl.key_buffer, &existing);
    if (status.ok()) {
      if (status = CheckHashedRecord(key, &existing); !status.ok()) return status;
    } else if (!status.IsNotFound()) {
      return status;
    }
    record_bytes += HashedRecordPrefixBytes(key);
  }
  if (impl.write_log) {
    if (kind != DataKeyKind::kHashed) return LogApply('P', impl.key_buffer, value, live_delta);
    std::string record;
    AppendHashedRecordPrefix(key, &record);
    record.append(value);
    return LogApply('P', impl.key_buffer, record, live_delta);
  }
  WriteRecord record{impl.data_dbi,
                     impl.key_buffer,
                     value,
                     record_bytes,
                     kind == DataKeyKind::kHashed ? key : std::string_view(),
                     /*takes_key_away=*/live_delta < 0};
  if (Status status = WriteToTxn(record); !status.ok()) return status;
  AdjustLiveKeys(live_delta);
  return CommitIfLogFull();
}

Status Engine::Delete(uint32_t partition, std::string_view key, int live_delta) {
  if (Status status = CheckPartition(partition); !status.ok()) return status;
  Impl& impl = *impl_;
  impl.digests->Erase(key);
  if (!impl.write_log) {
    if (Status status = BeginWrite(); !status.ok()) return status;
  }
  const DataKeyKind kind = EncodeDataKey(partition, key, impl.max_key_bytes, &impl.key_buffer);
  // The tree's delete below finds out by itself whether the key exists; a
  // long key, or the log (which only records the delete), must look first.
  if (kind == DataKeyKind::kHashed || impl.write_log) {
    std::string_view existing;
    if (Status status = ReadDataKey(impl.key_buffer, &existing); !status.ok()) return status;
    // Another key under the same hash: this key is not stored.
    if (kind == DataKeyKind::kHashed && !CheckHashedRecord(key, &existing).ok()) {
      return Status::NotFound();
    }
  }
  if (impl.write_log) return LogApply('D', impl.key_buffer, std::string_view(), live_delta);
  if (Status status = MakeRoomOnReserve(impl.key_buffer.size(), 0); !status.ok()) return status;
  MDB_val lmdb_key = ToVal(impl.key_buffer);
  impl.cursor_key.clear();
  int rc = mdb_del(impl.write_txn, impl.data_dbi, &lmdb_key, nullptr);
  if (rc == MDB_NOTFOUND) return Status::NotFound();
  if (rc != 0) return RecoverFromFailedWrite("mdb_del", rc);
  impl.space.Account(impl.key_buffer.size(), 0);
  impl.LogWrite(impl.data_dbi, impl.key_buffer, std::string_view(), /*is_delete=*/true);
  AdjustLiveKeys(live_delta);
  return CommitIfLogFull();
}

bool Engine::FindDigest(std::string_view key, Digest128* digest) {
  return impl_->digests->Find(key, digest);
}

void Engine::PrefetchDigest(std::string_view key) const { impl_->digests->Prefetch(key); }

void Engine::CacheDigest(std::string_view key, const Digest128& digest) {
  impl_->digests->Insert(key, digest);
}

bool Engine::has_pending_writes() const {
  if (impl_->write_txn != nullptr) return true;
  const LogState* log = impl_->write_log.get();
  if (log == nullptr) return false;
  // A checkpoint that ended is finished by a commit; a failed one is
  // retried by a commit once its time has come.
  return !log->undo.empty() || log->wal->buffered_bytes() > 0 ||
         log->job.load(std::memory_order_acquire) == LogState::kDone ||
         (log->checkpoint_failures > 0 && (!log->mem.empty() || !log->frozen.empty()) &&
          log->job.load(std::memory_order_relaxed) == LogState::kIdle &&
          std::chrono::steady_clock::now() >= log->retry_at);
}

Status Engine::ReadDataKey(std::string_view data_key, std::string_view* value) {
  Impl& impl = *impl_;
  if (impl.write_log) {
    bool tombstone = false;
    if (MemLookup(data_key, &tombstone, value)) {
      return tombstone ? Status::NotFound() : Status::Ok();
    }
  }
  return ReadTreeKey(data_key, value);
}

Status Engine::ReadTreeKey(std::string_view data_key, std::string_view* value) {
  Impl& impl = *impl_;
  Status status;
  MDB_txn* txn = impl.ReadTxn(&status);
  if (txn == nullptr) return status;
  MDB_val lmdb_key = ToVal(data_key);
  MDB_val lmdb_value;
  int rc = mdb_get(txn, impl.data_dbi, &lmdb_key, &lmdb_value);
  if (rc == MDB_NOTFOUND) return Status::NotFound();
  if (rc != 0) return LmdbError("mdb_get", rc);
  *value = FromVal(lmdb_value);
  return Status::Ok();
}

void Engine::AdvanceCommittedSequence(CommitKind kind) {
  ++committed_sequence_;
  if (kind == CommitKind::kLmdb) {
    impl_->lmdb_sequence.store(committed_sequence_, std::memory_order_release);
  } else if (kind == CommitKind::kCheckpoint) {
    impl_->checkpoint_sequence.store(committed_sequence_, std::memory_order_release);
  }
  impl_->committed_sequence.store(committed_sequence_, std::memory_order_release);
}

Status Engine::Sync(uint64_t* durable_sequence) {
  Impl& impl = *impl_;
  // Read the sequence first: every commit it counts was written to the file
  // before, so the flush below covers it.
  const uint64_t sequence = impl.committed_sequence.load(std::memory_order_acquire);
  // The last LMDB commit to write back, read after `sequence`: it covers
  // every one `sequence` counts.
  const uint64_t lmdb_sequence = impl.lmdb_sequence.load(std::memory_order_acquire);
  // The pointer is set at Open and never changes: safe on another thread.
  if (const LogState* log = impl.write_log.get(); log != nullptr) {
    if (Status status = log->wal->Sync(); !status.ok()) return status;
  }
  // Hints and meta (and every commit without the write log) are written
  // back by this sync; what checkpoints wrote (the log holds it) with them,
  // or by ReleaseLog once that is due.
  if (lmdb_sequence > impl.lmdb_synced_sequence.load(std::memory_order_relaxed)) {
    if (Status status = WriteBackLmdb(); !status.ok()) return status;
  }
  impl.syncs.fetch_add(1, std::memory_order_relaxed);
  *durable_sequence = sequence;
  return Status::Ok();
}

Status Engine::WriteBackLmdb() {
  Impl& impl = *impl_;
  // What the write-back covers, read before it starts: every commit and
  // checkpoint part these count was written to the map before.
  const uint64_t covers =
      std::max({impl.committed_sequence.load(std::memory_order_acquire),
                impl.lmdb_sequence.load(std::memory_order_acquire),
                impl.checkpoint_sequence.load(std::memory_order_acquire)});
  const uint64_t parts = impl.checkpoint_parts.load(std::memory_order_acquire);
  const int64_t now_ms = SteadyNowMs();
  int rc = mdb_env_sync(impl.env, 1);
  if (rc != 0) return LmdbError("mdb_env_sync", rc);
  // Sync() and ReleaseLog() may both write back at once: the marks only
  // move forward.
  uint64_t synced = impl.lmdb_synced_sequence.load(std::memory_order_relaxed);
  while (synced < covers && !impl.lmdb_synced_sequence.compare_exchange_weak(
                                synced, covers, std::memory_order_release)) {
  }
  impl.checkpoint_parts_synced.store(parts, std::memory_order_relaxed);
  impl.lmdb_synced_at_ms.store(now_ms, std::memory_order_relaxed);
  impl.lmdb_syncs.fetch_add(1, std::memory_order_relaxed);
  return Status::Ok();
}

Status Engine::GetStats(EngineStats* stats) {
  Impl& impl = *impl_;
  MDB_envinfo info;
  mdb_env_info(impl.env, &info);
  stats->map_size_bytes = info.me_mapsize;
  stats->used_bytes = (info.me_last_pgno + 1) * impl.page_size;
  stats->commits = impl.commits;
  stats->syncs = impl.syncs.load(std::memory_order_relaxed);
  stats->lmdb_syncs = impl.lmdb_syncs.load(std::memory_order_relaxed);
  Status status;
  MDB_txn* txn = impl.ReadTxn(&status);
  if (txn == nullptr) return status;
  MDB_stat data_stat;
  MDB_stat hints_stat;
  int rc = mdb_stat(txn, impl.data_dbi, &data_stat);
  if (rc == 0) rc = mdb_stat(txn, impl.hints_dbi, &hints_stat);
  if (rc != 0) return LmdbError("mdb_stat", rc);
  stats->data_entries = data_stat.ms_entries;
  stats->hint_entries = hints_stat.ms_entries;
  if (const LogState* log = impl.write_log.get(); log != nullptr) {
    stats->memtable_entries = log->mem.size() + log->frozen.size();
    stats->memtable_bytes = log->mem_bytes + log->frozen_bytes;
    stats->log_segments = log->wal->segments().size();
    stats->log_spares = log->wal->spares();
    stats->checkpoints = log->checkpoints;
    stats->checkpoint_failures = log->checkpoint_failures;
    stats->checkpoint_step_max_us = log->checkpoint_step_max_us;
    stats->checkpoint_waits = log->checkpoint_waits;
    stats->log_retained_bytes = log->retained_bytes.load(std::memory_order_relaxed);
    const RecordCacheStats cache = log->cache->stats();
    stats->record_cache_bytes = cache.bytes;
    stats->record_cache_entries = cache.entries;
    stats->record_cache_hits = cache.hits;
    stats->record_cache_misses = cache.misses;
    stats->record_cache_evictions = cache.evictions;
  }
  const DigestCacheStats digests = impl.digests->stats();
  stats->digest_cache_bytes = digests.bytes;
  stats->digest_cache_hits = digests.hits;
  stats->digest_cache_misses = digests.misses;
  return Status::Ok();
}

}  // namespace ringkv::storage
