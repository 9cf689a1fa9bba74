// Concurrent writes through two coordinators become siblings instead of one
// silently replacing the other, and a write with the context of a read that
// saw both resolves them.
#include <algorithm>
#include <set>

#include "cluster/cluster_harness.h"
#include "cluster/cluster_replies.h"

namespace ringkv::cluster_test {
namespace {

using blackbox::Command;
using blackbox::Do;

std::set<std::string> Values(const VersionedValue& versioned) {
  std::set<std::string> values;
  for (const Sibling& sibling : versioned.siblings)
    values.insert(sibling.value.value_or("<tombstone>"));
  return values;
}

VersionedValue Vget(redisContext* context, const std::string& key) {
  Reply reply = Command(context, {"VGET", key});
  std::optional<VersionedValue> versioned = ParseVersioned(reply.get());
  REQUIRE_MESSAGE(versioned.has_value(), "VGET answered nil");
  return *versioned;
}

TEST_CASE("cluster: VSET with the same empty context through two replicas makes two siblings") {
  Cluster cluster;
  const std::string key = "siblings:two-coordinators";
  std::vector<int> replicas = ReplicaIndexes(cluster, key);
  RedisContext first = cluster.Connect(replicas[0]);
  RedisContext second = cluster.Connect(replicas[1]);
  RedisContext reader = cluster.Connect(OtherIndexes(cluster, replicas)[0]);

  VersionedValue never_written = Vget(reader.get(), key);
  CHECK(never_written.siblings.empty());
  CHECK(never_written.context.empty());

  // Neither write has seen the other: each coordinator gives its value a dot
  // of its own actor, and the replicas keep both.
  CHECK(Do(first.get(), {"VSET", key, "", "from-first"}) == "+OK");
  CHECK(Do(second.get(), {"VSET", key, "", "from-second"}) == "+OK");

  VersionedValue both = Vget(reader.get(), key);
  REQUIRE(both.siblings.size() == 2);
  CHECK(Values(both) == std::set<std::string>{"from-first", "from-second"});
  CHECK(both.siblings[0].actor != both.siblings[1].actor);
  for (const Sibling& sibling : both.siblings) {
    CHECK(sibling.actor.size() == 16);
    CHECK(sibling.counter >= 1);
    CHECK(sibling.timestamp_ms > 0);
  }
  CHECK(!both.context.empty());

  // GET picks one sibling, and the same one through every node.
  std::string picked;
  for (int i = 0; i < cluster.size(); ++i) {
    RedisContext context = cluster.Connect(i);
    std::string value = Do(context.get(), {"GET", key});
    CHECK((value == "$from-first" || value == "$from-second"));
    if (i == 0) picked = value;
    CHECK(value == picked);
  }

  // The context of a read that saw both covers both: one sibling remains,
  // whichever node coordinates the resolving write.
  CHECK(Do(reader.get(), {"VSET", key, both.context, "resolved"}) == "+OK");
  VersionedValue resolved = Vget(first.get(), key);
  CHECK(resolved.siblings.size() == 1);
  CHECK(Values(resolved) == std::set<std::string>{"resolved"});
  for (int i = 0; i < cluster.size(); ++i) {
    RedisContext context = cluster.Connect(i);
    CHECK(Do(context.get(), {"GET", key}) == "$resolved");
  }
}

TEST_CASE("cluster: a write with a stale context keeps the newer value as a sibling") {
  Cluster cluster;
  const std::string key = "siblings:stale-context";
  std::vector<int> replicas = ReplicaIndexes(cluster, key);
  RedisContext context = cluster.Connect(replicas[0]);
  REQUIRE(Do(context.get(), {"SET", key, "v1"}) == "+OK");
  VersionedValue first_read = Vget(context.get(), key);
  REQUIRE(first_read.siblings.size() == 1);

  // Another client updates the key; a write with the first read's context has
  // not seen that update, so it must not drop it.
  RedisContext other = cluster.Connect(replicas[1]);
  REQUIRE(Do(other.get(), {"VSET", key, first_read.context, "v2"}) == "+OK");
  REQUIRE(Do(context.get(), {"VSET", key, first_read.context, "v3"}) == "+OK");
  VersionedValue after = Vget(context.get(), key);
  CHECK(Values(after) == std::set<std::string>{"v2", "v3"});

  // VDEL with the context of a read that saw both leaves a tombstone only,
  // which GET shows as a missing key.
  REQUIRE(Do(context.get(), {"VDEL", key, after.context}) == "+OK");
  for (int i = 0; i < cluster.size(); ++i) {
    RedisContext reader = cluster.Connect(i);
    CHECK(Do(reader.get(), {"GET", key}) == "nil");
    CHECK(Do(reader.get(), {"EXISTS", key}) == ":0");
  }
}

TEST_CASE("cluster: VCLOCK shows the merged vector of the replicas") {
  Cluster cluster;
  const std::string key = "siblings:vclock";
  std::vector<int> replicas = ReplicaIndexes(cluster, key);
  RedisContext first = cluster.Connect(replicas[0]);
  RedisContext second = cluster.Connect(replicas[1]);
  REQUIRE(Do(first.get(), {"VSET", key, "", "a"}) == "+OK");
  REQUIRE(Do(second.get(), {"VSET", key, "", "b"}) == "+OK");
  // Two coordinators wrote, so two actors appear in the vector, whichever
  // node is asked.
  VersionedValue both = Vget(first.get(), key);
  REQUIRE(both.siblings.size() == 2);
  for (int i = 0; i < cluster.size(); ++i) {
    RedisContext context = cluster.Connect(i);
    std::string vclock = Do(context.get(), {"VCLOCK", key});
    CAPTURE(vclock);
    for (const Sibling& sibling : both.siblings) {
      CHECK(vclock.find(sibling.actor) != std::string::npos);
    }
  }
}

}  // namespace
}  // namespace ringkv::cluster_test
