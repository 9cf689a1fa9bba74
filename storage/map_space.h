// storage/map_space.h: a conservative estimate of whether a write still fits
// in the LMDB map (internal to storage/; pure, no LMDB).
//
// LMDB reports a full map only from inside mdb_put, and after that the whole
// write transaction is dead. The engine asks this estimate first, so that in
// the common case a write that would not fit is refused while the
// transaction, and the writes already in it, stay usable.
//
// The estimate counts the pages this transaction may dirty: copy-on-write of
// the touched B-tree paths (at most depth + 1 pages per write, and never more
// than the whole tree), room for splits as records are added, and overflow
// pages for large values. The free pages are the map's unused tail plus, once
// the tail alone is not enough, the reusable pages of LMDB's freelist. A
// reserve is kept for what the commit itself writes (freelist, database
// roots, the live-key counter) and, about 3% of the map, for deletes: those
// are never refused by the estimate, so a full map can always be emptied.
#ifndef RINGKV_STORAGE_MAP_SPACE_H_
#define RINGKV_STORAGE_MAP_SPACE_H_

#include <cstddef>
#include <cstdint>

namespace ringkv::storage {

struct MapSpaceSnapshot {
  uint64_t page_size = 4096;
  uint64_t map_pages = 0;   // Map size / page size.
  uint64_t last_page = 0;   // Highest page number in use.
  uint64_t tree_pages = 0;  // Branch and leaf pages of the trees written.
  uint64_t depth = 1;       // Depth of the deepest tree written.
  // Added to the reserve after LMDB reported a full map that the estimate
  // had not foreseen (learned by the engine; see engine_write.cc).
  uint64_t extra_reserve_pages = 0;
};

class MapSpaceEstimate {
 public:
  // Starts the estimate of a new write transaction.
  void Begin(const MapSpaceSnapshot& snapshot);

  // True if a write of a record with these sizes fits, counting only the
  // free pages known so far.
  bool Fits(size_t key_bytes, size_t value_bytes) const;
  // Counts a write (or a delete: value_bytes 0) done in this transaction.
  void Account(size_t key_bytes, size_t value_bytes);

  // The freelist is measured at most once per transaction, and only when
  // the tail of the map is not enough (measuring it walks a B-tree).
  bool freelist_counted() const { return freelist_counted_; }
  void AddFreelistPages(uint64_t pages);

  uint64_t available_pages() const;
  uint64_t reserve_pages() const;
  uint64_t dirty_pages() const { return DirtyPages(writes_, small_bytes_, overflow_pages_); }

 private:
  bool IsOverflow(size_t key_bytes, size_t value_bytes) const;
  uint64_t OverflowPages(size_t value_bytes) const;
  uint64_t DirtyPages(uint64_t writes, uint64_t small_bytes, uint64_t overflow_pages) const;

  MapSpaceSnapshot snapshot_;
  uint64_t freelist_pages_ = 0;
  bool freelist_counted_ = false;
  uint64_t writes_ = 0;
  uint64_t small_bytes_ = 0;     // Bytes of records kept in leaf pages.
  uint64_t overflow_pages_ = 0;  // Pages of values too big for a leaf.
};

}  // namespace ringkv::storage

#endif  // RINGKV_STORAGE_MAP_SPACE_H_
