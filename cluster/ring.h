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
// Pure code: no I/O, no clock.
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
  // A fresh claim for `members` (any order; the result depends only on the
  // set). REQUIRES: members not empty, names unique, weights > 0,
  // partition_count >= members.size().
  static Ring Claim(uint32_t partition_count, std::vector<RingMember> members);

  // A claim for `members` that starts from `previous` and moves as few
  // partitions as balance allows: a partition keeps its owner unless that
  // owner left or holds more than its share.
  static Ring Reclaim(const Ring& previous, std::vector<RingMember> members);

  uint32_t partition_count() const { return static_cast<uint32_t>(owners_.size()); }
  const std::vector<RingMember>& members() const { return members_; }  // Sorted by name.
  // Index into members() of the owner of `partition`.
  uint32_t owner(uint32_t partition) const { return owners_[partition]; }
  const std::string& owner_name(uint32_t partition) const { return members_[owners_[partition]].name; }
  // Member indexes of the preference list of `partition`: distinct members,
  // every member once, replicas first.
  std::vector<uint32_t> PreferenceList(uint32_t partition) const;
  // Partitions owned by member index `member`.
  uint32_t OwnedCount(uint32_t member) const;
  // Index of the member named `name`, or -1.
  int MemberIndex(const std::string& name) const;

 private:
  std::vector<RingMember> members_;
  std::vector<uint32_t> owners_;
};

}  // namespace ringkv::cluster

#endif  // RINGKV_CLUSTER_RING_H_
