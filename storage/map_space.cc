// storage/map_space.cc
#include "storage/map_space.h"

#include <algorithm>

namespace ringkv::storage {

namespace {

// LMDB's page header and per-record node header, in bytes.
constexpr uint64_t kPageHeaderBytes = 16;
constexpr uint64_t kNodeHeaderBytes = 8;
// Pages a commit writes besides the records: freelist records, the roots of
// the named databases and of the main database, the live-key counter.
constexpr uint64_t kCommitReservePages = 16;
// Writes are refused while this much of the map is still free, so that a
// client can still delete data (deletes copy pages too) and commit it.
constexpr uint64_t kDeleteHeadroomPagesMin = 32;
constexpr uint64_t kDeleteHeadroomMapFraction = 32;

}  // namespace

void MapSpaceEstimate::Begin(const MapSpaceSnapshot& snapshot) {
  snapshot_ = snapshot;
  freelist_pages_ = 0;
  freelist_counted_ = false;
  writes_ = 0;
  small_bytes_ = 0;
  overflow_pages_ = 0;
}

bool MapSpaceEstimate::IsOverflow(size_t key_bytes, size_t value_bytes) const {
  // LMDB moves a value to overflow pages when its node exceeds about half a
  // page (two nodes must fit in a leaf).
  const uint64_t node_max = ((snapshot_.page_size - kPageHeaderBytes) / 2) & ~uint64_t{1};
  return key_bytes + value_bytes + kNodeHeaderBytes > node_max - 2;
}

uint64_t MapSpaceEstimate::OverflowPages(size_t value_bytes) const {
  return (value_bytes + kPageHeaderBytes + snapshot_.page_size - 1) / snapshot_.page_size;
}

uint64_t MapSpaceEstimate::DirtyPages(uint64_t writes, uint64_t small_bytes,
                                      uint64_t overflow_pages) const {
  const uint64_t path_pages = snapshot_.depth + 1;
  const uint64_t copied = std::min(writes * path_pages, snapshot_.tree_pages + path_pages);
  // New records fill pages that splits leave half full.
  const uint64_t grown = 2 * small_bytes / snapshot_.page_size + 1;
  return overflow_pages + copied + grown;
}

bool MapSpaceEstimate::Fits(size_t key_bytes, size_t value_bytes) const {
  uint64_t small_bytes = small_bytes_;
  uint64_t overflow_pages = overflow_pages_;
  if (IsOverflow(key_bytes, value_bytes)) {
    small_bytes += key_bytes + kNodeHeaderBytes + 8;
    overflow_pages += OverflowPages(value_bytes);
  } else {
    small_bytes += key_bytes + value_bytes + kNodeHeaderBytes;
  }
  return DirtyPages(writes_ + 1, small_bytes, overflow_pages) + reserve_pages() <=
         available_pages();
}

void MapSpaceEstimate::Account(size_t key_bytes, size_t value_bytes) {
  ++writes_;
  if (IsOverflow(key_bytes, value_bytes)) {
    small_bytes_ += key_bytes + kNodeHeaderBytes + 8;
    overflow_pages_ += OverflowPages(value_bytes);
  } else {
    small_bytes_ += key_bytes + value_bytes + kNodeHeaderBytes;
  }
}

void MapSpaceEstimate::AddFreelistPages(uint64_t pages) {
  freelist_pages_ += pages;
  freelist_counted_ = true;
}

uint64_t MapSpaceEstimate::available_pages() const {
  const uint64_t used = snapshot_.last_page + 1;
  const uint64_t tail = snapshot_.map_pages > used ? snapshot_.map_pages - used : 0;
  return tail + freelist_pages_;
}

uint64_t MapSpaceEstimate::reserve_pages() const {
  return kCommitReservePages + snapshot_.depth + snapshot_.extra_reserve_pages +
         std::max(kDeleteHeadroomPagesMin, snapshot_.map_pages / kDeleteHeadroomMapFraction);
}

}  // namespace ringkv::storage
