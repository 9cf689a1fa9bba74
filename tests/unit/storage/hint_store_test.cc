// tests/unit/storage/hint_store_test.cc: the hint store of the engine
// (PutHint, GetHint, ReadHints, ScanHints, DeleteHintIfUnchanged,
// ExpireHints), in temporary directories under /tmp.
#include <doctest/doctest.h>

#include "unit/temp_dir.h"
#include <lmdb.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "storage/engine.h"
#include "storage/hint_key.h"
#include "storage/sibling_set.h"

namespace ringkv::storage {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;

using ringkv::testing::TempDir;

EngineOptions Options(const TempDir& dir) {
  EngineOptions options;
  options.data_dir = dir.path() + "/data";
  options.map_size_bytes = 64ULL << 20;
  options.partition_count = 24;
  options.node_name = "fallback";
  return options;
}

std::unique_ptr<Engine> OpenOrDie(const EngineOptions& options) {
  std::unique_ptr<Engine> engine;
  Status status = Engine::Open(options, &engine);
  INFO(status.ToString());
  REQUIRE(status.ok());
  return engine;
}

// A set holding one coordinator write of `value` by `actor` over `base`.
SiblingSet Write(const SiblingSet& base, ActorId actor, std::string value,
                 const VersionVector& context = {}) {
  SiblingSet set = base;
  Sibling version;
  version.timestamp_ms = kNow;
  version.value = std::move(value);
  ApplyWrite(&set, context, actor, std::move(version));
  return set;
}

void Put(Engine* engine, std::string_view target, std::string_view key, const SiblingSet& set,
         int64_t now_ms = kNow) {
  bool dropped = true;
  Status status = engine->PutHint(target, key, set, now_ms, &dropped);
  INFO(status.ToString());
  REQUIRE(status.ok());
  REQUIRE(!dropped);
}

void CommitOrDie(Engine* engine) {
  Status status = engine->Commit();
  INFO(status.ToString());
  REQUIRE(status.ok());
  engine->EndIteration();
}

SiblingSet GetOrDie(Engine* engine, std::string_view target, std::string_view key,
                    uint64_t* version = nullptr) {
  SiblingSet set;
  Status status = engine->GetHint(target, key, &set, version, nullptr, nullptr);
  INFO(status.ToString());
  REQUIRE(status.ok());
  return set;
}

struct Scanned {
  std::string key;
  SiblingSet set;
  uint64_t version;
};

std::vector<Scanned> ScanAll(Engine* engine, std::string_view target, size_t batch = 1000) {
  std::vector<Scanned> hints;
  HintScanCursor cursor;
  for (int batches = 0; !cursor.done; ++batches) {
    REQUIRE(batches < 100000);
    Status status = engine->ScanHints(
        target, &cursor, batch, [&](std::string_view key, const SiblingSet& set, uint64_t version) {
          hints.push_back({std::string(key), set, version});
          return true;
        });
    INFO(status.ToString());
    REQUIRE(status.ok());
  }
  return hints;
}

HintStats Stats(Engine* engine) {
  HintStats stats;
  engine->GetHintStats(&stats);
  return stats;
}

TEST_CASE("hints: put, merge, get and read across targets") {
  TempDir dir;
  auto engine = OpenOrDie(Options(dir));
  const SiblingSet first = Write({}, 1, "one");
  Put(engine.get(), "n2", "k", first, kNow);
  CHECK(GetOrDie(engine.get(), "n2", "k") == first);
  // A concurrent write for the same target and key: one record, merged.
  const SiblingSet concurrent = Write({}, 2, "two");
  Put(engine.get(), "n2", "k", concurrent, kNow + 5);
  SiblingSet expected = first;
  Merge(&expected, concurrent);
  CHECK(GetOrDie(engine.get(), "n2", "k") == expected);
  CHECK(expected.siblings.size() == 2);
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  REQUIRE(engine->GetHint("n2", "k", nullptr, nullptr, &created_ms, &updated_ms).ok());
  CHECK(created_ms == kNow);
  CHECK(updated_ms == kNow + 5);
  HintStats stats = Stats(engine.get());
  CHECK(stats.count == 1);
  REQUIRE(stats.targets.size() == 1);
  CHECK(stats.targets[0].target == "n2");
  // A later write superseding both, held for another target.
  const SiblingSet later = Write(expected, 3, "three", expected.clock);
  Put(engine.get(), "n5", "k", later);
  SiblingSet read;
  REQUIRE(engine->ReadHints("k", &read).ok());
  CHECK(read == later);
  CHECK(engine->ReadHints("other", &read).IsNotFound());
  CHECK(engine->GetHint("n3", "k", nullptr, nullptr, nullptr, nullptr).IsNotFound());
  CommitOrDie(engine.get());
  stats = Stats(engine.get());
  CHECK(stats.count == 2);
  CHECK(stats.targets.size() == 2);
  EngineStats engine_stats;
  REQUIRE(engine->GetStats(&engine_stats).ok());
  CHECK(engine_stats.hint_entries == 2);
  engine->EndIteration();
}

TEST_CASE("hints: a hint and data writes share the iteration's transaction") {
  TempDir dir;
  const EngineOptions options = Options(dir);
  {
    auto engine = OpenOrDie(options);
    const uint64_t sequence = engine->committed_sequence();
    REQUIRE(engine->Put(3, "data", "bytes", +1).ok());
    Put(engine.get(), "n2", "k", Write({}, 1, "v"));
    CHECK(engine->has_pending_writes());
    CommitOrDie(engine.get());
    CHECK(engine->committed_sequence() == sequence + 1);
    // Written but never committed: gone after a reopen, with its stats.
    Put(engine.get(), "n2", "uncommitted", Write({}, 1, "v"));
    CHECK(Stats(engine.get()).count == 2);
  }
  auto engine = OpenOrDie(options);
  CHECK(Stats(engine.get()).count == 1);
  CHECK(engine->GetHint("n2", "k", nullptr, nullptr, nullptr, nullptr).ok());
  CHECK(engine->GetHint("n2", "uncommitted", nullptr, nullptr, nullptr, nullptr).IsNotFound());
  engine->EndIteration();
}

TEST_CASE("hints: a repeated hint changes nothing") {
  TempDir dir;
  auto engine = OpenOrDie(Options(dir));
  const SiblingSet set = Write(Write({}, 1, "a"), 2, "b");
  Put(engine.get(), "n2", "k", set, kNow);
  CommitOrDie(engine.get());
  uint64_t version = 0;
  GetOrDie(engine.get(), "n2", "k", &version);
  const HintStats before = Stats(engine.get());
  Put(engine.get(), "n2", "k", set, kNow + 100);
  CommitOrDie(engine.get());
  uint64_t again = 0;
  CHECK(GetOrDie(engine.get(), "n2", "k", &again) == set);
  CHECK(again == version);
  int64_t updated_ms = 0;
  REQUIRE(engine->GetHint("n2", "k", nullptr, nullptr, nullptr, &updated_ms).ok());
  CHECK(updated_ms == kNow);
  CHECK(Stats(engine.get()).bytes == before.bytes);
  engine->EndIteration();
}

TEST_CASE("hints: invalid targets are refused") {
  TempDir dir;
  auto engine = OpenOrDie(Options(dir));
  bool dropped = false;
  CHECK(engine->PutHint("", "k", Write({}, 1, "v"), kNow, &dropped).code() ==
        Status::Code::kInvalidArgument);
  CHECK(engine->PutHint(std::string(256, 't'), "k", Write({}, 1, "v"), kNow, &dropped).code() ==
        Status::Code::kInvalidArgument);
  Put(engine.get(), std::string(255, 't'), "k", Write({}, 1, "v"));
  CommitOrDie(engine.get());
}

TEST_CASE("hints: delete if unchanged keeps a hint merged after the scan") {
  TempDir dir;
  auto engine = OpenOrDie(Options(dir));
  Put(engine.get(), "n2", "a", Write({}, 1, "a1"));
  Put(engine.get(), "n2", "b", Write({}, 1, "b1"));
  CommitOrDie(engine.get());
  std::vector<Scanned> scanned = ScanAll(engine.get(), "n2");
  REQUIRE(scanned.size() == 2);
  // Hints come in partition order; put "a" first for the checks below.
  if (scanned[0].key != "a") std::swap(scanned[0], scanned[1]);
  CHECK(scanned[0].key == "a");
  CHECK(scanned[1].key == "b");
  // While "delivery" is in flight, a new write for "b" is hinted.
  Put(engine.get(), "n2", "b", Write({}, 2, "b2"));
  CommitOrDie(engine.get());
  bool deleted = false;
  REQUIRE(engine->DeleteHintIfUnchanged("n2", "a", scanned[0].version, &deleted).ok());
  CHECK(deleted);
  REQUIRE(engine->DeleteHintIfUnchanged("n2", "b", scanned[1].version, &deleted).ok());
  CHECK(!deleted);
  // Deleting again, or a key without a hint, is not an error.
  REQUIRE(engine->DeleteHintIfUnchanged("n2", "a", scanned[0].version, &deleted).ok());
  CHECK(!deleted);
  CommitOrDie(engine.get());
  scanned = ScanAll(engine.get(), "n2");
  REQUIRE(scanned.size() == 1);
  CHECK(scanned[0].set.siblings.size() == 2);
  REQUIRE(engine->DeleteHintIfUnchanged("n2", "b", scanned[0].version, &deleted).ok());
  CHECK(deleted);
  CommitOrDie(engine.get());
  const HintStats stats = Stats(engine.get());
  CHECK(stats.count == 0);
  CHECK(stats.bytes == 0);
  CHECK(stats.targets.empty());
  CHECK(stats.delivered == 2);
}

TEST_CASE("hints: scans resume after the cursor in batches, one target at a time") {
  TempDir dir;
  auto engine = OpenOrDie(Options(dir));
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) keys.push_back("key" + std::to_string(i));
  keys.push_back("");                          // The empty key is a key.
  keys.push_back(std::string("\0\xff\n", 3));  // Binary.
  keys.push_back(std::string(600, 'L'));       // Hashed in the hint key.
  keys.push_back(std::string(600, 'M'));
  for (const std::string& key : keys) {
    Put(engine.get(), "n2", key, Write({}, 1, "for n2 " + key));
    if (key.size() % 2 == 0) Put(engine.get(), "n3", key, Write({}, 1, "for n3 " + key));
  }
  Put(engine.get(), "n22", "zz", Write({}, 1, "prefix of another target"));
  CommitOrDie(engine.get());
  for (size_t batch : {size_t{1}, size_t{7}, size_t{1000}}) {
    CAPTURE(batch);
    std::vector<Scanned> scanned = ScanAll(engine.get(), "n2", batch);
    REQUIRE(scanned.size() == keys.size());
    std::vector<std::string> seen;
    for (const Scanned& hint : scanned) {
      seen.push_back(hint.key);
      REQUIRE(hint.set.siblings.size() == 1);
      CHECK(hint.set.siblings[0].value == "for n2 " + hint.key);
    }
    std::vector<std::string> sorted_seen = seen;
    std::sort(sorted_seen.begin(), sorted_seen.end());
    std::vector<std::string> sorted_keys = keys;
    std::sort(sorted_keys.begin(), sorted_keys.end());
    CHECK(sorted_seen == sorted_keys);
  }
  size_t n3 = 0;
  for (const std::string& key : keys) n3 += key.size() % 2 == 0;
  CHECK(ScanAll(engine.get(), "n3").size() == n3);
  CHECK(ScanAll(engine.get(), "n22").size() == 1);
  CHECK(ScanAll(engine.get(), "n9").empty());
  // A cursor of one target is refused for another.
  HintScanCursor cursor;
  REQUIRE(engine
              ->ScanHints("n2", &cursor, 1,
                          [](std::string_view, const SiblingSet&, uint64_t) { return true; })
              .ok());
  CHECK(engine
            ->ScanHints("n3", &cursor, 1,
                        [](std::string_view, const SiblingSet&, uint64_t) { return true; })
            .code() == Status::Code::kInvalidArgument);
  // Long and binary keys read back and delete like any other.
  for (const std::string& key : {keys[101], keys[102], keys[103]}) {
    uint64_t version = 0;
    CHECK(GetOrDie(engine.get(), "n2", key, &version).siblings[0].value == "for n2 " + key);
    bool deleted = false;
    REQUIRE(engine->DeleteHintIfUnchanged("n2", key, version, &deleted).ok());
    CHECK(deleted);
  }
  CommitOrDie(engine.get());
  CHECK(ScanAll(engine.get(), "n2").size() == keys.size() - 3);
  engine->EndIteration();
}

