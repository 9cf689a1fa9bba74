// storage/engine_scan.cc: Engine::ScanPartition, which merges the write
// log's tables with the data tree (and is a plain tree scan without them).
#include <lmdb.h>

#include <algorithm>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/data_key.h"
#include "storage/engine.h"
#include "storage/engine_internal.h"

namespace ringkv::storage {

// The data tree's records of `partition` merged with the write log's
// tables, if any: a table record replaces the tree's, a tombstone hides
// it. Costs a pass over the tables per call.
Status Engine::ScanPartition(
    uint32_t partition, std::string_view start_after, size_t limit,
    const std::function<bool(std::string_view key, std::string_view value)>& fn) {
  if (Status status = CheckPartition(partition); !status.ok()) return status;
  Impl& impl = *impl_;
  const std::string prefix = PartitionPrefix(partition);
  std::string seek = prefix;
  if (!start_after.empty()) EncodeDataKey(partition, start_after, impl.max_key_bytes, &seek);
  // The new table's records, then the frozen table's that it does not
  // replace (none without the write log).
  std::vector<const LogState::Entry*> table;
  if (const LogState* log = impl.write_log.get(); log != nullptr) {
    auto wanted = [&](const LogState::Entry& entry) {
      return entry.first.starts_with(prefix) &&
             (start_after.empty() ? entry.first >= seek : entry.first > seek);
    };
    for (const LogState::Entry& entry : log->mem) {
      if (wanted(entry)) table.push_back(&entry);
    }
    for (const LogState::Entry& entry : log->frozen) {
      if (wanted(entry) && log->mem.find(entry.first) == log->mem.end()) {
        table.push_back(&entry);
      }
    }
  }
  std::sort(table.begin(), table.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  Status status;
  MDB_txn* txn = impl.ReadTxn(&status);
  if (txn == nullptr) return status;
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn, impl.data_dbi, &cursor);
  if (rc != 0) return LmdbError("mdb_cursor_open", rc);
  CursorGuard guard(cursor);
  MDB_val lmdb_key = ToVal(seek);
  MDB_val lmdb_value;
  rc = mdb_cursor_get(cursor, &lmdb_key, &lmdb_value, MDB_SET_RANGE);
  if (rc == 0 && !start_after.empty() && FromVal(lmdb_key) == seek) {
    rc = mdb_cursor_get(cursor, &lmdb_key, &lmdb_value, MDB_NEXT);
  }
  auto tree_key = [&]() -> std::string_view {
    if (rc != 0) return {};
    std::string_view key = FromVal(lmdb_key);
    return key.starts_with(prefix) ? key : std::string_view();
  };
  size_t next = 0;
  size_t count = 0;
  while (count < limit) {
    std::string_view from_tree = tree_key();
    const bool table_left = next < table.size();
    if (from_tree.empty() && !table_left) break;
    std::string_view stored_key;
    std::string_view value;
    bool skip = false;
    if (table_left && (from_tree.empty() || table[next]->first <= from_tree)) {
      const bool replaces = !from_tree.empty() && table[next]->first == from_tree;
      stored_key = table[next]->first;
      value = table[next]->second.bytes;
      skip = table[next]->second.tombstone;
      ++next;
      if (replaces) rc = mdb_cursor_get(cursor, &lmdb_key, &lmdb_value, MDB_NEXT);
    } else {
      stored_key = from_tree;
      value = FromVal(lmdb_value);
      rc = mdb_cursor_get(cursor, &lmdb_key, &lmdb_value, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError("mdb_cursor_get", rc);
    if (skip) continue;
    uint32_t stored_partition = 0;
    DataKeyKind kind;
    std::string_view user_key;
    if (!ParseDataKey(stored_key, &stored_partition, &kind, &user_key)) {
      return Status::Corruption("malformed data key in partition " + std::to_string(partition));
    }
    if (kind == DataKeyKind::kHashed && !SplitHashedRecord(value, &user_key, &value)) {
      return Status::Corruption("data record of a long key does not start with its key");
    }
    ++count;
    if (!fn(user_key, value)) break;
  }
  return Status::Ok();
}

}  // namespace ringkv::storage
