// Tests for cluster/engine_store.cc: the ReplicaStore on LMDB, in a
// temporary directory under /tmp.
#include "cluster/engine_store.h"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "cluster/coordinator.h"
#include "cluster/peer_protocol.h"
#include "cluster/ring.h"
#include "storage/sibling_set.h"
#include "unit/temp_dir.h"
#include "unit/storage/random_history.h"

namespace ringkv::cluster {
namespace {

using ringkv::testing::TempDir;

std::unique_ptr<storage::Engine> OpenEngine(const TempDir& dir,
                                            const storage::HintLimits& limits = {}) {
  storage::EngineOptions options;
  options.hint_limits = limits;
  options.data_dir = dir.path() + "/data";
  options.map_size_bytes = 16ULL << 20;
  options.partition_count = 16;
  options.node_name = "node-a";
  std::unique_ptr<storage::Engine> engine;
  storage::Status status = storage::Engine::Open(options, &engine);
  INFO(status.ToString());
  REQUIRE(status.ok());
  return engine;
}

// A set holding one version written by `actor` over `base`.
storage::SiblingSet Written(storage::SiblingSet base, storage::ActorId actor, std::string value,
                            bool tombstone = false) {
  storage::Sibling version;
  version.value = std::move(value);
  version.tombstone = tombstone;
  version.timestamp_ms = 1000;
  storage::VersionVector context = base.clock;
  storage::ApplyWrite(&base, context, actor, std::move(version));
  return base;
}

TEST_CASE("engine store: read, merge, live-key counting, and skipping unchanged merges") {
  TempDir dir;
  std::unique_ptr<storage::Engine> engine = OpenEngine(dir);
  EngineStore store(engine.get());
  CHECK(store.actor() == engine->identity().actor);

  storage::SiblingSet set;
  bool found = true;
  REQUIRE(store.Read("k", &set, &found).ok());
  CHECK(!found);

  // Two concurrent writes become siblings; the key is live once.
  storage::SiblingSet from_x = Written({}, 0x1, "x");
  storage::SiblingSet from_y = Written({}, 0x2, "y");
  storage::SiblingSet merged;
  REQUIRE(store.Merge("k", from_x, &merged).ok());
  CHECK(merged == from_x);
  CHECK(engine->live_keys() == 1);
  REQUIRE(store.Merge("k", from_y, &merged).ok());
  CHECK(merged.siblings.size() == 2);
  CHECK(engine->live_keys() == 1);
  REQUIRE(engine->Commit().ok());

  // Merging what is there writes nothing (no transaction is opened).
  REQUIRE(store.Merge("k", from_x, nullptr).ok());
  REQUIRE(store.Merge("k", merged, nullptr).ok());
  CHECK(!engine->has_pending_writes());
  REQUIRE(store.Merge("empty", storage::SiblingSet(), nullptr).ok());
  CHECK(!engine->has_pending_writes());
  REQUIRE(store.Read("empty", &set, &found).ok());
  CHECK(!found);

  // A tombstone that supersedes both makes the key not live.
  storage::SiblingSet deleted = Written(merged, 0x1, "", /*tombstone=*/true);
  REQUIRE(store.Merge("k", deleted, nullptr).ok());
  CHECK(engine->live_keys() == 0);
  REQUIRE(engine->Commit().ok());
  engine->EndIteration();

  REQUIRE(store.Read("k", &set, &found).ok());
  CHECK(found);
  CHECK(set == deleted);
  CHECK(!storage::IsLive(set));
}

// Merge takes a shortcut when the result is the incoming set itself; either
// way the record, the returned merge and the live-key count must be what
// storage::Merge says.
TEST_CASE("engine store: merge matches storage::Merge on random histories") {
  TempDir dir;
  std::unique_ptr<storage::Engine> engine = OpenEngine(dir);
  EngineStore store(engine.get());
  uint64_t expected_live = 0;
  int key_number = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    CAPTURE(seed);
    storage::testing::RandomHistory history = storage::testing::MakeRandomHistory(seed, 3, 40);
    std::mt19937_64 random(seed);
    for (int trial = 0; trial < 20; ++trial) {
      const std::string key = "key" + std::to_string(key_number++);
      const storage::SiblingSet& current = history.states[random() % history.states.size()];
      storage::SiblingSet incoming = history.states[random() % history.states.size()];
      if (trial % 2 == 0) incoming = Written(current, history.actors[trial % 3], "w");
      REQUIRE(store.Merge(key, current, nullptr).ok());
      storage::SiblingSet expected = current;
      storage::Merge(&expected, incoming);
      storage::SiblingSet merged;
      REQUIRE(store.Merge(key, incoming, &merged).ok());
      CHECK(merged == expected);
      storage::SiblingSet stored;
      bool found = false;
      REQUIRE(store.Read(key, &stored, &found).ok());
      CHECK(found == !(expected == storage::SiblingSet()));
      if (found) CHECK(stored == expected);
      expected_live += storage::IsLive(expected) ? 1 : 0;
      CHECK(engine->live_keys() == expected_live);
      if (trial % 5 == 4) REQUIRE(engine->Commit().ok());
    }
  }
  REQUIRE(engine->Commit().ok());
  engine->EndIteration();
}

TEST_CASE("engine store: Update reads, applies and stores, counting live keys") {
  TempDir dir;
  std::unique_ptr<storage::Engine> engine = OpenEngine(dir);
  EngineStore store(engine.get());
  auto write = [](std::string value, bool tombstone = false) {
    return [value, tombstone](storage::SiblingSet* record) {
      *record = Written(*record, 0x7, value, tombstone);
    };
  };
  storage::SiblingSet set;
  storage::SiblingSet seen;
  // A missing key: `apply` starts from an empty set.
  REQUIRE(store
              .Update(
                  "k",
                  [&seen](storage::SiblingSet* record) {
                    seen = *record;
                    *record = Written(*record, 0x7, "v1");
                  },
                  &set)
              .ok());
  CHECK(seen == storage::SiblingSet());
  CHECK(engine->live_keys() == 1);
  storage::SiblingSet stored;
  bool found = false;
  REQUIRE(store.Read("k", &stored, &found).ok());
  CHECK(found);
  CHECK(stored == set);
  // An existing key: `apply` sees the record; the result replaces it.
  REQUIRE(store.Update("k", write("v2"), &set).ok());
  REQUIRE(set.siblings.size() == 1);
  CHECK(set.siblings[0].value == "v2");
  CHECK(set.clock.Get(0x7) == 2);
  REQUIRE(store.Read("k", &stored, &found).ok());
  CHECK(stored == set);
  CHECK(engine->live_keys() == 1);
  // A tombstone makes the key not live; a value makes it live again.
  REQUIRE(store.Update("k", write("", /*tombstone=*/true), &set).ok());
  CHECK(engine->live_keys() == 0);
  REQUIRE(store.Update("k", write("v3"), &set).ok());
  CHECK(engine->live_keys() == 1);
  REQUIRE(engine->Commit().ok());
  REQUIRE(store.Read("k", &stored, &found).ok());
  CHECK(stored == set);
}

TEST_CASE("engine store: a record that does not decode is reported, not overwritten") {
  TempDir dir;
  std::unique_ptr<storage::Engine> engine = OpenEngine(dir);
  EngineStore store(engine.get());
  const uint32_t partition = storage::PartitionOf("bad", engine->partition_count());
  REQUIRE(engine->Put(partition, "bad", "not a sibling set", 0).ok());
  storage::SiblingSet set;
  bool found = true;
  CHECK(store.Read("bad", &set, &found).IsCorruption());
  CHECK(!found);
  CHECK(store.Merge("bad", Written({}, 0x1, "x"), nullptr).IsCorruption());
  bool applied = false;
  CHECK(store.Update("bad", [&applied](storage::SiblingSet*) { applied = true; }, &set)
            .IsCorruption());
  CHECK(!applied);
  CHECK(set == storage::SiblingSet());
  std::string_view raw;
  REQUIRE(engine->Get(partition, "bad", &raw).ok());
  CHECK(raw == "not a sibling set");
}

TEST_CASE("engine store: Update hands out the bytes it stored; MergeEncoded stores given bytes") {
  TempDir dir;
  std::unique_ptr<storage::Engine> engine = OpenEngine(dir);
  EngineStore store(engine.get());
  const uint32_t partition = storage::PartitionOf("k", engine->partition_count());
  storage::SiblingSet set;
  std::string bytes = "stale";
  REQUIRE(store
              .Update(
                  "k", [](storage::SiblingSet* record) { *record = Written(*record, 0x7, "v"); },
                  &set, &bytes)
              .ok());
  std::string expected;
  storage::EncodeSiblingSet(set, &expected);
  CHECK(bytes == expected);
  std::string_view raw;
  REQUIRE(engine->Get(partition, "k", &raw).ok());
  CHECK(raw == expected);

  // A set that supersedes the record: the given bytes are stored as they
  // are, not the set encoded again. (The encoding is canonical, so to tell
  // the two apart this passes the bytes of another superseding set, which
  // callers never do.)
  const storage::SiblingSet newer = Written(set, 0x8, "w");
  std::string other_bytes;
  storage::EncodeSiblingSet(Written(set, 0x8, "other"), &other_bytes);
  storage::SiblingSet merged;
  REQUIRE(store.MergeEncoded("k", newer, other_bytes, &merged).ok());
  CHECK(merged == newer);
  REQUIRE(engine->Get(partition, "k", &raw).ok());
  CHECK(raw == other_bytes);
  CHECK(engine->live_keys() == 1);
  // Without bytes, the set is encoded.
  std::string newer_bytes;
  storage::EncodeSiblingSet(newer, &newer_bytes);
  REQUIRE(store.MergeEncoded("k2", newer, {}, &merged).ok());
  REQUIRE(engine->Get(storage::PartitionOf("k2", engine->partition_count()), "k2", &raw).ok());
  CHECK(raw == newer_bytes);
  CHECK(engine->live_keys() == 2);

  // A set that does not supersede it (concurrent): merged, and the given
  // bytes (which hold only the incoming side) are not what gets stored.
  storage::SiblingSet stored;
  bool found = false;
  REQUIRE(store.Read("k", &stored, &found).ok());
  const storage::SiblingSet concurrent = Written(set, 0x9, "z");
  std::string concurrent_bytes;
  storage::EncodeSiblingSet(concurrent, &concurrent_bytes);
  REQUIRE(store.MergeEncoded("k", concurrent, concurrent_bytes, &merged).ok());
  storage::SiblingSet expected_merge = stored;
  storage::Merge(&expected_merge, concurrent);
  CHECK(merged == expected_merge);
  CHECK(merged.siblings.size() == 2);
  REQUIRE(store.Read("k", &stored, &found).ok());
  CHECK(stored == expected_merge);
}

TEST_CASE("engine store: an encoded read returns the record's bytes, checked") {
  TempDir dir;
  std::unique_ptr<storage::Engine> engine = OpenEngine(dir);
  EngineStore store(engine.get());
  CHECK(store.encoded_records());
  std::string encoded = "stale";
  bool found = true;
  REQUIRE(store.ReadEncoded("k", &encoded, &found).ok());
  CHECK(!found);
  CHECK(encoded.empty());

  const storage::SiblingSet set = Written(Written({}, 0x1, "x"), 0x2, "y");
  REQUIRE(store.Merge("k", set, nullptr).ok());
  REQUIRE(store.ReadEncoded("k", &encoded, &found).ok());
  CHECK(found);
  std::string expected;
  storage::EncodeSiblingSet(set, &expected);
  CHECK(encoded == expected);

  // A damaged record is an error, as for Read, never bytes sent on.
  const uint32_t partition = storage::PartitionOf("bad", engine->partition_count());
  expected.back() = static_cast<char>(expected.back() ^ 1);  // The checksum.
  REQUIRE(engine->Put(partition, "bad", expected, 0).ok());
  CHECK(store.ReadEncoded("bad", &encoded, &found).IsCorruption());
  CHECK(!found);
  CHECK(encoded.empty());
}

// Serves one peer GetRequest for `key` (with `digest`, a conditional read)
// on `coordinator` and returns its reply as the coordinator queued it.
GetReply ServeGet(Coordinator* coordinator, const std::string& key,
                  std::optional<ReadDigest> digest = std::nullopt) {
  coordinator->OnMessage("node-b", GetRequest{7, key, digest}, 0);
  std::vector<Envelope> outbox = coordinator->TakeOutbox();
  REQUIRE(outbox.size() == 1);
  CHECK(outbox[0].to == "node-b");
  REQUIRE(std::holds_alternative<GetReply>(outbox[0].message));
  return std::get<GetReply>(std::move(outbox[0].message));
}

// The same reply, decoded and encoded again as the replica used to send it.
std::string Reencoded(const GetReply& reply) {
  std::string bytes;
  EncodeMessage(reply, &bytes);
  GetReply decoded = reply;
  if (!reply.encoded_set.empty()) {
    REQUIRE(storage::DecodeSiblingSet(reply.encoded_set, &decoded.set).ok());
    decoded.encoded_set.clear();
  }
  std::string expected;
  EncodeMessage(decoded, &expected);
  CHECK(bytes == expected);
  return bytes;
}

// One node of three on an LMDB store, serving its peers' requests.
struct ServingReplica {
  TempDir dir;
  std::unique_ptr<storage::Engine> engine = OpenEngine(dir);
  EngineStore store{engine.get()};
  Coordinator coordinator{"node-a", &store};

