// Tests for RecordCache (storage/record_cache.h): hits and misses, the
// byte bound, CLOCK's second chance, erasure, records too big to cache,
// and views that stay valid until ReleaseRetired (the ASan build checks
// that part).
#include "storage/record_cache.h"

#include <doctest/doctest.h>

#include <string>

namespace ringkv::storage {
namespace {

constexpr size_t kOverhead = RecordCache::kEntryOverheadBytes;

std::string Find(RecordCache& cache, std::string_view key) {
  std::string_view record;
  if (!cache.Find(key, &record)) return "<none>";
  return std::string(record);
}

TEST_CASE("record cache: finds what was inserted, counts hits and misses") {
  RecordCache cache(1 << 20);
  CHECK(Find(cache, "a") == "<none>");
  cache.Insert("a", "one");
  cache.Insert("b", "two");
  CHECK(Find(cache, "a") == "one");
  CHECK(Find(cache, "b") == "two");
  cache.Insert("a", "uno");  // Replaces.
  CHECK(Find(cache, "a") == "uno");
  const RecordCacheStats stats = cache.stats();
  CHECK(stats.hits == 3);
  CHECK(stats.misses == 1);
  CHECK(stats.entries == 2);
  // The replaced entry stays counted until the hand frees it.
  CHECK(stats.bytes == 3 * kOverhead + 3 * (1 + 3));
}

TEST_CASE("record cache: an erased key is gone at once") {
  RecordCache cache(1 << 20);
  cache.Insert("a", "one");
  cache.Erase("a");
  cache.Erase("never");
  CHECK(Find(cache, "a") == "<none>");
  CHECK(cache.stats().entries == 0);
}

TEST_CASE("record cache: never holds more than its bound, and evicts what was not read first") {
  const std::string record(100, 'r');
  const size_t cost = kOverhead + 2 + record.size();  // Keys of 2 bytes.
  RecordCache cache(10 * cost);
  for (int i = 0; i < 10; ++i) cache.Insert("k" + std::to_string(i), record);
  CHECK(cache.stats().bytes == 10 * cost);
  CHECK(cache.stats().evictions == 0);
  // Read the even keys: the odd ones go first.
  for (int i = 0; i < 10; i += 2) CHECK(Find(cache, "k" + std::to_string(i)) == record);
  for (int i = 0; i < 5; ++i) {
    cache.Insert("n" + std::to_string(i), record);
    CHECK(cache.stats().bytes <= 10 * cost);
  }
  CHECK(cache.stats().evictions == 5);
  for (int i = 0; i < 10; ++i) {
    CAPTURE(i);
    CHECK((Find(cache, "k" + std::to_string(i)) == "<none>") == (i % 2 == 1));
  }
  // A long run of inserts keeps to the bound too.
  for (int i = 0; i < 1000; ++i) {
    cache.Insert("m" + std::to_string(i % 100), record + std::to_string(i));
    REQUIRE(cache.stats().bytes <= 10 * cost);
  }
  cache.ReleaseRetired();
}

TEST_CASE("record cache: erased entries count against the bound until the hand frees them") {
  const std::string record(100, 'r');
  const size_t cost = kOverhead + 2 + record.size();
  RecordCache cache(8 * cost);
  for (int i = 0; i < 8; ++i) cache.Insert("k" + std::to_string(i), record);
  for (int i = 0; i < 8; ++i) cache.Erase("k" + std::to_string(i));
  CHECK(cache.stats().bytes == 8 * cost);
  CHECK(cache.stats().entries == 0);
  cache.Insert("n0", record);  // Frees one erased entry, not counted as an eviction.
  CHECK(cache.stats().bytes == 8 * cost);
  CHECK(cache.stats().evictions == 0);
  CHECK(Find(cache, "n0") == record);
}

TEST_CASE(
    "record cache: a record over an eighth of the bound is not cached; a bound of 0 caches "
    "nothing") {
  RecordCache cache(8000);
  cache.Insert("big", std::string(1000, 'x'));
  CHECK(Find(cache, "big") == "<none>");
  cache.Insert("small", std::string(800, 'x'));
  CHECK(Find(cache, "small") == std::string(800, 'x'));

  RecordCache off(0);
  off.Insert("a", "1");
  CHECK(off.stats().bytes == 0);
  CHECK(Find(off, "a") == "<none>");
  CHECK(off.stats().misses == 0);  // Nothing looked up.
}

TEST_CASE("record cache: a view stays valid after its entry is evicted, until ReleaseRetired") {
  const std::string record(200, 'v');
  RecordCache cache(8 * (kOverhead + 1 + record.size()));
  cache.Insert("a", record);
  std::string_view view;
  REQUIRE(cache.Find("a", &view));
  cache.Erase("a");
  for (int i = 0; i < 16; ++i) cache.Insert(std::string(1, static_cast<char>('b' + i)), record);
  CHECK(cache.stats().entries == 8);  // "a" was freed by the hand, then 8 of the 16.
  CHECK(view == record);              // Under ASan, a read of freed memory would fail here.
  cache.ReleaseRetired();
}

}  // namespace
}  // namespace ringkv::storage
