// cluster/membership.cc: the ring from the member set (membership.h).
#include "cluster/membership.h"

#include <algorithm>

namespace ringkv::cluster {

std::vector<RingMember> RingMembersFrom(std::span<const MemberStatus> members) {
  std::vector<RingMember> result;
  result.reserve(members.size());
  for (const MemberStatus& member : members) {
    result.push_back({member.record.name, member.record.weight});
  }
  std::sort(result.begin(), result.end(),
            [](const RingMember& a, const RingMember& b) { return a.name < b.name; });
  return result;
}

bool RingHasMembers(const Ring& ring, std::span<const RingMember> members) {
  const std::vector<RingMember>& current = ring.members();
  if (current.size() != members.size()) return false;
  for (size_t i = 0; i < members.size(); ++i) {
    if (current[i].name != members[i].name || current[i].weight != members[i].weight) {
      return false;
    }
  }
  return true;
}

std::optional<Ring> RingFromMembers(uint32_t partition_count, std::vector<RingMember> members,
                                    std::string* error) {
  if (members.empty()) {
    *error = "no members";
    return std::nullopt;
  }
  if (members.size() > partition_count || partition_count > Ring::kPartitionCountMax) {
    *error = std::to_string(members.size()) + " members need at least as many partitions (have " +
             std::to_string(partition_count) + ")";
    return std::nullopt;
  }
  return Ring::Claim(partition_count, std::move(members));
}

}  // namespace ringkv::cluster