TEST_CASE("hints: survive a reopen, with their stats") {
  TempDir dir;
  const EngineOptions options = Options(dir);
  const SiblingSet set = Write({}, 7, "held");
  HintStats before;
  {
    auto engine = OpenOrDie(options);
    Put(engine.get(), "n2", "k1", set);
    Put(engine.get(), "n2", std::string(700, 'x'), set);
    Put(engine.get(), "n4", "k1", set);
    Put(engine.get(), "n4", "k2", set);
    CommitOrDie(engine.get());
    uint64_t version = 0;
    GetOrDie(engine.get(), "n4", "k2", &version);
    bool deleted = false;
    REQUIRE(engine->DeleteHintIfUnchanged("n4", "k2", version, &deleted).ok());
    REQUIRE(deleted);
    HintLimits limits = engine->hint_limits();
    limits.count_max = 4;
    engine->SetHintLimits(limits);
    bool dropped = false;
    REQUIRE(engine->PutHint("n4", "k3", set, kNow, &dropped).ok());
    CHECK(!dropped);
    REQUIRE(engine->PutHint("n4", "k4", set, kNow, &dropped).ok());
    CHECK(dropped);
    CommitOrDie(engine.get());
    before = Stats(engine.get());
    REQUIRE(before.count == 4);
    CHECK(before.delivered == 1);
    CHECK(before.dropped_count_limit == 1);
  }
  auto engine = OpenOrDie(options);
  const HintStats after = Stats(engine.get());
  CHECK(after.count == before.count);
  CHECK(after.bytes == before.bytes);
  CHECK(after.delivered == 1);
  CHECK(after.dropped_count_limit == 1);
  REQUIRE(after.targets.size() == 2);
  CHECK(after.targets[0].target == "n2");
  CHECK(after.targets[0].count == 2);
  CHECK(after.targets[0].bytes == before.targets[0].bytes);
  CHECK(after.targets[1].count == 2);
  CHECK(GetOrDie(engine.get(), "n2", std::string(700, 'x')) == set);
  SiblingSet read;
  REQUIRE(engine->ReadHints("k1", &read).ok());
  CHECK(read == set);
  engine->EndIteration();
}

