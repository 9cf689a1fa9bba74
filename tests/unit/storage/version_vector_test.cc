// tests/unit/storage/version_vector_test.cc
#include "storage/version_vector.h"

#include <doctest/doctest.h>

namespace ringkv::storage {
namespace {

VersionVector Make(std::initializer_list<VersionVector::Entry> entries) {
  VersionVector vector;
  for (const auto& [actor, counter] : entries) vector.Set(actor, counter);
  return vector;
}

TEST_CASE("version vector: get and set keep entries sorted without zeros") {
  VersionVector vector;
  CHECK(vector.empty());
  CHECK(vector.Get(7) == 0);
  vector.Set(9, 3);
  vector.Set(2, 1);
  vector.Set(5, 4);
  CHECK(vector.entries() == std::vector<VersionVector::Entry>{{2, 1}, {5, 4}, {9, 3}});
  vector.Set(5, 6);
  CHECK(vector.Get(5) == 6);
  vector.Set(2, 0);
  CHECK(vector.entries() == std::vector<VersionVector::Entry>{{5, 6}, {9, 3}});
  vector.Set(100, 0);  // Setting an absent entry to zero changes nothing.
  CHECK(vector.size() == 2);
}

TEST_CASE("version vector: covers a dot when its entry is at least the counter") {
  VersionVector vector = Make({{1, 3}});
  CHECK(vector.Covers({1, 3}));
  CHECK(vector.Covers({1, 1}));
  CHECK_FALSE(vector.Covers({1, 4}));
  CHECK_FALSE(vector.Covers({2, 1}));
}

TEST_CASE("version vector: join is the pointwise maximum") {
  VersionVector a = Make({{1, 3}, {4, 1}});
  VersionVector b = Make({{1, 2}, {3, 5}, {4, 7}, {9, 1}});
  VersionVector joined = a;
  joined.Join(b);
  CHECK(joined == Make({{1, 3}, {3, 5}, {4, 7}, {9, 1}}));
  VersionVector other_way = b;
  other_way.Join(a);
  CHECK(other_way == joined);
  VersionVector empty;
  empty.Join(a);
  CHECK(empty == a);
  a.Join(VersionVector{});
  CHECK(a == Make({{1, 3}, {4, 1}}));
}

TEST_CASE("version vector: descends") {
  VersionVector a = Make({{1, 3}, {2, 2}});
  CHECK(a.Descends(VersionVector{}));
  CHECK(a.Descends(a));
  CHECK(a.Descends(Make({{1, 2}})));
  CHECK_FALSE(a.Descends(Make({{1, 4}})));
  CHECK_FALSE(a.Descends(Make({{3, 1}})));
  CHECK_FALSE(Make({{1, 1}}).Descends(Make({{1, 1}, {2, 1}})));
  CHECK_FALSE(VersionVector{}.Descends(a));
}

TEST_CASE("version vector: append sorted rejects disorder, duplicates and zeros") {
  VersionVector vector;
  CHECK(vector.AppendSorted(0, 1));
  CHECK(vector.AppendSorted(5, 2));
  CHECK_FALSE(vector.AppendSorted(5, 3));
  CHECK_FALSE(vector.AppendSorted(4, 3));
  CHECK_FALSE(vector.AppendSorted(6, 0));
  CHECK(vector.AppendSorted(~0ULL, 1));
  CHECK(vector.size() == 3);
  vector.Clear();
  CHECK(vector.empty());
}

TEST_CASE("version vector: actor to hex") {
  CHECK(ActorToHex(0) == "0000000000000000");
  CHECK(ActorToHex(0xa1b2c3d4e5f60718ULL) == "a1b2c3d4e5f60718");
  CHECK(ActorToHex(~0ULL) == "ffffffffffffffff");
}

}  // namespace
}  // namespace ringkv::storage
