// storage/record_cache.h: a bounded cache of data records read from the
// tree (the write log's path; EngineOptions::record_cache_bytes).
//
// Why: a record read from LMDB's map is on 4 KB pages of a file mapping,
// and a random key's leaf page is a TLB miss and several cache misses; a
// copy in the heap (on huge pages, see server/main.cc) costs about what a
// memory table record does (docs/benchmarks.md, fourteenth pass).
//
// Eviction is CLOCK (second chance): a hit sets the entry's bit, the hand
// clears set bits and evicts the first entry it finds clear. Bytes count
// each entry's key, record and a fixed overhead; the total never exceeds
// bytes_max after an Insert returns. An entry evicted or erased is freed
// only at the next ReleaseRetired(), so a view Find handed out stays valid
// until then (the engine calls it when the iteration ends).
//
// Not thread-safe: the loop thread only.
#ifndef RINGKV_STORAGE_RECORD_CACHE_H_
#define RINGKV_STORAGE_RECORD_CACHE_H_

#include <absl/container/flat_hash_map.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string_view>
#include <vector>

namespace ringkv::storage {

struct RecordCacheStats {
  uint64_t bytes = 0;    // As counted against bytes_max.
  uint64_t entries = 0;  // Live entries (erased ones the hand has not reached yet not counted).
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
};

class RecordCache {
 public:
  // What an entry costs besides its key and record: its header, its slot
  // in the table and in the clock.
  static constexpr size_t kEntryOverheadBytes = 64;

  explicit RecordCache(uint64_t bytes_max) : bytes_max_(bytes_max) {}
  ~RecordCache();
  RecordCache(const RecordCache&) = delete;
  RecordCache& operator=(const RecordCache&) = delete;

  // The record cached under `key`; counts a hit or a miss.
  bool Find(std::string_view key, std::string_view* record);
  // Caches a copy of `record` under `key` (replacing one there), evicting
  // as needed. A record larger than an eighth of bytes_max is not cached:
  // one scan of big values must not empty the cache.
  void Insert(std::string_view key, std::string_view record);
  // Drops `key`'s entry, if any (its record changed).
  void Erase(std::string_view key);
  // Frees what was evicted or erased since the last call.
  void ReleaseRetired();

  RecordCacheStats stats() const;

 private:
  struct Entry;
  static std::string_view KeyOf(const Entry* entry);
  static size_t CostOf(const Entry* entry);
  void EvictUntil(uint64_t bytes_max);

  uint64_t bytes_max_;
  uint64_t bytes_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  uint64_t evictions_ = 0;
  // Keys view the entries' own bytes.
  absl::flat_hash_map<std::string_view, Entry*> table_;
  // Every entry not yet freed by the hand, live or erased, oldest first.
  std::deque<Entry*> clock_;
  std::vector<Entry*> retired_;  // Off the clock, freed by ReleaseRetired.
};

}  // namespace ringkv::storage

#endif  // RINGKV_STORAGE_RECORD_CACHE_H_