TEST_CASE("hints: count and bytes limits refuse new hints and count them") {
  TempDir dir;
  EngineOptions options = Options(dir);
  options.hint_limits.count_max = 2;
  auto engine = OpenOrDie(options);
  Put(engine.get(), "n2", "a", Write({}, 1, "a"));
  Put(engine.get(), "n3", "b", Write({}, 1, "b"));
  bool dropped = false;
  REQUIRE(engine->PutHint("n2", "c", Write({}, 1, "c"), kNow, &dropped).ok());
  CHECK(dropped);
  CHECK(engine->GetHint("n2", "c", nullptr, nullptr, nullptr, nullptr).IsNotFound());
  // A merge into an existing hint is not a new hint: allowed at the count.
  REQUIRE(engine->PutHint("n2", "a", Write({}, 2, "a2"), kNow, &dropped).ok());
  CHECK(!dropped);
  CHECK(GetOrDie(engine.get(), "n2", "a").siblings.size() == 2);
  HintStats stats = Stats(engine.get());
  CHECK(stats.dropped_count_limit == 1);
  CHECK(stats.dropped_bytes_limit == 0);
  // Bytes: a merge that would grow the store past the maximum is refused,
  // and the hint keeps what it held.
  HintLimits limits = engine->hint_limits();
  limits.count_max = 100;
  limits.bytes_max = stats.bytes + 80;  // Room for a small hint only.
  engine->SetHintLimits(limits);
  const SiblingSet held = GetOrDie(engine.get(), "n2", "a");
  REQUIRE(engine->PutHint("n2", "a", Write({}, 3, std::string(100, 'x')), kNow, &dropped).ok());
  CHECK(dropped);
  CHECK(GetOrDie(engine.get(), "n2", "a") == held);
  REQUIRE(engine->PutHint("n4", "d", Write({}, 1, std::string(100, 'y')), kNow, &dropped).ok());
  CHECK(dropped);
  REQUIRE(engine->PutHint("n4", "d", Write({}, 1, "y"), kNow, &dropped).ok());
  CHECK(!dropped);
  CommitOrDie(engine.get());
  stats = Stats(engine.get());
  CHECK(stats.dropped_bytes_limit == 2);
  CHECK(stats.count == 3);
  CHECK(stats.bytes <= limits.bytes_max);
  // A maximum of 0 turns hints off.
  limits.count_max = 0;
  engine->SetHintLimits(limits);
  REQUIRE(engine->PutHint("n5", "e", Write({}, 1, "e"), kNow, &dropped).ok());
  CHECK(dropped);
  CommitOrDie(engine.get());
}

