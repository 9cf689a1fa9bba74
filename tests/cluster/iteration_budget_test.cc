// cluster.commands_per_iteration: a node with peers starts at most that many
// client commands per loop iteration and holds the rest of a client's input
// to the next one. Held input must keep every client's order (replies in
// command order, each command seeing the ones before it), with several
// clients held at once and with commands that also wait for earlier ones on
// the same key. A long pipeline must not keep later clients waiting until it
// ends, and a held client that goes away must not leave the loop spinning.
#include <hiredis/hiredis.h>

#include <chrono>
#include <thread>

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

ClusterOptions BudgetOfOne() {
  ClusterOptions options;
  options.nodes = 3;
  options.partitions = 12;
  options.request_timeout_ms = 5000;
  options.cluster_toml = "commands_per_iteration = 1\n";
  return options;
}

TEST_CASE("cluster: input held by commands_per_iteration keeps each client's order") {
  Cluster cluster(BudgetOfOne());
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

constexpr int kPings = 3000;

std::string Pings() {
  std::string pipeline;
  for (int i = 0; i < kPings; ++i) pipeline += "*1\r\n$4\r\nPING\r\n";
  return pipeline;
}

TEST_CASE("cluster: a client held behind a long pipeline gets its turn before the pipeline ends") {
  Cluster cluster(BudgetOfOne());
  RedisContext heavy = cluster.Connect(0);
  RedisContext observer = cluster.Connect(0);
  const int64_t before = InfoInteger(observer.get(), "total_commands_processed", "stats");
  // The node is stopped while both clients send, so that it finds the whole
  // pipeline and then the INFO waiting when it resumes, however slow this
  // machine is: the heavy client's socket became readable first.
  cluster.Pause(0);
  const std::string pings = Pings();
  REQUIRE(redisAppendFormattedCommand(heavy.get(), pings.data(), pings.size()) == REDIS_OK);
  int done = 0;
  for (int round = 0; round < 1000 && !done; ++round) {
    REQUIRE(redisBufferWrite(heavy.get(), &done) == REDIS_OK);
  }
  REQUIRE(done);
  REQUIRE(redisAppendCommand(observer.get(), "INFO stats") == REDIS_OK);
  done = 0;
  REQUIRE(redisBufferWrite(observer.get(), &done) == REDIS_OK);
  REQUIRE(done);
  cluster.Resume(0);
  // One command per iteration: the INFO runs after a few pings, not after
  // all of them as it would if the node ran a whole read before the next
  // client's.
  void* raw = nullptr;
  REQUIRE(redisGetReply(observer.get(), &raw) == REDIS_OK);
  Reply info(static_cast<redisReply*>(raw));
  REQUIRE(info->str != nullptr);
  const std::optional<std::string> processed =
      blackbox::InfoField(std::string_view(info->str, info->len), "total_commands_processed");
  REQUIRE(processed.has_value());
  const int64_t at = std::stoll(*processed);
  const int64_t ahead = at - before - 1;  // Less the observer's first INFO.
  CHECK_MESSAGE(ahead < kPings / 10, ahead << " of " << kPings << " pings ran before the INFO");
  for (int i = 0; i < kPings; ++i) {
    REQUIRE(redisGetReply(heavy.get(), &raw) == REDIS_OK);
    Reply reply(static_cast<redisReply*>(raw));
    REQUIRE(blackbox::Render(reply.get(), heavy.get()) == "+PONG");
  }
}

// The value of `field` (as "qbuf=") in the CLIENT LIST line of the
// connection named `name`.
int64_t ClientListField(redisContext* context, const std::string& name, const std::string& field) {
  Reply list(static_cast<redisReply*>(redisCommand(context, "CLIENT LIST")));
  REQUIRE(list);
  REQUIRE(list->type == REDIS_REPLY_STRING);
  const std::string text(list->str, list->len);
  const size_t line = text.find("name=" + name + " ");
  REQUIRE(line != std::string::npos);
  const size_t at = text.find(" " + field + "=", text.rfind('\n', line) + 1);
  REQUIRE(at != std::string::npos);
  return std::stoll(text.substr(at + field.size() + 2));
}

TEST_CASE("cluster: a held client reads on, but no more than a bounded backlog") {
  Cluster cluster(BudgetOfOne());
  RedisContext heavy = cluster.Connect(0);
  RedisContext observer = cluster.Connect(0);
  REQUIRE(Do(heavy.get(), {"CLIENT", "SETNAME", "heavy"}) == "+OK");
  // 300 KB of pings in one go: with a budget of one command per iteration
  // the node takes in a few pings while the rest arrives, far more than a
  // held client may keep (64 KB, plus the read that reached it).
  constexpr int kManyPings = 21000;
  std::string pings;
  for (int i = 0; i < kManyPings; ++i) pings += "*1\r\n$4\r\nPING\r\n";
  REQUIRE(redisAppendFormattedCommand(heavy.get(), pings.data(), pings.size()) == REDIS_OK);
  int done = 0;
  for (int round = 0; round < 100000 && !done; ++round) {
    REQUIRE(redisBufferWrite(heavy.get(), &done) == REDIS_OK);
  }
  REQUIRE(done);
  // The pings take thousands of iterations; meanwhile the heavy client's
  // query buffer (what it read and has not run) stays bounded.
  const int64_t qbuf = ClientListField(observer.get(), "heavy", "qbuf");
  CHECK_MESSAGE(qbuf <= 2 * 64 * 1024 + 64, "qbuf=" << qbuf);
  CHECK(qbuf > 0);  // The bound was reached for: pings were still waiting.
  for (int i = 0; i < kManyPings; ++i) {
    void* raw = nullptr;
    REQUIRE(redisGetReply(heavy.get(), &raw) == REDIS_OK);
    Reply reply(static_cast<redisReply*>(raw));
    REQUIRE(blackbox::Render(reply.get(), heavy.get()) == "+PONG");
  }
  // Nothing waits any more (the parser may still count the last ping's
  // argument).
  CHECK(ClientListField(observer.get(), "heavy", "qbuf") <= 4);
}

// utime + stime of `pid`, in clock ticks.
int64_t CpuTicks(pid_t pid) {
  return std::stoll(blackbox::ProcStatField(pid, 14)) +
         std::stoll(blackbox::ProcStatField(pid, 15));
}

TEST_CASE("cluster: a held client that goes away leaves the loop idle") {
  Cluster cluster(BudgetOfOne());
  RedisContext observer = cluster.Connect(0);
  blackbox::RawConnection heavy(cluster.port(0));
  REQUIRE(heavy.Send(Pings()));
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  // A reset while held: the node's next write to it fails and it is closed.
  heavy.Reset();
  for (int i = 0; i < 100; ++i) {
    if (InfoInteger(observer.get(), "connected_clients", "clients") == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(InfoInteger(observer.get(), "connected_clients", "clients") == 1);
  CHECK(InfoInteger(observer.get(), "client_input_held", "stats") > 0);
  const int64_t start = CpuTicks(cluster.pid(0));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const int64_t used = CpuTicks(cluster.pid(0)) - start;
  // A loop whose poll never waits burns the whole second (about 100 ticks).
  CHECK_MESSAGE(used < 30, "the node used " << used << " ticks in 1 s while idle");
}

}  // namespace
}  // namespace ringkv::cluster_test
