// Quorums under failure: with replicas paused (SIGSTOP: sockets open, no
// answers), requests that cannot reach W or R answer -UNAVAILABLE within
// about two request timeouts instead of hanging, and work again once the
// replicas resume; CONSISTENCY and WAIT change and report what a request
// waits for. These are strict quorums: the nodes run with
// sloppy_quorum = false, since with it fallbacks would stand in for the
// paused replicas (handoff_test.cc tests that).
#include <algorithm>
#include <chrono>
#include <thread>

#include "cluster/cluster_harness.h"
#include "cluster/cluster_replies.h"

namespace ringkv::cluster_test {
namespace {

using blackbox::Command;
using blackbox::Do;

// Scheduling slack on top of two request timeouts: a forwarded write may wait
// one timeout at the forwarding node and one at the coordinator.
constexpr int kSlackMs = 400;
// After SIGCONT, how long requests may keep failing while the resumed nodes
// work through what queued up.
constexpr int kRecoveryMs = 5000;

// Every test here: strict quorums, nothing stands in for a paused replica.
ClusterOptions StrictQuorums() {
  ClusterOptions options;
  options.cluster_toml = "sloppy_quorum = false\n";
  return options;
}

int UnavailableBoundMs(const Cluster& cluster) {
  return 2 * cluster.options().request_timeout_ms + kSlackMs;
}

// Sends `args` until the reply renders as `expected`, for at most
// kRecoveryMs. Returns how long that took, or -1 on timeout (with the last
// reply in *last).
int64_t RetryUntil(redisContext* context, const std::vector<std::string>& args,
                   const std::string& expected, std::string* last) {
  int64_t started_ms = NowMs();
  while (NowMs() - started_ms < kRecoveryMs) {
    *last = Do(context, args);
    if (*last == expected) return NowMs() - started_ms;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

TEST_CASE(
    "cluster: with 2 of 3 replicas paused, W=2 writes and R=2 reads answer UNAVAILABLE in time") {
  Cluster cluster(StrictQuorums());
  const std::string key = "availability:two-paused";
  std::vector<int> replicas = ReplicaIndexes(cluster, key);
  REQUIRE(replicas.size() == 3);
  {
    RedisContext context = cluster.Connect(replicas[0]);
    REQUIRE(Do(context.get(), {"SET", key, "before"}) == "+OK");
  }
  // Through the one live replica (which coordinates) and through every node
  // that is not a replica (which forwards the write, and coordinates reads).
  std::vector<int> coordinators = OtherIndexes(cluster, replicas);
  coordinators.insert(coordinators.begin(), replicas[0]);
  std::vector<RedisContext> contexts;
  for (int i : coordinators) contexts.push_back(cluster.Connect(i));

  cluster.Pause(replicas[1]);
  cluster.Pause(replicas[2]);
  int64_t slowest_ms = 0;
  for (size_t c = 0; c < coordinators.size(); ++c) {
    CAPTURE(cluster.name(coordinators[c]));
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"SET", key, "during"}, std::vector<std::string>{"GET", key}}) {
      CAPTURE(args[0]);
      int64_t started_ms = NowMs();
      Reply reply = Command(contexts[c].get(), args);
      int64_t elapsed_ms = NowMs() - started_ms;
      slowest_ms = std::max(slowest_ms, elapsed_ms);
      CHECK_MESSAGE(IsErrorStartingWith(reply.get(), "UNAVAILABLE"),
                    blackbox::Render(reply.get(), contexts[c].get()));
      CHECK_MESSAGE(elapsed_ms <= UnavailableBoundMs(cluster),
                    "answered after " << elapsed_ms << " ms");
    }
  }
  MESSAGE("slowest UNAVAILABLE answer: " << slowest_ms << " ms (request_timeout_ms "
                                         << cluster.options().request_timeout_ms << ")");
  {
    Reply info = Command(contexts[0].get(), {"INFO", "cluster"});
    REQUIRE(info);
    std::optional<std::string> failures =
        InfoField(std::string_view(info->str, info->len), "quorum_failures");
    if (failures) CHECK(std::atoll(failures->c_str()) > 0);
  }