TEST_CASE("hints: expiry drops old hints in bounded steps and counts them") {
  TempDir dir;
  EngineOptions options = Options(dir);
  options.hint_limits.age_max_ms = 1000;
  auto engine = OpenOrDie(options);
  for (int i = 0; i < 10; ++i) {
    Put(engine.get(), "n2", "old" + std::to_string(i), Write({}, 1, "v"), kNow);
    Put(engine.get(), "n3", "new" + std::to_string(i), Write({}, 1, "v"), kNow + 900);
  }
  // Merging keeps the creation time: "old0" stays old.
  Put(engine.get(), "n2", "old0", Write({}, 2, "w"), kNow + 900);
  CommitOrDie(engine.get());
  uint64_t expired = 0;
  REQUIRE(engine->ExpireHints(kNow + 1000, 100, &expired).ok());
  CHECK(expired == 0);  // Exactly the age maximum is not older than it.
  CommitOrDie(engine.get());
  uint64_t total = 0;
  for (int call = 0; call < 20 && total < 10; ++call) {
    REQUIRE(engine->ExpireHints(kNow + 1001, 3, &expired).ok());
    CHECK(expired <= 3);
    total += expired;
    CommitOrDie(engine.get());
  }
  CHECK(total == 10);
  HintStats stats = Stats(engine.get());
  CHECK(stats.count == 10);
  CHECK(stats.expired == 10);
  REQUIRE(stats.targets.size() == 1);
  CHECK(stats.targets[0].target == "n3");
  CHECK(ScanAll(engine.get(), "n2").empty());
  for (int call = 0; call < 10; ++call) {
    REQUIRE(engine->ExpireHints(kNow + 5000, 4, &expired).ok());
    CommitOrDie(engine.get());
  }
  stats = Stats(engine.get());
  CHECK(stats.count == 0);
  CHECK(stats.expired == 20);
  REQUIRE(engine->ExpireHints(kNow + 5000, 4, &expired).ok());
  CHECK(expired == 0);
  CHECK(!engine->has_pending_writes());
}

