// Tests for the engine's log write path (EngineOptions::write_log,
// storage/engine_log.cc): reads see the memory table, reopens replay the
// log, checkpoints move the table into the tree and the log shrinks after
// a sync, deletes hide the tree's records, scans merge both, a failed log
// write takes the iteration's writes back, and a log-mode directory is not
// opened without the log.
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "storage/engine.h"
#include "storage/record_cache.h"
#include "storage/sibling_set.h"
#include "unit/storage/storage_test_util.h"
#include "unit/temp_dir.h"

namespace ringkv::storage {
namespace {

using ringkv::testing::TempDir;

constexpr uint32_t kPartitions = 24;

constexpr uint64_t RecordCacheOverhead() { return RecordCache::kEntryOverheadBytes; }

struct LogEngineTest {
  TempDir dir;
  EngineOptions options;
  std::unique_ptr<Engine> engine;

  LogEngineTest() {
    options.data_dir = dir.path() + "/data";
    options.map_size_bytes = 64ULL << 20;
    options.partition_count = kPartitions;
    options.node_name = "node-a";
    options.write_log = true;
    // Every sync writes back what checkpoints wrote (the tests of the
    // default's delay set it themselves).
    options.checkpoint_sync_ms = 0;
    Reopen();
  }

  void Reopen() {
    engine.reset();
    Status status = Engine::Open(options, &engine);
    INFO(status.ToString());
    REQUIRE(status.ok());
  }

  uint32_t PartitionFor(std::string_view key) const { return PartitionOf(key, kPartitions); }

  void Put(std::string_view key, std::string_view value, int live_delta = 1) {
    Status status = engine->Put(PartitionFor(key), key, value, live_delta);
    INFO(status.ToString());
    REQUIRE(status.ok());
  }

  std::string Get(std::string_view key) {
    std::string_view value;
    Status status = engine->Get(PartitionFor(key), key, &value);
    if (status.IsNotFound()) return "<none>";
    INFO(status.ToString());
    REQUIRE(status.ok());
    return std::string(value);
  }

  // A commit, and the checkpoint it began (on the engine's thread) done.
  void Commit() {
    CommitNoWait();
    // A failed checkpoint is counted (Stats) and retried later: Commit()
    // does not report it either.
    (void)engine->WaitForCheckpoint();
    engine->EndIteration();
  }

  // A commit, as the server's loop does it: a checkpoint it began runs on.
  void CommitNoWait() {
    Status status = engine->Commit();
    INFO(status.ToString());
    REQUIRE(status.ok());
    engine->EndIteration();
  }

  EngineStats Stats() {
    EngineStats stats;
    REQUIRE(engine->GetStats(&stats).ok());
    return stats;
  }

  size_t LogFiles() const {
    size_t count = 0;
    for (const auto& entry : std::filesystem::directory_iterator(options.data_dir + "/log")) {
      count += entry.path().extension() == ".log";
    }
    return count;
  }

  // A sync, and what the server does once it finished.
  void SyncAndRelease() {
    uint64_t durable = 0;
    REQUIRE(engine->Sync(&durable).ok());
    REQUIRE(engine->ReleaseLog(durable, /*after_tree_sync=*/true).ok());
  }