  cluster.Resume(replicas[1]);
  cluster.Resume(replicas[2]);
  for (size_t c = 0; c < coordinators.size(); ++c) {
    CAPTURE(cluster.name(coordinators[c]));
    std::string value = "after-" + cluster.name(coordinators[c]);
    std::string last;
    int64_t took_ms = RetryUntil(contexts[c].get(), {"SET", key, value}, "+OK", &last);
    CHECK_MESSAGE(took_ms >= 0,
                  "SET still failing " << kRecoveryMs << " ms after SIGCONT: " << last);
    CHECK(Do(contexts[c].get(), {"GET", key}) == "$" + value);
    // Every replica holds this value before the next coordinator writes, so
    // the next write's context covers it and no sibling can tie with it.
    CHECK(HeldByAll(cluster, replicas, key, value, kRecoveryMs));
  }
  for (int i = 0; i < cluster.size(); ++i) {
    RedisContext context = cluster.Connect(i);
    CHECK(Do(context.get(), {"GET", key}) == "$after-" + cluster.name(coordinators.back()));
  }
}

// WAIT 3 after a SET with all three replicas up: the third acknowledgement
// arrives within milliseconds of the W = 2 reply, so WAIT answers 3 well
// before its timeout.
void CheckWaitCountsAllReplicas(const Cluster& cluster, int coordinator, const std::string& key) {
  CAPTURE(cluster.name(coordinator));
  RedisContext context = cluster.Connect(coordinator);
  for (int round = 0; round < 3; ++round) {
    REQUIRE(Do(context.get(), {"SET", key, "v" + std::to_string(round)}) == "+OK");
    int64_t started_ms = NowMs();
    CHECK(Do(context.get(), {"WAIT", "3", "2000"}) == ":3");
    CHECK(NowMs() - started_ms < 2000);
  }
}

TEST_CASE("cluster: WAIT 3 after a SET through a replica answers 3 with all replicas up") {
  Cluster cluster(StrictQuorums());
  const std::string key = "availability:wait-replica";
  for (int replica : ReplicaIndexes(cluster, key))
    CheckWaitCountsAllReplicas(cluster, replica, key);
}

TEST_CASE("cluster: WAIT 3 after a SET through a node that forwards it answers 3") {
  Cluster cluster(StrictQuorums());
  const std::string key = "availability:wait-forwarded";
  std::vector<int> others = OtherIndexes(cluster, ReplicaIndexes(cluster, key));
  for (int other : others) CheckWaitCountsAllReplicas(cluster, other, key);
}

TEST_CASE("cluster: WAIT with one replica paused answers 2 after its timeout") {
  Cluster cluster(StrictQuorums());
  const std::string key = "availability:wait-paused";
  std::vector<int> replicas = ReplicaIndexes(cluster, key);
  cluster.Pause(replicas[2]);
  RedisContext context = cluster.Connect(replicas[0]);
  CHECK(Do(context.get(), {"SET", key, "one-paused"}) == "+OK");
  CHECK(Do(context.get(), {"WAIT", "2", "1000"}) == ":2");
  int64_t started_ms = NowMs();
  CHECK(Do(context.get(), {"WAIT", "3", "300"}) == ":2");
  int64_t elapsed_ms = NowMs() - started_ms;
  CHECK(elapsed_ms < 300 + kSlackMs);
  MESSAGE("WAIT 3 300 with one replica paused answered after " << elapsed_ms << " ms");
  cluster.Resume(replicas[2]);
}

TEST_CASE("cluster: CONSISTENCY ALL fails a read with one replica paused, QUORUM succeeds") {
  Cluster cluster(StrictQuorums());
  const std::string key = "availability:consistency";
  std::vector<int> replicas = ReplicaIndexes(cluster, key);
  std::vector<int> others = OtherIndexes(cluster, replicas);
  RedisContext context = cluster.Connect(others[0]);
  RedisContext bystander = cluster.Connect(others[0]);
  RedisContext writer = cluster.Connect(replicas[0]);

  std::map<std::string, int64_t> defaults =
      ParseConsistency(Command(context.get(), {"CONSISTENCY"}).get());
  CHECK(defaults["n"] == 3);
  CHECK(defaults["r"] == 2);
  CHECK(defaults["w"] == 2);
  REQUIRE(Do(writer.get(), {"SET", key, "v"}) == "+OK");
  REQUIRE(HeldByAll(cluster, replicas, key, "v", kRecoveryMs));

  cluster.Pause(replicas[2]);
  CHECK(Do(context.get(), {"CONSISTENCY", "ALL"}) == "+OK");
  std::map<std::string, int64_t> all =
      ParseConsistency(Command(context.get(), {"CONSISTENCY"}).get());
  CHECK(all["r"] == 3);
  CHECK(all["w"] == 3);
  int64_t started_ms = NowMs();
  Reply reply = Command(context.get(), {"GET", key});
  CHECK_MESSAGE(IsErrorStartingWith(reply.get(), "UNAVAILABLE"),
                blackbox::Render(reply.get(), context.get()));
  CHECK(NowMs() - started_ms <= UnavailableBoundMs(cluster));

  CHECK(Do(context.get(), {"CONSISTENCY", "QUORUM"}) == "+OK");
  CHECK(Do(context.get(), {"GET", key}) == "$v");

  // Separately: reads from one replica, writes to all three.
  CHECK(Do(context.get(), {"CONSISTENCY", "R", "ONE", "W", "ALL"}) == "+OK");
  std::map<std::string, int64_t> mixed =
      ParseConsistency(Command(context.get(), {"CONSISTENCY"}).get());
  CHECK(mixed["r"] == 1);
  CHECK(mixed["w"] == 3);
  CHECK(Do(context.get(), {"GET", key}) == "$v");
  reply = Command(context.get(), {"SET", key, "needs-all"});
  CHECK_MESSAGE(IsErrorStartingWith(reply.get(), "UNAVAILABLE"),
                blackbox::Render(reply.get(), context.get()));

  // Levels outside 1..N are refused; the setting is per connection.
  CHECK(Do(context.get(), {"CONSISTENCY", "4"}).rfind("-", 0) == 0);
  CHECK(Do(context.get(), {"CONSISTENCY", "0"}).rfind("-", 0) == 0);
  std::map<std::string, int64_t> untouched =
      ParseConsistency(Command(bystander.get(), {"CONSISTENCY"}).get());
  CHECK(untouched["r"] == 2);
  CHECK(untouched["w"] == 2);

  cluster.Resume(replicas[2]);
  CHECK(Do(context.get(), {"CONSISTENCY", "ALL"}) == "+OK");
  std::string last;
  CHECK_MESSAGE(RetryUntil(context.get(), {"SET", key, "all-up"}, "+OK", &last) >= 0,
                "SET at ALL still failing after SIGCONT: " << last);
  CHECK(Do(context.get(), {"GET", key}) == "$all-up");
}

TEST_CASE("cluster: a coordinator paused past the timeout answers from the replies that came in") {
  // The replicas answer while the coordinator is paused (a stalled loop:
  // SIGSTOP here, a slow disk call or a long pause in production). Once it
  // resumes, their answers are in its socket buffers: the requests they
  // complete succeed, though their deadline passed during the pause.
  ClusterOptions options = StrictQuorums();
  options.nodes = 3;
  options.request_timeout_ms = 500;
  Cluster cluster(options);
  constexpr int kWrites = 20;
  RedisContext context = cluster.Connect(0);
  REQUIRE(Do(context.get(), {"SET", "paused-coordinator:warm", "x"}) == "+OK");

  RedisContext observer = cluster.Connect(0);
  const int64_t processed_before =
      blackbox::InfoInteger(observer.get(), "total_commands_processed", "stats");
  const int64_t served_before[] = {InfoInteger(cluster, 1, "replica_puts_served"),
                                   InfoInteger(cluster, 2, "replica_puts_served")};
  cluster.Pause(1);
  cluster.Pause(2);
  const int64_t sent_ms = NowMs();
  for (int i = 0; i < kWrites; ++i) {
    const std::string key = "paused-coordinator:" + std::to_string(i);
    REQUIRE(redisAppendCommand(context.get(), "SET %b v", key.data(), key.size()) == REDIS_OK);
  }
  for (int done = 0; done == 0;) REQUIRE(redisBufferWrite(context.get(), &done) == REDIS_OK);
  // The coordinator writes its own copy and forwards to the paused replicas
  // (W = 2: it waits for one of them). Once an INFO counts the writes, a
  // PING sent after its reply runs in a later iteration than theirs: the
  // iteration that ran them (perhaps the INFO's own) has sent the forwards.
  bool forwarded = false;
  for (int poll = 1; poll <= 500 && !forwarded; ++poll) {
    const int64_t processed =
        blackbox::InfoInteger(observer.get(), "total_commands_processed", "stats");
    forwarded = processed - processed_before - poll >= kWrites;
    if (!forwarded) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(forwarded);
  REQUIRE(Do(observer.get(), {"PING"}) == "+PONG");
  cluster.Pause(0);
  cluster.Resume(1);
  cluster.Resume(2);
  // The replicas answer into the paused coordinator's socket (served, and
  // answered in the iteration that served them); then the deadline passes.
  for (int replica : {1, 2}) {
    bool served = false;
    for (int poll = 0; poll < 500 && !served; ++poll) {
      served = InfoInteger(cluster, replica, "replica_puts_served") - served_before[replica - 1] >=
               kWrites;
      if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(served);
  }
  const int64_t resume_at_ms = sent_ms + options.request_timeout_ms + 300;
  std::this_thread::sleep_for(std::chrono::milliseconds(std::max<int64_t>(300, resume_at_ms - NowMs())));
  cluster.Resume(0);
  int ok = 0;
  std::string first_failure;
  for (int i = 0; i < kWrites; ++i) {
    void* raw = nullptr;
    REQUIRE_MESSAGE(redisGetReply(context.get(), &raw) == REDIS_OK, context->errstr);
    Reply reply(static_cast<redisReply*>(raw));
    const std::string rendered = blackbox::Render(reply.get(), context.get());
    if (rendered == "+OK") {
      ++ok;
    } else if (first_failure.empty()) {
      first_failure = rendered;
    }
  }
  INFO("first failure: " << first_failure);
  CHECK(ok == kWrites);
  CHECK(Do(context.get(), {"GET", "paused-coordinator:0"}) == "$v");
}

}  // namespace
}  // namespace ringkv::cluster_test
