// Tests for cluster/membership.cc: the ring a node derives from its member
// set is the same whatever order the members were learned in.
#include "cluster/membership.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace ringkv::cluster {
namespace {

MemberStatus Status(const std::string& name, uint32_t weight = 1,
                    MemberState state = MemberState::kAlive) {
  MemberStatus status;
  status.record.name = name;
  status.record.host = "127.0.0.1";
  status.record.port = 6379;
  status.record.peer_port = 7379;
  status.record.weight = weight;
  status.record.incarnation = 1;
  status.state = state;
  return status;
}

std::vector<std::string> Owners(const Ring& ring) {
  std::vector<std::string> owners;
  for (uint32_t p = 0; p < ring.partition_count(); ++p) owners.push_back(ring.owner_name(p));
  return owners;
}

TEST_CASE("membership: ring members are every known member by name, suspect ones included") {
  std::vector<MemberStatus> members = {Status("n3"), Status("n1", 2),
                                       Status("n2", 1, MemberState::kSuspect)};
  members[0].self = true;
  std::vector<RingMember> ring_members = RingMembersFrom(members);
  REQUIRE(ring_members.size() == 3);
  CHECK(ring_members[0].name == "n1");
  CHECK(ring_members[0].weight == 2);
  CHECK(ring_members[1].name == "n2");
  CHECK(ring_members[2].name == "n3");
}

TEST_CASE("membership: the same member set gives the same ring in any order") {
  std::vector<MemberStatus> members;
  for (int i = 1; i <= 6; ++i) members.push_back(Status("n" + std::to_string(i)));
  std::string error;
  std::optional<Ring> reference = RingFromMembers(24, RingMembersFrom(members), &error);
  REQUIRE_MESSAGE(reference.has_value(), error);
  CHECK(reference->members().size() == 6);
  for (int round = 0; round < 10; ++round) {
    std::rotate(members.begin(), members.begin() + 1, members.end());
    if (round % 2) std::reverse(members.begin(), members.end());
    members[round % 6].state = round % 3 ? MemberState::kSuspect : MemberState::kAlive;
    std::optional<Ring> ring = RingFromMembers(24, RingMembersFrom(members), &error);
    REQUIRE(ring.has_value());
    CHECK(Owners(*ring) == Owners(*reference));
    CHECK(RingHasMembers(*reference, RingMembersFrom(members)));
  }
}

TEST_CASE("membership: a joining member or a new weight needs a new claim") {
  std::vector<MemberStatus> members = {Status("a"), Status("b"), Status("c")};
  std::string error;
  std::optional<Ring> ring = RingFromMembers(12, RingMembersFrom(members), &error);
  REQUIRE(ring.has_value());
  CHECK(RingHasMembers(*ring, RingMembersFrom(members)));
  members.push_back(Status("d"));
  CHECK_FALSE(RingHasMembers(*ring, RingMembersFrom(members)));
  std::optional<Ring> bigger = RingFromMembers(12, RingMembersFrom(members), &error);
  REQUIRE(bigger.has_value());
  for (uint32_t i = 0; i < 4; ++i) CHECK(bigger->OwnedCount(i) == 3);
  members.pop_back();
  members[1].record.weight = 2;
  CHECK_FALSE(RingHasMembers(*ring, RingMembersFrom(members)));
}

TEST_CASE("membership: a claim that cannot be made is refused with a reason") {
  std::string error;
  CHECK_FALSE(RingFromMembers(24, {}, &error).has_value());
  CHECK(error == "no members");
  std::vector<MemberStatus> members = {Status("a"), Status("b"), Status("c")};
  CHECK_FALSE(RingFromMembers(2, RingMembersFrom(members), &error).has_value());
  CHECK(error == "3 members need at least as many partitions (have 2)");
}

}  // namespace
}  // namespace ringkv::cluster
