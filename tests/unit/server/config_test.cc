// Tests for server/config.cc: defaults, overrides, and the message that
// names a bad or unknown key.
#include "server/config.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace ringkv::server {
namespace {

bool Load(const std::string& text, Config* config, std::string* error) {
  return LoadConfigFromString(text, "test.toml", config, error);
}

TEST_CASE("config: defaults match conf/ringkv.toml") {
  CommandLine command_line;
  command_line.config_files = {std::string(RINGKV_SOURCE_DIR) + "/conf/ringkv.toml"};
  Config from_file;
  std::string error;
  REQUIRE_MESSAGE(LoadConfig(command_line, &from_file, &error), error);
  Config defaults;
  CHECK(ConfigParameters(from_file) == ConfigParameters(defaults));
}

TEST_CASE("config: every key is read") {
  Config config;
  std::string error;
  REQUIRE_MESSAGE(Load(R"(
[node]
name = "n7"
bind = "127.0.0.7"
port = 7000
data_dir = "/tmp/x"
[storage]
fsync = "always"
map_size_bytes = 2097152
partitions = 24
[limits]
proto_max_bulk_len = 2097152
proto_max_multibulk_len = 100
proto_inline_max_size = 4096
client_query_buffer_limit = 3145728
client_output_buffer_limit = 4194304
allocator_dirty_max = 0
maxclients = 5
[security]
requirepass = "pw"
[log]
level = "debug"
)",
                       &config, &error),
                  error);
  CHECK(config.name == "n7");
  CHECK(config.bind == "127.0.0.7");
  CHECK(config.port == 7000);
  CHECK(config.data_dir == "/tmp/x");
  CHECK(config.fsync == FsyncPolicy::kAlways);
  CHECK(config.map_size_bytes == 2097152);
  CHECK(config.partitions == 24);
  CHECK(config.proto_max_bulk_len == 2097152);
  CHECK(config.proto_max_multibulk_len == 100);
  CHECK(config.proto_inline_max_size == 4096);
  CHECK(config.client_query_buffer_limit == 3145728);
  CHECK(config.client_output_buffer_limit == 4194304);
  CHECK(config.allocator_dirty_max == 0);
  CHECK(config.maxclients == 5);
  CHECK(config.requirepass == "pw");
  CHECK(config.log_level == "debug");
}

TEST_CASE("config: an unknown key is named") {
  Config config;
  std::string error;
  CHECK_FALSE(Load("[node]\nnmae = \"x\"\n", &config, &error));
  CHECK(error == "test.toml: unknown config key 'node.nmae'");
  CHECK_FALSE(Load("[nodes]\nname = \"x\"\n", &config, &error));
  CHECK(error == "test.toml: unknown config key 'nodes'");
  CHECK_FALSE(Load("port = 1\n", &config, &error));
  CHECK(error == "test.toml: unknown config key 'port'");
}

TEST_CASE("config: a bad value is named with the reason") {
  Config config;
  std::string error;
  CHECK_FALSE(Load("[node]\nport = 70000\n", &config, &error));
  CHECK(error == "test.toml: bad value for 'node.port': must be between 1 and 65535");
  CHECK_FALSE(Load("[node]\nport = \"6379\"\n", &config, &error));
  CHECK(error == "test.toml: bad value for 'node.port': must be an integer");
  CHECK_FALSE(Load("[storage]\nfsync = \"sometimes\"\n", &config, &error));
  CHECK(error == "test.toml: bad value for 'storage.fsync': must be one of always, everysec, no");
  CHECK_FALSE(Load("[node]\nname = \"\"\n", &config, &error));
  CHECK(error == "test.toml: bad value for 'node.name': must not be empty");
  CHECK_FALSE(Load("[storage]\npartitions = 0\n", &config, &error));
  CHECK(error.find("'storage.partitions'") != std::string::npos);
  CHECK_FALSE(Load("[limits]\nallocator_dirty_max = -1\n", &config, &error));
  CHECK(error.find("'limits.allocator_dirty_max'") != std::string::npos);
  CHECK_FALSE(Load("[log]\nlevel = \"loud\"\n", &config, &error));
  CHECK(error.find("'log.level'") != std::string::npos);
}

TEST_CASE("config: a TOML syntax error gives file and line") {
  Config config;
  std::string error;
  CHECK_FALSE(Load("[node]\nport = = 1\n", &config, &error));
  CHECK(error.rfind("test.toml:2:", 0) == 0);
}

