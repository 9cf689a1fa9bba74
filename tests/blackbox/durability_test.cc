// Durability across restarts: a clean shutdown keeps every key, and with
// fsync = "always" a kill -9 in the middle of a write load loses no write the
// server acknowledged. Both write paths: the B-tree, and the write log with
// bounds small enough that checkpoints happen during the test. Against Redis
// the same tests run with an AOF fsynced on every write, which is the
// durability ringkv promises.
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "blackbox/harness.h"
#include "blackbox/writer.h"

namespace ringkv::blackbox {
namespace {

using Clock = std::chrono::steady_clock;

ServerOptions DurableOptions(const std::string& write_path) {
  ServerOptions options;
  options.extra_toml = "[storage]\nfsync = \"always\"\nwrite_path = \"" + write_path + "\"\n";
  if (write_path == "log") {
    options.extra_toml += "memtable_bytes_max = 65536\nlog_bytes_max = 262144\n";
  }
  options.redis_extra_args = {"--appendonly", "yes", "--appendfsync", "always"};
  return options;
}

TEST_CASE("startup prints the ready line and SIGTERM exits cleanly") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"PING"}) == "+PONG");
  std::optional<int> status = server.Stop();
  REQUIRE_MESSAGE(status.has_value(), server.LogTail());
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
  CHECK(server.LogTail(1 << 20).find("Ready to accept connections") != std::string::npos);
}

// The checkpoints the write log made so far (INFO persistence).
int64_t Checkpoints(uint16_t port) {
  RedisContext c = Connect(port);
  return InfoInteger(c.get(), "log_checkpoints", "persistence");
}

// Runs the test case once per write path.
std::string WritePath() {
  std::string path;
  SUBCASE("btree") { path = "btree"; }
  SUBCASE("write log") { path = "log"; }
  return path;
}

TEST_CASE("data survives a clean restart") {
  const std::string path = WritePath();
  ServerProcess server(DurableOptions(path));
  server.Start();
  std::string big(1024 * 1024, 'x');
  const std::string binary_key("k\0\r\n", 4);
  {
    RedisContext c = Connect(server.port());
    for (int i = 0; i < 1000; ++i) {
      std::string key = "restart:" + std::to_string(i);
      REQUIRE(Do(c.get(), {"SET", key, "value:" + std::to_string(i)}) == "+OK");
    }
    CHECK(Do(c.get(), {"SET", binary_key, std::string("\0v\r\n", 4)}) == "+OK");
    CHECK(Do(c.get(), {"SET", "big", big}) == "+OK");
    CHECK(Do(c.get(), {"APPEND", "restart:7", "+tail"}) == ":12");
    CHECK(Do(c.get(), {"DEL", "restart:8"}) == ":1");
  }
  // The 1 MB value alone passes the log's bound.
  if (path == "log" && !AgainstRedis()) CHECK(Checkpoints(server.port()) > 0);
  server.Restart();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"DBSIZE"}) == ":1001");
  CHECK(Do(c.get(), {"GET", "restart:0"}) == "$value:0");
  CHECK(Do(c.get(), {"GET", "restart:999"}) == "$value:999");
  CHECK(Do(c.get(), {"GET", "restart:7"}) == "$value:7+tail");
  CHECK(Do(c.get(), {"GET", "restart:8"}) == "nil");
  CHECK(Do(c.get(), {"GET", binary_key}) == "$" + std::string("\0v\r\n", 4));
  CHECK(Do(c.get(), {"STRLEN", "big"}) == ":1048576");
  int missing = 0;
  for (int i = 0; i < 1000 && missing < 5; ++i) {
    if (i == 8) continue;
    std::string expected = "$value:" + std::to_string(i);
    if (i == 7) expected += "+tail";
    std::string got = Do(c.get(), {"GET", "restart:" + std::to_string(i)});
    if (got != expected) {
      ++missing;
      FAIL_CHECK("restart:" << i << " is " << got);
    }
  }
}