TEST_CASE("hints: delivery is a merge, so delivering twice changes nothing") {
  TempDir fallback_dir;
  TempDir owner_dir;
  auto fallback = OpenOrDie(Options(fallback_dir));
  EngineOptions owner_options = Options(owner_dir);
  owner_options.node_name = "owner";
  auto owner = OpenOrDie(owner_options);
  // The owner held an older version; the fallback holds two concurrent
  // writes hinted for it.
  const SiblingSet old_version = Write({}, 9, "old");
  const SiblingSet hinted = Write(Write(old_version, 1, "x", old_version.clock), 2, "y");
  Put(fallback.get(), "owner", "k", hinted);
  CommitOrDie(fallback.get());
  auto deliver = [&] {
    for (const Scanned& hint : ScanAll(fallback.get(), "owner")) {
      // What the owner does on receipt: merge into its own record, as with
      // any replica write.
      SiblingSet local;
      std::string_view bytes;
      Status got = owner->Get(PartitionOf(hint.key, 24), hint.key, &bytes);
      if (got.ok()) REQUIRE(DecodeSiblingSet(bytes, &local).ok());
      Merge(&local, hint.set);
      std::string encoded;
      EncodeSiblingSet(local, &encoded);
      REQUIRE(owner->Put(PartitionOf(hint.key, 24), hint.key, encoded, 0).ok());
      CommitOrDie(owner.get());
    }
  };
  {
    std::string encoded;
    EncodeSiblingSet(old_version, &encoded);
    REQUIRE(owner->Put(PartitionOf("k", 24), "k", encoded, +1).ok());
    CommitOrDie(owner.get());
  }
  deliver();
  std::string_view bytes;
  REQUIRE(owner->Get(PartitionOf("k", 24), "k", &bytes).ok());
  const std::string once(bytes);
  owner->EndIteration();
  deliver();  // The acknowledgement was lost: the same hint again.
  REQUIRE(owner->Get(PartitionOf("k", 24), "k", &bytes).ok());
  CHECK(std::string(bytes) == once);
  SiblingSet delivered;
  REQUIRE(DecodeSiblingSet(once, &delivered).ok());
  CHECK(delivered == hinted);  // The old version was superseded.
  owner->EndIteration();
}