TEST_CASE("config: command-line flags override the file") {
  std::string path = "/tmp/ringkv_config_test.toml";
  {
    std::ofstream file(path);
    file << "[node]\nport = 7000\nbind = \"127.0.0.2\"\n";
  }
  const char* argv[] = {"ringkv-server", "--config", path.c_str(), "--port", "7100",
                        "--data-dir",    "/tmp/d",  "--name",     "n9"};
  CommandLine command_line;
  std::string error;
  REQUIRE(ParseCommandLine(9, const_cast<char**>(argv), &command_line, &error));
  Config config;
  REQUIRE_MESSAGE(LoadConfig(command_line, &config, &error), error);
  CHECK(config.port == 7100);
  CHECK(config.bind == "127.0.0.2");
  CHECK(config.data_dir == "/tmp/d");
  CHECK(config.name == "n9");
  std::remove(path.c_str());
}

TEST_CASE("config: bad command lines are refused") {
  CommandLine command_line;
  std::string error;
  const char* unknown[] = {"ringkv-server", "--prot", "1"};
  CHECK_FALSE(ParseCommandLine(3, const_cast<char**>(unknown), &command_line, &error));
  CHECK(error == "unknown option '--prot'");
  const char* missing[] = {"ringkv-server", "--port"};
  CHECK_FALSE(ParseCommandLine(2, const_cast<char**>(missing), &command_line, &error));
  CHECK(error == "missing value after '--port'");
  const char* bad_port[] = {"ringkv-server", "--port", "0"};
  CHECK_FALSE(ParseCommandLine(3, const_cast<char**>(bad_port), &command_line, &error));
}

TEST_CASE("config: cluster members and quorum settings are read and checked") {
  const std::string members = R"(
[[cluster.members]]
name = "n1"
host = "127.0.0.1"
port = 7001
peer_port = 7101
[[cluster.members]]
name = "n2"
host = "127.0.0.2"
port = 7002
peer_port = 7102
weight = 2
[[cluster.members]]
name = "n3"
host = "127.0.0.3"
)";
  Config config;
  std::string error;
  REQUIRE_MESSAGE(Load("[node]\nname = \"n1\"\n[cluster]\nsecret = \"s\"\nn = 3\nw = 2\nr = 2\n" +
                           members,
                       &config, &error),
                  error);
  REQUIRE(config.members.size() == 3);
  CHECK(config.members[1].name == "n2");
  CHECK(config.members[1].host == "127.0.0.2");
  CHECK(config.members[1].peer_port == 7102);
  CHECK(config.members[1].weight == 2);
  CHECK(config.members[2].port == 6379);
  CHECK(config.n == 3);

  CHECK_FALSE(Load("[node]\nname = \"n1\"\n[cluster]\nsecret = \"s\"\nn = 4\n" + members,
                   &config, &error));
  CHECK(error.find("'cluster.n'") != std::string::npos);
  CHECK_FALSE(Load("[node]\nname = \"n1\"\n[cluster]\nsecret = \"s\"\nn = 2\nw = 3\n" + members,
                   &config, &error));
  CHECK(error.find("'cluster.w'") != std::string::npos);
  CHECK_FALSE(Load("[node]\nname = \"n9\"\n[cluster]\nsecret = \"s\"\n" + members, &config,
                   &error));
  CHECK(error.find("this node ('n9') is not listed") != std::string::npos);
  CHECK_FALSE(Load("[node]\nname = \"n1\"\n" + members, &config, &error));
  CHECK_MESSAGE(error.find("'cluster.secret'") != std::string::npos, error);
  CHECK_FALSE(Load("[cluster]\nsecret = \"s\"\n[[cluster.members]]\nname = \"n1\"\nhost = \"h\"\nport = 0\n",
                   &config, &error));
  CHECK(error.find("member 1: 'port' must be an integer between 1 and 65535") != std::string::npos);
  CHECK_FALSE(Load("[cluster]\nsecret = \"s\"\n[[cluster.members]]\nname = \"n1\"\nhost = \"h\"\nzone = 1\n",
                   &config, &error));
  CHECK(error.find("member 1: unknown key 'zone'") != std::string::npos);
  CHECK_FALSE(Load("[cluster]\nsecret = \"s\"\n[[cluster.members]]\nname = \"n1\"\nhost = \"h\"\n"
                   "[[cluster.members]]\nname = \"n1\"\nhost = \"h\"\n",
                   &config, &error));
  CHECK(error.find("duplicate name 'n1'") != std::string::npos);
}

