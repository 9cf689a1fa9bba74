// The stock Redis tools against the server: redis-cli --pipe for bulk
// loading and redis-benchmark, both of which must finish without an error.
#include <string>

#include "blackbox/harness.h"

namespace ringkv::blackbox {
namespace {

TEST_CASE("redis-cli --pipe loads 100,000 SETs with 0 errors") {
  ServerProcess server;
  server.Start();
  constexpr int kCommands = 100000;
  std::string input;
  input.reserve(kCommands * 48);
  for (int i = 0; i < kCommands; ++i) {
    std::string number = std::to_string(i);
    input += EncodeCommand({"SET", "pipe:" + number, "value:" + number});
  }
  ProgramResult result = RunRedisCli(server, {"--pipe"}, input, 120000);
  CHECK_FALSE(result.timed_out);
  CHECK(result.exit_code == 0);
  CHECK_MESSAGE(result.output.find("errors: 0, replies: 100000") != std::string::npos,
                result.output);
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"DBSIZE"}) == ":100000");
  CHECK(Do(c.get(), {"GET", "pipe:99999"}) == "$value:99999");
  CHECK(Do(c.get(), {"GET", "pipe:0"}) == "$value:0");
}

TEST_CASE("redis-benchmark ping, set, get and mset finish without errors") {
  std::string benchmark = FindInPath("redis-benchmark");
  REQUIRE_MESSAGE(!benchmark.empty(), "redis-benchmark is not in PATH");
  ServerProcess server;
  server.Start();
  ProgramResult result =
      RunProgram({benchmark, "-h", "127.0.0.1", "-p", std::to_string(server.port()), "-t",
                  "ping,set,get,mset", "-n", "20000", "-q"},
                 "", 180000);
  CAPTURE(result.output);
  CHECK_FALSE(result.timed_out);
  CHECK(result.exit_code == 0);
  CHECK(result.output.find("rror") == std::string::npos);
  for (const char* test : {"PING_INLINE:", "PING_MBULK:", "SET:", "GET:", "MSET (10 keys):"}) {
    CHECK_MESSAGE(result.output.find(test) != std::string::npos, test);
  }
  // The server is still healthy afterwards.
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"PING"}) == "+PONG");
}

}  // namespace
}  // namespace ringkv::blackbox
