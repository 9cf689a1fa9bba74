// Tests for the log path's checkpoints (storage/engine_log.cc): they move
// the memory table into the tree, its new keys, replacements and deletes
// exactly (a delete hides the tree's record until then), in parts that
// writes, reads, scans and a crash may come between; tables that outgrow a
// checkpoint make the loop wait for it; closing the engine mid-checkpoint,
// with a write transaction open, does not deadlock.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <thread>

#include "storage/engine.h"
#include "unit/storage/engine_log_test_util.h"
#include "unit/storage/storage_test_util.h"

namespace ringkv::storage {
namespace {

using engine_log_testing::kPartitions;
using engine_log_testing::LogEngineTest;

TEST_CASE_FIXTURE(LogEngineTest,
                  "log path: checkpoints move the table into the tree, the log goes after a sync") {
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

TEST_CASE_FIXTURE(
    LogEngineTest,
    "log path: a delete hides the tree's record until the next checkpoint removes it") {
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

TEST_CASE_FIXTURE(
    LogEngineTest,
    "log path: checkpoints write random new keys, replacements and deletes into the tree exactly") {
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

TEST_CASE_FIXTURE(
    LogEngineTest,
    "log path: a checkpoint in parts, with writes, reads, scans and a crash between them") {
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

TEST_CASE_FIXTURE(LogEngineTest,
                  "log path: tables that outgrow the checkpoint make the loop wait for it") {
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
    // The frozen table and the new one: under four times the bound (the
    // loop waits for the checkpoint in slices past three times it, to the
    // end past four), but for the iteration that crossed it.
    CHECK(stats.memtable_bytes < 4 * kBound + iteration_bytes);
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

TEST_CASE_FIXTURE(LogEngineTest,
                  "log path: a checkpoint held up makes the loop wait, then freeze the new table") {
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

TEST_CASE_FIXTURE(
    LogEngineTest,
    "log path: closing the engine during a checkpoint, with a write transaction open") {
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

}  // namespace
}  // namespace ringkv::storage
