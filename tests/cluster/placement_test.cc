// Where keys live: after writes through random nodes, each key is stored on
// exactly its N replicas (checked per node with LOCALGET, which reads only
// that node's own storage), and every node answers every key.
#include <algorithm>
#include <chrono>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "cluster/cluster_harness.h"
#include "cluster/cluster_replies.h"

namespace ringkv::cluster_test {
namespace {

constexpr int kKeys = 10000;
// Keys read back through every node in the GET check. All of them on a
// normal build; the bound keeps an ASan build of the check under a minute.
constexpr int kKeysReadPerNode = 10000;
// The W = 2 acknowledgement lets the client go on before the third replica
// has written; how long its copy may take to appear.
constexpr int kThirdReplicaGraceMs = 5000;
constexpr int kExamplesMax = 5;

std::string KeyName(int k) { return "placement:" + std::to_string(k); }
std::string ValueOf(int k) { return "value-" + std::to_string(k * 7919); }

std::string Join(const std::set<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ",") + name;
  return "{" + text + "}";
}

// Writes kKeys keys, each through a node picked at random, pipelined per
// node. REQUIREs every write acknowledged.
void WriteThroughRandomNodes(Cluster& cluster) {
  std::mt19937 random(20261122);
  std::vector<std::vector<std::vector<std::string>>> by_node(cluster.size());
  for (int k = 0; k < kKeys; ++k) {
    by_node[random() % cluster.size()].push_back({"SET", KeyName(k), ValueOf(k)});
  }
  int failures = 0;
  std::string first_failure;
  for (int i = 0; i < cluster.size(); ++i) {
    RedisContext context = cluster.Connect(i);
    std::vector<Reply> replies = Pipeline(context.get(), by_node[i]);
    for (size_t j = 0; j < replies.size(); ++j) {
      std::string rendered = blackbox::Render(replies[j].get(), context.get());
      if (rendered == "+OK") continue;
      if (failures++ == 0)
        first_failure = cluster.name(i) + ": " + by_node[i][j][1] + " -> " + rendered;
    }
  }
  REQUIRE_MESSAGE(failures == 0,
                  failures << " of " << kKeys << " SETs failed; first: " << first_failure);
}

// The N replica names of every key, by RING KEY on node 0.
std::vector<std::set<std::string>> ReplicaSets(Cluster& cluster) {
  std::vector<std::vector<std::string>> commands;
  for (int k = 0; k < kKeys; ++k) commands.push_back({"RING", "KEY", KeyName(k)});
  RedisContext context = cluster.Connect(0);
  std::vector<Reply> replies = Pipeline(context.get(), commands);
  std::vector<std::set<std::string>> replicas;
  for (const Reply& reply : replies) {
    KeyPlacement placement = ParseRingKey(reply.get());
    REQUIRE(placement.replicas.size() == static_cast<size_t>(cluster.options().n));
    replicas.emplace_back(placement.replicas.begin(), placement.replicas.end());
  }
  return replicas;
}

// For each key in `keys`, the names of the nodes whose own storage holds it.
// Counts a held copy with a value other than the one written in
// *wrong_values.
std::vector<std::set<std::string>> Holders(Cluster& cluster, const std::vector<int>& keys,
                                           int* wrong_values, std::string* example) {
  std::vector<std::vector<std::string>> commands;
  for (int k : keys) commands.push_back({"LOCALGET", KeyName(k)});
  std::vector<std::set<std::string>> holders(keys.size());
  for (int i = 0; i < cluster.size(); ++i) {
    RedisContext context = cluster.Connect(i);
    std::vector<Reply> replies = Pipeline(context.get(), commands);
    for (size_t j = 0; j < keys.size(); ++j) {
      std::optional<VersionedValue> stored = ParseVersioned(replies[j].get());
      if (!stored) continue;
      holders[j].insert(cluster.name(i));
      bool right = stored->siblings.size() == 1 && stored->siblings[0].value == ValueOf(keys[j]);
      if (!right && (*wrong_values)++ == 0) {
        *example = cluster.name(i) + " LOCALGET " + KeyName(keys[j]) + " -> " +
                   blackbox::Render(replies[j].get(), context.get());
      }
    }
  }
  return holders;
}

TEST_CASE("cluster: 10,000 writes through random nodes are each stored on exactly the N replicas") {
  Cluster cluster;
  int64_t started_ms = NowMs();
  WriteThroughRandomNodes(cluster);
  MESSAGE(kKeys << " pipelined SETs through random nodes took " << NowMs() - started_ms << " ms");
  std::vector<std::set<std::string>> replicas = ReplicaSets(cluster);

  std::vector<int> pending(kKeys);
  for (int k = 0; k < kKeys; ++k) pending[k] = k;
  int misplaced = 0;  // Held by a node that is not one of the key's replicas.
  int wrong_values = 0;
  std::string misplaced_example;
  std::string value_example;
  int64_t deadline_ms = NowMs() + kThirdReplicaGraceMs;
  // A key with fewer holders than replicas may still be on its way to the
  // third replica; look again until the grace period ends.
  for (int round = 0; !pending.empty(); ++round) {
    std::vector<std::set<std::string>> holders =
        Holders(cluster, pending, &wrong_values, &value_example);
    std::vector<int> missing;
    for (size_t j = 0; j < pending.size(); ++j) {
      const std::set<std::string>& expected = replicas[pending[j]];
      bool subset =
          std::includes(expected.begin(), expected.end(), holders[j].begin(), holders[j].end());
      if (!subset) {
        if (misplaced++ < kExamplesMax) {
          misplaced_example += KeyName(pending[j]) + ": held by " + Join(holders[j]) +
                               ", replicas " + Join(expected) + "\n";
        }
      } else if (holders[j].size() != expected.size()) {
        missing.push_back(pending[j]);
      }
    }
    pending = std::move(missing);
    if (pending.empty() || NowMs() > deadline_ms || misplaced > 0) break;
    MESSAGE("round " << round << ": " << pending.size()
                     << " keys not yet on all their replicas; looking again");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  CHECK_MESSAGE(misplaced == 0, misplaced << " keys stored on a node that is not a replica:\n"
                                          << misplaced_example);
  std::string missing_example;
  for (size_t j = 0; j < pending.size() && j < kExamplesMax; ++j) {
    missing_example += KeyName(pending[j]) + " (replicas " + Join(replicas[pending[j]]) + ")\n";
  }
  CHECK_MESSAGE(pending.empty(), pending.size() << " keys on fewer than N nodes after "
                                                << kThirdReplicaGraceMs << " ms, e.g.\n"
                                                << missing_example);
  CHECK_MESSAGE(wrong_values == 0, wrong_values
                                       << " stored copies differ from the value written, e.g. "
                                       << value_example);

  SUBCASE("and every node answers GET for every key with the value written") {
    std::vector<std::vector<std::string>> commands;
    std::vector<int> keys;
    int stride = std::max(1, kKeys / kKeysReadPerNode);
    for (int k = 0; k < kKeys; k += stride) {
      keys.push_back(k);
      commands.push_back({"GET", KeyName(k)});
    }
    for (int i = 0; i < cluster.size(); ++i) {
      RedisContext context = cluster.Connect(i);
      int64_t read_started_ms = NowMs();
      std::vector<Reply> replies = Pipeline(context.get(), commands);
      int wrong = 0;
      std::string example;
      for (size_t j = 0; j < keys.size(); ++j) {
        std::string rendered = blackbox::Render(replies[j].get(), context.get());
        if (rendered != "$" + ValueOf(keys[j]) && wrong++ == 0) {
          example = KeyName(keys[j]) + " -> " + rendered;
        }
      }
      CAPTURE(cluster.name(i));
      CHECK_MESSAGE(wrong == 0, wrong << " of " << keys.size() << " GETs through "
                                      << cluster.name(i) << " were wrong, e.g. " << example);
      MESSAGE(keys.size() << " pipelined GETs through " << cluster.name(i) << " took "
                          << NowMs() - read_started_ms << " ms");
    }
  }
}

}  // namespace
}  // namespace ringkv::cluster_test
