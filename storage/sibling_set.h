// storage/sibling_set.h: the versioned value stored under every key.
//
// A sibling set is a dotted version vector set (Riak 2.0's DVV sets): one
// version vector (`clock`) covering every version the set has seen, and the
// siblings: concurrent versions, each with its dot, a wall-clock timestamp
// (display and deterministic tie-break only, never causality), an optional
// absolute expiry, and value bytes or a tombstone.
//
// Invariants (checked by Decode, kept by every function here):
//   - every sibling's dot is covered by the clock;
//   - no two siblings share a dot;
//   - siblings are sorted by dot (so equal sets encode to equal bytes).
//
// Causality:
//   - ApplyWrite (a coordinator's write): drops the siblings the write's
//     context covers, adds the new version with a fresh dot of the
//     coordinator's actor, and joins the context into the clock.
//   - Merge (replication, hinted handoff, read repair, anti-entropy): keeps a
//     sibling if both sides hold it or the other side has not seen it.
//     Commutative, associative and idempotent.
//
// The binary encoding is specified in docs/storage_format.md.
#ifndef RINGKV_STORAGE_SIBLING_SET_H_
#define RINGKV_STORAGE_SIBLING_SET_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/status.h"
#include "storage/version_vector.h"

namespace ringkv::storage {

struct Sibling {
  Dot dot;
  int64_t timestamp_ms = 0;  // Wall clock of the coordinator at write time.
  bool tombstone = false;    // A delete; `value` is empty.
  int64_t expire_at_ms = 0;  // Absolute expiry (unix ms); 0 means none.
  std::string value;
  friend bool operator==(const Sibling&, const Sibling&) = default;
};

struct SiblingSet {
  VersionVector clock;
  std::vector<Sibling> siblings;  // Sorted by dot.
  friend bool operator==(const SiblingSet&, const SiblingSet&) = default;
};

// Appends the encoding of `set` to `out`. REQUIRES: the invariants hold.
void EncodeSiblingSet(const SiblingSet& set, std::string* out);
// The number of bytes EncodeSiblingSet appends for `set`.
size_t EncodedSiblingSetBytes(const SiblingSet& set);

// Decodes `bytes` into *set. Any malformed input, including a bad checksum,
// trailing bytes or a broken invariant, is Status::Corruption, never a crash.
Status DecodeSiblingSet(std::string_view bytes, SiblingSet* set);

// The cheap part of the checks: length, checksum and format version only,
// no parse (kCorruption otherwise, with the reason DecodeSiblingSet would
// give). The checksum covers every byte, so this catches a record damaged
// after it was encoded, though not one encoded wrong in the first place.
Status CheckSiblingSetChecksum(std::string_view bytes);

// Appends to *out the bytes of the encoded set `bytes` that tell its
// versions apart: all of them but the values' bytes (each value's length
// stays) and the checksum. Two sets with the same version bytes hold the
// same siblings, because a dot names one write and its value
// (docs/coordination.md, "Conditional reads"). Only the record's
// structure is read, not its values, so the checksum is not verified; a
// record whose structure does not parse is kCorruption (*out then holds
// an unspecified prefix).
Status AppendSiblingSetVersionBytes(std::string_view bytes, std::string* out);

// A zero-copy reading of an encoded sibling set, for the read path: values
// are views into the encoded bytes, which must outlive the view.
struct SiblingRef {
  Dot dot;
  int64_t timestamp_ms = 0;
  bool tombstone = false;
  int64_t expire_at_ms = 0;
  std::string_view value;
};

class SiblingSetView {
 public:
  // Validates `bytes` completely (same checks as DecodeSiblingSet).
  Status Parse(std::string_view bytes);
  const VersionVector& clock() const { return clock_; }
  size_t sibling_count() const { return siblings_.size(); }
  const SiblingRef& sibling(size_t i) const { return siblings_[i]; }
  // The sibling GET answers with: see PickWinner. REQUIRES: sibling_count()
  // > 0 (a record may legally hold no siblings; see docs/storage_format.md).
  const SiblingRef& winner() const { return siblings_[winner_]; }
  // True if the winner is a value, not a tombstone.
  bool live() const { return !siblings_.empty() && !siblings_[winner_].tombstone; }

 private:
  VersionVector clock_;
  std::vector<SiblingRef> siblings_;
  size_t winner_ = 0;
};

// The deterministic pick among siblings: the latest timestamp, then the
// greatest actor, then the greatest counter. REQUIRES: siblings not empty.
size_t PickWinner(const std::vector<Sibling>& siblings);
size_t PickWinner(const std::vector<SiblingRef>& siblings);

// True if the set holds a value GET would return (winner not a tombstone).
bool IsLive(const SiblingSet& set);

// A coordinator's write. Drops the siblings `context` covers, gives
// `version` the dot (actor, max(set.clock[actor], context[actor]) + 1),
// inserts it in dot order, and joins `context` into the clock. Returns the
// new dot. `version.dot` is ignored.
Dot ApplyWrite(SiblingSet* set, const VersionVector& context, ActorId actor,
               Sibling version);

// Merges `other` into *set (see the file comment).
void Merge(SiblingSet* set, const SiblingSet& other);

// True if merging `incoming` into the record `current` yields exactly
// `incoming`: its clock descends current's, and each of its siblings is
// either in current with the same content or new there (its dot not
// covered by current's clock). Replication of a coordinator's write is
// almost always this case, which a replica can then store without
// decoding its record into a SiblingSet.
bool MergeYieldsIncoming(const SiblingSetView& current, const SiblingSet& incoming);

}  // namespace ringkv::storage

#endif  // RINGKV_STORAGE_SIBLING_SET_H_
