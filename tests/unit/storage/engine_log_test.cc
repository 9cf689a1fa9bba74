// Tests for the engine's log write path (EngineOptions::write_log,
// storage/engine_log.cc): reads see the memory table, reopens replay the
// log, scans merge the table with the tree, long keys round trip, a full
// map refuses puts but takes deletes, a failed log write takes the
// iteration's writes back, a log-mode directory is not opened without the
// log, hints and meta stay in LMDB, and the record cache never serves an
// old record. Checkpoints are tested in engine_log_checkpoint_test.cc,
// syncs, the log's release and crashes in engine_log_durability_test.cc.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "storage/engine.h"
#include "storage/record_cache.h"
#include "storage/sibling_set.h"
#include "unit/storage/engine_log_test_util.h"
#include "unit/storage/storage_test_util.h"

namespace ringkv::storage {
namespace {

using engine_log_testing::kPartitions;
using engine_log_testing::LogEngineTest;

constexpr uint64_t RecordCacheOverhead() { return RecordCache::kEntryOverheadBytes; }

TEST_CASE_FIXTURE(LogEngineTest, "log path: writes are read back at once and after a reopen") {
  Put("a", "1");
  CHECK(engine->has_pending_writes());
  CHECK(Get("a") == "1");  // Before the commit: the memory table.
  Put("b", "2");
  Put("a", "3", 0);
  Commit();
  CHECK_FALSE(engine->has_pending_writes());
  REQUIRE(engine->Delete(PartitionFor("b"), "b", -1).ok());
  CHECK(Get("b") == "<none>");
  CHECK(engine->Delete(PartitionFor("b"), "b", -1).IsNotFound());
  CHECK(engine->Delete(PartitionFor("zz"), "zz", -1).IsNotFound());
  Commit();
  CHECK(Stats().memtable_bytes == 9);
  Put("uncommitted", "lost");  // A kill -9 before the commit.
  CHECK(engine->live_keys() == 2);
  Reopen();
  CHECK(Get("a") == "3");
  CHECK(Get("b") == "<none>");
  CHECK(Get("uncommitted") == "<none>");
  CHECK(engine->live_keys() == 1);
  CHECK(Stats().memtable_entries == 2);  // a, and b's tombstone.
  // Data keys (3-byte partition and kind prefix, then the key) and records:
  // a -> "3" is 4 + 1 bytes, b's tombstone 4.
  CHECK(Stats().memtable_bytes == 9);
  CHECK(Stats().data_entries == 0);      // Nothing checkpointed yet.
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: scans merge the table with the tree, in order") {
  options.memtable_bytes_max = 1;
  Reopen();
  // All in one partition: keys that hash there.
  std::vector<std::string> keys;
  for (int i = 0; keys.size() < 8 && i < 10000; ++i) {
    std::string key = "s" + std::to_string(i);
    if (PartitionFor(key) == 5) keys.push_back(key);
  }
  REQUIRE(keys.size() == 8);
  std::sort(keys.begin(), keys.end());
  for (int i = 0; i < 4; ++i) Put(keys[i * 2], "tree");  // 0, 2, 4, 6 in the tree.
  Commit();
  options.memtable_bytes_max = 1u << 20;
  Reopen();
  Put(keys[1], "table");                                   // New, between tree records.
  Put(keys[2], "table", 0);                                // Replaces a tree record.
  REQUIRE(engine->Delete(5, keys[4], -1).ok());            // Hides a tree record.
  Put(keys[7], "table");                                   // After every tree record.
  const std::vector<std::pair<std::string, std::string>> expected = {
      {keys[0], "tree"}, {keys[1], "table"}, {keys[2], "table"}, {keys[6], "tree"},
      {keys[7], "table"}};
  CHECK(ScanAll(engine.get(), 5) == expected);
  // Pages: after a key, at most `limit` records.
  CHECK(ScanAll(engine.get(), 5, keys[1], 2) ==
        std::vector<std::pair<std::string, std::string>>{expected[2], expected[3]});
  // After a deleted key, and after a key that was never stored.
  CHECK(ScanAll(engine.get(), 5, keys[4]) ==
        std::vector<std::pair<std::string, std::string>>{expected[3], expected[4]});
  CHECK(ScanAll(engine.get(), 5, keys[3]) ==
        std::vector<std::pair<std::string, std::string>>{expected[3], expected[4]});
  for (uint32_t partition = 0; partition < kPartitions; ++partition) {
    if (partition != 5) CHECK(ScanAll(engine.get(), partition).empty());
  }
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: long keys (stored under their hash) round trip") {
  const std::string long_a(2000, 'a');
  const std::string long_b(1500, 'b');
  Put(long_a, "value a");
  Put(long_b, "value b");
  Commit();
  CHECK(Get(long_a) == "value a");
  options.memtable_bytes_max = 1;
  Reopen();
  Put("short", "s");
  Commit();  // Checkpoints the long keys too.
  CHECK(Stats().memtable_entries == 0);
  CHECK(Get(long_a) == "value a");
  CHECK(Get(long_b) == "value b");
  const auto scanned = ScanAll(engine.get(), PartitionFor(long_a));
  bool found = false;
  for (const auto& [key, value] : scanned) found |= key == long_a && value == "value a";
  CHECK(found);
  REQUIRE(engine->Delete(PartitionFor(long_a), long_a, -1).ok());
  CHECK(Get(long_a) == "<none>");
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: a full map refuses puts, takes deletes, and the deletes reach the next checkpoint") {
  options.map_size_bytes = 2ULL << 20;
  options.memtable_bytes_max = 64 << 10;
  Reopen();
  const std::string value(1000, 'v');
  int written = 0;
  Status refused;
  for (int i = 0; i < 10000 && refused.ok(); ++i) {
    refused = engine->Put(PartitionFor("k" + std::to_string(i)), "k" + std::to_string(i), value, 1);
    if (!refused.ok()) break;
    ++written;
    Commit();  // A failed checkpoint does not fail the commit.
  }
  INFO(refused.ToString());
  REQUIRE(refused.IsMapFull());
  REQUIRE(written > 100);
  CHECK(Stats().checkpoint_failures > 0);
  // Every acknowledged put reads back: from the tree, or the table.
  for (int i = 0; i < written; ++i) REQUIRE(Get("k" + std::to_string(i)) == value);
  // A put that takes a live key away (a tombstone, as the keyspace writes
  // for DEL) and a delete are accepted; a put that adds data is not.
  REQUIRE(engine->Put(PartitionFor("k0"), "k0", "tombstone", -1).ok());
  REQUIRE(engine->Delete(PartitionFor("k1"), "k1", -1).ok());
  CHECK(engine->Put(PartitionFor("new"), "new", value, 1).IsMapFull());
  Commit();
  CHECK(Get("k0") == "tombstone");
  CHECK(Get("k1") == "<none>");
  // Deleting most keys makes room: the retried checkpoint (the frozen
  // table was thawed into the new one, so it carries these deletes) fits,
  // and puts are accepted again.
  for (int i = 2; i < written; ++i) {
    REQUIRE(engine->Delete(PartitionFor("k" + std::to_string(i)), "k" + std::to_string(i), -1).ok());
    Commit();
  }
  // A checkpoint is retried a second after a failure, also on an idle
  // engine (has_pending_writes says when: the server commits then); the
  // deletes go in one part, the puts in the next once their pages are free.
  bool accepted = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int commits = 0;
  while (!accepted && std::chrono::steady_clock::now() < deadline) {
    if (!engine->has_pending_writes()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    Commit();
    ++commits;
    accepted = engine->Put(PartitionFor("new"), "new", value, 1).ok();
  }
  MESSAGE("puts accepted again after " << commits << " commits asked for by has_pending_writes");
  CHECK(accepted);
  // The rest of the checkpoint goes on a part per commit.
  for (int i = 0; i < 10000 && engine->has_pending_writes(); ++i) Commit();
  CHECK(Stats().data_entries < 10);
  Commit();
  CHECK(Get("new") == value);
  CHECK(engine->live_keys() == 1);
  Reopen();
  CHECK(Get("new") == value);
  CHECK(Get("k2") == "<none>");
  CHECK(engine->live_keys() == 1);
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: a map that stays full neither piles up segments nor takes puts") {
  options.map_size_bytes = 2ULL << 20;
  options.memtable_bytes_max = 64 << 10;
  Reopen();
  const std::string value(1000, 'v');
  Status refused;
  for (int i = 0; i < 10000 && refused.ok(); ++i) {
    refused = engine->Put(PartitionFor("k" + std::to_string(i)), "k" + std::to_string(i), value, 1);
    if (refused.ok()) Commit();
  }
  REQUIRE(refused.IsMapFull());
  const size_t files_before = LogFiles();
  // Retries come as has_pending_writes asks for them; every put between
  // them is refused, the first part of a retry succeeding or not.
  int accepted = 0;
  int commits = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!engine->has_pending_writes()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    Commit();
    ++commits;
    accepted += engine->Put(PartitionFor("x"), "x" + std::to_string(commits), value, 1).ok();
  }
  Commit();
  MESSAGE(commits << " commits asked for in 4 s; log files " << files_before << " -> "
                  << LogFiles() << "; failed checkpoints " << Stats().checkpoint_failures);
  CHECK(commits > 0);
  CHECK(accepted == 0);
  CHECK(LogFiles() <= files_before + 1);
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: a failed log write takes the iteration's writes back") {
  Put("before", "1");
  Commit();
  uint64_t largest = 0;
  for (const auto& entry : std::filesystem::directory_iterator(options.data_dir + "/log")) {
    largest = std::max<uint64_t>(largest, entry.file_size());
  }
  Put("lost", "2");
  Put("before", "changed", 0);
  CHECK(Get("lost") == "2");
  // A digest of a record the failure takes back (a replica's conditional
  // read can see a write before its commit) goes with it.
  engine->CacheDigest("before", Digest128{1, 2});
  Digest128 digest;
  CHECK(engine->FindDigest("before", &digest));
  Status failed;
  {
    FileSizeLimit limit(largest);  // The log may not grow: the commit's write fails.
    failed = engine->Commit();
  }
  INFO(failed.ToString());
  CHECK_FALSE(failed.ok());
  engine->EndIteration();
  CHECK_FALSE(engine->FindDigest("before", &digest));
  CHECK(Get("lost") == "<none>");
  CHECK(Get("before") == "1");
  CHECK(engine->live_keys() == 1);
  // The log failed for good: later writes are refused, reads go on.
  CHECK_FALSE(engine->Put(PartitionFor("x"), "x", "y", 1).ok());
  CHECK(Get("before") == "1");
  Reopen();
  CHECK(Get("before") == "1");
  CHECK(Get("lost") == "<none>");
  CHECK(engine->live_keys() == 1);
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: a data directory with a log is not opened without it") {
  Put("a", "1");
  Commit();
  engine.reset();
  options.write_log = false;
  std::unique_ptr<Engine> other;
  Status status = Engine::Open(options, &other);
  INFO(status.ToString());
  CHECK(status.code() == Status::Code::kInvalidArgument);
  options.write_log = true;
  Reopen();
  CHECK(Get("a") == "1");
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: a data directory written on the B-tree path opens with it") {
  engine.reset();
  std::filesystem::remove_all(options.data_dir);
  options.write_log = false;
  Reopen();
  Put("old", "1");
  Commit();
  uint64_t durable = 0;
  REQUIRE(engine->Sync(&durable).ok());
  engine.reset();
  options.write_log = true;
  Reopen();
  CHECK(Get("old") == "1");
  Put("new", "2");
  Commit();
  Reopen();
  CHECK(Get("old") == "1");
  CHECK(Get("new") == "2");
  CHECK(engine->live_keys() == 2);
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: hints and meta still go to LMDB, next to logged data") {
  SiblingSet set;
  Sibling version;
  version.timestamp_ms = 1000;
  version.value = "hinted";
  ApplyWrite(&set, VersionVector(), 7, version);
  bool dropped = false;
  REQUIRE(engine->PutHint("node-b", "k", set, 1000, &dropped).ok());
  CHECK_FALSE(dropped);
  Put("k", "data");
  REQUIRE(engine->PutMeta("app", "meta value").ok());
  Commit();
  Reopen();
  SiblingSet read;
  REQUIRE(engine->GetHint("node-b", "k", &read, nullptr, nullptr, nullptr).ok());
  CHECK(read == set);
  std::string meta;
  REQUIRE(engine->GetMeta("app", &meta).ok());
  CHECK(meta == "meta value");
  CHECK(Get("k") == "data");
}

TEST_CASE_FIXTURE(LogEngineTest,
                  "log path: the record cache serves the tree's records and never an old one") {
  options.memtable_bytes_max = 1;  // Every commit checkpoints: reads go to the tree.
  options.record_cache_bytes = 1 << 20;
  Reopen();
  Put("a", "1");
  Commit();
  std::string_view for_update;
  REQUIRE(engine->Get(PartitionFor("a"), "a", &for_update, Engine::ReadFor::kUpdate).ok());
  CHECK(for_update == "1");
  CHECK(Stats().record_cache_entries == 0);  // A read before a write is not cached.
  CHECK(Get("a") == "1");                    // From the tree, into the cache.
  CHECK(Get("a") == "1");
  EngineStats stats = Stats();
  CHECK(stats.record_cache_hits == 1);
  CHECK(stats.record_cache_misses == 2);
  CHECK(stats.record_cache_entries == 1);
  Put("a", "2", 0);
  CHECK(Get("a") == "2");  // The memory table.
  Commit();
  CHECK(Stats().memtable_entries == 0);
  CHECK(Get("a") == "2");  // The tree again: not the cached "1".
  REQUIRE(engine->Delete(PartitionFor("a"), "a", -1).ok());
  Commit();
  CHECK(Get("a") == "<none>");
  CHECK(Get("missing") == "<none>");  // Absent keys are not cached.
  CHECK(Stats().record_cache_entries == 0);
}

TEST_CASE_FIXTURE(
    LogEngineTest,
    "log path: random writes, deletes and checkpoints read the same through a small record cache") {
  options.memtable_bytes_max = 512;  // A checkpoint every few writes.
  // Room for about 40 of the 60 keys' records: evictions all along.
  options.record_cache_bytes = 40 * (RecordCacheOverhead() + 10 + 60);
  Reopen();
  std::mt19937 random(7);
  std::map<std::string, std::string> expected;
  for (int step = 0; step < 3000; ++step) {
    const std::string key = "key:" + std::to_string(random() % 60);
    const int action = static_cast<int>(random() % 10);
    if (action < 3) {
      const std::string value = std::string(40 + random() % 20, 'a' + step % 26);
      const bool exists = expected.count(key) > 0;
      Put(key, value, exists ? 0 : 1);
      expected[key] = value;
    } else if (action == 3) {
      const bool exists = expected.erase(key) > 0;
      Status status = engine->Delete(PartitionFor(key), key, exists ? -1 : 0);
      REQUIRE((exists ? status.ok() : status.IsNotFound()));
    } else {
      auto it = expected.find(key);
      REQUIRE(Get(key) == (it == expected.end() ? "<none>" : it->second));
    }
    if (step % 7 == 0) step % 21 == 0 ? Commit() : CommitNoWait();
  }
  Commit();
  for (const auto& [key, value] : expected) CHECK(Get(key) == value);
  const EngineStats stats = Stats();
  CHECK(stats.checkpoints > 10);
  CHECK(stats.record_cache_hits > 0);
  CHECK(stats.record_cache_evictions > 0);
  CHECK(stats.record_cache_bytes <= options.record_cache_bytes);
}

}  // namespace
}  // namespace ringkv::storage
