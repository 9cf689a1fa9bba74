#include "storage/record_cache.h"

#include <cstring>
#include <new>

namespace ringkv::storage {

// One allocation: this header, then the key's bytes, then the record's.
struct RecordCache::Entry {
  uint32_t key_size;
  uint32_t record_size;
  bool referenced;  // Set by a hit, cleared by the passing hand.
  bool erased;      // Out of the table; freed when the hand reaches it.
  char* bytes() { return reinterpret_cast<char*>(this + 1); }
};

namespace {

void FreeEntry(void* entry) { ::operator delete(entry); }

}  // namespace

RecordCache::~RecordCache() {
  for (Entry* entry : clock_) FreeEntry(entry);
  for (Entry* entry : retired_) FreeEntry(entry);
}

std::string_view RecordCache::KeyOf(const Entry* entry) {
  return {reinterpret_cast<const char*>(entry + 1), entry->key_size};
}

size_t RecordCache::CostOf(const Entry* entry) {
  return kEntryOverheadBytes + entry->key_size + entry->record_size;
}

bool RecordCache::Find(std::string_view key, std::string_view* record) {
  if (bytes_max_ == 0) return false;
  auto it = table_.find(key);
  if (it == table_.end()) {
    ++misses_;
    return false;
  }
  Entry* entry = it->second;
  entry->referenced = true;
  ++hits_;
  *record = std::string_view(entry->bytes() + entry->key_size, entry->record_size);
  return true;
}

void RecordCache::Insert(std::string_view key, std::string_view record) {
  const uint64_t cost = kEntryOverheadBytes + key.size() + record.size();
  if (bytes_max_ == 0 || cost > bytes_max_ / 8) return;
  Erase(key);
  EvictUntil(bytes_max_ - cost);
  auto* entry = static_cast<Entry*>(::operator new(sizeof(Entry) + key.size() + record.size()));
  entry->key_size = static_cast<uint32_t>(key.size());
  entry->record_size = static_cast<uint32_t>(record.size());
  entry->referenced = false;
  entry->erased = false;
  std::memcpy(entry->bytes(), key.data(), key.size());
  std::memcpy(entry->bytes() + key.size(), record.data(), record.size());
  table_.emplace(KeyOf(entry), entry);
  clock_.push_back(entry);
  bytes_ += cost;
}

void RecordCache::Erase(std::string_view key) {
  if (table_.empty()) return;
  auto it = table_.find(key);
  if (it == table_.end()) return;
  Entry* entry = it->second;
  table_.erase(it);
  // Its bytes stay counted until the hand frees it: what erased entries
  // hold is bounded with the rest.
  entry->erased = true;
}

void RecordCache::EvictUntil(uint64_t bytes_max) {
  // Each entry is passed over at most once (its bit cleared) before the
  // hand comes back to it: at most two turns of the clock.
  while (bytes_ > bytes_max && !clock_.empty()) {
    Entry* entry = clock_.front();
    clock_.pop_front();
    if (entry->referenced && !entry->erased) {
      entry->referenced = false;
      clock_.push_back(entry);
      continue;
    }
    if (!entry->erased) {
      table_.erase(KeyOf(entry));
      ++evictions_;
    }
    bytes_ -= CostOf(entry);
    retired_.push_back(entry);
  }
}

void RecordCache::ReleaseRetired() {
  for (Entry* entry : retired_) FreeEntry(entry);
  retired_.clear();
}

RecordCacheStats RecordCache::stats() const {
  RecordCacheStats stats;
  stats.bytes = bytes_;
  stats.entries = table_.size();
  stats.hits = hits_;
  stats.misses = misses_;
  stats.evictions = evictions_;
  return stats;
}

}  // namespace ringkv::storage
