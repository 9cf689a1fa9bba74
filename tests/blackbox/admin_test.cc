// Introspection commands that tools run on connect: COMMAND (redis-cli's
// hints), INFO, CONFIG GET (redis-benchmark), DBSIZE.
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "blackbox/harness.h"

namespace ringkv::blackbox {
namespace {

TEST_CASE("command count is the number of commands COMMAND lists") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  Reply count = Command(c.get(), {"COMMAND", "COUNT"});
  REQUIRE(count != nullptr);
  REQUIRE(count->type == REDIS_REPLY_INTEGER);
  CHECK(count->integer >= 20);
  Reply all = Command(c.get(), {"COMMAND"});
  REQUIRE(all != nullptr);
  REQUIRE(all->type == REDIS_REPLY_ARRAY);
  CHECK(static_cast<long long>(all->elements) == count->integer);
}

TEST_CASE("command info describes each command, nil for unknown ones") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  Reply reply = Command(c.get(), {"COMMAND", "INFO", "get", "set", "nosuch"});
  REQUIRE(reply != nullptr);
  REQUIRE(reply->type == REDIS_REPLY_ARRAY);
  REQUIRE(reply->elements == 3);
  const redisReply* get = reply->element[0];
  REQUIRE(get->type == REDIS_REPLY_ARRAY);
  REQUIRE(get->elements >= 6);
  // name, arity, flags, first key, last key, step.
  CHECK(Render(get->element[0], c.get()) == "$get");
  CHECK(Render(get->element[1], c.get()) == ":2");
  CHECK(get->element[2]->type == REDIS_REPLY_ARRAY);
  CHECK(Render(get->element[3], c.get()) == ":1");
  CHECK(Render(get->element[4], c.get()) == ":1");
  CHECK(Render(get->element[5], c.get()) == ":1");
  const redisReply* set = reply->element[1];
  REQUIRE(set->type == REDIS_REPLY_ARRAY);
  REQUIRE(set->elements >= 2);
  CHECK(Render(set->element[0], c.get()) == "$set");
  CHECK(Render(set->element[1], c.get()) == ":-3");
  CHECK(reply->element[2]->type == REDIS_REPLY_NIL);
}

TEST_CASE("command docs answers a name and a doc map per command") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  Reply reply = Command(c.get(), {"COMMAND", "DOCS", "get"});
  REQUIRE(reply != nullptr);
  REQUIRE(reply->type == REDIS_REPLY_ARRAY);
  REQUIRE(reply->elements == 2);
  CHECK(Render(reply->element[0], c.get()) == "$get");
  const redisReply* doc = reply->element[1];
  REQUIRE(doc->type == REDIS_REPLY_ARRAY);
  bool has_summary = false;
  for (size_t i = 0; i + 1 < doc->elements; i += 2) {
    if (Render(doc->element[i], c.get()) == "$summary") has_summary = true;
  }
  CHECK(has_summary);
  // With no names it documents every command, as redis-cli reads it for its
  // hints. Raw, because the docs nest deeper than hiredis 0.14 can parse.
  RawConnection raw(server.port());
  REQUIRE(raw.Send(EncodeCommand({"COMMAND", "DOCS"})));
  std::string all = raw.ReadReply();
  REQUIRE(all.rfind("*", 0) == 0);
  long long elements = std::atoll(all.c_str() + 1);
  CHECK(elements >= 40);
  CHECK(elements % 2 == 0);
}

TEST_CASE("info has every section and the fields tools look for") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"SET", "k", "v"}) == "+OK");
  Reply reply = Command(c.get(), {"INFO"});
  REQUIRE(reply != nullptr);
  REQUIRE(reply->type == REDIS_REPLY_STRING);
  std::string info(reply->str, reply->len);
  for (const char* section : {"# Server\r\n", "# Clients\r\n", "# Memory\r\n", "# Persistence\r\n",
                              "# Stats\r\n", "# Keyspace\r\n"}) {
    CHECK_MESSAGE(info.find(section) != std::string::npos, section);
  }
  CHECK(info.find("\r\nredis_version:") != std::string::npos);
  CHECK(info.find("\r\nloading:0\r\n") != std::string::npos);
  CHECK(info.find("\r\nconnected_clients:") != std::string::npos);
  CHECK(info.find("\r\nused_memory:") != std::string::npos);
  CHECK(info.find("\r\ndb0:keys=1") != std::string::npos);
}

// The server binary asks jemalloc for transparent huge pages (server/main.cc);
// MALLOC_CONF in its environment overrides that. Sanitizer builds run on
// their own allocator and say so.
TEST_CASE("info memory: the allocator's huge-page mode, and MALLOC_CONF overriding it") {
  auto thp_of = [](ServerProcess& server, std::string* allocator) {
    server.Start();
    RedisContext c = Connect(server.port());
    const std::string info = Do(c.get(), {"INFO", "memory"});
    *allocator = InfoField(info, "mem_allocator").value_or("");
    return InfoField(info, "allocator_thp").value_or("missing");
  };
  std::string allocator;
  {
    ServerProcess server;
    const std::string thp = thp_of(server, &allocator);
    if (allocator.rfind("jemalloc", 0) != 0) {
      CHECK(thp == "n/a");
      return;
    }
    CHECK(thp == "always");
  }
  REQUIRE(setenv("MALLOC_CONF", "thp:never", 1) == 0);
  ServerProcess server;
  const std::string thp = thp_of(server, &allocator);
  unsetenv("MALLOC_CONF");
  CHECK(thp == "never");
}

