// cluster.commands_per_iteration: a node with peers starts at most that many
// client commands per loop iteration and holds the rest of a client's input
// to the next one. Held input must keep every client's order (replies in
// command order, each command seeing the ones before it), with several
// clients held at once and with commands that also wait for earlier ones on
// the same key.
#include <hiredis/hiredis.h>

#include "cluster/cluster_harness.h"
#include "cluster/cluster_replies.h"

namespace ringkv::cluster_test {
namespace {

using blackbox::Do;
using blackbox::InfoInteger;

constexpr int kClients = 4;
constexpr int kCommands = 300;
constexpr int kKeysPerClient = 5;

std::string KeyOf(int client, int command) {
  return "budget:" + std::to_string(client) + ":" + std::to_string(command % kKeysPerClient);
}

// Sends every client's whole pipeline before reading any reply, so that the
// node finds several clients' input at once.
void SendAll(std::vector<RedisContext>& contexts) {
  for (int c = 0; c < kClients; ++c) {
    for (int i = 0; i < kCommands; ++i) {
      std::string key = KeyOf(c, i);
      if (i % 10 == 9) {
        REQUIRE(redisAppendCommand(contexts[c].get(), "GET %b", key.data(), key.size()) ==
                REDIS_OK);
      } else {
        REQUIRE(redisAppendCommand(contexts[c].get(), "APPEND %b x", key.data(), key.size()) ==
                REDIS_OK);
      }
    }
  }
  bool flushed = false;
  for (int round = 0; round < 10000 && !flushed; ++round) {
    flushed = true;
    for (RedisContext& context : contexts) {
      int done = 0;
      REQUIRE(redisBufferWrite(context.get(), &done) == REDIS_OK);
      flushed = flushed && done != 0;
    }
  }
  REQUIRE(flushed);
}

void CheckReplies(std::vector<RedisContext>& contexts) {
  for (int c = 0; c < kClients; ++c) {
    int lengths[kKeysPerClient] = {};
    int wrong = 0;
    std::string first_wrong;
    for (int i = 0; i < kCommands; ++i) {
      void* raw = nullptr;
      REQUIRE(redisGetReply(contexts[c].get(), &raw) == REDIS_OK);
      Reply reply(static_cast<redisReply*>(raw));
      std::string rendered = blackbox::Render(reply.get(), contexts[c].get());
      int& length = lengths[i % kKeysPerClient];
      std::string expected;
      if (i % 10 == 9) {
        expected = "$" + std::string(static_cast<size_t>(length), 'x');
      } else {
        expected = ":" + std::to_string(++length);
      }
      if (rendered != expected && wrong++ == 0) {
        first_wrong = "client " + std::to_string(c) + " command " + std::to_string(i) + ": " +
                      rendered + " instead of " + expected;
      }
    }
    CHECK_MESSAGE(wrong == 0, wrong << " replies out of order, " << first_wrong);
  }
}

TEST_CASE("cluster: input held by commands_per_iteration keeps each client's order") {
  ClusterOptions options;
  options.nodes = 3;
  options.partitions = 12;
  options.request_timeout_ms = 5000;
  options.cluster_toml = "commands_per_iteration = 1\n";
  Cluster cluster(options);
  std::vector<RedisContext> contexts;
  for (int c = 0; c < kClients; ++c) contexts.push_back(cluster.Connect(0));
  RedisContext observer = cluster.Connect(0);
  const int64_t held_before = InfoInteger(observer.get(), "client_input_held", "stats");
  SendAll(contexts);
  CheckReplies(contexts);
  // With a budget of one command, every command after a client's first in a
  // read waits at least once.
  CHECK(InfoInteger(observer.get(), "client_input_held", "stats") - held_before >= kCommands);
  CHECK(Do(observer.get(), {"CONFIG", "GET", "cluster.commands_per_iteration"}) ==
        "*[$cluster.commands_per_iteration, $1]");
}

TEST_CASE("cluster: a node without peers holds no input, whatever commands_per_iteration") {
  ClusterOptions options;
  options.nodes = 1;
  options.partitions = 4;
  options.n = 1;
  options.w = 1;
  options.r = 1;
  options.cluster_toml = "commands_per_iteration = 1\n";
  Cluster cluster(options);
  RedisContext context = cluster.Connect(0);
  std::vector<std::vector<std::string>> commands;
  for (int i = 0; i < 500; ++i) commands.push_back({"APPEND", "alone", "x"});
  std::vector<Reply> replies = Pipeline(context.get(), commands);
  REQUIRE(replies.size() == commands.size());
  CHECK(blackbox::Render(replies.back().get(), context.get()) == ":500");
  CHECK(InfoInteger(context.get(), "client_input_held", "stats") == 0);
}

}  // namespace
}  // namespace ringkv::cluster_test
