// cluster/ring.h: partitions, their claim by members, preference lists.
//
// The 64-bit key-hash space is cut into Q equal partitions (virtual nodes),
// fixed when the cluster is created; storage::PartitionOf maps a key to its
// partition. Partitions are claimed by members (physical nodes) with a
// deterministic, balanced and optionally weighted algorithm: every node
// computes the same ring from the same inputs.
//
// A key's preference list: the owner of its partition, then walking the
// partitions clockwise (p+1, p+2, ... mod Q) the next owners that are
// distinct members, until every member appears once. The first N are the
// replicas; the rest are the fallbacks the sloppy quorum uses, in order.
//
// Spacing: a fresh claim spreads each member's partitions around the ring so
// that, whenever the counts allow it, every window of `target_spacing`
// consecutive partitions has distinct owners. The first N members of a
// preference list then come from the next few partitions, and each member is
// a replica for about N times its own partitions. Reclaim keeps this where it
// can without moving more than the minimum. docs/ring.md has the algorithm
// and the measured results.
//
// Cost: a claim or reclaim takes O(Q^2) time at worst (about 0.2 s at
// Q = 4096 with 3 members on one core, milliseconds at Q <= 1024), so it is
// meant for Q up to a few thousand; lookups are O(1) and a preference list
// O(Q) at worst.
//
// Pure code: no I/O, no clock, no randomness. A Ring is an immutable value;
// its const methods are safe to call from any thread.
#ifndef RINGKV_CLUSTER_RING_H_
#define RINGKV_CLUSTER_RING_H_

#include <cstdint>
#include <string>
#include <vector>

namespace ringkv::cluster {

struct RingMember {
  std::string name;     // Unique in the cluster.
  uint32_t weight = 1;  // Relative capacity; a member with weight 2 claims twice as much.
};

class Ring {
 public:
  // N of the usual N = 3 replication: the window that a claim tries to keep
  // free of repeated owners.
  static constexpr uint32_t kDefaultTargetSpacing = 3;
  // Largest partition count a claim accepts; the claim's cost (below) makes
  // anything near it impractical anyway.
  static constexpr uint32_t kPartitionCountMax = 65536;

  // An empty ring (no partitions, no members), to be replaced by a claim.
  Ring() = default;

  // A fresh claim for `members` (any order; the result depends only on the
  // set). Member i owns floor or ceil of partition_count * weight_i /
  // total_weight partitions (largest remainder, ties to the smaller name), so
  // a member may own none when its weight is tiny. REQUIRES: members not
  // empty, names unique, weights > 0, members.size() <= partition_count <=
  // kPartitionCountMax, target_spacing >= 1.
  static Ring Claim(uint32_t partition_count, std::vector<RingMember> members,
                    uint32_t target_spacing = kDefaultTargetSpacing);

  // A claim for `members` that starts from `previous` and moves exactly as
  // few partitions as balance allows: a partition keeps its owner unless that
  // owner left or holds more than its new share. The moved count is
  // sum(max(0, kept_count - new_target)) + partitions of departed members.
  // Members are matched by name, so a member whose weight changed keeps its
  // partitions up to its new share. Same REQUIRES as Claim, with
  // previous.partition_count() as the partition count.
  static Ring Reclaim(const Ring& previous, std::vector<RingMember> members,
                      uint32_t target_spacing = kDefaultTargetSpacing);

  uint32_t partition_count() const { return static_cast<uint32_t>(owners_.size()); }
  const std::vector<RingMember>& members() const { return members_; }  // Sorted by name.
  // Index into members() of the owner of `partition`.
  uint32_t owner(uint32_t partition) const { return owners_[partition]; }
  const std::string& owner_name(uint32_t partition) const {
    return members_[owners_[partition]].name;
  }
  // Member indexes of the preference list of `partition`: distinct members,
  // every member once, replicas first. Members that own no partition (only
  // possible with tiny weights) come last, in name order.
  // REQUIRES: partition < partition_count().
  std::vector<uint32_t> PreferenceList(uint32_t partition) const;
  // Partitions owned by member index `member`. REQUIRES: member < members().size().
  uint32_t OwnedCount(uint32_t member) const { return owned_counts_[member]; }
  // Index of the member named `name`, or -1.
  int MemberIndex(const std::string& name) const;

 private:
  Ring(std::vector<RingMember> members, std::vector<uint32_t> owners);

  std::vector<RingMember> members_;     // Sorted by name.
  std::vector<uint32_t> owners_;        // Member index per partition.
  std::vector<uint32_t> owned_counts_;  // Partitions per member index.
};

}  // namespace ringkv::cluster

#endif  // RINGKV_CLUSTER_RING_H_