// The server binary keeps the pages freed memory leaves (jemalloc without
// decay, server/main.cc) and its cron returns them once they pass
// limits.allocator_dirty_max (server/allocator.h). A 24 MB value, set and
// deleted, leaves tens of MB of free pages: kept under the default bound,
// returned within a few seconds under a 1 MB one.
TEST_CASE("info memory: free pages kept up to allocator_dirty_max, then returned") {
  auto run = [](int64_t dirty_max, std::string* allocator) {
    ServerOptions options;
    options.extra_toml = "[limits]\nallocator_dirty_max = " + std::to_string(dirty_max) + "\n";
    ServerProcess server(options);
    server.Start();
    RedisContext c = Connect(server.port());
    REQUIRE(Do(c.get(), {"SET", "big", std::string(24 << 20, 'v')}) == "+OK");
    REQUIRE(Do(c.get(), {"DEL", "big"}) == ":1");
    std::string info = Do(c.get(), {"INFO", "memory"});
    *allocator = InfoField(info, "mem_allocator").value_or("");
    // The cron checks once a second: up to 5 s for a purge to show.
    for (int i = 0; i < 50 && InfoField(info, "allocator_purges") == "0"; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      info = Do(c.get(), {"INFO", "memory"});
    }
    return info;
  };
  std::string allocator;
  const std::string kept = run(256LL << 20, &allocator);
  if (allocator.rfind("jemalloc", 0) != 0) {
    // Sanitizer builds: their own allocator, nothing kept or returned here.
    CHECK(InfoField(kept, "allocator_dirty") == "0");
    CHECK(InfoField(kept, "allocator_purges") == "0");
    return;
  }
  CHECK(InfoField(kept, "allocator_dirty_decay_ms") == "-1");
  CHECK(InfoField(kept, "allocator_dirty_max") == "268435456");
  CHECK(InfoField(kept, "allocator_purges") == "0");
  CHECK(std::stoull(InfoField(kept, "allocator_dirty").value_or("0")) >= (8ULL << 20));

  const std::string returned = run(1 << 20, &allocator);
  CHECK(InfoField(returned, "allocator_purges") != "0");
  CHECK(std::stoull(InfoField(returned, "allocator_purged_bytes").value_or("0")) >= (8ULL << 20));
  CHECK(std::stoull(InfoField(returned, "allocator_dirty").value_or("0")) <
        std::stoull(InfoField(kept, "allocator_dirty").value_or("0")));
}

// Records read from LMDB are kept in the record cache (storage.record_cache_bytes):
// INFO persistence counts its hits, a write is never answered from it with
// the value it replaced, and 0 turns it off.
TEST_CASE("info persistence: the record cache serves reads of checkpointed keys") {
  auto run = [](int64_t cache_bytes) {
    ServerOptions options;
    // A checkpoint every 64 KB of writes: most keys below are in LMDB.
    options.extra_toml =
        "[storage]\nwrite_path = \"log\"\nmemtable_bytes_max = 65536\n"
        "record_cache_bytes = " +
        std::to_string(cache_bytes) + "\n";
    ServerProcess server(options);
    server.Start();
    RedisContext c = Connect(server.port());
    auto value = [](int key, int round) {
      return std::to_string(round) + ":" + std::string(1000, static_cast<char>('a' + key % 26));
    };
    for (int round = 0; round < 2; ++round) {
      for (int key = 0; key < 300; ++key) {
        REQUIRE(Do(c.get(), {"SET", "k" + std::to_string(key), value(key, round)}) == "+OK");
      }
      // Twice: the second read of a checkpointed key is a hit.
      for (int pass = 0; pass < 2; ++pass) {
        for (int key = 0; key < 300; ++key) {
          REQUIRE(Do(c.get(), {"GET", "k" + std::to_string(key)}) == "$" + value(key, round));
        }
      }
    }
    return Do(c.get(), {"INFO", "persistence"});
  };
  const std::string on = run(1 << 20);
  CHECK(InfoField(on, "record_cache_max") == "1048576");
  CHECK(std::stoull(InfoField(on, "log_checkpoints").value_or("0")) >= 4);
  CHECK(std::stoull(InfoField(on, "record_cache_hits").value_or("0")) >= 300);
  CHECK(std::stoull(InfoField(on, "record_cache_misses").value_or("0")) >= 300);
  CHECK(std::stoull(InfoField(on, "record_cache_bytes").value_or("0")) <= (1 << 20));
  const std::string off = run(0);
  CHECK(InfoField(off, "record_cache_max") == "0");
  CHECK(InfoField(off, "record_cache_hits") == "0");
  CHECK(InfoField(off, "record_cache_bytes") == "0");
}

