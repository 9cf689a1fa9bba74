// The ring seen from outside: six nodes agree on it, it has Q entries, and
// the claim is balanced.
#include <sys/wait.h>

#include <algorithm>
#include <map>
#include <set>

#include "cluster/cluster_harness.h"
#include "cluster/cluster_replies.h"

namespace ringkv::cluster_test {
namespace {

using blackbox::Command;
using blackbox::Do;

TEST_CASE("cluster: six nodes start from one member list, serve, and stop cleanly on SIGTERM") {
  Cluster cluster;
  for (int i = 0; i < cluster.size(); ++i) {
    RedisContext context = cluster.Connect(i);
    CHECK(Do(context.get(), {"PING"}) == "+PONG");
    std::string key = "smoke:" + std::to_string(i);
    CHECK(Do(context.get(), {"SET", key, "v"}) == "+OK");
    CHECK(Do(context.get(), {"GET", key}) == "$v");
  }
  // Exit status 0 after cluster traffic: in the sanitizer build this is also
  // where a leak or an error at shutdown shows up.
  for (int i = 0; i < cluster.size(); ++i) {
    CAPTURE(cluster.name(i));
    std::optional<int> status = cluster.Stop(i);
    REQUIRE_MESSAGE(status.has_value(), "ignored SIGTERM\n" << cluster.LogTail(i));
    CHECK_MESSAGE((WIFEXITED(*status) && WEXITSTATUS(*status) == 0), "wait status "
                                                                         << *status << "\n"
                                                                         << cluster.LogTail(i));
  }
}

TEST_CASE("cluster: INFO cluster reports the members and N/W/R of the config") {
  Cluster cluster;
  for (int i = 0; i < cluster.size(); ++i) {
    RedisContext context = cluster.Connect(i);
    Reply reply = Command(context.get(), {"INFO", "cluster"});
    REQUIRE(reply);
    REQUIRE(reply->type == REDIS_REPLY_STRING);
    std::string info(reply->str, reply->len);
    CAPTURE(info);
    CHECK(InfoField(info, "members") == "6");
    CHECK(InfoField(info, "n") == "3");
    CHECK(InfoField(info, "w") == "2");
    CHECK(InfoField(info, "r") == "2");
    CHECK(InfoField(info, "partitions_owned") == "4");
    CHECK(InfoField(info, "peer_connections").has_value());
    CHECK(InfoField(info, "quorum_failures").has_value());
    CHECK(InfoField(info, "read_repairs").has_value());
  }
}

TEST_CASE("cluster: RING has Q entries, every node owns Q/members of them, all nodes agree") {
  Cluster cluster;
  const int partitions = cluster.options().partitions;
  std::string first_rendering;
  for (int i = 0; i < cluster.size(); ++i) {
    RedisContext context = cluster.Connect(i);
    Reply ring = Command(context.get(), {"RING"});
    REQUIRE(ring);
    REQUIRE_MESSAGE(ring->type == REDIS_REPLY_ARRAY, Do(context.get(), {"RING"}));
    REQUIRE(ring->elements == static_cast<size_t>(partitions));
    std::map<std::string, int> owned;
    for (size_t p = 0; p < ring->elements; ++p) {
      const redisReply* entry = ring->element[p];
      REQUIRE(entry->type == REDIS_REPLY_ARRAY);
      REQUIRE(entry->elements == 3);
      CHECK(IntegerOf(entry->element[0]) == static_cast<int64_t>(p));
      std::string owner(entry->element[1]->str, entry->element[1]->len);
      ++owned[owner];
      std::vector<std::string> preference = StringElements(entry->element[2]);
      REQUIRE(preference.size() == static_cast<size_t>(cluster.options().n));
      CHECK(preference.front() == owner);
      // The first N of a preference list are distinct physical nodes.
      CHECK(std::set<std::string>(preference.begin(), preference.end()).size() ==
            preference.size());
    }
    // 24 partitions over 6 equal members: floor = ceil = 4 each.
    REQUIRE(owned.size() == static_cast<size_t>(cluster.size()));
    for (const auto& [name, count] : owned) {
      CAPTURE(name);
      CHECK(count == partitions / cluster.size());
    }
    // Every node computes the same ring from the same member list.
    std::string rendering = Do(context.get(), {"RING"});
    if (i == 0) first_rendering = rendering;
    CHECK(rendering == first_rendering);
  }
}

TEST_CASE("cluster: RING KEY names the same partition and replicas on every node") {
  Cluster cluster;
  std::vector<RedisContext> contexts;
  for (int i = 0; i < cluster.size(); ++i) contexts.push_back(cluster.Connect(i));
  for (int k = 0; k < 50; ++k) {
    std::string key = "ring-key-" + std::to_string(k);
    CAPTURE(key);
    KeyPlacement expected = ParseRingKey(Command(contexts[0].get(), {"RING", "KEY", key}).get());
    CHECK(expected.partition >= 0);
    CHECK(expected.partition < cluster.options().partitions);
    CHECK(expected.hash.size() == 16);
    REQUIRE(expected.replicas.size() == 3);
    CHECK(std::set<std::string>(expected.replicas.begin(), expected.replicas.end()).size() == 3);
    // Fallbacks are the other members, none of them a replica.
    for (const std::string& fallback : expected.fallbacks) {
      CHECK(std::count(expected.replicas.begin(), expected.replicas.end(), fallback) == 0);
    }
    for (int i = 1; i < cluster.size(); ++i) {
      KeyPlacement placement = ParseRingKey(Command(contexts[i].get(), {"RING", "KEY", key}).get());
      CHECK(placement.partition == expected.partition);
      CHECK(placement.hash == expected.hash);
      CHECK(placement.replicas == expected.replicas);
      CHECK(placement.fallbacks == expected.fallbacks);
    }
  }
}

}  // namespace
}  // namespace ringkv::cluster_test