TEST_CASE("config: gossip keys are read, defaulted and checked") {
  Config config;
  std::string error;
  REQUIRE_MESSAGE(Load("", &config, &error), error);
  CHECK(config.gossip_interval_ms == 1000);
  CHECK(config.gossip_fanout == 2);
  CHECK(config.suspect_after_ms == 0);
  CHECK(SuspectAfterMs(config) == 2500);  // GossipOptions::ForInterval(1000).
  CHECK(config.seeds.empty());
  CHECK_FALSE(IsClustered(config));

  REQUIRE_MESSAGE(Load("[cluster]\ngossip_interval_ms = 200\ngossip_fanout = 3\n", &config,
                       &error),
                  error);
  CHECK(config.gossip_interval_ms == 200);
  CHECK(config.gossip_fanout == 3);
  CHECK(SuspectAfterMs(config) == 500);  // Derived from the interval.
  REQUIRE_MESSAGE(Load("[cluster]\nsuspect_after_ms = 4000\n", &config, &error), error);
  CHECK(SuspectAfterMs(config) == 4000);

  CHECK_FALSE(Load("[cluster]\ngossip_interval_ms = 0\n", &config, &error));
  CHECK(error == "test.toml: bad value for 'cluster.gossip_interval_ms': must be between 10 and "
                 "600000");
  CHECK_FALSE(Load("[cluster]\ngossip_fanout = 0\n", &config, &error));
  CHECK(error == "test.toml: bad value for 'cluster.gossip_fanout': must be between 1 and 64");
  CHECK_FALSE(Load("[cluster]\nsuspect_after_ms = -1\n", &config, &error));
  CHECK(error.find("'cluster.suspect_after_ms'") != std::string::npos);
  // Suspicion must wait longer than one round, or every member flaps.
  CHECK_FALSE(Load("[cluster]\ngossip_interval_ms = 2000\nsuspect_after_ms = 2000\n", &config,
                   &error));
  CHECK(error == "test.toml: bad value for 'cluster.suspect_after_ms': must be longer than "
                 "cluster.gossip_interval_ms (2000)");
}

TEST_CASE("config: sloppy quorum and hint keys are read, defaulted and checked") {
  Config config;
  std::string error;
  REQUIRE_MESSAGE(Load("", &config, &error), error);
  CHECK(config.sloppy_quorum);
  CHECK(config.hint_after_ms == 0);
  CHECK(HintAfterMs(config) == 500);  // Half of request_timeout_ms (1000).
  CHECK(config.hints_count_max == 1000000);
  CHECK(config.hints_bytes_max == 256LL << 20);
  CHECK(config.hints_age_max_ms == 3LL * 3600 * 1000);

  REQUIRE_MESSAGE(Load("[cluster]\nsloppy_quorum = false\nhint_after_ms = 100\n"
                       "hints_count_max = 0\nhints_bytes_max = 4096\nhints_age_max_ms = 60000\n",
                       &config, &error),
                  error);
  CHECK_FALSE(config.sloppy_quorum);
  CHECK(HintAfterMs(config) == 100);
  CHECK(config.hints_count_max == 0);  // Refuses every hint.
  CHECK(config.hints_bytes_max == 4096);
  CHECK(config.hints_age_max_ms == 60000);

  CHECK_FALSE(Load("[cluster]\nsloppy_quorum = 1\n", &config, &error));
  CHECK(error == "test.toml: bad value for 'cluster.sloppy_quorum': must be true or false");
  CHECK_FALSE(Load("[cluster]\nhints_count_max = -1\n", &config, &error));
  CHECK(error.find("'cluster.hints_count_max'") != std::string::npos);
  CHECK_FALSE(Load("[cluster]\nhints_age_max_ms = 10\n", &config, &error));
  CHECK(error.find("'cluster.hints_age_max_ms'") != std::string::npos);
  // A stand-in after the deadline could never be counted.
  CHECK_FALSE(Load("[cluster]\nrequest_timeout_ms = 400\nhint_after_ms = 400\n", &config,
                   &error));
  CHECK(error == "test.toml: bad value for 'cluster.hint_after_ms': must be below "
                 "cluster.request_timeout_ms (400); 0 means half of it");
}

