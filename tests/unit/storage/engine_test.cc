// tests/unit/storage/engine_test.cc: the LMDB engine, in temporary
// directories under /tmp.
#include "storage/engine.h"

#include <doctest/doctest.h>

#include "unit/storage/storage_test_util.h"
#include "unit/temp_dir.h"
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "storage/sibling_set.h"

namespace ringkv::storage {
namespace {

using ringkv::testing::TempDir;

EngineOptions Options(const TempDir& dir, std::string name = "node-a") {
  EngineOptions options;
  options.data_dir = dir.path() + "/data";
  options.map_size_bytes = 64ULL << 20;
  options.partition_count = 24;
  options.node_name = std::move(name);
  return options;
}

std::unique_ptr<Engine> OpenOrDie(const EngineOptions& options) {
  std::unique_ptr<Engine> engine;
  Status status = Engine::Open(options, &engine);
  INFO(status.ToString());
  REQUIRE(status.ok());
  return engine;
}

std::string GetString(Engine* engine, uint32_t partition, std::string_view key) {
  std::string_view value;
  Status status = engine->Get(partition, key, &value);
  if (status.IsNotFound()) return "<none>";
  INFO(status.ToString());
  REQUIRE(status.ok());
  return std::string(value);
}


TEST_CASE("engine: key hash and partition") {
  CHECK(KeyHash("foo") == KeyHash("foo"));
  CHECK(KeyHash("foo") != KeyHash("bar"));
  std::vector<int> counts(24);
  for (int i = 0; i < 24000; ++i) {
    const uint32_t partition = PartitionOf("key:" + std::to_string(i), 24);
    REQUIRE(partition < 24);
    ++counts[partition];
  }
  for (int count : counts) CHECK((count > 800 && count < 1200));
  CHECK(PartitionOf("anything", 1) == 0);
  // (hash * Q) >> 64: the top of the hash decides.
  const uint64_t hash = KeyHash("x");
  CHECK(PartitionOf("x", 65536) == static_cast<uint32_t>(hash >> 48));
}

TEST_CASE("engine: put, get, delete and commit") {
  TempDir dir;
  auto engine = OpenOrDie(Options(dir));
  CHECK(GetString(engine.get(), 3, "k") == "<none>");
  CHECK_FALSE(engine->has_pending_writes());
  REQUIRE(engine->Put(3, "k", "v1", +1).ok());
  CHECK(engine->has_pending_writes());
  // Reads of the iteration see its uncommitted writes.
  CHECK(GetString(engine.get(), 3, "k") == "v1");
  CHECK(GetString(engine.get(), 4, "k") == "<none>");  // Partitions are separate.
  CHECK(engine->live_keys() == 1);
  REQUIRE(engine->Commit().ok());
  CHECK(engine->committed_sequence() == 1);
  CHECK_FALSE(engine->has_pending_writes());
  engine->EndIteration();
  CHECK(GetString(engine.get(), 3, "k") == "v1");
  REQUIRE(engine->Put(3, "k", "v2", 0).ok());
  CHECK(GetString(engine.get(), 3, "k") == "v2");
  REQUIRE(engine->Commit().ok());
  REQUIRE(engine->Delete(3, "k", -1).ok());
  CHECK(GetString(engine.get(), 3, "k") == "<none>");
  CHECK(engine->Delete(3, "k", -1).IsNotFound());
  REQUIRE(engine->Commit().ok());
  CHECK(engine->committed_sequence() == 3);
  CHECK(engine->live_keys() == 0);
  // Commit without writes is a no-op.
  REQUIRE(engine->Commit().ok());
  CHECK(engine->committed_sequence() == 3);
  engine->EndIteration();
  std::string_view value;
  CHECK(engine->Get(24, "k", &value).code() == Status::Code::kInvalidArgument);
  CHECK(engine->Put(24, "k", "v", 0).code() == Status::Code::kInvalidArgument);
}

TEST_CASE("engine: data, identity and live keys persist across reopen") {
  TempDir dir;
  NodeIdentity first;
  {
    auto engine = OpenOrDie(Options(dir));
    first = engine->identity();
    CHECK(first.name == "node-a");
    CHECK(first.actor != 0);
    CHECK(first.created_ms > 1600000000000);
    for (int i = 0; i < 100; ++i) {
      REQUIRE(engine->Put(i % 24, "key" + std::to_string(i), "value" + std::to_string(i), +1).ok());
    }
    REQUIRE(engine->Delete(5, "key5", -1).ok());
    REQUIRE(engine->PutMeta("ring.epoch", "42").ok());
    REQUIRE(engine->Commit().ok());
    uint64_t durable = 0;
    REQUIRE(engine->Sync(&durable).ok());
    CHECK(durable == 1);
  }
  auto engine = OpenOrDie(Options(dir));
  CHECK(engine->identity().actor == first.actor);
  CHECK(engine->identity().name == first.name);
  CHECK(engine->identity().created_ms == first.created_ms);
  CHECK(engine->live_keys() == 99);
  CHECK(GetString(engine.get(), 7, "key7") == "value7");
  CHECK(GetString(engine.get(), 5, "key5") == "<none>");
  std::string meta;
  REQUIRE(engine->GetMeta("ring.epoch", &meta).ok());
  CHECK(meta == "42");
  CHECK(engine->GetMeta("ring.other", &meta).IsNotFound());
  EngineStats stats;
  REQUIRE(engine->GetStats(&stats).ok());
  CHECK(stats.data_entries == 99);
  CHECK(stats.hint_entries == 0);
  CHECK(stats.map_size_bytes == 64ULL << 20);
  CHECK(stats.used_bytes > 0);
}

TEST_CASE("engine: a new data directory is a new actor") {
  TempDir dir_one;
  TempDir dir_two;
  auto one = OpenOrDie(Options(dir_one));
  auto two = OpenOrDie(Options(dir_two));
  CHECK(one->identity().actor != two->identity().actor);
  CHECK(two->identity().actor != 0);
}

TEST_CASE("engine: another node's name or partition count is rejected") {
  TempDir dir;
  { auto engine = OpenOrDie(Options(dir)); }
  std::unique_ptr<Engine> engine;
  Status status = Engine::Open(Options(dir, "node-b"), &engine);
  CHECK(status.code() == Status::Code::kInvalidArgument);
  CHECK(status.message().find("'node-a'") != std::string::npos);
  CHECK(status.message().find("'node-b'") != std::string::npos);
  EngineOptions options = Options(dir);
  options.partition_count = 64;
  status = Engine::Open(options, &engine);
  CHECK(status.code() == Status::Code::kInvalidArgument);
  CHECK(status.message().find("24") != std::string::npos);
  CHECK(status.message().find("64") != std::string::npos);
  CHECK(engine == nullptr);
  options.partition_count = 0;
  CHECK(Engine::Open(options, &engine).code() == Status::Code::kInvalidArgument);
  // The right options still open it.
  CHECK(Engine::Open(Options(dir), &engine).ok());
}

TEST_CASE("engine: a data directory is open in one engine at a time") {
  TempDir dir;
  auto engine = OpenOrDie(Options(dir));
  std::unique_ptr<Engine> second;
  Status status = Engine::Open(Options(dir), &second);
  CHECK(status.code() == Status::Code::kBusy);
  CHECK(status.message().find("in use") != std::string::npos);
  engine.reset();
  CHECK(Engine::Open(Options(dir), &second).ok());
}

TEST_CASE("engine: binary keys and values") {
  TempDir dir;
  auto engine = OpenOrDie(Options(dir));
  const std::string key("a\0b\xff", 4);
  const std::string other("a\0c", 3);
  const std::string value("\0\1\2\0", 4);
  REQUIRE(engine->Put(0, key, value, +1).ok());
  REQUIRE(engine->Put(0, other, "x", +1).ok());
  REQUIRE(engine->Put(0, "", "empty key", +1).ok());
  REQUIRE(engine->Commit().ok());
  CHECK(GetString(engine.get(), 0, key) == value);
  CHECK(GetString(engine.get(), 0, std::string("a\0b", 3)) == "<none>");
  auto records = ScanAll(engine.get(), 0);
  REQUIRE(records.size() == 3);
  CHECK(records[0].first.empty());
  CHECK(records[1] == std::pair<std::string, std::string>{key, value});
  CHECK(records[2].first == other);
}

TEST_CASE("engine: long keys round trip, scan and delete") {
  TempDir dir;
  auto engine = OpenOrDie(Options(dir));
  const std::string key600(600, 'k');
  std::string key100k(100 * 1024, '\0');
  for (size_t i = 0; i < key100k.size(); ++i) key100k[i] = static_cast<char>(i * 131);
  const std::string key508(508, 'e');  // Longest inline key: 3 + 508 = 511.
  REQUIRE(engine->Put(2, key600, "six hundred", +1).ok());
  REQUIRE(engine->Put(2, key100k, "hundred k", +1).ok());
  REQUIRE(engine->Put(2, key508, "edge", +1).ok());
  REQUIRE(engine->Put(2, "short", "s", +1).ok());
  CHECK(GetString(engine.get(), 2, key600) == "six hundred");
  REQUIRE(engine->Commit().ok());
  engine->EndIteration();
  CHECK(GetString(engine.get(), 2, key100k) == "hundred k");
  CHECK(GetString(engine.get(), 2, key508) == "edge");
  CHECK(GetString(engine.get(), 2, std::string(601, 'k')) == "<none>");
  auto records = ScanAll(engine.get(), 2);
  REQUIRE(records.size() == 4);
  std::map<std::string, std::string> by_key(records.begin(), records.end());
  CHECK(by_key[key600] == "six hundred");
  CHECK(by_key[key100k] == "hundred k");
  CHECK(by_key[key508] == "edge");
  // Resuming after a long key continues after it.
  for (size_t i = 0; i < records.size(); ++i) {
    auto rest = ScanAll(engine.get(), 2, records[i].first);
    CHECK(rest.size() == records.size() - i - 1);
  }
  REQUIRE(engine->Delete(2, key100k, -1).ok());
  CHECK(engine->Delete(2, std::string(100 * 1024, 'z'), -1).IsNotFound());
  REQUIRE(engine->Commit().ok());
  CHECK(GetString(engine.get(), 2, key100k) == "<none>");
  CHECK(ScanAll(engine.get(), 2).size() == 3);
  engine->EndIteration();
}

TEST_CASE("engine: scan a partition in order, with resume and limit") {
  TempDir dir;
  auto engine = OpenOrDie(Options(dir));
  for (int i = 0; i < 50; ++i) {
    char key[16];
    std::snprintf(key, sizeof(key), "k%03d", i);
    REQUIRE(engine->Put(i % 2, key, std::to_string(i), +1).ok());
  }
  REQUIRE(engine->Commit().ok());
  auto even = ScanAll(engine.get(), 0);
  REQUIRE(even.size() == 25);
  CHECK(even.front().first == "k000");
  CHECK(even.back().first == "k048");
  CHECK(ScanAll(engine.get(), 1).size() == 25);
  CHECK(ScanAll(engine.get(), 5).empty());
  auto page = ScanAll(engine.get(), 0, "k010", 3);
  REQUIRE(page.size() == 3);
  CHECK(page[0].first == "k012");
  CHECK(page[2].first == "k016");
  CHECK(ScanAll(engine.get(), 0, "k011", 1)[0].first == "k012");  // Absent start key.
  int seen = 0;
  REQUIRE(engine
              ->ScanPartition(0, {}, 100,
                              [&](std::string_view, std::string_view) { return ++seen < 4; })
              .ok());
  CHECK(seen == 4);
  engine->EndIteration();
}

TEST_CASE("engine: 1 MB values") {
  TempDir dir;
  auto engine = OpenOrDie(Options(dir));
  std::string big(1 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>(i / 4096);
  for (int i = 0; i < 8; ++i) REQUIRE(engine->Put(1, "big" + std::to_string(i), big, +1).ok());
  REQUIRE(engine->Commit().ok());
  for (int i = 0; i < 8; ++i) CHECK(GetString(engine.get(), 1, "big" + std::to_string(i)) == big);
  engine->EndIteration();
}

// A Put right after the Get of the same key in the write transaction
// reuses the Get's cursor position; anything in between must not make it
// write to the wrong record.
TEST_CASE("engine: get then put of a key, with sizes changing and calls in between") {
  TempDir dir;
  auto engine = OpenOrDie(Options(dir));
  std::map<std::string, std::string> model;
  REQUIRE(engine->Put(2, "open", "x", +1).ok());  // The write transaction is open from here.
  model["open"] = "x";
  uint64_t seed = 7;
  auto next = [&seed] {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return seed >> 33;
  };
  for (int i = 0; i < 3000; ++i) {
    std::string key = "k" + std::to_string(next() % 64);
    std::string_view current;
    Status status = engine->Get(2, key, &current);
    REQUIRE((status.ok() || status.IsNotFound()));
    switch (next() % 5) {
      case 0: {  // Another key read in between: the put must find its own.
        std::string_view other;
        (void)engine->Get(2, "k" + std::to_string(next() % 64), &other);
        break;
      }
      case 1:  // A meta write in between.
        REQUIRE(engine->PutMeta("app.counter", std::to_string(i)).ok());
        break;
      case 2:  // A delete of another key in between.
        if (std::string other = "k" + std::to_string(next() % 64); other != key) {
          if (engine->Delete(2, other, 0).ok()) model.erase(other);
        }
        break;
      default:
        break;
    }
    std::string value(next() % 3000, static_cast<char>('a' + i % 26));
    REQUIRE(engine->Put(2, key, value, 0).ok());
    model[key] = value;
    if (i % 500 == 499) REQUIRE(engine->Commit().ok());
  }
  REQUIRE(engine->Commit().ok());
  std::vector<std::pair<std::string, std::string>> stored = ScanAll(engine.get(), 2);
  CHECK(stored == std::vector<std::pair<std::string, std::string>>(model.begin(), model.end()));
  engine->EndIteration();
}

TEST_CASE("engine: meta names of the engine are reserved") {
  TempDir dir;
  auto engine = OpenOrDie(Options(dir));
  CHECK(engine->PutMeta("storage.actor", "x").code() == Status::Code::kInvalidArgument);
  CHECK(engine->PutMeta("", "x").code() == Status::Code::kInvalidArgument);
  std::string value;
  REQUIRE(engine->GetMeta("storage.name", &value).ok());
  CHECK(value == "node-a");
}

TEST_CASE("engine: a corrupt record reads as corruption, never a crash") {
  TempDir dir;
  auto engine = OpenOrDie(Options(dir));
  SiblingSet set;
  ApplyWrite(&set, VersionVector{}, engine->identity().actor, Sibling{{}, 1, false, 0, "good"});
  std::string encoded;
  EncodeSiblingSet(set, &encoded);
  REQUIRE(engine->Put(0, "good", encoded, +1).ok());
  REQUIRE(engine->Put(0, "garbage", "\x01\x02not a sibling set", +1).ok());
  std::string flipped = encoded;
  flipped[5] ^= 0x10;
  REQUIRE(engine->Put(0, "flipped", flipped, +1).ok());
  REQUIRE(engine->Commit().ok());
  SiblingSetView view;
  std::string_view bytes;
  REQUIRE(engine->Get(0, "good", &bytes).ok());
  REQUIRE(view.Parse(bytes).ok());
  CHECK(view.winner().value == "good");
  for (const char* key : {"garbage", "flipped"}) {
    REQUIRE(engine->Get(0, key, &bytes).ok());
    CHECK(view.Parse(bytes).IsCorruption());
    SiblingSet decoded;
    CHECK(DecodeSiblingSet(bytes, &decoded).IsCorruption());
  }
  engine->EndIteration();
}

// Fills a small map one committed iteration at a time until a write comes
// back MapFull; returns the keys written.
std::vector<std::string> FillUntilFull(Engine* engine, const std::string& value, Status* full) {
  std::vector<std::string> written;
  for (int iteration = 0; iteration < 10000; ++iteration) {
    for (int i = 0; i < 5; ++i) {
      std::string key = "fill" + std::to_string(written.size());
      Status status = engine->Put(7, key, value, +1);
      if (!status.ok()) {
        *full = status;
        Status committed = engine->Commit();
        INFO(committed.ToString());
        REQUIRE(committed.ok());
        engine->EndIteration();
        return written;
      }
      written.push_back(key);
    }
    REQUIRE(engine->Commit().ok());
    engine->EndIteration();
  }
  FAIL("the map never filled");
  return written;
}

void CheckMapFullBehaviour(size_t value_bytes) {
  TempDir dir;
  EngineOptions options = Options(dir);
  options.map_size_bytes = 1 << 20;
  auto engine = OpenOrDie(options);
  const std::string value(value_bytes, 'v');
  Status full;
  std::vector<std::string> written = FillUntilFull(engine.get(), value, &full);
  INFO(full.ToString());
  CHECK(full.IsMapFull());
  CHECK(full.message().find("map_size_bytes") != std::string::npos);
  CHECK(written.size() > 10);
  // Everything acknowledged is there, and reads keep working.
  for (const std::string& key : written) REQUIRE(GetString(engine.get(), 7, key) == value);
  CHECK(engine->live_keys() == written.size());
  engine->EndIteration();
  // Free some keys, a few per iteration as clients would, then writes
  // succeed again (LMDB reuses freed pages once a later transaction has
  // committed; the engine sees to that).
  for (size_t i = 0; i < written.size() / 2; i += 4) {
    for (size_t j = i; j < i + 4 && j < written.size() / 2; ++j) {
      Status deleted = engine->Delete(7, written[j], -1);
      INFO(deleted.ToString());
      REQUIRE(deleted.ok());
    }
    REQUIRE(engine->Commit().ok());
    engine->EndIteration();
  }
  int succeeded = 0;
  for (int iteration = 0; iteration < 3 && succeeded == 0; ++iteration) {
    for (int i = 0; i < 3; ++i) {
      if (engine->Put(7, "again" + std::to_string(i), value, +1).ok()) ++succeeded;
    }
    REQUIRE(engine->Commit().ok());
    engine->EndIteration();
  }
  CHECK(succeeded == 3);
  CHECK(GetString(engine.get(), 7, "again2") == value);
  for (size_t i = written.size() / 2; i < written.size(); ++i) {
    REQUIRE(GetString(engine.get(), 7, written[i]) == value);
  }
  CHECK(engine->live_keys() == written.size() - written.size() / 2 + 3);
  engine->EndIteration();
}

TEST_CASE("engine: a full map refuses writes cleanly and recovers after deletes") {
  SUBCASE("small values") { CheckMapFullBehaviour(1000); }
  SUBCASE("overflow values") { CheckMapFullBehaviour(20000); }
}

// A client pipelining many deletes at a full map puts them all in one
// iteration: deletes and tombstone puts (the keyspace's DEL) go on the
// reserve, and when the estimate says it is used up, the transaction's
// earlier writes are committed first instead of LMDB failing them all.
TEST_CASE("engine: a full map takes a whole iteration of deletes and tombstones") {
  TempDir dir;
  EngineOptions options = Options(dir);
  options.map_size_bytes = 1 << 20;
  auto engine = OpenOrDie(options);
  const std::string value(1000, 'v');
  Status full;
  std::vector<std::string> written = FillUntilFull(engine.get(), value, &full);
  REQUIRE(full.IsMapFull());
  REQUIRE(written.size() > 100);
  engine->EndIteration();
  const uint64_t sequence_before = engine->committed_sequence();
  for (size_t i = 0; i < written.size(); ++i) {
    // Every other key deleted, the others given a tombstone record.
    Status status = i % 2 == 0 ? engine->Delete(7, written[i], -1)
                               : engine->Put(7, written[i], "tombstone", -1);
    INFO(i << ": " << status.ToString());
    REQUIRE(status.ok());
  }
  REQUIRE(engine->Commit().ok());
  engine->EndIteration();
  MESSAGE(written.size() << " deletes and tombstones in one iteration took "
                         << engine->committed_sequence() - sequence_before << " commits");
  CHECK(engine->committed_sequence() - sequence_before > 1);
  CHECK(engine->live_keys() == 0);
  CHECK(GetString(engine.get(), 7, written[0]) == "<none>");
  CHECK(GetString(engine.get(), 7, written[1]) == "tombstone");
  // And the room is there again.
  CHECK(engine->Put(7, "after", value, +1).ok());
  REQUIRE(engine->Commit().ok());
  engine->EndIteration();
}

// With the estimate off, LMDB itself reports MDB_MAP_FULL and kills the
// transaction; the engine replays the transaction's earlier writes so only
// the failing write fails.
void CheckLmdbMapFullRecovery(size_t value_bytes) {
  TempDir dir;
  EngineOptions options = Options(dir);
  options.map_size_bytes = 1 << 20;
  options.check_map_space = false;
  auto engine = OpenOrDie(options);
  REQUIRE(engine->Put(1, "committed", "before", +1).ok());
  REQUIRE(engine->Commit().ok());
  // Digests go when LMDB kills a transaction, whatever key they are of: a
  // read within it could have seen its writes.
  Digest128 digest;
  engine->CacheDigest("committed", Digest128{1, 2});
  const std::string value(value_bytes, 'v');
  std::vector<std::string> written;
  Status full;
  for (int i = 0; i < 100000 && full.ok(); ++i) {
    std::string key = "txn" + std::to_string(i);
    full = engine->Put(7, key, value, +1);
    if (full.ok()) written.push_back(key);
  }
  INFO(full.ToString());
  REQUIRE(full.IsMapFull());
  REQUIRE(written.size() > 10);
  CHECK_FALSE(engine->FindDigest("committed", &digest));
  // The transaction survived: its earlier writes are readable in it.
  for (const std::string& key : written) REQUIRE(GetString(engine.get(), 7, key) == value);
  CHECK(GetString(engine.get(), 1, "committed") == "before");
  CHECK(engine->Put(7, "more", value, +1).IsMapFull());
  CHECK(engine->live_keys() == written.size() + 1);
  // The commit itself may need pages the full map no longer has; then the
  // whole transaction fails, and says so.
  Status committed = engine->Commit();
  engine->EndIteration();
  MESSAGE("after LMDB's map-full, the commit of " << written.size()
                                                  << " writes: " << committed.ToString());
  if (committed.ok()) {
    CHECK(engine->committed_sequence() == 2);
    for (const std::string& key : written) REQUIRE(GetString(engine.get(), 7, key) == value);
  } else {
    CHECK(committed.IsMapFull());
    CHECK(engine->committed_sequence() == 1);
    CHECK(GetString(engine.get(), 7, written[0]) == "<none>");
    CHECK(engine->live_keys() == 1);
  }
  CHECK(GetString(engine.get(), 1, "committed") == "before");
  engine->EndIteration();
}

TEST_CASE("engine: LMDB's own map-full keeps the transaction's earlier writes") {
  SUBCASE("small values") { CheckLmdbMapFullRecovery(1000); }
  SUBCASE("overflow values") { CheckLmdbMapFullRecovery(20000); }
}

TEST_CASE("engine: sync from another thread while the loop commits") {
  TempDir dir;
  auto engine = OpenOrDie(Options(dir));
  std::atomic<bool> done{false};
  std::atomic<uint64_t> last_durable{0};
  std::atomic<int> sync_failures{0};
  std::thread syncer([&] {
    while (!done.load()) {
      uint64_t durable = 0;
      if (!engine->Sync(&durable).ok()) ++sync_failures;
      if (durable < last_durable.load()) ++sync_failures;  // Never goes back.
      last_durable = durable;
    }
  });
  for (int iteration = 0; iteration < 300; ++iteration) {
    for (int i = 0; i < 10; ++i) {
      REQUIRE(engine->Put(iteration % 24, "k" + std::to_string(iteration * 10 + i), "v", +1).ok());
    }
    REQUIRE(engine->Commit().ok());
    engine->EndIteration();
  }
  done = true;
  syncer.join();
  CHECK(sync_failures == 0);
  uint64_t durable = 0;
  REQUIRE(engine->Sync(&durable).ok());
  CHECK(durable == 300);
  CHECK(durable == engine->committed_sequence());
  EngineStats stats;
  REQUIRE(engine->GetStats(&stats).ok());
  CHECK(stats.commits == 300);
  CHECK(stats.syncs >= 1);
  engine->EndIteration();
}

}  // namespace
}  // namespace ringkv::storage
