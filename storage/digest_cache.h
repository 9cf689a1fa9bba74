// storage/digest_cache.h: a bounded cache of one 128-bit digest per key,
// that the engine drops whenever the key's record may have changed
// (EngineOptions::digest_cache_bytes; Engine::FindDigest, CacheDigest).
//
// Why: a replica answers a conditional read (docs/coordination.md,
// "Conditional reads") by comparing the digest of its copy's versions with
// the coordinator's. Finding the record costs several cache misses (the
// memory table's slot, the record cache's slot, its entry's key, the
// record's header); a digest kept here costs one line. With every remote
// read of a benchmark's 1 KB GET answered SAME, those misses were most of
// a replica's time (docs/benchmarks.md, twenty-first pass).
//
// Exact: an entry holds its key's bytes, compared in full, so another key
// never matches it; keys longer than kMaxKeyBytes are not cached. Each key
// has one bucket of two 64-byte slots (a new entry goes to the first slot,
// the first one's old entry to the second). Clear() empties the whole cache
// without touching the slots (a generation number, and the bitmap below
// zeroed: 16 KB for the default 16 MB); the engine calls it when a
// transaction's writes are taken back. A bitmap of the buckets that may
// hold an entry lets Erase skip the bucket's line: a write of a key whose
// bucket holds nothing touches the bitmap only.
//
// The memory (bytes_max rounded down to a power of two of buckets, and a
// bit per bucket) is taken at the first Insert, so a node that serves no
// conditional reads spends none.
//
// Not thread-safe: the loop thread only.
#ifndef RINGKV_STORAGE_DIGEST_CACHE_H_
#define RINGKV_STORAGE_DIGEST_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace ringkv::storage {

struct Digest128 {
  uint64_t high = 0;
  uint64_t low = 0;
  bool operator==(const Digest128&) const = default;
};

struct DigestCacheStats {
  uint64_t bytes = 0;  // Taken (0 until the first Insert).
  uint64_t hits = 0;
  uint64_t misses = 0;
};

class DigestCache {
 public:
  static constexpr size_t kMaxKeyBytes = 35;
  static constexpr size_t kBucketBytes = 128;

  explicit DigestCache(uint64_t bytes_max);
  ~DigestCache();
  DigestCache(const DigestCache&) = delete;
  DigestCache& operator=(const DigestCache&) = delete;

  bool enabled() const { return bucket_count_ > 0; }
  // The digest cached for `key`; counts a hit or a miss.
  bool Find(std::string_view key, Digest128* digest);
  // Caches `digest` for `key` (replacing one there); a key longer than
  // kMaxKeyBytes is ignored.
  void Insert(std::string_view key, const Digest128& digest);
  // Drops `key`'s entry, if any.
  void Erase(std::string_view key);
  // Starts loading the lines a Find of `key` reads (its bit and its
  // bucket), so that the Finds of a batch of keys wait on memory together.
  void Prefetch(std::string_view key) const;
  // Drops every entry.
  void Clear();

  DigestCacheStats stats() const;

 private:
  struct alignas(64) Slot {
    uint64_t hash;
    uint64_t high;
    uint64_t low;
    uint32_t generation;  // Live if equal to the cache's; 0 never is.
    uint8_t key_size;
    char key[kMaxKeyBytes];
  };
  static_assert(sizeof(Slot) == 64);

  uint64_t IndexOf(uint64_t hash) const { return hash & (bucket_count_ - 1); }
  Slot* Bucket(uint64_t index) const { return &slots_[2 * index]; }
  bool Holds(const Slot& slot, uint64_t hash, std::string_view key) const;
  bool MayHold(uint64_t index) const { return (occupied_[index >> 6] >> (index & 63)) & 1; }

  uint64_t bucket_count_ = 0;  // A power of two, or 0 (disabled).
  std::unique_ptr<Slot[]> slots_;
  std::vector<uint64_t> occupied_;  // A bit per bucket: an entry may be there.
  uint32_t generation_ = 1;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace ringkv::storage

#endif  // RINGKV_STORAGE_DIGEST_CACHE_H_