TEST_CASE("info with a section name answers only that section") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  std::string info = Do(c.get(), {"INFO", "server"});
  CHECK(info.rfind("$# Server\r\n", 0) == 0);
  CHECK(info.find("redis_version:") != std::string::npos);
  CHECK(info.find("# Clients") == std::string::npos);
  std::string persistence = Do(c.get(), {"INFO", "persistence"});
  CHECK(persistence.find("loading:0") != std::string::npos);
  CHECK(persistence.find("# Server") == std::string::npos);
}

// INFO stats' eventloop_* fields (Redis 7's, and ringkv's longest
// iteration): an iteration's time is what it worked, not what its poll
// waited for.
TEST_CASE("info stats: the loop's iterations and the time they worked") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  // Idle for a second: the cron timer (every 100 ms) still wakes the loop.
  const int64_t cycles_before = InfoInteger(c.get(), "eventloop_cycles", "stats");
  const int64_t sum_before = InfoInteger(c.get(), "eventloop_duration_sum", "stats");
  const auto idle_start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const int64_t cycles_idle = InfoInteger(c.get(), "eventloop_cycles", "stats");
  const int64_t sum_idle = InfoInteger(c.get(), "eventloop_duration_sum", "stats");
  const int64_t idle_us = std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::steady_clock::now() - idle_start)
                              .count();
  CHECK(cycles_idle - cycles_before >= 5);
  // The waits between those iterations are most of the second.
  CHECK(sum_idle - sum_before < idle_us / 2);
  CHECK(InfoInteger(c.get(), "instantaneous_eventloop_cycles_per_sec", "stats") > 0);

  // One MSET of 10,000 keys runs in one iteration, a long one.
  std::vector<std::string> mset = {"MSET"};
  for (int i = 0; i < 10000; ++i) {
    mset.push_back("loop:" + std::to_string(i));
    mset.push_back(std::string(100, 'v'));
  }
  REQUIRE(Do(c.get(), mset) == "+OK");
  // The next cron tick takes it into the samples.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int64_t longest =
      InfoInteger(c.get(), "instantaneous_eventloop_duration_max_usec", "stats");
  const int64_t sum_after = InfoInteger(c.get(), "eventloop_duration_sum", "stats");
  CHECK(longest >= 1000);
  CHECK(sum_after - sum_idle >= longest);
  CHECK(InfoInteger(c.get(), "instantaneous_eventloop_duration_usec", "stats") > 0);
}

TEST_CASE("config get answers name and value pairs") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  Reply save = Command(c.get(), {"CONFIG", "GET", "save"});
  REQUIRE(save != nullptr);
  REQUIRE(save->type == REDIS_REPLY_ARRAY);
  REQUIRE(save->elements == 2);
  CHECK(Render(save->element[0], c.get()) == "$save");
  CHECK(save->element[1]->type == REDIS_REPLY_STRING);
  std::string appendonly = Do(c.get(), {"CONFIG", "GET", "appendonly"});
  CHECK((appendonly == "*[$appendonly, $no]" || appendonly == "*[$appendonly, $yes]"));
  CHECK(Do(c.get(), {"CONFIG", "GET", "no-such-parameter"}) == "*[]");
  CHECK(Do(c.get(), {"CONFIG", "GET"}) ==
        "-ERR wrong number of arguments for 'config|get' command");
}

TEST_CASE("dbsize counts the keys") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"DBSIZE"}) == ":0");
  CHECK(Do(c.get(), {"MSET", "a", "1", "b", "2", "c", "3"}) == "+OK");
  CHECK(Do(c.get(), {"DBSIZE"}) == ":3");
  CHECK(Do(c.get(), {"DEL", "b"}) == ":1");
  CHECK(Do(c.get(), {"DBSIZE"}) == ":2");
}

TEST_CASE("redis-cli runs commands and reads its hints without an error") {
  ServerProcess server;
  server.Start();
  ProgramResult set = RunRedisCli(server, {"SET", "greeting", "hello"}, "", 10000);
  CHECK(set.exit_code == 0);
  CHECK(set.output == "OK\n");
  ProgramResult get = RunRedisCli(server, {"GET", "greeting"}, "", 10000);
  CHECK(get.output == "hello\n");
  // Without a command redis-cli runs its REPL, which fetches COMMAND DOCS.
  ProgramResult repl = RunRedisCli(server, {}, "PING\nGET greeting\n", 10000);
  CHECK(repl.exit_code == 0);
  CHECK(repl.output.find("PONG") != std::string::npos);
  CHECK(repl.output.find("hello") != std::string::npos);
  CHECK(repl.output.find("ERR") == std::string::npos);
}

}  // namespace
}  // namespace ringkv::blackbox
