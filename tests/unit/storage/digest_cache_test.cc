// Tests for DigestCache (storage/digest_cache.h) and the engine's use of it
// (Engine::FindDigest, CacheDigest): hits and misses, exact keys, the
// two-slot buckets, Clear, the bound, and that every write of a key drops
// its digest on both write paths.
#include "storage/digest_cache.h"

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <random>
#include <string>

#include "storage/engine.h"
#include "unit/temp_dir.h"

namespace ringkv::storage {
namespace {

constexpr Digest128 D(uint64_t n) { return Digest128{n, ~n}; }

std::string Find(DigestCache& cache, std::string_view key) {
  Digest128 digest;
  if (!cache.Find(key, &digest)) return "<none>";
  CHECK(digest.low == ~digest.high);
  return std::to_string(digest.high);
}

TEST_CASE("digest cache: finds what was inserted, exactly, and counts hits and misses") {
  DigestCache cache(1 << 20);
  CHECK(cache.enabled());
  CHECK(Find(cache, "a") == "<none>");
  CHECK(cache.stats().bytes == 0);  // Nothing taken before the first entry.
  cache.Insert("a", D(1));
  cache.Insert("b", D(2));
  CHECK(Find(cache, "a") == "1");
  CHECK(Find(cache, "b") == "2");
  CHECK(Find(cache, "ab") == "<none>");
  CHECK(Find(cache, "") == "<none>");
  cache.Insert("a", D(3));  // Replaces.
  CHECK(Find(cache, "a") == "3");
  const DigestCacheStats stats = cache.stats();
  CHECK(stats.hits == 3);
  CHECK(stats.misses == 3);
  CHECK(stats.bytes == (1 << 20) + (1 << 20) / DigestCache::kBucketBytes / 8);
}

TEST_CASE("digest cache: keys up to kMaxKeyBytes, the empty key included") {
  DigestCache cache(1 << 16);
  const std::string longest(DigestCache::kMaxKeyBytes, 'k');
  const std::string too_long(DigestCache::kMaxKeyBytes + 1, 'k');
  cache.Insert("", D(1));
  cache.Insert(longest, D(2));
  cache.Insert(too_long, D(3));
  CHECK(Find(cache, "") == "1");
  CHECK(Find(cache, longest) == "2");
  CHECK(Find(cache, too_long) == "<none>");
  cache.Erase(too_long);  // Not there: nothing happens.
  CHECK(Find(cache, longest) == "2");
}

TEST_CASE("digest cache: erase and clear") {
  DigestCache cache(1 << 16);
  cache.Insert("a", D(1));
  cache.Insert("b", D(2));
  cache.Erase("a");
  cache.Erase("never");
  CHECK(Find(cache, "a") == "<none>");
  CHECK(Find(cache, "b") == "2");
  cache.Clear();
  CHECK(Find(cache, "b") == "<none>");
  cache.Insert("b", D(4));  // Usable after a clear.
  CHECK(Find(cache, "b") == "4");
}

TEST_CASE("digest cache: one bucket keeps the two newest keys") {
  DigestCache cache(DigestCache::kBucketBytes);  // Every key in one bucket.
  cache.Insert("a", D(1));
  cache.Insert("b", D(2));
  CHECK(Find(cache, "a") == "1");
  CHECK(Find(cache, "b") == "2");
  cache.Insert("c", D(3));  // "a", the older, goes.
  CHECK(Find(cache, "a") == "<none>");
  CHECK(Find(cache, "b") == "2");
  CHECK(Find(cache, "c") == "3");
  cache.Insert("b", D(5));  // Replaced where it is: "c" stays.
  CHECK(Find(cache, "b") == "5");
  CHECK(Find(cache, "c") == "3");
  cache.Erase("c");  // A freed slot is used before anything is evicted.
  cache.Insert("d", D(6));
  CHECK(Find(cache, "b") == "5");
  CHECK(Find(cache, "d") == "6");
  CHECK(cache.stats().bytes == DigestCache::kBucketBytes + 8);
}

TEST_CASE("digest cache: a prefetch changes no answer and no count") {
  // Before the first Insert (no table yet), on a disabled cache, for a key
  // too long to cache, and for keys present and absent: Prefetch only
  // touches memory (ASan would report a stray address).
  DigestCache none(0);
  none.Prefetch("a");
  DigestCache cache(1 << 16);
  cache.Prefetch("a");
  cache.Insert("a", D(1));
  cache.Prefetch("a");
  cache.Prefetch("b");
  cache.Prefetch(std::string(DigestCache::kMaxKeyBytes + 1, 'k'));
  CHECK(Find(cache, "a") == "1");
  CHECK(Find(cache, "b") == "<none>");
  CHECK(cache.stats().hits == 1);
  CHECK(cache.stats().misses == 1);
}

TEST_CASE("digest cache: less than a bucket is none") {
  DigestCache none(0);
  DigestCache small(DigestCache::kBucketBytes - 1);
  for (DigestCache* cache : {&none, &small}) {
    CHECK_FALSE(cache->enabled());
    cache->Insert("a", D(1));
    CHECK(Find(*cache, "a") == "<none>");
    cache->Erase("a");
    cache->Clear();
    CHECK(cache->stats().bytes == 0);
  }
}

TEST_CASE("digest cache: never answers with a digest other than the last one inserted") {
  // A small cache under random inserts, erases and clears of 300 keys: a
  // hit is always the model's value; what it forgets is only a miss.
  DigestCache cache(16 * DigestCache::kBucketBytes);
  std::map<std::string, uint64_t> model;
  std::mt19937_64 random(20261124);
  uint64_t hits = 0;
  for (int step = 0; step < 200000; ++step) {
    const std::string key = "key:" + std::to_string(random() % 300);
    const uint64_t action = random() % 100;
    if (action < 40) {
      const uint64_t value = random();
      cache.Insert(key, D(value));
      model[key] = value;
    } else if (action < 50) {
      cache.Erase(key);
      model.erase(key);
    } else if (action == 50) {
      cache.Clear();
      model.clear();
    } else {
      Digest128 digest;
      if (cache.Find(key, &digest)) {
        ++hits;
        auto it = model.find(key);
        REQUIRE(it != model.end());
        REQUIRE(digest == D(it->second));
      }
    }
  }
  CHECK(hits > 1000);
}

// The engine: every Put and Delete of a key drops its digest, and no other.
void CheckWritesDropDigests(bool write_log) {
  ringkv::testing::TempDir dir;
  EngineOptions options;
  options.data_dir = dir.path() + "/data";
  options.map_size_bytes = 16ULL << 20;
  options.partition_count = 8;
  options.node_name = "node-a";
  options.write_log = write_log;
  options.digest_cache_bytes = 1 << 16;
  std::unique_ptr<Engine> engine;
  REQUIRE(Engine::Open(options, &engine).ok());
  auto put = [&](std::string_view key) {
    REQUIRE(engine->Put(PartitionOf(key, 8), key, "v", 0).ok());
  };
  auto cached = [&](std::string_view key) {
    Digest128 digest;
    return engine->FindDigest(key, &digest) && digest == D(7);
  };
  put("a");
  put("b");
  REQUIRE(engine->Commit().ok());
  engine->CacheDigest("a", D(7));
  engine->CacheDigest("b", D(7));
  engine->CacheDigest("absent", D(7));
  CHECK(cached("a"));
  put("a");
  CHECK_FALSE(cached("a"));
  CHECK(cached("b"));
  REQUIRE(engine->Delete(PartitionOf("b", 8), "b", 0).ok());
  CHECK_FALSE(cached("b"));
  put("absent");  // A key that had no record.
  CHECK_FALSE(cached("absent"));
  REQUIRE(engine->Commit().ok());
  engine->EndIteration();
  EngineStats stats;
  REQUIRE(engine->GetStats(&stats).ok());
  CHECK(stats.digest_cache_hits == 2);
  CHECK(stats.digest_cache_misses == 3);
  CHECK(stats.digest_cache_bytes > 0);
}

TEST_CASE("digest cache: the engine drops a key's digest at each write of it") {
  SUBCASE("B-tree path") { CheckWritesDropDigests(false); }
  SUBCASE("log path") { CheckWritesDropDigests(true); }
}

}  // namespace
}  // namespace ringkv::storage