TEST_CASE("write log: checkpoints are written back and their segments go once writes stopped" *
          RingkvOnly()) {
  // Written back every 2 s at most: after the writes the node is idle, no
  // sync runs, and the cron's release job must do it.
  ServerOptions options;
  options.extra_toml =
      "[storage]\nfsync = \"everysec\"\nwrite_path = \"log\"\nmemtable_bytes_max = 65536\n"
      "checkpoint_sync_ms = 2000\n";
  ServerProcess server(options);
  server.Start();
  RedisContext c = Connect(server.port());
  std::vector<std::vector<std::string>> commands;
  for (int i = 0; i < 2000; ++i) {
    commands.push_back({"SET", "idle:" + std::to_string(i), std::string(100, 'v')});
  }
  for (const Reply& reply : Pipeline(c.get(), commands)) {
    REQUIRE(Render(reply.get(), c.get()) == "+OK");
  }
  REQUIRE(Checkpoints(server.port()) > 0);
  // Bounded: 2 s to be due, a cron tick, the job; 15 s for a busy machine.
  int64_t retained = -1;
  int64_t segments = -1;
  for (int attempt = 0; attempt < 150; ++attempt) {
    retained = InfoInteger(c.get(), "log_retained_bytes", "persistence");
    segments = InfoInteger(c.get(), "log_segments", "persistence");
    if (retained == 0 && segments == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(retained == 0);
  CHECK(segments == 1);
  CHECK(Do(c.get(), {"GET", "idle:1999"}) == "$" + std::string(100, 'v'));
}

TEST_CASE("kill -9 during a write load loses no acknowledged write") {
  const std::string path = WritePath();
  ServerProcess server(DurableOptions(path));
  server.Start();
  std::atomic<bool> stop{false};
  std::atomic<int> acknowledged{0};
  // One writer waits for each reply, the other keeps 32 writes in flight.
  Writer single(server.port(), "single:", 1);
  Writer pipelined(server.port(), "pipelined:", 32);
  std::thread single_thread([&] { single.Run(stop, acknowledged); });
  std::thread pipelined_thread([&] { pipelined.Run(stop, acknowledged); });

  // Kill once a fair number of writes were acknowledged (or after a bound,
  // for a slow disk), while both writers are still busy.
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (acknowledged.load() < 3000 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // Checkpoints ran under the load (the table's bound is 64 KB).
  if (path == "log" && !AgainstRedis()) CHECK(Checkpoints(server.port()) > 0);
  server.Kill9();
  stop = true;
  single_thread.join();
  pipelined_thread.join();
  MESSAGE("acknowledged before kill -9: " << acknowledged.load());
  REQUIRE(acknowledged.load() > 0);

  server.Start();
  RedisContext c = Connect(server.port());
  int lost = 0;
  int checked = 0;
  for (const Writer* writer : {&single, &pipelined}) {
    const std::vector<std::string>& keys = writer->acknowledged_keys();
    for (const std::string& key : keys) {
      REQUIRE(redisAppendCommand(c.get(), "GET %b", key.data(), key.size()) == REDIS_OK);
    }
    for (const std::string& key : keys) {
      void* raw = nullptr;
      REQUIRE_MESSAGE(redisGetReply(c.get(), &raw) == REDIS_OK, c->errstr);
      Reply reply(static_cast<redisReply*>(raw));
      ++checked;
      if (Render(reply.get(), c.get()) != "$" + Writer::ValueOf(key)) {
        if (++lost <= 10) {
          FAIL_CHECK("acknowledged " << key << " is " << Render(reply.get(), c.get()));
        }
      }
    }
  }
  CHECK(checked == acknowledged.load());
  CHECK_MESSAGE(lost == 0, lost << " acknowledged writes lost\n" << server.LogTail());
}

}  // namespace
}  // namespace ringkv::blackbox