TEST_CASE("config: the read fan-out keys are read, defaulted and checked") {
  Config config;
  std::string error;
  REQUIRE_MESSAGE(Load("", &config, &error), error);
  CHECK(config.read_repair_chance == 0.1);
  CHECK(config.read_retry_after_ms == 100);
  REQUIRE_MESSAGE(Load("[cluster]\nread_repair_chance = 1\nread_retry_after_ms = 0\n", &config,
                       &error),
                  error);
  CHECK(config.read_repair_chance == 1.0);
  CHECK(config.read_retry_after_ms == 0);
  REQUIRE_MESSAGE(Load("[cluster]\nread_repair_chance = 0.25\n", &config, &error), error);
  CHECK(config.read_repair_chance == 0.25);
  for (const char* bad : {"1.5", "-0.1", "nan", "\"half\""}) {
    CHECK_FALSE(Load(std::string("[cluster]\nread_repair_chance = ") + bad + "\n", &config,
                     &error));
    CHECK(error ==
          "test.toml: bad value for 'cluster.read_repair_chance': must be a number from 0 to 1");
  }
  CHECK_FALSE(Load("[cluster]\nrequest_timeout_ms = 400\nread_retry_after_ms = 400\n", &config,
                   &error));
  CHECK(error == "test.toml: bad value for 'cluster.read_retry_after_ms': must be below "
                 "cluster.request_timeout_ms (400); 0 turns it off");
}

TEST_CASE("config: the write path and its bounds are read, defaulted and checked") {
  Config config;
  std::string error;
  REQUIRE_MESSAGE(Load("", &config, &error), error);
  CHECK(config.write_log);
  CHECK(config.memtable_bytes_max == 64LL << 20);
  CHECK(config.log_bytes_max == 256LL << 20);
  CHECK(config.checkpoint_sync_ms == 30000);
  CHECK(config.log_retained_bytes_max == 1LL << 30);
  CHECK(config.record_cache_bytes == 256LL << 20);
  REQUIRE_MESSAGE(Load("[storage]\nwrite_path = \"btree\"\n", &config, &error), error);
  CHECK_FALSE(config.write_log);
  REQUIRE_MESSAGE(Load("[storage]\nwrite_path = \"log\"\nmemtable_bytes_max = 65536\n"
                       "log_bytes_max = 1048576\ncheckpoint_sync_ms = 0\n"
                       "log_retained_bytes_max = 0\nrecord_cache_bytes = 0\n",
                       &config, &error),
                  error);
  CHECK(config.write_log);
  CHECK(config.memtable_bytes_max == 65536);
  CHECK(config.log_bytes_max == 1048576);
  CHECK(config.checkpoint_sync_ms == 0);
  CHECK(config.log_retained_bytes_max == 0);
  CHECK(config.record_cache_bytes == 0);
  CHECK_FALSE(Load("[storage]\nrecord_cache_bytes = -1\n", &config, &error));
  CHECK(error.find("storage.record_cache_bytes") != std::string::npos);
  CHECK_FALSE(Load("[storage]\ncheckpoint_sync_ms = -1\n", &config, &error));
  CHECK(error.find("storage.checkpoint_sync_ms") != std::string::npos);
  REQUIRE_MESSAGE(Load("[storage]\nwrite_path = \"btree\"\n", &config, &error), error);
  CHECK_FALSE(config.write_log);
  for (const char* bad : {"\"wal\"", "1", "\"LOG\""}) {
    CHECK_FALSE(Load(std::string("[storage]\nwrite_path = ") + bad + "\n", &config, &error));
    CHECK(error == "test.toml: bad value for 'storage.write_path': must be one of btree, log");
  }
  CHECK_FALSE(Load("[storage]\nmemtable_bytes_max = 1024\n", &config, &error));
  CHECK(error.find("storage.memtable_bytes_max") != std::string::npos);
}

