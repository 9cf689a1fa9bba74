// storage/digest_cache.cc: see digest_cache.h.
#include "storage/digest_cache.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "storage/engine.h"

namespace ringkv::storage {

// The largest power of two of buckets that fits (0 for none).
DigestCache::DigestCache(uint64_t bytes_max)
    : bucket_count_(std::bit_floor(bytes_max / kBucketBytes)) {}

DigestCache::~DigestCache() = default;

bool DigestCache::Holds(const Slot& slot, uint64_t hash, std::string_view key) const {
  return slot.generation == generation_ && slot.hash == hash && slot.key_size == key.size() &&
         std::memcmp(slot.key, key.data(), key.size()) == 0;
}

bool DigestCache::Find(std::string_view key, Digest128* digest) {
  if (slots_ == nullptr || key.size() > kMaxKeyBytes) {
    ++misses_;
    return false;
  }
  const uint64_t hash = KeyHash(key);
  const uint64_t index = IndexOf(hash);
  if (MayHold(index)) {
    const Slot* bucket = Bucket(index);
    for (int i = 0; i < 2; ++i) {
      if (!Holds(bucket[i], hash, key)) continue;
      digest->high = bucket[i].high;
      digest->low = bucket[i].low;
      ++hits_;
      return true;
    }
  }
  ++misses_;
  return false;
}

void DigestCache::Prefetch(std::string_view key) const {
  if (slots_ == nullptr || key.size() > kMaxKeyBytes) return;
  const uint64_t index = IndexOf(KeyHash(key));
  __builtin_prefetch(&occupied_[index >> 6]);
  __builtin_prefetch(Bucket(index));
}

void DigestCache::Insert(std::string_view key, const Digest128& digest) {
  if (bucket_count_ == 0 || key.size() > kMaxKeyBytes) return;
  if (slots_ == nullptr) {
    slots_.reset(new Slot[2 * bucket_count_]());  // Generation 0: empty.
    occupied_.assign((bucket_count_ + 63) / 64, 0);
  }
  const uint64_t hash = KeyHash(key);
  const uint64_t index = IndexOf(hash);
  Slot* bucket = Bucket(index);
  // The key's own slot if it has one; else the first, whose entry (the
  // newer of two) moves to the second, over the older one.
  Slot* slot = &bucket[0];
  if (Holds(bucket[1], hash, key)) {
    slot = &bucket[1];
  } else if (!Holds(bucket[0], hash, key) && bucket[0].generation == generation_) {
    bucket[1] = bucket[0];
  }
  slot->hash = hash;
  slot->high = digest.high;
  slot->low = digest.low;
  slot->generation = generation_;
  slot->key_size = static_cast<uint8_t>(key.size());
  std::memcpy(slot->key, key.data(), key.size());
  occupied_[index >> 6] |= uint64_t{1} << (index & 63);
}

void DigestCache::Erase(std::string_view key) {
  if (slots_ == nullptr || key.size() > kMaxKeyBytes) return;
  const uint64_t hash = KeyHash(key);
  const uint64_t index = IndexOf(hash);
  if (!MayHold(index)) return;
  Slot* bucket = Bucket(index);
  for (int i = 0; i < 2; ++i) {
    if (Holds(bucket[i], hash, key)) bucket[i].generation = 0;
  }
}

void DigestCache::Clear() {
  if (slots_ == nullptr) return;
  std::fill(occupied_.begin(), occupied_.end(), 0);
  if (++generation_ == 0) {
    // Wrapped: entries of generation 1 could live again.
    for (uint64_t i = 0; i < 2 * bucket_count_; ++i) slots_[i].generation = 0;
    generation_ = 1;
  }
}

DigestCacheStats DigestCache::stats() const {
  DigestCacheStats stats;
  stats.bytes = slots_ == nullptr ? 0 : bucket_count_ * kBucketBytes + occupied_.size() * 8;
  stats.hits = hits_;
  stats.misses = misses_;
  return stats;
}

}  // namespace ringkv::storage
