// Read repair: a replica that was down during a write holds a stale copy
// when it returns; a read that hears from it repairs it in the background.
#include <chrono>
#include <thread>

#include "cluster/cluster_harness.h"
#include "cluster/cluster_replies.h"

namespace ringkv::cluster_test {
namespace {

using blackbox::Command;
using blackbox::Do;

constexpr int kRepairWaitMs = 5000;

std::optional<std::string> LocalValue(const Cluster& cluster, int index, const std::string& key) {
  RedisContext context = cluster.Connect(index);
  std::optional<VersionedValue> held =
      ParseVersioned(Command(context.get(), {"LOCALGET", key}).get());
  if (!held || held->siblings.size() != 1) return std::nullopt;
  return held->siblings[0].value;
}

TEST_CASE("cluster: a read at R = N repairs a replica that missed a write") {
  // Strict quorums: no stand-in holds a hint of the write, so nothing but
  // the read can bring it to the returning replica (a hint delivered
  // between the checks below and the read left it nothing to repair).
  ClusterOptions options;
  options.cluster_toml = "sloppy_quorum = false\n";
  Cluster cluster(options);
  const std::string key = "repair:missed-write";
  std::vector<int> replicas = ReplicaIndexes(cluster, key);
  RedisContext writer = cluster.Connect(replicas[0]);
  REQUIRE(Do(writer.get(), {"SET", key, "old"}) == "+OK");
  REQUIRE(HeldByAll(cluster, replicas, key, "old", kRepairWaitMs));

  // The third replica is down (not paused: a paused node would still receive
  // the write from its socket buffer on resuming) while the key changes.
  const int stale = replicas[2];
  REQUIRE(cluster.Stop(stale).has_value());
  REQUIRE(Do(writer.get(), {"SET", key, "new"}) == "+OK");
  cluster.Start(stale);
  REQUIRE(LocalValue(cluster, stale, key) == "old");

  // A read through a node that is not a replica, asking all three replicas.
  int coordinator = OtherIndexes(cluster, replicas)[0];
  RedisContext reader = cluster.Connect(coordinator);
  REQUIRE(Do(reader.get(), {"CONSISTENCY", "ALL"}) == "+OK");
  int64_t deadline_ms = NowMs() + kRepairWaitMs;
  std::string value;
  // The coordinator's link to the restarted node may need a reconnect first.
  while ((value = Do(reader.get(), {"GET", key})) != "$new" && NowMs() < deadline_ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE_MESSAGE(value == "$new", "GET at ALL kept answering " << value);
  while (LocalValue(cluster, stale, key) != "new" && NowMs() < deadline_ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(LocalValue(cluster, stale, key) == "new");
  Reply info = Command(reader.get(), {"INFO", "cluster"});
  REQUIRE(info);
  std::optional<std::string> repairs =
      InfoField(std::string_view(info->str, info->len), "read_repairs");
  REQUIRE(repairs.has_value());
  CHECK(std::atoll(repairs->c_str()) >= 1);
}

}  // namespace
}  // namespace ringkv::cluster_test
