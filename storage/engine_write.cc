// storage/engine_write.cc: the write transaction: writes that check the map
// first, recovery when LMDB still reports a full map, commit, and meta.
#include <lmdb.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>

#include "storage/coding.h"
#include "storage/data_key.h"
#include "storage/engine.h"
#include "storage/engine_internal.h"

namespace ringkv::storage {

namespace {

Status MapFullError(uint64_t map_size_bytes) {
  return Status::MapFull("map full: no room for this write in the LMDB map (map_size_bytes = " +
                         std::to_string(map_size_bytes) + "); delete data or raise map_size_bytes");
}

}  // namespace

void Engine::Impl::LearnFromMapFull(uint64_t pages_in_map) {
  learned_reserve_pages.store(
      std::min(std::max<uint64_t>(64, 2 * learned_reserve_pages.load()), pages_in_map / 4));
}

void Engine::Impl::LogWrite(MDB_dbi dbi, std::string_view key, std::string_view value,
                            bool is_delete) {
  log.push_back({dbi, is_delete, log_bytes.size(), key.size(), value.size()});
  log_bytes.append(key);
  log_bytes.append(value);
}

void Engine::Impl::ClearLog() {
  log.clear();
  log_bytes.clear();
  // Do not keep a transaction's worth of large values allocated forever.
  if (log_bytes.capacity() > (8u << 20)) std::string().swap(log_bytes);
}

uint64_t Engine::Impl::CountReusableFreePages() {
  // LMDB refuses cursors on its freelist database in write transactions, so
  // read it in the (idle) read snapshot, which sees the same last commit.
  if (read_txn_active) return 0;
  return CountReusableFreePagesIn(read_txn, last_txnid);
}

uint64_t Engine::Impl::CountReusableFreePagesIn(MDB_txn* read_txn, uint64_t last_txnid) {
  // LMDB reuses the pages a commit freed only once no reader's snapshot is
  // older than that commit (mdb_find_oldest): with the checkpoint thread
  // committing parts, the loop's snapshot may be. Its reader table says
  // which is oldest ("pid thread txnid" lines; "-" for an idle slot).
  MDB_env* env = mdb_txn_env(read_txn);
  uint64_t oldest = last_txnid;
  mdb_reader_list(
      env,
      [](const char* line, void* context) -> int {
        int pid = 0;
        size_t thread = 0;
        unsigned long long txnid = 0;
        if (std::sscanf(line, "%d %zx %llu", &pid, &thread, &txnid) == 3) {
          uint64_t* oldest = static_cast<uint64_t*>(context);
          *oldest = std::min<uint64_t>(*oldest, txnid);
        }
        return 0;
      },
      &oldest);
  last_txnid = oldest;
  if (mdb_txn_renew(read_txn) != 0) return 0;
  uint64_t pages = 0;
  MDB_cursor* cursor = nullptr;
  if (mdb_cursor_open(read_txn, 0, &cursor) == 0) {
    MDB_val key;
    MDB_val value;
    for (int rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
      // Key: the id of the transaction that freed the pages. Pages freed by
      // the last commit stay in use by the previous snapshot until the next
      // commit, so LMDB cannot reuse them yet.
      size_t freed_by = 0;
      if (key.mv_size != sizeof(freed_by) || value.mv_size < sizeof(size_t)) continue;
      std::memcpy(&freed_by, key.mv_data, sizeof(freed_by));
      if (freed_by >= last_txnid) continue;
      size_t count = 0;  // An MDB_IDL: the count, then the page numbers.
      std::memcpy(&count, value.mv_data, sizeof(count));
      pages += std::min<size_t>(count, value.mv_size / sizeof(size_t) - 1);
    }
    mdb_cursor_close(cursor);
  }
  mdb_txn_reset(read_txn);
  return pages;
}

MDB_cursor* Engine::Impl::DataCursor(int* rc) {
  if (data_cursor == nullptr) {
    *rc = mdb_cursor_open(write_txn, data_dbi, &data_cursor);
    if (*rc != 0) data_cursor = nullptr;
  }
  return data_cursor;
}

int Engine::Impl::Reserve(MDB_dbi dbi, std::string_view lmdb_key, MDB_val* value) {
  cursor_key.clear();
  MDB_val key = ToVal(lmdb_key);
  return mdb_put(write_txn, dbi, &key, value, MDB_RESERVE);
}

// The common read-merge-write (EngineStore::Merge) comes here right after
// the Get of the same key: the cursor already stands on the record, so the
// tree is searched once per merge instead of twice.
int Engine::Impl::ReserveData(std::string_view lmdb_key, MDB_val* value) {
  int rc = 0;
  MDB_cursor* cursor = DataCursor(&rc);
  if (cursor == nullptr) return rc;
  const bool positioned = cursor_key == lmdb_key;
  cursor_key.clear();
  MDB_val key = ToVal(lmdb_key);
  return mdb_cursor_put(cursor, &key, value, positioned ? MDB_CURRENT | MDB_RESERVE : MDB_RESERVE);
}

Status Engine::WriteToTxn(const WriteRecord& record) {
  Impl& impl = *impl_;
  if (impl.map_full_in_txn) return MapFullError(options_.map_size_bytes);
  if (record.takes_key_away) {
    if (Status status = MakeRoomOnReserve(record.lmdb_key.size(), record.record_bytes);
        !status.ok()) {
      return status;
    }
  } else if (options_.check_map_space &&
             !impl.space.Fits(record.lmdb_key.size(), record.record_bytes)) {
    if (!impl.space.freelist_counted()) impl.space.AddFreelistPages(impl.CountReusableFreePages());
    if (!impl.space.Fits(record.lmdb_key.size(), record.record_bytes)) {
      impl.refused_in_txn = true;
      return MapFullError(options_.map_size_bytes);
    }
  }
  MDB_val value{record.record_bytes, nullptr};
  int rc = record.dbi == impl.data_dbi ? impl.ReserveData(record.lmdb_key, &value)
                                       : impl.Reserve(record.dbi, record.lmdb_key, &value);
  if (rc != 0) return RecoverFromFailedWrite("mdb_put", rc);
  // LMDB reserved the room; fill it in place (no extra copy of the value).
  char* out = static_cast<char*>(value.mv_data);
  if (!record.long_key.empty()) {
    std::string prefix;
    AppendHashedRecordPrefix(record.long_key, &prefix);
    std::memcpy(out, prefix.data(), prefix.size());
    out += prefix.size();
  }
  if (!record.value.empty()) std::memcpy(out, record.value.data(), record.value.size());
  impl.space.Account(record.lmdb_key.size(), record.record_bytes);
  impl.LogWrite(record.dbi, record.lmdb_key,
                std::string_view(static_cast<const char*>(value.mv_data), record.record_bytes),
                /*is_delete=*/false);
  return Status::Ok();
}

Status Engine::MakeRoomOnReserve(size_t key_bytes, size_t value_bytes) {
  Impl& impl = *impl_;
  if (!options_.check_map_space || impl.log.empty()) return Status::Ok();
  if (impl.space.Fits(key_bytes, value_bytes)) return Status::Ok();
  if (!impl.space.freelist_counted()) impl.space.AddFreelistPages(impl.CountReusableFreePages());
  if (impl.space.Fits(key_bytes, value_bytes)) return Status::Ok();
  // The transaction's other writes go first; this one starts a new
  // transaction on the reserve, whose pages the earlier ones' commits free.
  Status status = CommitTxn();
  if (!status.ok()) {
    impl.lost_writes = status;  // The writes already answered ok were in it.
    return status;
  }
  return BeginWrite();
}

Status Engine::RecoverFromFailedWrite(std::string_view what, int lmdb_error) {
  Impl& impl = *impl_;
  const Status failure = LmdbError(what, lmdb_error);
  if (lmdb_error == MDB_MAP_FULL) impl.LearnFromMapFull(impl.map_pages);
  // Digests read from the transaction's records may outlive them.
  impl.digests->Clear();
  mdb_txn_abort(impl.write_txn);
  impl.WriteTxnEnded();
  std::vector<Impl::LoggedWrite> log = std::move(impl.log);
  std::string log_bytes = std::move(impl.log_bytes);
  const uint64_t live_keys_at_begin = impl.live_keys_at_begin;
  std::optional<HintAccounting> hints_at_begin = std::move(impl.hints_at_begin);
  if (Status status = BeginWrite(); !status.ok()) {
    impl.lost_writes = status;
    if (!impl.write_log) live_keys_ = live_keys_at_begin;
    impl.hints_at_begin = std::move(hints_at_begin);
    impl.RestoreHintsAtBegin();
    return failure;
  }
  impl.live_keys_at_begin = live_keys_at_begin;
  impl.hints_at_begin = std::move(hints_at_begin);
  for (const Impl::LoggedWrite& write : log) {
    MDB_val key{write.key_bytes, log_bytes.data() + write.offset};
    MDB_val value{write.value_bytes, log_bytes.data() + write.offset + write.key_bytes};
    int rc = write.is_delete ? mdb_del(impl.write_txn, write.dbi, &key, nullptr)
                             : mdb_put(impl.write_txn, write.dbi, &key, &value, 0);
    if (rc != 0 && !(write.is_delete && rc == MDB_NOTFOUND)) {
      // The same writes fitted a moment ago, so this should not happen; if it
      // does, the transaction's earlier writes are gone and Commit says so.
      mdb_txn_abort(impl.write_txn);
      impl.WriteTxnEnded();
      impl.ClearLog();
      if (!impl.write_log) live_keys_ = live_keys_at_begin;
      impl.RestoreHintsAtBegin();
      impl.lost_writes = LmdbError("replaying the transaction after a failed write", rc);
      return failure;
    }
    impl.space.Account(write.key_bytes, write.value_bytes);
  }
  impl.log = std::move(log);
  impl.log_bytes = std::move(log_bytes);
  // Further writes in this transaction would fail the same way; refuse them
  // without going through an abort and replay each time.
  impl.map_full_in_txn = lmdb_error == MDB_MAP_FULL;
  return failure;
}

int PutLiveKeys(MDB_txn* txn, MDB_dbi meta_dbi, uint64_t live_keys) {
  std::string encoded;
  coding::PutFixed64(&encoded, live_keys);
  const std::string name = std::string(kReservedMetaPrefix) + "live_keys";
  MDB_val key = ToVal(name);
  MDB_val value = ToVal(encoded);
  return mdb_put(txn, meta_dbi, &key, &value, 0);
}

Status Engine::CommitIfLogFull() {
  if (impl_->log_bytes.size() <= kReplayLogBytesMax &&
      impl_->space.dirty_pages() <= kDirtyPagesMax) {
    return Status::Ok();
  }
  Status status = CommitTxn();
  // The writes already answered ok were in that transaction.
  if (!status.ok()) impl_->lost_writes = status;
  return status;
}

Status Engine::Commit() {
  Status lost = std::move(impl_->lost_writes);
  impl_->lost_writes = Status::Ok();
  if (impl_->write_log) {
    // The log first: the data writes of the iteration, then LMDB's
    // transaction (hints, meta).
    if (Status status = LogCommit(); !status.ok() && lost.ok()) lost = status;
  }
  Status status = CommitTxn();
  if (impl_->write_log && lost.ok() && status.ok()) {
    // A failed checkpoint changes nothing: the table and the log keep every
    // write, and it is counted (GetStats) and tried again later.
    (void)MaybeCheckpoint();
  }
  return lost.ok() ? status : lost;
}

Status Engine::CommitTxn() {
  Impl& impl = *impl_;
  if (impl.write_txn == nullptr) return Status::Ok();
  // After a refused write, commit something even if nothing else changed:
  // pages freed by earlier deletes become reusable only once a later
  // transaction commits, so an empty commit would leave the map full forever.
  int rc = 0;
  // With the write log the count goes with checkpoints only: it must
  // match the records in the tree, which the log replays on top of.
  if (!impl.write_log &&
      (live_keys_ != impl.persisted_live_keys || impl.refused_in_txn || impl.map_full_in_txn)) {
    rc = PutLiveKeys(impl.write_txn, impl.meta_dbi, live_keys_);
  }
  const HintCounters hint_counters = impl.CurrentHintCounters();
  if (rc == 0 && !(hint_counters == impl.persisted_hint_counters)) {
    std::string encoded;
    coding::PutFixed64(&encoded, hint_counters.dropped_count_limit);
    coding::PutFixed64(&encoded, hint_counters.dropped_bytes_limit);
    coding::PutFixed64(&encoded, hint_counters.expired);
    coding::PutFixed64(&encoded, hint_counters.delivered);
    MDB_val key = ToVal(kHintCountersMetaName);
    MDB_val value = ToVal(encoded);
    rc = mdb_put(impl.write_txn, impl.meta_dbi, &key, &value, 0);
  }
  if (rc != 0) {
    mdb_txn_abort(impl.write_txn);
  } else {
    rc = mdb_txn_commit(impl.write_txn);  // Frees the txn even on failure.
  }
  impl.WriteTxnEnded();
  impl.ClearLog();
  if (rc != 0) {
    if (rc == MDB_MAP_FULL) impl.LearnFromMapFull(impl.map_pages);
    impl.digests->Clear();  // The transaction's writes are gone.
    if (!impl.write_log) live_keys_ = impl.live_keys_at_begin;
    impl.RestoreHintsAtBegin();
    return LmdbError("committing the write transaction", rc);
  }
  impl.hints_at_begin.reset();
  impl.persisted_hint_counters = hint_counters;
  if (!impl.write_log) impl.persisted_live_keys = live_keys_;
  AdvanceCommittedSequence(CommitKind::kLmdb);
  ++impl.commits;
  return Status::Ok();
}

Status Engine::GetMeta(std::string_view name, std::string* value) {
  Impl& impl = *impl_;
  if (name.empty() || name.size() > impl.max_key_bytes) {
    return Status::InvalidArgument("meta name must be 1 to 511 bytes");
  }
  Status status;
  MDB_txn* txn = impl.ReadTxn(&status);
  if (txn == nullptr) return status;
  MDB_val key = ToVal(name);
  MDB_val stored;
  int rc = mdb_get(txn, impl.meta_dbi, &key, &stored);
  if (rc == MDB_NOTFOUND) return Status::NotFound();
  if (rc != 0) return LmdbError("mdb_get(meta)", rc);
  value->assign(static_cast<const char*>(stored.mv_data), stored.mv_size);
  return Status::Ok();
}

Status Engine::PutMeta(std::string_view name, std::string_view value) {
  Impl& impl = *impl_;
  if (name.empty() || name.size() > impl.max_key_bytes) {
    return Status::InvalidArgument("meta name must be 1 to 511 bytes");
  }
  if (name.starts_with(kReservedMetaPrefix)) {
    return Status::InvalidArgument("meta names starting with \"storage.\" belong to the engine");
  }
  if (Status status = BeginWrite(); !status.ok()) return status;
  WriteRecord record{impl.meta_dbi, name, value, value.size(), {}};
  if (Status status = WriteToTxn(record); !status.ok()) return status;
  return CommitIfLogFull();
}

}  // namespace ringkv::storage