  // For a scenario that needs the loop to take LMDB's writer lock while a
  // checkpoint is under way: the loop normally gets it at once, but a
  // machine that deschedules it for the whole checkpoint (a few tens of
  // ms) lets the checkpoint end first, and that attempt proves nothing.
  // An attempt returns false when it finds that it did.
  // Runs `attempt(n)` (n from 0, on keys of its own) until it returns true
  // (it got the lock in time), at most 10 times; requires that one did.
  template <typename Attempt>
  void UntilMidCheckpoint(Attempt attempt) {
    constexpr int kAttempts = 10;
    for (int n = 0; n < kAttempts; ++n) {
      if (attempt(n)) return;
      MESSAGE("attempt " << n + 1
                         << ": the checkpoint ended before the loop took the lock or looked at it");
    }
    FAIL("in " << kAttempts << " attempts the checkpoint always ended first");
  }
};


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

TEST_CASE_FIXTURE(LogEngineTest, "log path: checkpoints move the table into the tree, the log goes after a sync") {
  options.memtable_bytes_max = 4096;
  Reopen();
  std::map<std::string, std::string> expected;
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 10; ++i) {
      const std::string key = "key:" + std::to_string(round * 7 + i);
      const std::string value = std::string(static_cast<size_t>(50 + round), 'a' + (i % 26));
      const bool exists = expected.count(key) > 0;
      Put(key, value, exists ? 0 : 1);
      expected[key] = value;
    }
    Commit();
  }
  EngineStats stats = Stats();
  CHECK(stats.checkpoints > 0);
  CHECK(stats.checkpoint_failures == 0);
  CHECK(stats.data_entries > 0);
  CHECK(stats.memtable_bytes < 4096 + 2000);
  // Sealed segments stay until a sync covers the checkpoint.
  const size_t before = LogFiles();
  CHECK(before > 1);
  SyncAndRelease();
  CHECK(LogFiles() == 1);
  for (const auto& [key, value] : expected) CHECK(Get(key) == value);
  CHECK(engine->live_keys() == expected.size());
  Reopen();
  for (const auto& [key, value] : expected) CHECK(Get(key) == value);
  CHECK(engine->live_keys() == expected.size());
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: a sync releases the checkpoints it covers, though newer ones finished since") {
  options.memtable_bytes_max = 1;  // Every commit checkpoints.
  Reopen();
  Put("a", "1");
  Commit();
  // A sync that started here, before the next checkpoints finished...
  uint64_t durable = 0;
  REQUIRE(engine->Sync(&durable).ok());
  CHECK(engine->log_release_pending());
  for (int i = 0; i < 3; ++i) {
    Put("k" + std::to_string(i), "v");
    Commit();
  }
  CHECK(Stats().checkpoints == 4);
  const size_t before = LogFiles();
  CHECK(before == 5);
  // ...still removes the segments of the checkpoint it covers (a single
  // mark, moved on by each checkpoint, starved the removal under a steady
  // load), and only those.
  REQUIRE(engine->ReleaseLog(durable, /*after_tree_sync=*/true).ok());
  CHECK(LogFiles() == before - 1);
  CHECK(engine->log_release_pending());
  SyncAndRelease();
  CHECK(LogFiles() == 1);
  CHECK_FALSE(engine->log_release_pending());
  Reopen();
  CHECK(Get("a") == "1");
  CHECK(Get("k2") == "v");
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: a crash after a checkpoint, before its segments went, counts nothing twice") {
  options.memtable_bytes_max = 1;  // Every commit checkpoints.
  Reopen();
  Put("a", "1");
  Put("b", "2");
  Commit();
  Put("c", "3");
  Commit();
  CHECK(Stats().checkpoints == 2);
  CHECK(LogFiles() > 1);  // Not released: no sync ran.
  Reopen();               // The crash.
  CHECK(engine->live_keys() == 3);
  CHECK(Get("a") == "1");
  CHECK(Get("c") == "3");
  CHECK(Stats().memtable_entries == 0);
  CHECK(LogFiles() == 1);  // Open removed what the tree holds.
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: a sync writes LMDB back only after commits that need it") {
  options.memtable_bytes_max = 2048;
  options.checkpoint_step_bytes = 256;  // Several parts per checkpoint.
  Reopen();
  auto lmdb_syncs = [&] { return Stats().lmdb_syncs; };
  const uint64_t at_open = lmdb_syncs();
  // Logged writes alone: the log is synced, LMDB is not.
  Put("a", "1");
  CommitNoWait();
  SyncAndRelease();
  CHECK(lmdb_syncs() == at_open);
  CHECK(Stats().syncs >= 1);
  // Meta (as hints) is an LMDB commit: the next sync writes it back.
  REQUIRE(engine->PutMeta("test.meta", "x").ok());
  CommitNoWait();
  SyncAndRelease();
  CHECK(lmdb_syncs() == at_open + 1);
  SyncAndRelease();  // Nothing new.
  CHECK(lmdb_syncs() == at_open + 1);
  // A checkpoint: its last part needs the sync before its segments go.
  for (int i = 0; i < 40; ++i) Put("k" + std::to_string(i), std::string(100, 'v'));
  Commit();
  REQUIRE(Stats().checkpoints == 1);
  const size_t files = LogFiles();
  SyncAndRelease();
  CHECK(lmdb_syncs() == at_open + 2);
  CHECK(LogFiles() < files);  // The sealed segment went, after that sync.
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: a long checkpoint's parts are written back only once checkpoint_sync_ms passed") {
  options.memtable_bytes_max = 4096;
  options.checkpoint_step_bytes = 64;  // 20,000 parts: the checkpoint takes a while.
  bool written_back = false;
  SUBCASE("at once") {
    options.checkpoint_sync_ms = 0;
    written_back = true;
  }
  SUBCASE("not within an hour") { options.checkpoint_sync_ms = 3600 * 1000; }
  Reopen();
  for (int i = 0; i < 20000; ++i) Put("k" + std::to_string(i), "v");
  CommitNoWait();  // The checkpoint begins on the thread.
  if (written_back) {
    // Some parts committed: due at once (bounded, however slow the machine).
    for (int i = 0; i < 1000 && !engine->tree_write_back_due(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(engine->tree_write_back_due());
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // Some parts committed.
    CHECK_FALSE(engine->tree_write_back_due());
  }
  const uint64_t before = Stats().lmdb_syncs;
  SyncAndRelease();  // The loop has not finished the checkpoint: only parts to sync.
  CHECK(Stats().lmdb_syncs == before + (written_back ? 1 : 0));
  REQUIRE(engine->WaitForCheckpoint().ok());
  const size_t files = LogFiles();
  SyncAndRelease();  // The checkpoint's end, and its segments with it.
  CHECK(Stats().lmdb_syncs == before + (written_back ? 2 : 0));
  CHECK((LogFiles() < files) == written_back);
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: finished checkpoints are written back after checkpoint_sync_ms, at log_retained_bytes_max, or with meta") {
  options.memtable_bytes_max = 1;  // Every commit checkpoints.
  options.checkpoint_sync_ms = 3600 * 1000;
  options.log_retained_bytes_max = 1ULL << 30;
  Reopen();
  const uint64_t at_open = Stats().lmdb_syncs;
  for (int i = 0; i < 3; ++i) {
    Put("a" + std::to_string(i), std::string(100, 'v'));
    Commit();
  }
  REQUIRE(Stats().checkpoints == 3);
  const size_t files = LogFiles();
  CHECK(files == 4);
  SyncAndRelease();
  // Deferred: not written back, the segments kept (the log holds the data).
  CHECK(Stats().lmdb_syncs == at_open);
  CHECK(LogFiles() == files);
  const uint64_t retained = Stats().log_retained_bytes;
  CHECK(retained >= 3 * 100);
  CHECK(Get("a1") == std::string(100, 'v'));

  SUBCASE("a crash meanwhile loses nothing") {
    Reopen();
    for (int i = 0; i < 3; ++i) CHECK(Get("a" + std::to_string(i)) == std::string(100, 'v'));
    CHECK(LogFiles() == 1);  // Open wrote the tree back and removed them.
    CHECK(Stats().log_retained_bytes == 0);
  }
  SUBCASE("meta needs the next sync, which writes the checkpoints back too") {
    REQUIRE(engine->PutMeta("test.meta", "x").ok());
    CommitNoWait();
    SyncAndRelease();
    CHECK(Stats().lmdb_syncs == at_open + 1);
    CHECK(LogFiles() == 1);
    CHECK(Stats().log_retained_bytes == 0);
  }
  SUBCASE("the interval passed") {
    options.checkpoint_sync_ms = 1;
    Reopen();  // Opening writes back what is there: start again.
    CHECK_FALSE(engine->tree_write_back_due());
    Put("b", std::string(100, 'v'));
    Commit();
    REQUIRE(LogFiles() == 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    // Due with no sync at all (a node that took no write since: the
    // server's cron asks).
    CHECK(engine->tree_write_back_due());
    const uint64_t before = Stats().lmdb_syncs;
    REQUIRE(engine->ReleaseLog(engine->committed_sequence(), /*after_tree_sync=*/true).ok());
    CHECK(Stats().lmdb_syncs == before + 1);
    CHECK(LogFiles() == 1);
    CHECK_FALSE(engine->tree_write_back_due());
  }
  SUBCASE("64 checkpoints wait") {
    for (int i = 3; i < 64; ++i) {
      CHECK_FALSE(engine->tree_write_back_due());
      Put("a" + std::to_string(i), "v");
      Commit();
    }
    REQUIRE(Stats().checkpoints == 64);
    CHECK(engine->tree_write_back_due());
    SyncAndRelease();
    CHECK(Stats().lmdb_syncs == at_open + 1);
    CHECK(LogFiles() == 1);
    CHECK(Stats().log_retained_bytes == 0);
    CHECK_FALSE(engine->tree_write_back_due());
  }
  SUBCASE("the retained log reached its bound") {
    options.log_retained_bytes_max = retained;  // Three checkpoints' log.
    Reopen();
    const uint64_t at_reopen = Stats().lmdb_syncs;
    for (int i = 0; i < 3; ++i) {
      Put("c" + std::to_string(i), std::string(100, 'v'));
      Commit();
      SyncAndRelease();
      // Below the bound after one or two checkpoints; at it after three.
      CHECK(Stats().lmdb_syncs == at_reopen + (i == 2 ? 1 : 0));
      CHECK(LogFiles() == (i == 2 ? 1u : static_cast<size_t>(i) + 2));
    }
    CHECK(Stats().log_retained_bytes == 0);
  }
  SUBCASE("with fsync = no, nothing waits for a write-back") {
    const uint64_t durable = engine->committed_sequence();
    REQUIRE(engine->ReleaseLog(durable, /*after_tree_sync=*/false).ok());
    CHECK(LogFiles() == 1);
    CHECK(Stats().lmdb_syncs == at_open);
  }
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: a replay far behind the log checkpoints on the way, the table stays bounded") {
  // A power loss with checkpoints not written back yet: LMDB's file on
  // disk is an older one than the log's end. Made here by putting back a
  // copy of data.mdb taken before more checkpoints ran.
  options.memtable_bytes_max = 4096;
  options.checkpoint_sync_ms = 3600 * 1000;
  Reopen();
  std::map<std::string, std::string> expected;
  auto write_round = [&](const std::string& prefix, int count) {
    for (int i = 0; i < count; ++i) {
      const std::string key = prefix + std::to_string(i);
      const std::string value(200, static_cast<char>('a' + i % 26));
      Put(key, value, expected.count(key) ? 0 : 1);
      expected[key] = value;
      if (i % 10 == 9) Commit();
    }
    Commit();
  };
  write_round("old", 100);
  engine.reset();
  const std::string mdb = options.data_dir + "/data.mdb";
  const std::string saved = dir.path() + "/data.mdb.old";
  std::filesystem::copy_file(mdb, saved);
  Reopen();
  write_round("new", 400);  // About 90 KB of records: some 20 checkpoints.
  const uint64_t checkpoints = Stats().checkpoints;
  REQUIRE(checkpoints >= 10);
  REQUIRE(LogFiles() > 10);  // Kept: nothing was written back.
  engine.reset();
  std::filesystem::copy_file(saved, mdb, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove(options.data_dir + "/lock.mdb");
  Reopen();
  // Checkpointed while replaying: the table holds about one bound's worth
  // (plus the segment that passed it), not all 90 KB.
  CHECK(Stats().checkpoints > 0);
  CHECK(Stats().checkpoint_failures == 0);
  CHECK(Stats().memtable_bytes < 3 * 4096);
  for (const auto& [key, value] : expected) CHECK(Get(key) == value);
  CHECK(engine->live_keys() == expected.size());
  // And again after the tree took the rest.
  Reopen();
  for (const auto& [key, value] : expected) CHECK(Get(key) == value);
  CHECK(engine->live_keys() == expected.size());
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: a delete hides the tree's record until the next checkpoint removes it") {
  options.memtable_bytes_max = 1u << 20;
  Reopen();
  Put("gone", "x");
  Put("kept", "y");
  Commit();
  REQUIRE(engine->Delete(PartitionFor("gone"), "gone", -1).ok());
  Commit();
  // Checkpoint with the tombstone: force one with a tiny bound.
  options.memtable_bytes_max = 1;
  Reopen();
  Put("other", "z");
  Commit();
  CHECK(Stats().memtable_entries == 0);
  CHECK(Get("gone") == "<none>");
  CHECK(Get("kept") == "y");
  CHECK(Stats().data_entries == 2);  // kept and other; gone's record was deleted.
  CHECK(engine->live_keys() == 2);
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

TEST_CASE_FIXTURE(LogEngineTest, "log path: checkpoints write random new keys, replacements and deletes into the tree exactly") {
  // Dense: a checkpoint changes most of the tree's keys, the next one
  // often on the cursor's page. Sparse: few, far apart. Values up to 600
  // bytes: leaves split and merge.
  int key_space = 0;
  SUBCASE("dense") { key_space = 60; }
  SUBCASE("sparse") { key_space = 3000; }
  options.memtable_bytes_max = 4096;
  options.checkpoint_step_bytes = 700;  // Several parts per checkpoint.
  Reopen();
  std::mt19937 random(static_cast<uint32_t>(key_space));
  std::map<std::string, std::string> expected;
  for (int op = 0; op < 4000; ++op) {
    const std::string key = "r" + std::to_string(random() % key_space);
    const bool exists = expected.count(key) > 0;
    if (random() % 5 == 0) {
      Status status = engine->Delete(PartitionFor(key), key, exists ? -1 : 0);
      CHECK(exists ? status.ok() : status.IsNotFound());
      expected.erase(key);
    } else {
      const std::string value(1 + random() % 600, static_cast<char>('a' + random() % 26));
      Put(key, value, exists ? 0 : 1);
      expected[key] = value;
    }
    if (op % 40 == 39) Commit();
  }
  Commit();
  CHECK(Stats().checkpoints > 10);
  CHECK(Stats().checkpoint_failures == 0);
  // All of it into the tree: reopened with a bound of 1 byte, the replayed
  // table is checkpointed at the next commit.
  options.memtable_bytes_max = 1;
  Reopen();
  Put("last", "x");
  expected["last"] = "x";
  Commit();
  REQUIRE(Stats().memtable_entries == 0);
  CHECK(Stats().data_entries == expected.size());  // No tombstone left behind.
  std::map<std::string, std::string> stored;
  for (uint32_t partition = 0; partition < kPartitions; ++partition) {
    for (auto& [key, value] : ScanAll(engine.get(), partition)) stored[key] = value;
  }
  CHECK(stored == expected);
  CHECK(engine->live_keys() == expected.size());
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: a checkpoint in parts, with writes, reads, scans and a crash between them") {
  options.memtable_bytes_max = 8192;
  options.checkpoint_step_bytes = 1000;
  Reopen();
  std::map<std::string, std::string> expected;  // Live keys and values.
  auto put = [&](const std::string& key, const std::string& value) {
    Put(key, value, expected.count(key) ? 0 : 1);
    expected[key] = value;
  };
  auto check_all = [&] {
    for (const auto& [key, value] : expected) REQUIRE(Get(key) == value);
    std::map<std::string, std::string> scanned;
    for (uint32_t partition = 0; partition < kPartitions; ++partition) {
      for (auto& [key, value] : ScanAll(engine.get(), partition)) scanned[key] = value;
    }
    CHECK(scanned == expected);
    CHECK(engine->live_keys() == expected.size());
  };
  for (int i = 0; i < 100; ++i) put("k" + std::to_string(i), std::string(80, 'a'));
  const uint64_t commits_before = Stats().commits;
  // Past the bound: the table is frozen, and the checkpoint thread writes
  // it into the tree, a part per transaction, while the loop goes on. It
  // counts once the loop finished it (a later commit).
  CommitNoWait();
  EngineStats stats = Stats();
  CHECK(stats.checkpoints == 0);
  CHECK(stats.memtable_entries == 100);  // The frozen table, until then.
  // Whatever the thread wrote so far, reads see the frozen table first.
  check_all();
  // Writes meanwhile: new keys, frozen keys changed and deleted.
  put("k3", "changed while frozen");
  put("new", "n");
  REQUIRE(engine->Delete(PartitionFor("k7"), "k7", -1).ok());
  expected.erase("k7");
  CommitNoWait();
  check_all();
  SUBCASE("a crash in the middle") {
    // Stops the thread after its current part, if it still runs; or it
    // wrote the last part, and the log before it is not replayed.
    Reopen();
    check_all();
    put("after", "the crash");
    Commit();
    check_all();
    Reopen();
    check_all();
    return;
  }
  for (int i = 0; i < 200 && Stats().checkpoints == 0; ++i) Commit();
  stats = Stats();
  CHECK(stats.checkpoints >= 1);
  CHECK(stats.data_entries > 0);
  check_all();
  if (stats.checkpoints == 1) {
    // About 9 KB of keys and records at 1 KB per part.
    CHECK(stats.commits - commits_before >= 8);
  }
  Reopen();
  check_all();
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: tables that outgrow the checkpoint make the loop wait for it") {
  constexpr uint64_t kBound = 16384;
  options.memtable_bytes_max = kBound;
  options.checkpoint_step_bytes = 64;  // A part per entry: the checkpoint takes a while.
  Reopen();
  std::map<std::string, std::string> expected;
  uint64_t iteration_bytes = 0;  // What one iteration adds to the tables.
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 20; ++i) {
      const std::string key = "r" + std::to_string(round) + "k" + std::to_string(i);
      Put(key, std::string(100, 'v'));
      expected[key] = std::string(100, 'v');
    }
    CommitNoWait();
    EngineStats stats = Stats();
    if (round == 0) iteration_bytes = stats.memtable_bytes;
    // The frozen table and the new one: under three times the bound, but
    // for the iteration that crossed it.
    CHECK(stats.memtable_bytes < 3 * kBound + iteration_bytes);
  }
  // How often the loop had to wait depends on the two threads' speeds
  // (none under ASan, which slows the loop more than LMDB): the bound above
  // holds either way, and the next test makes a wait certain.
  MESSAGE("the loop waited for " << Stats().checkpoint_waits << " checkpoints in 200 iterations");
  REQUIRE(engine->WaitForCheckpoint().ok());
  for (const auto& [key, value] : expected) REQUIRE(Get(key) == value);
  Reopen();
  for (const auto& [key, value] : expected) REQUIRE(Get(key) == value);
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: a checkpoint held up makes the loop wait, then freeze the new table") {
  constexpr uint64_t kBound = 16384;
  options.memtable_bytes_max = kBound;
  options.checkpoint_step_bytes = 64;  // A part per entry.
  Reopen();
  std::map<std::string, std::string> expected;
  auto put_many = [&](const std::string& prefix) {
    for (int i = 0; i < 1000; ++i) {
      Put(prefix + std::to_string(i), std::string(100, 'v'));
      expected[prefix + std::to_string(i)] = std::string(100, 'v');
    }
  };
  UntilMidCheckpoint([&](int n) {
    const EngineStats before = Stats();
    const std::string round = std::to_string(n) + "-";
    put_many("a" + round);
    CommitNoWait();  // A checkpoint of 1,000 parts begins.
    // A meta write takes LMDB's writer lock at the thread's next part (the
    // loop goes first) and keeps it for the iteration: the checkpoint
    // cannot end before this iteration's commit, whose tables are then far
    // past three times the bound.
    REQUIRE(engine->PutMeta("test.hold", "x").ok());
    if (Stats().data_entries - before.data_entries == 1000) {  // Read in the transaction.
      Commit();
      return false;
    }
    put_many("b" + round);
    CommitNoWait();
    EngineStats stats = Stats();
    if (stats.checkpoint_waits == before.checkpoint_waits &&
        stats.checkpoints - before.checkpoints == 1) {
      // The commit let the lock go, and the machine took the loop off its
      // core until the thread had written every part (a CI run saw it): the
      // loop found the checkpoint over, with nothing to wait for. A loop
      // that never waits fails all ten attempts.
      MESSAGE("the thread ended the checkpoint before the loop looked at it");
      Commit();
      return false;
    }
    CHECK(stats.checkpoint_waits - before.checkpoint_waits == 1);
    CHECK(stats.checkpoints - before.checkpoints == 1);  // The one it waited for, finished.
    // The new table was frozen at once: a second checkpoint is under way.
    CHECK(stats.memtable_entries == 1000);
    REQUIRE(engine->WaitForCheckpoint().ok());
    CHECK(Stats().checkpoints - before.checkpoints == 2);
    return true;
  });
  for (const auto& [key, value] : expected) REQUIRE(Get(key) == value);
}

TEST_CASE_FIXTURE(LogEngineTest, "log path: closing the engine during a checkpoint, with a write transaction open") {
  options.memtable_bytes_max = 4096;
  options.checkpoint_step_bytes = 64;
  Reopen();
  std::map<std::string, std::string> expected;
  UntilMidCheckpoint([&](int n) {
    const uint64_t before = Stats().data_entries;
    for (int i = 0; i < 2000; ++i) {
      const std::string key = "k" + std::to_string(n) + "-" + std::to_string(i);
      Put(key, std::string(100, 'v'));
      expected[key] = std::string(100, 'v');
    }
    CommitNoWait();  // A checkpoint of 2,000 parts begins on the thread.
    // A write transaction (meta) takes LMDB's writer lock between two
    // parts; the thread then waits for it. Closing must not wait for the
    // thread first (a deadlock).
    REQUIRE(engine->PutMeta("test.key", "value").ok());
    // Time for the thread to block on the writer lock.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    Reopen();  // Stops the thread after the part the lock let through.
    const uint64_t in_tree = Stats().data_entries - before;
    MESSAGE(in_tree << " of 2000 records were in the tree when it stopped");
    std::string meta;
    CHECK(engine->GetMeta("test.key", &meta).IsNotFound());  // Never committed.
    if (in_tree == 2000) return false;
    CHECK(in_tree >= 1);  // The thread did wait for the lock, and got it.
    return true;          // And stopped in the middle.
  });
  for (const auto& [key, value] : expected) REQUIRE(Get(key) == value);
  Commit();
  for (int i = 0; i < 200 && Stats().data_entries < expected.size(); ++i) Commit();
  CHECK(Stats().data_entries == expected.size());
  Reopen();
  for (const auto& [key, value] : expected) REQUIRE(Get(key) == value);
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

TEST_CASE_FIXTURE(LogEngineTest, "log path: writes after a checkpoint whose new segment a power loss took are kept") {
  options.memtable_bytes_max = 1;  // Every commit checkpoints.
  Reopen();
  Put("a", "1");
  Commit();
  REQUIRE(Stats().checkpoints == 1);
  engine.reset();
  // The checkpoint's commit reached the disk; the segment its Rotate
  // created did not (its directory entry waits for the next Sync).
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(options.data_dir + "/log")) {
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() == 2);
  std::filesystem::remove(files.back());
  options.memtable_bytes_max = 64 << 20;
  Reopen();
  Put("b", "2");
  Commit();
  uint64_t durable = 0;
  REQUIRE(engine->Sync(&durable).ok());  // Acknowledged with fsync = always.
  Reopen();                              // A crash.
  CHECK(Get("a") == "1");
  CHECK(Get("b") == "2");
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
  Status failed;
  {
    FileSizeLimit limit(largest);  // The log may not grow: the commit's write fails.
    failed = engine->Commit();
  }
  INFO(failed.ToString());
  CHECK_FALSE(failed.ok());
  engine->EndIteration();
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
