// tests/unit/cluster/coordinator_test_cluster.h: a few Coordinators over
// in-memory stores on one ring, with messages moved by hand, and probes for
// their callbacks; shared by the coordinator tests.
#ifndef RINGKV_TESTS_UNIT_CLUSTER_COORDINATOR_TEST_CLUSTER_H_
#define RINGKV_TESTS_UNIT_CLUSTER_COORDINATOR_TEST_CLUSTER_H_

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cluster/coordinator.h"
#include "unit/cluster/sim_memory_store.h"

namespace ringkv::cluster::coordinator_testing {

using storage::Sibling;
using storage::SiblingSet;

constexpr int64_t kTimeoutMs = 1000;

struct Node {
  Node(const std::string& name, storage::ActorId actor, const CoordinatorOptions& options)
      : store(actor), coordinator(name, &store, options) {}
  MemoryStore store;
  Coordinator coordinator;
};

// Nodes named "a", "b", ... on one ring; messages move only when a test
// says so.
class TestCluster {
 public:
  explicit TestCluster(uint32_t members, uint32_t partitions = 8,
                       CoordinatorOptions options = CoordinatorOptions{kTimeoutMs}) {
    std::vector<RingMember> ring_members;
    for (uint32_t i = 0; i < members; ++i) ring_members.push_back({std::string(1, 'a' + i)});
    Ring ring = Ring::Claim(partitions, ring_members);
    for (uint32_t i = 0; i < members; ++i) {
      std::string name(1, 'a' + i);
      nodes_[name] = std::make_unique<Node>(name, 0x100 + i, options);
      nodes_[name]->coordinator.SetRing(ring);
    }
  }

  Node& node(const std::string& name) { return *nodes_.at(name); }
  Coordinator& coordinator(const std::string& name) { return node(name).coordinator; }
  MemoryStore& store(const std::string& name) { return node(name).store; }

  // Delivers every message `from` has queued to its destination.
  void DeliverFrom(const std::string& from, int64_t now_ms = 0) {
    for (Envelope& envelope : coordinator(from).TakeOutbox()) {
      coordinator(envelope.to).OnMessage(from, std::move(envelope.message), now_ms);
    }
  }

  // Delivers until no node has anything queued.
  void Pump(int64_t now_ms = 0) {
    for (bool moved = true; moved;) {
      moved = false;
      for (auto& [name, node] : nodes_) {
        std::vector<Envelope> outbox = node->coordinator.TakeOutbox();
        for (Envelope& envelope : outbox) {
          moved = true;
          coordinator(envelope.to).OnMessage(name, std::move(envelope.message), now_ms);
        }
      }
    }
  }

  // Marks `member` down (or up again) in every node's view but its own.
  void SetDown(const std::string& member, bool down) {
    for (auto& [name, node] : nodes_) {
      if (name != member) node->coordinator.SetDown(member, down);
    }
  }

  // A key whose preference list starts with `first` (then `second`, if given).
  std::string KeyLedBy(const std::string& first, const std::string& second = "") {
    for (int i = 0;; ++i) {
      std::string key = "key-" + std::to_string(i);
      std::vector<std::string> names = coordinator(first).PreferenceNames(key, 2);
      if (names[0] == first && (second.empty() || names[1] == second)) return key;
      REQUIRE(i < 10000);
    }
  }

 private:
  std::map<std::string, std::unique_ptr<Node>> nodes_;
};

inline Sibling Value(std::string value, int64_t timestamp_ms = 1) {
  Sibling sibling;
  sibling.value = std::move(value);
  sibling.timestamp_ms = timestamp_ms;
  return sibling;
}

inline std::vector<std::string> Values(const SiblingSet& set) {
  std::vector<std::string> values;
  for (const Sibling& sibling : set.siblings) values.push_back(sibling.value);
  std::sort(values.begin(), values.end());
  return values;
}

// Captures a request's callbacks and counts how often they fire.
struct WriteProbe {
  int done_calls = 0;
  int settled_calls = 0;
  WriteResult result;
  uint32_t settled_acks = 0;
  Coordinator::WriteCallback Done() {
    return [this](WriteResult r) {
      ++done_calls;
      result = std::move(r);
    };
  }
  Coordinator::SettledCallback Settled() {
    return [this](uint32_t acks) {
      ++settled_calls;
      settled_acks = acks;
    };
  }
};

struct ReadProbe {
  int calls = 0;
  ReadResult result;
  Coordinator::ReadCallback Done() {
    return [this](ReadResult r) {
      ++calls;
      result = std::move(r);
    };
  }
};

// Takes `from`'s outbox, checking every message is a PutRequest; returns
// them by destination.
inline std::map<std::string, PutRequest> TakePuts(Coordinator& from) {
  std::map<std::string, PutRequest> puts;
  for (Envelope& envelope : from.TakeOutbox()) {
    PutRequest* put = std::get_if<PutRequest>(&envelope.message);
    REQUIRE(put != nullptr);
    puts[envelope.to] = std::move(*put);
  }
  return puts;
}

}  // namespace ringkv::cluster::coordinator_testing

#endif  // RINGKV_TESTS_UNIT_CLUSTER_COORDINATOR_TEST_CLUSTER_H_
