// storage/engine_hints.cc: the hint store of hinted handoff (see engine.h
// for the contract, docs/storage_format.md for the bytes).
//
// Every change goes through the iteration's write transaction like a data
// write (WriteToTxn: map-space check, replay log), and the bookkeeping in
// Impl::hints changes only after LMDB accepted the change, so it always
// describes exactly the records the transaction holds.
#include <lmdb.h>

#include <cassert>
#include <utility>
#include <vector>

#include "storage/coding.h"
#include "storage/data_key.h"
#include "storage/engine.h"
#include "storage/engine_internal.h"
#include "storage/hint_key.h"

namespace ringkv::storage {

namespace {

Status CheckTarget(std::string_view target) {
  if (target.empty() || target.size() > kHintTargetBytesMax) {
    return Status::InvalidArgument("hint target must be 1 to 255 bytes, got " +
                                   std::to_string(target.size()));
  }
  return Status::Ok();
}

// A stored hint record, split. Views point into LMDB's map.
struct HintRecord {
  std::string_view key;  // The user key.
  HintHeader header;
  std::string_view set_bytes;
};

// Splits the record stored under a hint key of `kind`; `rest` is the rest of
// the key as ParseHintKey returns it (for an inline key, the user key). For a
// hashed key, `expected_key` (if not null) must match the key at the front of
// the record, as for data records.
Status SplitHintRecord(DataKeyKind kind, std::string_view rest, std::string_view record,
                       const std::string_view* expected_key, HintRecord* out) {
  std::string_view payload = record;
  if (kind == DataKeyKind::kHashed) {
    if (!SplitHashedRecord(record, &out->key, &payload)) {
      return Status::Corruption("hint record of a long key does not start with its key");
    }
    if (expected_key != nullptr && out->key != *expected_key) {
      return Status::Corruption("long key does not match the key stored under its hash");
    }
  } else {
    out->key = rest;
  }
  if (!SplitHintPayload(payload, &out->header, &out->set_bytes)) {
    return Status::Corruption("hint record shorter than its header");
  }
  return Status::Ok();
}

}  // namespace

void HintAccounting::Add(std::string_view target, uint64_t record_bytes) {
  auto it = targets.find(target);
  if (it == targets.end()) it = targets.emplace(std::string(target), Target{}).first;
  ++it->second.count;
  it->second.bytes += record_bytes;
  ++count;
  bytes += record_bytes;
}

void HintAccounting::Remove(std::string_view target, uint64_t record_bytes) {
  auto it = targets.find(target);
  assert(it != targets.end() && it->second.count > 0 && it->second.bytes >= record_bytes);
  assert(count > 0 && bytes >= record_bytes);
  --count;
  bytes -= record_bytes;
  if (--it->second.count == 0) {
    targets.erase(it);
  } else {
    it->second.bytes -= record_bytes;
  }
}

Status Engine::LoadHintAccounting() {
  Impl& impl = *impl_;
  Status status;
  MDB_txn* txn = impl.ReadTxn(&status);
  if (txn == nullptr) return status;
  HintAccounting accounting;
  {
    MDB_cursor* cursor = nullptr;
    int rc = mdb_cursor_open(txn, impl.hints_dbi, &cursor);
    if (rc != 0) return LmdbError("mdb_cursor_open(hints)", rc);
    CursorGuard guard(cursor);
    MDB_val key;
    MDB_val value;
    for (rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
      std::string_view target;
      uint32_t partition = 0;
      DataKeyKind kind;
      std::string_view rest;
      if (!ParseHintKey(FromVal(key), &target, &partition, &kind, &rest)) {
        return Status::Corruption("malformed key in the hints database");
      }
      HintRecord record;
      if (Status s = SplitHintRecord(kind, rest, FromVal(value), nullptr, &record); !s.ok()) {
        return s;
      }
      accounting.Add(target, key.mv_size + value.mv_size);
    }
    if (rc != MDB_NOTFOUND) return LmdbError("scanning the hints database", rc);
  }
  std::string counters;
  MDB_val name = ToVal(kHintCountersMetaName);
  MDB_val stored;
  int rc = mdb_get(txn, impl.meta_dbi, &name, &stored);
  if (rc == 0) {
    // Absent until the first commit that changes a counter.
    if (stored.mv_size != kHintCountersBytes) {
      return Status::Corruption("meta entry storage.hint_counters has " +
                                std::to_string(stored.mv_size) + " bytes, expected 32");
    }
    const char* bytes = static_cast<const char*>(stored.mv_data);
    impl.hints_dropped_count_limit = coding::DecodeFixed64(bytes);
    impl.hints_dropped_bytes_limit = coding::DecodeFixed64(bytes + 8);
    accounting.expired = coding::DecodeFixed64(bytes + 16);
    accounting.delivered = coding::DecodeFixed64(bytes + 24);
  } else if (rc != MDB_NOTFOUND) {
    return LmdbError("reading storage.hint_counters", rc);
  }
  impl.hints = std::move(accounting);
  impl.persisted_hint_counters = impl.CurrentHintCounters();
  EndIteration();
  return Status::Ok();
}

Status Engine::EncodeHintKeyFor(std::string_view target, std::string_view key, bool* hashed) {
  if (Status status = CheckTarget(target); !status.ok()) return status;
  Impl& impl = *impl_;
  *hashed = EncodeHintKey(target, PartitionOf(key, options_.partition_count), key,
                          impl.max_key_bytes, &impl.hint_key_buffer) == DataKeyKind::kHashed;
  return Status::Ok();
}

Status Engine::PutHint(std::string_view target, std::string_view key, const SiblingSet& set,
                       int64_t now_ms, bool* dropped) {
  *dropped = false;
  bool hashed = false;
  if (Status status = EncodeHintKeyFor(target, key, &hashed); !status.ok()) return status;
  Impl& impl = *impl_;
  if (Status status = BeginWrite(); !status.ok()) return status;
  const std::string& hint_key = impl.hint_key_buffer;
  const DataKeyKind kind = hashed ? DataKeyKind::kHashed : DataKeyKind::kInline;
  HintHeader header{now_ms, now_ms};
  std::string payload;  // The header, then the encoded set to store.
  payload.resize(kHintHeaderBytes);
  uint64_t old_bytes = 0;
  bool exists = false;
  MDB_val lmdb_key = ToVal(hint_key);
  MDB_val existing;
  int rc = mdb_get(impl.write_txn, impl.hints_dbi, &lmdb_key, &existing);
  if (rc == 0) {
    HintRecord record;
    if (Status s = SplitHintRecord(kind, key, FromVal(existing), &key, &record); !s.ok()) {
      return s;
    }
    SiblingSet merged;
    if (Status s = DecodeSiblingSet(record.set_bytes, &merged); !s.ok()) return s;
    Merge(&merged, set);
    EncodeSiblingSet(merged, &payload);
    // Nothing new (a repeated hint): leave the record, and updated_ms, alone.
    if (std::string_view(payload).substr(kHintHeaderBytes) == record.set_bytes) {
      return Status::Ok();
    }
    header.created_ms = record.header.created_ms;
    old_bytes = hint_key.size() + existing.mv_size;
    exists = true;
  } else if (rc == MDB_NOTFOUND) {
    EncodeSiblingSet(set, &payload);
  } else {
    return LmdbError("mdb_get(hints)", rc);
  }
  std::string header_bytes;
  AppendHintHeader(header, &header_bytes);
  payload.replace(0, kHintHeaderBytes, header_bytes);
  size_t record_bytes = payload.size();
  if (kind == DataKeyKind::kHashed) record_bytes += HashedRecordPrefixBytes(key);
  const uint64_t new_bytes = hint_key.size() + record_bytes;
  const HintLimits& limits = options_.hint_limits;
  if (!exists && impl.hints.count >= limits.count_max) {
    ++impl.hints_dropped_count_limit;
    *dropped = true;
    return Status::Ok();
  }
  if (impl.hints.bytes - old_bytes + new_bytes > limits.bytes_max) {
    ++impl.hints_dropped_bytes_limit;
    *dropped = true;
    return Status::Ok();
  }
  WriteRecord write{impl.hints_dbi, hint_key, payload, record_bytes,
                    kind == DataKeyKind::kHashed ? key : std::string_view()};
  if (Status status = WriteToTxn(write); !status.ok()) return status;
  impl.NoteHintChange();
  if (exists) impl.hints.Remove(target, old_bytes);
  impl.hints.Add(target, new_bytes);
  return CommitIfLogFull();
}

Status Engine::GetHint(std::string_view target, std::string_view key, SiblingSet* set,
                       uint64_t* version, int64_t* created_ms, int64_t* updated_ms) {
  bool hashed = false;
  if (Status status = EncodeHintKeyFor(target, key, &hashed); !status.ok()) return status;
  Impl& impl = *impl_;
  const std::string& hint_key = impl.hint_key_buffer;
  const DataKeyKind kind = hashed ? DataKeyKind::kHashed : DataKeyKind::kInline;
  Status status;
  MDB_txn* txn = impl.ReadTxn(&status);
  if (txn == nullptr) return status;
  MDB_val lmdb_key = ToVal(hint_key);
  MDB_val stored;
  int rc = mdb_get(txn, impl.hints_dbi, &lmdb_key, &stored);
  if (rc == MDB_NOTFOUND) return Status::NotFound();
  if (rc != 0) return LmdbError("mdb_get(hints)", rc);
  HintRecord record;
  if (Status s = SplitHintRecord(kind, key, FromVal(stored), &key, &record); !s.ok()) return s;
  if (set != nullptr) {
    if (Status s = DecodeSiblingSet(record.set_bytes, set); !s.ok()) return s;
  }
  if (version != nullptr) *version = HintVersion(record.set_bytes);
  if (created_ms != nullptr) *created_ms = record.header.created_ms;
  if (updated_ms != nullptr) *updated_ms = record.header.updated_ms;
  return Status::Ok();
}

Status Engine::ReadHints(std::string_view key, SiblingSet* merged) {
  *merged = SiblingSet();
  bool found = false;
  // Reads do not change the bookkeeping, so iterating it directly is safe.
  for (const auto& [target, counts] : impl_->hints.targets) {
    SiblingSet set;
    Status status = GetHint(target, key, &set, nullptr, nullptr, nullptr);
    if (status.IsNotFound()) continue;
    if (!status.ok()) return status;
    Merge(merged, set);
    found = true;
  }
  return found ? Status::Ok() : Status::NotFound();
}

Status Engine::ScanHints(
    std::string_view target, HintScanCursor* cursor, size_t limit,
    const std::function<bool(std::string_view key, const SiblingSet& set, uint64_t version)>& fn) {
  if (Status status = CheckTarget(target); !status.ok()) return status;
  Impl& impl = *impl_;
  const std::string prefix = HintTargetPrefix(target);
  if (!cursor->position.empty() && !cursor->position.starts_with(prefix)) {
    return Status::InvalidArgument("hint scan cursor belongs to another target");
  }
  if (cursor->done) return Status::Ok();
  Status status;
  MDB_txn* txn = impl.ReadTxn(&status);
  if (txn == nullptr) return status;
  MDB_cursor* lmdb_cursor = nullptr;
  int rc = mdb_cursor_open(txn, impl.hints_dbi, &lmdb_cursor);
  if (rc != 0) return LmdbError("mdb_cursor_open(hints)", rc);
  CursorGuard guard(lmdb_cursor);
  const std::string seek = cursor->position.empty() ? prefix : cursor->position;
  MDB_val lmdb_key = ToVal(seek);
  MDB_val lmdb_value;
  rc = mdb_cursor_get(lmdb_cursor, &lmdb_key, &lmdb_value, MDB_SET_RANGE);
  if (rc == 0 && !cursor->position.empty() && FromVal(lmdb_key) == seek) {
    rc = mdb_cursor_get(lmdb_cursor, &lmdb_key, &lmdb_value, MDB_NEXT);
  }
  SiblingSet set;
  for (size_t count = 0; count < limit && rc == 0; ++count) {
    const std::string_view stored_key = FromVal(lmdb_key);
    if (!stored_key.starts_with(prefix)) break;
    std::string_view stored_target;
    uint32_t partition = 0;
    DataKeyKind kind;
    std::string_view rest;
    if (!ParseHintKey(stored_key, &stored_target, &partition, &kind, &rest)) {
      return Status::Corruption("malformed key in the hints database");
    }
    // Past this hint even if it does not decode, so that a caller can report
    // a damaged hint and go on with the rest (ExpireHints drops it in time).
    cursor->position.assign(stored_key);
    HintRecord record;
    if (Status s = SplitHintRecord(kind, rest, FromVal(lmdb_value), nullptr, &record); !s.ok()) {
      return s;
    }
    if (Status s = DecodeSiblingSet(record.set_bytes, &set); !s.ok()) return s;
    if (!fn(record.key, set, HintVersion(record.set_bytes))) return Status::Ok();
    rc = mdb_cursor_get(lmdb_cursor, &lmdb_key, &lmdb_value, MDB_NEXT);
  }
  if (rc == MDB_NOTFOUND || (rc == 0 && !FromVal(lmdb_key).starts_with(prefix))) {
    cursor->done = true;
  } else if (rc != 0) {
    return LmdbError("mdb_cursor_get(hints)", rc);
  }
  return Status::Ok();
}

Status Engine::DeleteHintRecord(std::string_view hint_key, std::string_view target,
                                uint64_t record_bytes) {
  Impl& impl = *impl_;
  MDB_val lmdb_key = ToVal(hint_key);
  impl.cursor_key.clear();  // Every write forgets the data cursor's position.
  int rc = mdb_del(impl.write_txn, impl.hints_dbi, &lmdb_key, nullptr);
  if (rc != 0) return RecoverFromFailedWrite("mdb_del(hints)", rc);
  impl.space.Account(hint_key.size(), 0);
  impl.LogWrite(impl.hints_dbi, hint_key, std::string_view(), /*is_delete=*/true);
  impl.NoteHintChange();
  impl.hints.Remove(target, record_bytes);
  return Status::Ok();
}

Status Engine::DeleteHintIfUnchanged(std::string_view target, std::string_view key,
                                     uint64_t version, bool* deleted) {
  *deleted = false;
  bool hashed = false;
  if (Status status = EncodeHintKeyFor(target, key, &hashed); !status.ok()) return status;
  Impl& impl = *impl_;
  if (Status status = BeginWrite(); !status.ok()) return status;
  const std::string& hint_key = impl.hint_key_buffer;
  const DataKeyKind kind = hashed ? DataKeyKind::kHashed : DataKeyKind::kInline;
  MDB_val lmdb_key = ToVal(hint_key);
  MDB_val stored;
  int rc = mdb_get(impl.write_txn, impl.hints_dbi, &lmdb_key, &stored);
  if (rc == MDB_NOTFOUND) return Status::Ok();
  if (rc != 0) return LmdbError("mdb_get(hints)", rc);
  HintRecord record;
  Status split = SplitHintRecord(kind, key, FromVal(stored), &key, &record);
  // Another long key under the same hash: this key has no hint.
  if (!split.ok()) return kind == DataKeyKind::kHashed ? Status::Ok() : split;
  if (HintVersion(record.set_bytes) != version) return Status::Ok();
  const uint64_t record_bytes = hint_key.size() + stored.mv_size;
  if (Status status = DeleteHintRecord(hint_key, target, record_bytes); !status.ok()) {
    return status;
  }
  ++impl.hints.delivered;
  *deleted = true;
  return CommitIfLogFull();
}

Status Engine::ExpireHints(int64_t now_ms, size_t limit, uint64_t* expired) {
  *expired = 0;
  Impl& impl = *impl_;
  if (impl.hints.count == 0 || limit == 0) return Status::Ok();
  struct Doomed {
    std::string hint_key;
    std::string target;
    uint64_t record_bytes;
  };
  std::vector<Doomed> doomed;
  {
    Status status;
    MDB_txn* txn = impl.ReadTxn(&status);
    if (txn == nullptr) return status;
    MDB_cursor* cursor = nullptr;
    int rc = mdb_cursor_open(txn, impl.hints_dbi, &cursor);
    if (rc != 0) return LmdbError("mdb_cursor_open(hints)", rc);
    CursorGuard guard(cursor);
    // Resume the walk after the last hint examined; at the end of the
    // database, stop and start from the front on the next call, so no call
    // examines a hint twice.
    std::string& position = impl.hint_expiry_position;
    MDB_val key = ToVal(position);
    MDB_val value;
    rc = position.empty() ? mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
                          : mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
    if (rc == 0 && !position.empty() && FromVal(key) == position) {
      rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
    }
    for (size_t examined = 0; examined < limit && rc == 0; ++examined) {
      const std::string_view stored_key = FromVal(key);
      std::string_view target;
      uint32_t partition = 0;
      DataKeyKind kind;
      std::string_view rest;
      if (!ParseHintKey(stored_key, &target, &partition, &kind, &rest)) {
        return Status::Corruption("malformed key in the hints database");
      }
      HintRecord record;
      if (Status s = SplitHintRecord(kind, rest, FromVal(value), nullptr, &record); !s.ok()) {
        return s;
      }
      // In 128 bits: no stored time or configured age can overflow it.
      const __int128 age_ms = static_cast<__int128>(now_ms) - record.header.created_ms;
      if (age_ms > options_.hint_limits.age_max_ms) {
        doomed.push_back(
            {std::string(stored_key), std::string(target), key.mv_size + value.mv_size});
      }
      position.assign(stored_key);
      rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND) {
      position.clear();
    } else if (rc != 0) {
      return LmdbError("mdb_cursor_get(hints)", rc);
    }
  }
  if (doomed.empty()) return Status::Ok();
  if (Status status = BeginWrite(); !status.ok()) return status;
  for (const Doomed& hint : doomed) {
    if (Status status = DeleteHintRecord(hint.hint_key, hint.target, hint.record_bytes);
        !status.ok()) {
      return status;
    }
    ++impl.hints.expired;
    ++*expired;
  }
  return CommitIfLogFull();
}

void Engine::GetHintStats(HintStats* stats) const {
  const Impl& impl = *impl_;
  stats->targets.clear();
  for (const auto& [target, counts] : impl.hints.targets) {
    stats->targets.push_back({target, counts.count, counts.bytes});
  }
  stats->count = impl.hints.count;
  stats->bytes = impl.hints.bytes;
  stats->dropped_count_limit = impl.hints_dropped_count_limit;
  stats->dropped_bytes_limit = impl.hints_dropped_bytes_limit;
  stats->expired = impl.hints.expired;
  stats->delivered = impl.hints.delivered;
}

}  // namespace ringkv::storage
