// cluster/membership.h: the ring a node derives from its gossip member set.
//
// Every node must compute the same ring from the same known members, or
// replicas disagree about who owns a key. The ring is therefore a pure
// function of the member set: every known member (suspect ones included,
// since suspicion is a temporary failure and must not move partitions), in
// name order, with its gossiped weight, claimed afresh with Ring::Claim. A
// claim that started from the previous ring (Ring::Reclaim) would move fewer
// partitions, but its result would depend on the order in which a node
// learned of the members, and nodes would not converge.
//
// Pure functions, safe from any thread.
#ifndef RINGKV_CLUSTER_MEMBERSHIP_H_
#define RINGKV_CLUSTER_MEMBERSHIP_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cluster/gossip.h"
#include "cluster/ring.h"

namespace ringkv::cluster {

// The ring members for `members` (as Gossip::Members returns them, any
// order): one per member, sorted by name, with the record's weight.
std::vector<RingMember> RingMembersFrom(std::span<const MemberStatus> members);

// True if `ring` was claimed for exactly `members` (names and weights), so a
// new claim would give the same ring.
bool RingHasMembers(const Ring& ring, std::span<const RingMember> members);

// Ring::Claim over `members`, or nullopt with *error when the claim cannot
// be made (no members, or more members than partitions).
std::optional<Ring> RingFromMembers(uint32_t partition_count, std::vector<RingMember> members,
                                    std::string* error);

}  // namespace ringkv::cluster

#endif  // RINGKV_CLUSTER_MEMBERSHIP_H_
