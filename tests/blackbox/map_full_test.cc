// A full storage map, on both write paths: writes that add data are refused
// with Redis's OOM error, the node stays up, every acknowledged write stays
// readable, deletes are still accepted, and a restart keeps all of it. On
// the write log the map fills at a checkpoint, not at the write: the
// writes after it are refused, the ones before it (in the log and the
// memory table) are kept.
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "blackbox/harness.h"

namespace ringkv::blackbox {
namespace {

constexpr int kWritesMax = 60000;  // 60 MB of values against a 16 MB map.

std::string KeyOf(int i) { return "full:" + std::to_string(i); }
std::string ValueOf(int i) { return std::to_string(i) + ":" + std::string(1000, 'v'); }

// Pipeline(), with each reply rendered.
std::vector<std::string> Pipelined(redisContext* c,
                                   const std::vector<std::vector<std::string>>& commands) {
  std::vector<std::string> rendered;
  for (const Reply& reply : Pipeline(c, commands, 500)) rendered.push_back(Render(reply.get(), c));
  return rendered;
}

// How many of `keys` read back as written (a few failures shown).
int CountReadable(redisContext* c, const std::vector<int>& keys) {
  std::vector<std::vector<std::string>> gets;
  for (int i : keys) gets.push_back({"GET", KeyOf(i)});
  const std::vector<std::string> replies = Pipelined(c, gets);
  int readable = 0;
  int shown = 0;
  for (size_t k = 0; k < keys.size(); ++k) {
    if (replies[k] == "$" + ValueOf(keys[k])) {
      ++readable;
    } else if (shown++ < 3) {
      FAIL_CHECK(KeyOf(keys[k]) << " reads " << replies[k].substr(0, 80));
    }
  }
  return readable;
}

TEST_CASE("a full storage map refuses writes with OOM and keeps every acknowledged one" *
          RingkvOnly()) {
  std::string write_path = "btree";
  SUBCASE("B-tree") {}
  SUBCASE("write log") { write_path = "log"; }
  CAPTURE(write_path);
  ServerOptions options;
  options.extra_toml = "[storage]\nfsync = \"everysec\"\nmap_size_bytes = 16777216\nwrite_path = \"" +
                       write_path + "\"\n";
  if (write_path == "log") options.extra_toml += "memtable_bytes_max = 262144\n";
  ServerProcess server(options);
  server.Start();
  RedisContext c = Connect(server.port());

  // Batches of SETs until one is refused.
  std::vector<int> acknowledged;
  std::string refusal;
  for (int batch = 0; batch < kWritesMax && refusal.empty(); batch += 200) {
    std::vector<std::vector<std::string>> sets;
    for (int i = batch; i < batch + 200; ++i) sets.push_back({"SET", KeyOf(i), ValueOf(i)});
    const std::vector<std::string> replies = Pipelined(c.get(), sets);
    for (int i = 0; i < 200; ++i) {
      if (replies[i] == "+OK") {
        acknowledged.push_back(batch + i);
      } else if (refusal.empty()) {
        refusal = replies[i];
      }
    }
  }
  const int count = static_cast<int>(acknowledged.size());
  MESSAGE("acknowledged before the map was full: " << count << ", then: " << refusal);
  REQUIRE(count > 100);
  REQUIRE(!refusal.empty());
  CHECK(refusal.rfind("-OOM command not allowed", 0) == 0);
  CHECK(Do(c.get(), {"PING"}) == "+PONG");
  CHECK(Do(c.get(), {"DBSIZE"}) == ":" + std::to_string(count));
  CHECK(CountReadable(c.get(), acknowledged) == count);

  // Deletes are accepted while full, and make room.
  const std::vector<int> deleted(acknowledged.begin(), acknowledged.begin() + count / 2);
  const std::vector<int> kept(acknowledged.begin() + count / 2, acknowledged.end());
  std::vector<std::vector<std::string>> dels;
  for (int i : deleted) dels.push_back({"DEL", KeyOf(i)});
  int refused_deletes = 0;
  for (const std::string& reply : Pipelined(c.get(), dels)) refused_deletes += reply != ":1";
  CHECK(refused_deletes == 0);
  CHECK(Do(c.get(), {"DBSIZE"}) == ":" + std::to_string(kept.size()));
  // On the B-tree path the room is there at once (its pipelined fill
  // stopped with slack). On the write log path the retried checkpoint's
  // puts do not fit in this run: DEL's tombstones free no pages (a known
  // limit, docs/storage_format.md "A full map"). Its table takes writes
  // again after a restart, below.
  if (write_path == "btree") {
    std::string again;
    for (int attempt = 0; attempt < 100 && again != "+OK"; ++attempt) {
      again = Do(c.get(), {"SET", "full:again", ValueOf(0)});
      if (again != "+OK") usleep(50 * 1000);
    }
    CHECK(again == "+OK");
    CHECK(Do(c.get(), {"DEL", "full:again"}) == ":1");
  }

  server.Restart();
  c = Connect(server.port());
  CHECK(Do(c.get(), {"DBSIZE"}) == ":" + std::to_string(kept.size()));
  CHECK(Do(c.get(), {"GET", KeyOf(deleted.front())}) == "nil");
  CHECK(CountReadable(c.get(), kept) == static_cast<int>(kept.size()));
  // After the restart, writes are accepted on both paths.
  std::string after;
  for (int attempt = 0; attempt < 100 && after != "+OK"; ++attempt) {
    after = Do(c.get(), {"SET", "full:after-restart", ValueOf(1)});
    if (after != "+OK") usleep(50 * 1000);
  }
  INFO(Do(c.get(), {"INFO", "persistence"}));
  CHECK(after == "+OK");
}

}  // namespace
}  // namespace ringkv::blackbox
