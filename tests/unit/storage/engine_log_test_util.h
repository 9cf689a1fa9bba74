// tests/unit/storage/engine_log_test_util.h: the fixture shared by the
// tests of the engine's log write path (engine_log_test.cc,
// engine_log_checkpoint_test.cc, engine_log_durability_test.cc): an engine
// with EngineOptions::write_log in a fresh directory, reopened at will, and
// helpers that require each call to succeed.
#ifndef RINGKV_TESTS_UNIT_STORAGE_ENGINE_LOG_TEST_UTIL_H_
#define RINGKV_TESTS_UNIT_STORAGE_ENGINE_LOG_TEST_UTIL_H_

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "storage/engine.h"
#include "unit/temp_dir.h"

namespace ringkv::storage::engine_log_testing {

using ringkv::testing::TempDir;

constexpr uint32_t kPartitions = 24;

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

}  // namespace ringkv::storage::engine_log_testing

#endif  // RINGKV_TESTS_UNIT_STORAGE_ENGINE_LOG_TEST_UTIL_H_