TEST_CASE("hints: a full map refuses hints cleanly, like data writes") {
  TempDir dir;
  EngineOptions options = Options(dir);
  options.map_size_bytes = 1 << 20;
  auto engine = OpenOrDie(options);
  const std::string value(1000, 'v');
  Put(engine.get(), "n2", "first", Write({}, 1, value));
  CommitOrDie(engine.get());
  Status full;
  int stored = 1;
  const SiblingSet held = GetOrDie(engine.get(), "n2", "first");
  for (int iteration = 0; iteration < 10000 && full.ok(); ++iteration) {
    for (int i = 0; i < 5; ++i) {
      bool dropped = false;
      Status status =
          engine->PutHint("n2", "k" + std::to_string(stored), Write({}, 1, value), kNow, &dropped);
      if (!status.ok()) {
        full = status;
        CHECK(!dropped);
        // A merge into a stored hint is refused too, in the same
        // transaction, and leaves the hint as it was.
        Status merge = engine->PutHint("n2", "first", Write({}, 2, value), kNow, &dropped);
        CHECK(merge.IsMapFull());
        CHECK(!dropped);
        break;
      }
      REQUIRE(!dropped);
      ++stored;
    }
    CommitOrDie(engine.get());
  }
  INFO(full.ToString());
  REQUIRE(full.IsMapFull());
  CHECK(stored > 10);
  CHECK(GetOrDie(engine.get(), "n2", "first") == held);
  // Every hint acknowledged is there; the stats match the records.
  HintStats stats = Stats(engine.get());
  CHECK(stats.count == static_cast<uint64_t>(stored));
  CHECK(ScanAll(engine.get(), "n2").size() == static_cast<size_t>(stored));
  EngineStats engine_stats;
  REQUIRE(engine->GetStats(&engine_stats).ok());
  CHECK(engine_stats.hint_entries == stats.count);
  engine->EndIteration();
  // Delivery frees room (deletes are never refused).
  for (const Scanned& hint : ScanAll(engine.get(), "n2")) {
    bool deleted = false;
    REQUIRE(engine->DeleteHintIfUnchanged("n2", hint.key, hint.version, &deleted).ok());
    REQUIRE(deleted);
    if (engine->has_pending_writes() && Stats(engine.get()).count % 8 == 0) {
      CommitOrDie(engine.get());
    }
  }
  CommitOrDie(engine.get());
  CHECK(Stats(engine.get()).count == 0);
  Put(engine.get(), "n2", "again", Write({}, 1, value));
  CommitOrDie(engine.get());
  engine->EndIteration();
}