  ServingReplica() { coordinator.SetRing(Ring::Claim(16, {{"node-a"}, {"node-b"}, {"node-c"}})); }
};

TEST_CASE_FIXTURE(ServingReplica,
                  "engine store: a replica answers a peer's read with the record's bytes") {
  GetReply none = ServeGet(&coordinator, "k");
  CHECK(none.ok);
  CHECK(!none.found);
  CHECK(none.encoded_set.empty());

  const storage::SiblingSet record = Written({}, 0x1, "x");
  REQUIRE(store.Merge("k", record, nullptr).ok());
  GetReply raw = ServeGet(&coordinator, "k");
  CHECK(raw.ok);
  CHECK(raw.found);
  CHECK(!raw.encoded_set.empty());
  CHECK(raw.set == storage::SiblingSet());  // Never decoded.
  Reencoded(raw);

  // With a hint held here for the key, the answer is the merge: decoded.
  const storage::SiblingSet hint = Written({}, 0x2, "y");
  bool dropped = true;
  REQUIRE(store.PutHint("node-c", "k", hint, 0, &dropped).ok());
  REQUIRE(!dropped);
  GetReply merged = ServeGet(&coordinator, "k");
  CHECK(merged.ok);
  CHECK(merged.found);
  CHECK(merged.encoded_set.empty());
  storage::SiblingSet expected = record;
  storage::Merge(&expected, hint);
  CHECK(merged.set == expected);
  Reencoded(merged);

  // A hint alone, no record: found, the hint's set.
  REQUIRE(store.PutHint("node-c", "only-hinted", hint, 0, &dropped).ok());
  GetReply hinted = ServeGet(&coordinator, "only-hinted");
  CHECK(hinted.found);
  CHECK(hinted.set == hint);

  // A damaged record is an error reply, counted.
  const uint32_t partition = storage::PartitionOf("bad", engine->partition_count());
  REQUIRE(engine->Put(partition, "bad", "not a sibling set", 0).ok());
  GetReply failed = ServeGet(&coordinator, "bad");
  CHECK(!failed.ok);
  CHECK(!failed.found);
  CHECK(failed.encoded_set.empty());
  CHECK(failed.error.find("Corruption") != std::string::npos);
  CHECK(coordinator.stats().store_errors == 1);
}

TEST_CASE_FIXTURE(
    ServingReplica,
    "engine store: a conditional read answers SAME from the record's versions alone") {
  // No record: the digest of no bytes.
  ReadDigest digest;
  REQUIRE(store.ReadVersionDigest("k", &digest).ok());
  CHECK(digest == *DigestOf({}));
  CHECK(ServeGet(&coordinator, "k", digest).same);

  const storage::SiblingSet record = Written({}, 0x1, "x");
  REQUIRE(store.Merge("k", record, nullptr).ok());
  std::string bytes;
  storage::EncodeSiblingSet(record, &bytes);
  REQUIRE(store.ReadVersionDigest("k", &digest).ok());
  CHECK(digest == *DigestOf(bytes));
  // As ReadDigested gives it.
  storage::SiblingSet read;
  bool found = false;
  ReadDigest read_digest;
  REQUIRE(store.ReadDigested("k", &read, &found, &read_digest).ok());
  CHECK(found);
  CHECK(read_digest == digest);

  GetReply same = ServeGet(&coordinator, "k", digest);
  CHECK(same.ok);
  CHECK(same.same);
  CHECK(!same.found);
  CHECK(same.encoded_set.empty());
  // Another digest: the record in full.
  GetReply differs = ServeGet(&coordinator, "k", *DigestOf({}));
  CHECK(differs.ok);
  CHECK(!differs.same);
  CHECK(differs.found);
  CHECK(differs.encoded_set == bytes);

  // A damaged value behind intact versions still answers SAME (the values
  // are not read); a record whose structure does not parse is an error.
  const uint32_t partition = storage::PartitionOf("k", engine->partition_count());
  std::string damaged = bytes;
  damaged[damaged.find('x')] = 'X';
  REQUIRE(engine->Put(partition, "k", damaged, 0).ok());
  CHECK(ServeGet(&coordinator, "k", digest).same);
  CHECK(store.ReadVersionDigest("k", &digest).ok());
  REQUIRE(engine->Put(partition, "k", "not a sibling set", 0).ok());
  CHECK(store.ReadVersionDigest("k", &digest).IsCorruption());
  GetReply failed = ServeGet(&coordinator, "k", digest);
  CHECK(!failed.ok);
  CHECK(!failed.same);
  CHECK(failed.error.find("Corruption") != std::string::npos);

  // With a hint held for the key the answer is the merge, decided in full.
  REQUIRE(store.Merge("h", record, nullptr).ok());
  const storage::SiblingSet hint = Written({}, 0x2, "y");
  bool dropped = true;
  REQUIRE(store.PutHint("node-c", "h", hint, 0, &dropped).ok());
  REQUIRE(!dropped);
  storage::SiblingSet merged = record;
  storage::Merge(&merged, hint);
  std::string merged_bytes;
  storage::EncodeSiblingSet(merged, &merged_bytes);
  CHECK(!ServeGet(&coordinator, "h", *DigestOf(bytes)).same);
  CHECK(ServeGet(&coordinator, "h", *DigestOf(merged_bytes)).same);
}

TEST_CASE_FIXTURE(ServingReplica,
                  "engine store: a conditional read never answers SAME from a digest its key's "
                  "write made stale") {
  // Each way a replica's record changes, after a SAME that left the old
  // copy's digest in the engine's digest cache: the old digest must then
  // get the new record in full, and the new digest SAME.
  auto hits = [&] {
    storage::EngineStats stats;
    REQUIRE(engine->GetStats(&stats).ok());
    return stats.digest_cache_hits;
  };
  storage::SiblingSet current = Written({}, 0x1, "v0");
  REQUIRE(store.Merge("k", current, nullptr).ok());
  const std::vector<std::string> ways = {"Merge", "MergeEncoded", "Update", "repair"};
  for (const std::string& way : ways) {
    CAPTURE(way);
    std::string old_bytes;
    storage::EncodeSiblingSet(current, &old_bytes);
    const ReadDigest old_digest = *DigestOf(old_bytes);
    CHECK(ServeGet(&coordinator, "k", old_digest).same);
    const uint64_t hits_before = hits();
    CHECK(ServeGet(&coordinator, "k", old_digest).same);
    CHECK(hits() == hits_before + 1);  // Answered from the cache.

    storage::SiblingSet next = Written(current, 0x2, "v-" + way);
    if (way == "Merge") {
      REQUIRE(store.Merge("k", next, nullptr).ok());
    } else if (way == "MergeEncoded") {
      std::string bytes;
      storage::EncodeSiblingSet(next, &bytes);
      REQUIRE(store.MergeEncoded("k", next, bytes, nullptr).ok());
    } else if (way == "Update") {
      storage::SiblingSet stored;
      REQUIRE(store
                  .Update(
                      "k", [&next](storage::SiblingSet* set) { *set = next; }, &stored)
                  .ok());
    } else {
      // A peer's PutRequest, as read repair and hinted handoff send it.
      coordinator.OnMessage("node-b", PutRequest{8, "k", next, {}}, 0);
      coordinator.TakeOutbox();
    }
    std::string new_bytes;
    storage::EncodeSiblingSet(next, &new_bytes);
    GetReply stale = ServeGet(&coordinator, "k", old_digest);
    CHECK(!stale.same);
    CHECK(stale.found);
    CHECK(stale.encoded_set == new_bytes);
    CHECK(ServeGet(&coordinator, "k", *DigestOf(new_bytes)).same);
    current = next;
  }
  REQUIRE(engine->Commit().ok());
}

TEST_CASE("engine store: hints are the engine's, merged, read back, scanned and deleted") {
  TempDir dir;
  std::unique_ptr<storage::Engine> engine = OpenEngine(dir);
  EngineStore store(engine.get());
  storage::SiblingSet set;
  bool found = true;
  REQUIRE(store.ReadHints("k", &set, &found).ok());
  CHECK(!found);
  bool dropped = true;
  const storage::SiblingSet from_x = Written({}, 0x1, "x");
  const storage::SiblingSet from_y = Written({}, 0x2, "y");
  REQUIRE(store.PutHint("node-b", "k", from_x, 1000, &dropped).ok());
  CHECK(!dropped);
  REQUIRE(store.PutHint("node-c", "k", from_y, 1000, &dropped).ok());
  REQUIRE(store.ReadHints("k", &set, &found).ok());
  CHECK(found);
  CHECK(set.siblings.size() == 2);
  storage::HintStats stats;
  store.GetHintStats(&stats);
  CHECK(stats.count == 2);
  REQUIRE(stats.targets.size() == 2);

  storage::HintScanCursor cursor;
  uint64_t version = 0;
  REQUIRE(store
              .ScanHints("node-b", &cursor, 10,
                         [&](std::string_view key, const storage::SiblingSet& hint, uint64_t v) {
                           CHECK(key == "k");
                           CHECK(hint == from_x);
                           version = v;
                           return true;
                         })
              .ok());
  CHECK(cursor.done);
  bool deleted = false;
  REQUIRE(store.DeleteHintIfUnchanged("node-b", "k", version + 1, &deleted).ok());
  CHECK(!deleted);
  REQUIRE(store.DeleteHintIfUnchanged("node-b", "k", version, &deleted).ok());
  CHECK(deleted);
  uint64_t expired = 0;
  REQUIRE(store.ExpireHints(1000 + storage::HintLimits().age_max_ms + 1, 10, &expired).ok());
  CHECK(expired == 1);
  store.GetHintStats(&stats);
  CHECK(stats.count == 0);
  CHECK(stats.delivered == 1);
  CHECK(stats.expired == 1);
}

// A stand-in over LMDB: the hint it acknowledged survives its restart, is
// served to reads, and a new Coordinator on the reopened engine delivers it.
TEST_CASE("engine store: a stand-in's hints survive a restart and are delivered after it") {
  TempDir dir;
  const Ring ring = Ring::Claim(16, {{"node-a"}, {"node-b"}, {"node-c"}});
  const storage::SiblingSet hinted = Written({}, 0x7, "v");
  {
    std::unique_ptr<storage::Engine> engine = OpenEngine(dir);
    EngineStore store(engine.get());
    Coordinator coordinator("node-a", &store);
    coordinator.SetRing(ring);
    coordinator.SetDown("node-b", true);
    coordinator.OnMessage("node-c", PutRequest{1, "k", hinted, "node-b"}, 1000);
    std::vector<Envelope> replies = coordinator.TakeOutbox();
    REQUIRE(replies.size() == 1);
    CHECK(std::get<PutReply>(replies[0].message).ok);
    REQUIRE(engine->Commit().ok());
    engine->EndIteration();
  }
  std::unique_ptr<storage::Engine> engine = OpenEngine(dir);
  EngineStore store(engine.get());
  Coordinator coordinator("node-a", &store);
  coordinator.SetRing(ring);
  HintsStatus status = coordinator.GetHintsStatus();
  CHECK(status.count == 1);
  REQUIRE(status.targets.size() == 1);
  CHECK(status.targets[0].target == "node-b");
  CHECK(status.targets[0].count == 1);
  storage::SiblingSet own;
  bool found = true;
  REQUIRE(store.Read("k", &own, &found).ok());
  CHECK(!found);  // A hint, never this node's own record.

  // Served to reads while the owner is away.
  coordinator.SetDown("node-b", true);
  coordinator.OnMessage("node-c", GetRequest{2, "k"}, 2000);
  std::vector<Envelope> replies = coordinator.TakeOutbox();
  REQUIRE(replies.size() == 1);
  const GetReply& get = std::get<GetReply>(replies[0].message);
  CHECK(get.ok);
  CHECK(get.found);
  CHECK(get.set == hinted);

  // Delivered once it is back, deleted on its ack, and that is durable.
  coordinator.SetDown("node-b", false);
  coordinator.OnTick(2001);
  std::vector<Envelope> sent = coordinator.TakeOutbox();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].to == "node-b");
  const PutRequest& delivery = std::get<PutRequest>(sent[0].message);
  CHECK(delivery.hint_for.empty());
  CHECK(delivery.set == hinted);
  coordinator.OnMessage("node-b", PutReply{delivery.id, true, ""}, 2002);
  REQUIRE(engine->Commit().ok());
  engine->EndIteration();
  CHECK(coordinator.stats().hints_delivered == 1);
  engine.reset();
  engine = OpenEngine(dir);
  storage::HintStats stats;
  engine->GetHintStats(&stats);
  CHECK(stats.count == 0);
  CHECK(stats.delivered == 1);
}

TEST_CASE("engine store: the engine's hint limits refuse a stand-in's hint, counted") {
  TempDir dir;
  storage::HintLimits limits;
  limits.count_max = 1;
  std::unique_ptr<storage::Engine> engine = OpenEngine(dir, limits);
  EngineStore store(engine.get());
  Coordinator coordinator("node-a", &store);
  coordinator.SetRing(Ring::Claim(16, {{"node-a"}, {"node-b"}, {"node-c"}}));
  coordinator.OnMessage("node-c", PutRequest{1, "k1", Written({}, 0x7, "v"), "node-b"}, 1000);
  coordinator.OnMessage("node-c", PutRequest{2, "k2", Written({}, 0x7, "v"), "node-b"}, 1000);
  std::vector<Envelope> replies = coordinator.TakeOutbox();
  REQUIRE(replies.size() == 2);
  CHECK(std::get<PutReply>(replies[0].message).ok);
  CHECK(!std::get<PutReply>(replies[1].message).ok);
  HintsStatus status = coordinator.GetHintsStatus();
  CHECK(status.count == 1);
  CHECK(status.dropped_count_limit == 1);
  CHECK(coordinator.stats().hints_refused == 1);
}

}  // namespace
}  // namespace ringkv::cluster
