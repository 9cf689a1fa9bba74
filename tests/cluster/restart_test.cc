// Nodes that stop and come back: a clean stop (SIGTERM) and a kill -9 keep
// the node's stored copies, the cluster serves every key while one replica
// is down, and a returning node's reads see writes it missed (the read
// quorum includes an up-to-date replica).
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "cluster/cluster_harness.h"
#include "cluster/cluster_replies.h"

namespace ringkv::cluster_test {
namespace {

using blackbox::Command;
using blackbox::Do;

constexpr int kKeys = 200;

std::string KeyName(int k) { return "restart:" + std::to_string(k); }

void SetAll(redisContext* context, const std::string& prefix) {
  std::vector<std::vector<std::string>> commands;
  for (int k = 0; k < kKeys; ++k)
    commands.push_back({"SET", KeyName(k), prefix + std::to_string(k)});
  std::vector<Reply> replies = Pipeline(context, commands);
  int failed = 0;
  std::string first_error;
  for (const Reply& reply : replies) {
    std::string rendered = blackbox::Render(reply.get(), context);
    if (rendered == "+OK") continue;
    if (failed++ == 0) first_error = rendered;
  }
  CHECK_MESSAGE(failed == 0, failed << " of " << kKeys << " SETs failed, the first with " << first_error);
}

int CountEqual(redisContext* context, const std::string& prefix) {
  std::vector<std::vector<std::string>> commands;
  for (int k = 0; k < kKeys; ++k) commands.push_back({"GET", KeyName(k)});
  std::vector<Reply> replies = Pipeline(context, commands);
  int equal = 0;
  for (int k = 0; k < kKeys; ++k) {
    equal += blackbox::Render(replies[k].get(), context) == "$" + prefix + std::to_string(k);
  }
  return equal;
}

int CountLocal(redisContext* context) {
  std::vector<std::vector<std::string>> commands;
  for (int k = 0; k < kKeys; ++k) commands.push_back({"LOCALGET", KeyName(k)});
  int held = 0;
  for (const Reply& reply : Pipeline(context, commands))
    held += ParseVersioned(reply.get()).has_value();
  return held;
}

TEST_CASE("cluster: a node stopped cleanly or killed comes back with its data and serves reads") {
  ClusterOptions options;
  bool kill9 = false;
  auto write_log = [&options] {
    options.write_path = "log";
    options.memtable_bytes_max = 4096;  // Checkpoints on the way.
  };
  SUBCASE("btree, SIGTERM") { options.write_path = "btree"; }
  SUBCASE("btree, kill -9") {
    options.write_path = "btree";
    kill9 = true;
  }
  SUBCASE("write log, SIGTERM") { write_log(); }
  SUBCASE("write log, kill -9") {
    write_log();
    kill9 = true;
  }
  Cluster cluster(options);
  const int victim = 2;
  {
    RedisContext context = cluster.Connect(0);
    SetAll(context.get(), "first-");
    // Every replica has every key before the victim goes away.
    REQUIRE(Do(context.get(), {"WAIT", "3", "2000"}) == ":3");
  }
  int held_before = CountLocal(cluster.Connect(victim).get());
  CHECK(held_before > 0);
  if (options.write_path == "log") {
    // The checkpoint the writes began runs on the engine's thread: it may
    // not have ended when the replies came (up to 10 s, a busy machine).
    RedisContext context = cluster.Connect(victim);
    int64_t checkpoints = 0;
    for (int attempt = 0; attempt < 200 && checkpoints == 0; ++attempt) {
      checkpoints = InfoInteger(context.get(), "log_checkpoints", "persistence");
      if (checkpoints == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(checkpoints > 0);
  }

  if (kill9) {
    cluster.Kill9(victim);
  } else {
    std::optional<int> status = cluster.Stop(victim);
    REQUIRE_MESSAGE(status.has_value(), "the node ignored SIGTERM\n" << cluster.LogTail(victim));
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
  }

  // One replica of some keys is down: W = 2 and R = 2 still succeed.
  {
    RedisContext context = cluster.Connect(0);
    SetAll(context.get(), "second-");
    CHECK(CountEqual(context.get(), "second-") == kKeys);
  }
  cluster.Start(victim);
  RedisContext context = cluster.Connect(victim);
  // Its own copies survived; missed writes are not there yet (no hinted
  // handoff in this version), but the read quorum includes a replica that
  // has them, and the merge picks the newer version.
  CHECK(CountLocal(context.get()) >= held_before);
  CHECK(CountEqual(context.get(), "second-") == kKeys);
}

TEST_CASE("cluster: multi-key commands fan out to every key's replicas") {
  Cluster cluster;
  RedisContext writer = cluster.Connect(0);
  RedisContext reader = cluster.Connect(5);
  std::vector<std::string> mset = {"MSET"};
  std::vector<std::string> mget = {"MGET"};
  std::vector<std::string> del = {"DEL"};
  std::vector<std::string> exists = {"EXISTS"};
  std::string expected = "*[";
  for (int k = 0; k < 50; ++k) {
    std::string key = "multi:" + std::to_string(k);
    mset.insert(mset.end(), {key, "v" + std::to_string(k)});
    mget.push_back(key);
    exists.push_back(key);
    if (k % 2 == 0) del.push_back(key);
    expected += (k == 0 ? "$v" : ", $v") + std::to_string(k);
  }
  expected += "]";
  CHECK(Do(writer.get(), mset) == "+OK");
  CHECK(Do(reader.get(), mget) == expected);
  CHECK(Do(reader.get(), exists) == ":50");
  CHECK(Do(reader.get(), del) == ":25");
  CHECK(Do(writer.get(), exists) == ":25");
  CHECK(Do(writer.get(), {"APPEND", "multi:1", "-more"}) == ":7");
  CHECK(Do(reader.get(), {"GET", "multi:1"}) == "$v1-more");
}

}  // namespace
}  // namespace ringkv::cluster_test
