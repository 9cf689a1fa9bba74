// storage/version_vector.h: actors, dots and version vectors.
//
// An actor is one incarnation of one node: a random 64-bit id created with
// the node's data directory (see engine.h). A node whose data directory was
// wiped is a new actor, so its new writes are never mistaken for old ones.
// A dot (actor, counter) names one write; a version vector maps actors to the
// highest counter seen and covers a dot when its entry is at least the dot's
// counter.
//
// VersionVector keeps its entries sorted by actor with no zero counters, so
// equal vectors have equal entries (and encode to equal bytes).
#ifndef RINGKV_STORAGE_VERSION_VECTOR_H_
#define RINGKV_STORAGE_VERSION_VECTOR_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ringkv::storage {

using ActorId = uint64_t;

struct Dot {
  ActorId actor = 0;
  uint64_t counter = 0;
  friend bool operator==(const Dot&, const Dot&) = default;
  friend auto operator<=>(const Dot&, const Dot&) = default;
};

class VersionVector {
 public:
  using Entry = std::pair<ActorId, uint64_t>;

  // The counter for `actor`, 0 if absent.
  uint64_t Get(ActorId actor) const;
  // Sets the entry for `actor` (removes it when counter is 0).
  void Set(ActorId actor, uint64_t counter);
  // True if this vector has seen the write named by `dot`.
  bool Covers(const Dot& dot) const { return Get(dot.actor) >= dot.counter; }
  // Pointwise maximum.
  void Join(const VersionVector& other);
  // True if every entry of `other` is <= the matching entry here.
  bool Descends(const VersionVector& other) const;
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  const std::vector<Entry>& entries() const { return entries_; }
  // Appends an entry whose actor is greater than every actor present;
  // used by decoders. Returns false if that order is not respected or the
  // counter is 0.
  bool AppendSorted(ActorId actor, uint64_t counter);
  void Clear() { entries_.clear(); }

  friend bool operator==(const VersionVector&, const VersionVector&) = default;

 private:
  std::vector<Entry> entries_;  // Sorted by actor; counters > 0.
};

// "a1b2c3d4e5f60718" (16 lowercase hex digits).
std::string ActorToHex(ActorId actor);

}  // namespace ringkv::storage

#endif  // RINGKV_STORAGE_VERSION_VECTOR_H_
