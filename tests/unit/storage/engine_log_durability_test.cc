// Tests for what the log path keeps across syncs and crashes
// (storage/engine_log.cc): a sync releases the log segments of the
// checkpoints it covers, LMDB is written back only when a commit needs it
// (meta, a checkpoint after checkpoint_sync_ms, log_retained_bytes_max,
// 64 checkpoints waiting), and a crash or a power loss at any of these
// points loses nothing and counts nothing twice, a replay far behind the
// log checkpointing on the way.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "storage/engine.h"
#include "unit/storage/engine_log_test_util.h"

namespace ringkv::storage {
namespace {

using engine_log_testing::kPartitions;
using engine_log_testing::LogEngineTest;

TEST_CASE_FIXTURE(
    LogEngineTest,
    "log path: a sync releases the checkpoints it covers, though newer ones finished since") {
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

TEST_CASE_FIXTURE(
    LogEngineTest,
    "log path: a crash after a checkpoint, before its segments went, counts nothing twice") {
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

TEST_CASE_FIXTURE(LogEngineTest,
                  "log path: a sync writes LMDB back only after commits that need it") {
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

TEST_CASE_FIXTURE(
    LogEngineTest,
    "log path: a long checkpoint's parts are written back only once checkpoint_sync_ms passed") {
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

TEST_CASE_FIXTURE(LogEngineTest,
                  "log path: finished checkpoints are written back after checkpoint_sync_ms, at "
                  "log_retained_bytes_max, or with meta") {
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

TEST_CASE_FIXTURE(
    LogEngineTest,
    "log path: a replay far behind the log checkpoints on the way, the table stays bounded") {
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

TEST_CASE_FIXTURE(
    LogEngineTest,
    "log path: writes after a checkpoint whose new segment a power loss took are kept") {
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

}  // namespace
}  // namespace ringkv::storage
