// Configuration as an operator meets it: a mistake in the file stops
// start-up with a message naming the key, and the [limits] keys are enforced.
// Redis runs the limit tests with its equivalent flags.
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "blackbox/harness.h"

namespace ringkv::blackbox {
namespace {

// Runs ringkv-server with `toml` as its config file and returns when it
// exits (or after 10 s, when it is killed).
ProgramResult RunWithConfig(const std::string& toml) {
  char pattern[] = "/tmp/ringkv-config-XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  std::string directory = pattern;
  std::string config_path = directory + "/ringkv.toml";
  std::ofstream(config_path) << toml;
  ProgramResult result =
      RunProgram({RINGKV_SERVER_PATH, "--config", config_path, "--bind", "127.0.0.1", "--port",
                  std::to_string(PickFreePort()), "--data-dir", directory + "/data"},
                 "", 10000);
  std::error_code ignored;
  std::filesystem::remove_all(directory, ignored);
  return result;
}

void CheckRefused(const std::string& toml, const std::string& key) {
  CAPTURE(toml);
  ProgramResult result = RunWithConfig(toml);
  CAPTURE(result.output);
  CHECK_FALSE(result.timed_out);
  CHECK(result.exit_code > 0);
  CHECK(result.output.find(key) != std::string::npos);
}

TEST_CASE("config: an unknown key stops start-up and is named" * RingkvOnly()) {
  CheckRefused("[node]\nname = \"n1\"\nbogus_key = 1\n", "bogus_key");
  CheckRefused("[storage]\nfsnyc = \"always\"\n", "fsnyc");
  CheckRefused("[no_such_table]\nx = 1\n", "no_such_table");
}

TEST_CASE("config: a bad value stops start-up and names its key" * RingkvOnly()) {
  CheckRefused("[storage]\nfsync = \"sometimes\"\n", "fsync");
  CheckRefused("[limits]\nmaxclients = \"many\"\n", "maxclients");
  CheckRefused("[storage]\npartitions = 0\n", "partitions");
  CheckRefused("[node]\nname = \"n1\"\n[[[\n", "ringkv.toml");
}

TEST_CASE("config: every documented key is accepted" * RingkvOnly()) {
  ServerOptions options;
  options.extra_toml =
      "[storage]\nfsync = \"no\"\nmap_size_bytes = 1073741824\n"
      "partitions = 64\n"
      "[limits]\nproto_max_bulk_len = 536870912\n"
      "proto_inline_max_size = 65536\n"
      "client_query_buffer_limit = 1073741824\n"
      "client_output_buffer_limit = 1073741824\nmaxclients = 1000\n";
  ServerProcess server(options);
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"SET", "k", "v"}) == "+OK");
}

TEST_CASE("config: the documented example conf/ringkv.toml starts a node" * RingkvOnly()) {
  ServerOptions options;
  options.config_file = std::string(RINGKV_SOURCE_DIR) + "/conf/ringkv.toml";
  REQUIRE_MESSAGE(std::filesystem::exists(options.config_file), options.config_file);
  ServerProcess server(options);
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"SET", "k", "v"}) == "+OK");
  CHECK(Do(c.get(), {"GET", "k"}) == "$v");
}

TEST_CASE("limits: a bulk longer than proto_max_bulk_len is refused") {
  ServerOptions options;
  options.extra_toml = "[limits]\nproto_max_bulk_len = 1048576\n";
  options.redis_extra_args = {"--proto-max-bulk-len", "1048576"};
  ServerProcess server(options);
  server.Start();
  RedisContext c = Connect(server.port());
  // Exactly the limit is allowed.
  CHECK(Do(c.get(), {"SET", "k", std::string(1048576, 'x')}) == "+OK");
  bool closed = false;
  std::string reply =
      RawExchange(server.port(), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n", 5000, &closed);
  CHECK(reply == "-ERR Protocol error: invalid bulk length\r\n");
  CHECK(closed);
  CHECK(Do(c.get(), {"STRLEN", "k"}) == ":1048576");
}

// Redis fixes its inline limit at compile time (64 KB).
TEST_CASE("limits: an inline request over proto_inline_max_size is refused" * RingkvOnly()) {
  ServerOptions options;
  options.extra_toml = "[limits]\nproto_inline_max_size = 1024\n";
  ServerProcess server(options);
  server.Start();
  RawConnection raw(server.port());
  REQUIRE(raw.Send("ECHO " + std::string(500, 'a') + "\r\n"));
  CHECK(raw.ReadReply() == "$500\r\n" + std::string(500, 'a') + "\r\n");
  bool closed = false;
  CHECK(RawExchange(server.port(), std::string(2048, 'a'), 5000, &closed) ==
        "-ERR Protocol error: too big inline request\r\n");
  CHECK(closed);
}

TEST_CASE("limits: past maxclients a new connection is refused") {
  ServerOptions options;
  options.extra_toml = "[limits]\nmaxclients = 2\n";
  options.redis_extra_args = {"--maxclients", "2"};
  ServerProcess server(options);
  server.Start();
  RedisContext first = Connect(server.port());
  // The harness's start-up probes may not have been reaped yet, and they
  // would take a slot; wait until this is the only connection.
  bool alone = false;
  for (int attempt = 0; attempt < 100 && !alone; ++attempt) {
    alone =
        Do(first.get(), {"INFO", "clients"}).find("connected_clients:1\r\n") != std::string::npos;
    if (!alone) usleep(20 * 1000);
  }
  REQUIRE(alone);
  RedisContext second = Connect(server.port());
  CHECK(Do(first.get(), {"PING"}) == "+PONG");
  CHECK(Do(second.get(), {"PING"}) == "+PONG");
  bool closed = false;
  CHECK(RawExchange(server.port(), EncodeCommand({"PING"}), 5000, &closed) ==
        "-ERR max number of clients reached\r\n");
  CHECK(closed);
  // Those already connected keep being served, and a slot frees on close.
  CHECK(Do(first.get(), {"PING"}) == "+PONG");
  second.reset();
  bool served = false;
  for (int attempt = 0; attempt < 100 && !served; ++attempt) {
    RawConnection raw(server.port());
    served = raw.Send(EncodeCommand({"PING"})) && raw.ReadReply() == "+PONG\r\n";
    if (!served) usleep(20 * 1000);
  }
  CHECK(served);
}

}  // namespace
}  // namespace ringkv::blackbox