TEST_CASE("hints: a lost transaction takes its hint bookkeeping with it") {
  TempDir dir;
  EngineOptions options = Options(dir);
  options.map_size_bytes = 1 << 20;
  options.check_map_space = false;  // Let LMDB itself fail the commit.
  auto engine = OpenOrDie(options);
  Put(engine.get(), "n2", "kept", Write({}, 1, "v"));
  CommitOrDie(engine.get());
  const HintStats before = Stats(engine.get());
  const std::string value(1000, 'v');
  Status status;
  int stored = 0;
  for (int i = 0; i < 100000 && status.ok(); ++i) {
    bool dropped = false;
    status = engine->PutHint("n3", "k" + std::to_string(i), Write({}, 1, value), kNow, &dropped);
    if (status.ok()) ++stored;
  }
  REQUIRE(status.IsMapFull());
  // LMDB's own map-full: the transaction's earlier hints survive in it.
  CHECK(Stats(engine.get()).count == before.count + static_cast<uint64_t>(stored));
  Status committed = engine->Commit();
  engine->EndIteration();
  MESSAGE("after LMDB's map-full, the commit of " << stored << " hints: " << committed.ToString());
  const HintStats after = Stats(engine.get());
  if (committed.ok()) {
    CHECK(after.count == before.count + static_cast<uint64_t>(stored));
  } else {
    CHECK(after.count == before.count);
    CHECK(after.bytes == before.bytes);
    CHECK(ScanAll(engine.get(), "n3").empty());
  }
  EngineStats engine_stats;
  REQUIRE(engine->GetStats(&engine_stats).ok());
  CHECK(engine_stats.hint_entries == after.count);
  engine->EndIteration();
}

TEST_CASE("hints: hint keys keep a target's hints in one range") {
  std::string key;
  CHECK(EncodeHintKey("n2", 5, "k", 511, &key) == DataKeyKind::kInline);
  CHECK(key == std::string("\x02n2\x00\x05\x00k", 7));
  CHECK(key.starts_with(HintTargetPrefix("n2")));
  std::string_view target;
  uint32_t partition = 0;
  DataKeyKind kind;
  std::string_view rest;
  REQUIRE(ParseHintKey(key, &target, &partition, &kind, &rest));
  CHECK(target == "n2");
  CHECK(partition == 5);
  CHECK(rest == "k");
  // The long-key threshold counts the target prefix: 511 bytes in all.
  CHECK(EncodeHintKey("n2", 5, std::string(505, 'x'), 511, &key) == DataKeyKind::kInline);
  CHECK(key.size() == 511);
  CHECK(EncodeHintKey("n2", 5, std::string(506, 'x'), 511, &key) == DataKeyKind::kHashed);
  CHECK(key.size() == 3 + 3 + 16);
  REQUIRE(ParseHintKey(key, &target, &partition, &kind, &rest));
  CHECK(kind == DataKeyKind::kHashed);
  for (std::string_view bad : {std::string_view(""), std::string_view("\x00", 1),
                               std::string_view("\x05n2"), std::string_view("\x02n2\x00")}) {
    CHECK(!ParseHintKey(bad, &target, &partition, &kind, &rest));
  }
}

