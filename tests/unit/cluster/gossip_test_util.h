// tests/unit/cluster/gossip_test_util.h: helpers shared by the gossip unit
// tests (gossip_test.cc, gossip_member_list_test.cc, gossip_sim_test.cc):
// member records made up from a name, the default options and expected
// event lists.
#ifndef RINGKV_TESTS_UNIT_CLUSTER_GOSSIP_TEST_UTIL_H_
#define RINGKV_TESTS_UNIT_CLUSTER_GOSSIP_TEST_UTIL_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "cluster/gossip.h"

namespace ringkv::cluster::gossip_testing {

using Kind = GossipEvent::Kind;

inline MemberRecord MakeRecord(const std::string& name, uint64_t heartbeat = 0,
                               uint64_t incarnation = 1) {
  MemberRecord record;
  record.name = name;
  record.host = "10.0.0." + std::to_string(name.size());
  record.port = 6379;
  record.peer_port = static_cast<uint16_t>(7000 + name.back());
  record.weight = 1;
  record.incarnation = incarnation;
  record.created_ms = 1700000000000 + incarnation;
  record.heartbeat = heartbeat;
  return record;
}

inline GossipOptions Options() {
  GossipOptions options;  // interval 1000, suspect_after 2500, pause 2000.
  return options;
}

inline std::vector<GossipEvent> Events(std::initializer_list<std::pair<Kind, std::string>> list) {
  std::vector<GossipEvent> events;
  for (const auto& [kind, name] : list) events.push_back({kind, name});
  return events;
}

}  // namespace ringkv::cluster::gossip_testing

#endif  // RINGKV_TESTS_UNIT_CLUSTER_GOSSIP_TEST_UTIL_H_