TEST_CASE("config: seeds are host:peer_port addresses and need a secret") {
  Config config;
  std::string error;
  REQUIRE_MESSAGE(Load("[node]\nname = \"n4\"\n[cluster]\nsecret = \"s\"\nn = 3\nw = 2\n"
                       "r = 2\nseeds = [\"10.0.0.1:7379\", \"[::1]:7380\", \"ringkv-n1:7379\"]\n",
                       &config, &error),
                  error);
  // N = 3 with no members listed: with seeds, more members come by gossip.
  CHECK(config.seeds ==
        std::vector<std::string>{"10.0.0.1:7379", "[::1]:7380", "ringkv-n1:7379"});
  CHECK(IsClustered(config));

  CHECK_FALSE(Load("[cluster]\nseeds = [\"10.0.0.1:7379\"]\n", &config, &error));
  CHECK(error == "test.toml: bad value for 'cluster.secret': a cluster needs a secret");
  CHECK_FALSE(Load("[cluster]\nsecret = \"s\"\nseeds = [\"10.0.0.1\"]\n", &config, &error));
  CHECK(error == "test.toml: bad value for 'cluster.seeds': seed 1: '10.0.0.1' is not "
                 "host:peer_port (port 1..65535)");
  CHECK_FALSE(Load("[cluster]\nsecret = \"s\"\nseeds = [\"h:1\", \"h:70000\"]\n", &config,
                   &error));
  CHECK(error.find("seed 2: 'h:70000'") != std::string::npos);
  CHECK_FALSE(Load("[cluster]\nsecret = \"s\"\nseeds = [\"h:1\", \"h:1\"]\n", &config, &error));
  CHECK(error.find("seed 2: duplicate 'h:1'") != std::string::npos);
  CHECK_FALSE(Load("[cluster]\nsecret = \"s\"\nseeds = [7379]\n", &config, &error));
  CHECK(error.find("seed 1: must be a \"host:peer_port\" string") != std::string::npos);
  CHECK_FALSE(Load("[cluster]\nsecret = \"s\"\nseeds = \"h:1\"\n", &config, &error));
  CHECK(error.find("'cluster.seeds': must be an array") != std::string::npos);
  std::string many = "[cluster]\nsecret = \"s\"\nseeds = [";
  for (int i = 1; i <= 65; ++i) many += "\"h:" + std::to_string(i) + "\",";
  CHECK_FALSE(Load(many + "]\n", &config, &error));
  CHECK(error.find("at most 64 seeds") != std::string::npos);
  // Without seeds, N still needs that many listed members.
  CHECK_FALSE(Load("[cluster]\nn = 3\n", &config, &error));
  CHECK(error.find("'cluster.n'") != std::string::npos);
}

TEST_CASE("config: several config files apply in order, each over the ones before") {
  std::string base = "/tmp/ringkv_config_test_base.toml";
  std::string profile = "/tmp/ringkv_config_test_profile.toml";
  std::ofstream(base) << "[node]\nport = 7000\n[cluster]\ngossip_interval_ms = 300\n"
                         "request_timeout_ms = 700\n";
  std::ofstream(profile) << "[cluster]\ngossip_interval_ms = 5000\n";
  const char* argv[] = {"ringkv-server", "--config", base.c_str(), "--config", profile.c_str()};
  CommandLine command_line;
  std::string error;
  REQUIRE(ParseCommandLine(5, const_cast<char**>(argv), &command_line, &error));
  Config config;
  REQUIRE_MESSAGE(LoadConfig(command_line, &config, &error), error);
  CHECK(config.port == 7000);
  CHECK(config.request_timeout_ms == 700);
  CHECK(config.gossip_interval_ms == 5000);
  CHECK(SuspectAfterMs(config) == 12500);  // Derived after every file is read.
  CHECK(config.config_file == base + "," + profile);
  // The shipped profile applies over a shipped node config.
  command_line.config_files = {std::string(RINGKV_SOURCE_DIR) + "/conf/local/n1.toml",
                               std::string(RINGKV_SOURCE_DIR) + "/conf/profiles/gossip-5s.toml"};
  REQUIRE_MESSAGE(LoadConfig(command_line, &config, &error), error);
  CHECK(config.gossip_interval_ms == 5000);
  CHECK(SuspectAfterMs(config) == 12500);
  CHECK(config.members.size() == 6);
  std::remove(base.c_str());
  std::remove(profile.c_str());
}

TEST_CASE("config: CONFIG GET parameters include Redis's names") {
  Config config;
  auto parameters = ConfigParameters(config);
  auto find = [&](const std::string& name) -> std::string {
    for (const auto& [key, value] : parameters) {
      if (key == name) return value;
    }
    return "<missing>";
  };
  CHECK(find("save") == "");
  CHECK(find("appendonly") == "yes");
  CHECK(find("appendfsync") == "everysec");
  CHECK(find("maxclients") == "10000");
  CHECK(find("storage.fsync") == "everysec");
  CHECK(find("cluster.suspect_after_ms") == "2500");  // The effective value.
  CHECK(find("cluster.seeds") == "");
}

TEST_CASE("config: cluster.commands_per_iteration is read, defaulted and checked") {
  Config config;
  std::string error;
  REQUIRE_MESSAGE(Load("", &config, &error), error);
  CHECK(config.commands_per_iteration == 128);
  REQUIRE_MESSAGE(Load("[cluster]\ncommands_per_iteration = 0\n", &config, &error), error);
  CHECK(config.commands_per_iteration == 0);
  CHECK_FALSE(Load("[cluster]\ncommands_per_iteration = -1\n", &config, &error));
  CHECK(error.find("cluster.commands_per_iteration") != std::string::npos);
}

}  // namespace
}  // namespace ringkv::server
