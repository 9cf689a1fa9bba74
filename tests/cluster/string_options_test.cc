// SET's NX, XX and GET options and the other read-modify-write string
// commands answer as Redis does when the cluster coordinates them, through a
// replica and through a node that must forward the write.
#include <string>
#include <vector>

#include "cluster/cluster_harness.h"
#include "cluster/cluster_replies.h"

namespace ringkv::cluster_test {
namespace {

using blackbox::Do;

TEST_CASE("cluster: SET NX, XX and GET, SETNX, GETDEL and APPEND answer as Redis does") {
  ClusterOptions options;
  options.nodes = 4;  // N = 3 of 4: some node is not a replica of the key.
  options.partitions = 16;
  Cluster cluster(options);
  const std::string key = "options:key";
  const std::vector<int> replicas = ReplicaIndexes(cluster, key);
  const int outside = OtherIndexes(cluster, replicas)[0];
  for (int node : {replicas[0], outside}) {
    CAPTURE(node);
    RedisContext client = cluster.Connect(node);
    REQUIRE(Do(client.get(), {"DEL", key}).front() == ':');
    CHECK(Do(client.get(), {"SET", key, "a", "XX"}) == "nil");  // Absent: XX does nothing.
    CHECK(Do(client.get(), {"GET", key}) == "nil");
    CHECK(Do(client.get(), {"SET", key, "a", "NX"}) == "+OK");
    CHECK(Do(client.get(), {"SET", key, "b", "NX"}) == "nil");  // Present: NX does nothing.
    CHECK(Do(client.get(), {"GET", key}) == "$a");
    CHECK(Do(client.get(), {"SET", key, "b", "XX", "GET"}) == "$a");
    CHECK(Do(client.get(), {"GET", key}) == "$b");
    CHECK(Do(client.get(), {"SET", key, "c", "NX", "GET"}) == "$b");  // Not written.
    CHECK(Do(client.get(), {"GET", key}) == "$b");
    CHECK(Do(client.get(), {"SET", key, "d", "GET"}) == "$b");
    CHECK(Do(client.get(), {"SETNX", key, "e"}) == ":0");
    CHECK(Do(client.get(), {"APPEND", key, "xy"}) == ":3");
    CHECK(Do(client.get(), {"GETDEL", key}) == "$dxy");
    CHECK(Do(client.get(), {"GET", key}) == "nil");
    CHECK(Do(client.get(), {"SET", key, "f", "GET"}) == "nil");  // Written; nothing before.
    CHECK(Do(client.get(), {"GET", key}) == "$f");
    CHECK(Do(client.get(), {"SET", key, "g", "NX", "XX"}) == "-ERR syntax error");
  }
}

}  // namespace
}  // namespace ringkv::cluster_test