// Rewrites the stored record of (target, key) with `edit` applied, through
// LMDB directly, while no engine has the directory open.
void EditStoredHint(const EngineOptions& options, std::string_view target, std::string_view key,
                    const std::function<void(std::string*)>& edit) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 8) == 0);
  REQUIRE(mdb_env_set_mapsize(env, options.map_size_bytes) == 0);
  REQUIRE(mdb_env_open(env, options.data_dir.c_str(), 0, 0640) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi dbi = 0;
  REQUIRE(mdb_dbi_open(txn, "hints", 0, &dbi) == 0);
  std::string hint_key;
  EncodeHintKey(target, PartitionOf(key, options.partition_count), key,
                static_cast<size_t>(mdb_env_get_maxkeysize(env)), &hint_key);
  MDB_val lmdb_key{hint_key.size(), hint_key.data()};
  MDB_val value;
  REQUIRE(mdb_get(txn, dbi, &lmdb_key, &value) == 0);
  std::string record(static_cast<const char*>(value.mv_data), value.mv_size);
  edit(&record);
  value = MDB_val{record.size(), record.data()};
  REQUIRE(mdb_put(txn, dbi, &lmdb_key, &value, 0) == 0);
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

TEST_CASE("hints: a damaged hint is an error, never a crash, and delivery goes on") {
  TempDir dir;
  EngineOptions options = Options(dir);
  options.hint_limits.age_max_ms = 1000;
  const SiblingSet set = Write({}, 1, "v");
  {
    auto engine = OpenOrDie(options);
    for (const char* key : {"a", "b", "c"}) Put(engine.get(), "n2", key, set, kNow);
    CommitOrDie(engine.get());
  }
  // Flip a bit in b's sibling set (its checksum catches it).
  EditStoredHint(options, "n2", "b", [](std::string* record) { (*record)[20] ^= 0x40; });
  {
    auto engine = OpenOrDie(options);
    CHECK(engine->GetHint("n2", "b", nullptr, nullptr, nullptr, nullptr).ok());  // Header only.
    SiblingSet read;
    CHECK(engine->GetHint("n2", "b", &read, nullptr, nullptr, nullptr).IsCorruption());
    CHECK(engine->ReadHints("b", &read).IsCorruption());
    bool dropped = false;
    CHECK(engine->PutHint("n2", "b", set, kNow, &dropped).IsCorruption());
    // The scan reports it and can go on past it.
    HintScanCursor cursor;
    std::vector<std::string> delivered;
    int corrupt = 0;
    for (int calls = 0; !cursor.done && calls < 10; ++calls) {
      Status status = engine->ScanHints("n2", &cursor, 10,
                                        [&](std::string_view key, const SiblingSet&, uint64_t) {
                                          delivered.emplace_back(key);
                                          return true;
                                        });
      if (status.IsCorruption()) ++corrupt;
    }
    CHECK(cursor.done);
    CHECK(corrupt == 1);
    CHECK(delivered.size() == 2);
    // Expiry drops it with the others when its time comes.
    uint64_t expired = 0;
    REQUIRE(engine->ExpireHints(kNow + 2000, 10, &expired).ok());
    CHECK(expired == 3);
    CommitOrDie(engine.get());
    CHECK(Stats(engine.get()).count == 0);
    Put(engine.get(), "n2", "b", set, kNow);
    CommitOrDie(engine.get());
  }
  // A record too short for its header stops Open with a clear error.
  EditStoredHint(options, "n2", "b", [](std::string* record) { record->resize(10); });
  std::unique_ptr<Engine> engine;
  Status status = Engine::Open(options, &engine);
  CHECK(status.IsCorruption());
  CHECK(status.message().find("hint") != std::string::npos);
}

}  // namespace
}  // namespace ringkv::storage
