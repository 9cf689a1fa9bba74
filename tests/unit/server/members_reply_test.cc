// Tests for WriteMembersReply (server/commands_membership.cc): the MEMBERS
// reply's fields, their order and their encodings, which failure drills
// parse (docs/commands.md).
#include "server/members_reply.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace ringkv::server {
namespace {

cluster::MemberStatus Status(const std::string& name, uint16_t port, bool self,
                             cluster::MemberState state, uint64_t heartbeat, int64_t age_ms,
                             uint64_t incarnation, uint32_t weight) {
  cluster::MemberStatus status;
  status.record.name = name;
  status.record.host = "127.0.0.1";
  status.record.port = port;
  status.record.peer_port = static_cast<uint16_t>(port + 1000);
  status.record.weight = weight;
  status.record.incarnation = incarnation;
  status.record.heartbeat = heartbeat;
  status.self = self;
  status.state = state;
  status.age_ms = age_ms;
  return status;
}

std::string Bulk(const std::string& text) {
  return "$" + std::to_string(text.size()) + "\r\n" + text + "\r\n";
}

// One member's expected fields, in the contract's order.
std::string Entry(const std::string& map_header, const std::string& name, int port,
                  const std::string& state, int self, int heartbeat, int age_ms,
                  const std::string& incarnation, int weight, int partitions) {
  auto integer = [](int64_t value) { return ":" + std::to_string(value) + "\r\n"; };
  return map_header + Bulk("name") + Bulk(name) + Bulk("host") + Bulk("127.0.0.1") + Bulk("port") +
         integer(port) + Bulk("peer_port") + integer(port + 1000) + Bulk("state") + Bulk(state) +
         Bulk("self") + integer(self) + Bulk("heartbeat") + integer(heartbeat) + Bulk("age_ms") +
         integer(age_ms) + Bulk("incarnation") + Bulk(incarnation) + Bulk("weight") +
         integer(weight) + Bulk("partitions") + integer(partitions);
}

TEST_CASE("members reply: one map per member with the contract's fields in order") {
  std::vector<cluster::MemberStatus> members = {
      Status("n2", 6382, true, cluster::MemberState::kAlive, 17, 0, 0xfedcba9876543210ULL, 1),
      Status("n1", 6381, false, cluster::MemberState::kSuspect, 9, 4321, 0x1f, 2),
      // Known to gossip but not (yet) in the ring: no partitions.
      Status("n3", 6383, false, cluster::MemberState::kAlive, 0, 12, 0, 1)};
  cluster::Ring ring = cluster::Ring::Claim(6, {{"n1", 2}, {"n2", 1}});
  for (int protocol : {2, 3}) {
    CAPTURE(protocol);
    std::string out;
    resp::ReplyWriter writer(&out, protocol);
    WriteMembersReply(members, ring, writer);
    std::string map = protocol == 3 ? "%11\r\n" : "*22\r\n";
    std::string expected = "*3\r\n" +
                           Entry(map, "n2", 6382, "alive", 1, 17, 0, "fedcba9876543210", 1, 2) +
                           Entry(map, "n1", 6381, "suspect", 0, 9, 4321, "000000000000001f", 2, 4) +
                           Entry(map, "n3", 6383, "alive", 0, 0, 12, "0000000000000000", 1, 0);
    CHECK(out == expected);
  }
  CHECK(kMemberFields.size() == 11);
}

}  // namespace
}  // namespace ringkv::server
