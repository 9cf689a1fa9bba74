// Tests for storage/inline_bytes.h: bytes on both sides of the inline
// bound kept through copies, moves and assignments (from their own bytes
// too), compared as their bytes are, and the memory table's keys.
#include "storage/inline_bytes.h"

#include <absl/container/flat_hash_map.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ringkv::storage {
namespace {

std::string KeyOf(size_t size, char fill) {
  std::string key(size, fill);
  for (size_t i = 0; i < size; ++i) key[i] = static_cast<char>(fill + static_cast<char>(i % 7));
  return key;
}

TEST_CASE("inline bytes: bytes kept inline and on the heap, through copies and moves") {
  for (size_t size : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, TableKey::kInlineMax,
                      TableKey::kInlineMax + 1, size_t{200}}) {
    CAPTURE(size);
    const std::string bytes = KeyOf(size, 'a');
    const std::string other_bytes = KeyOf(size == 0 ? 40 : size / 2, 'k');
    TableKey key(bytes);
    CHECK(key.view() == bytes);
    CHECK(key.size() == size);
    // The bytes are the key's own, not the source's.
    if (size <= TableKey::kInlineMax) {
      CHECK(key.view().data() == reinterpret_cast<const char*>(&key));
    } else {
      CHECK(key.view().data() != bytes.data());
    }
    TableKey copy(key);
    CHECK(copy.view() == bytes);
    CHECK(copy.view().data() != key.view().data());
    TableKey moved(std::move(copy));
    CHECK(moved.view() == bytes);
    CHECK(copy.view().empty());  // NOLINT(bugprone-use-after-move): moved-from is empty.
    TableKey assigned(other_bytes);
    assigned = key;
    CHECK(assigned.view() == bytes);
    TableKey move_assigned(other_bytes);
    move_assigned = std::move(assigned);
    CHECK(move_assigned.view() == bytes);
    TableKey& self = move_assigned;
    move_assigned = self;
    CHECK(move_assigned.view() == bytes);
    move_assigned = std::move(self);
    CHECK(move_assigned.view() == bytes);
    CHECK(key == move_assigned);
    CHECK(key == std::string_view(bytes));
  }
}

TEST_CASE("inline bytes: assign across the inline bound, from other bytes and from its own") {
  InlineBytes<47> bytes;
  CHECK(bytes.empty());
  // Every transition: inline to inline, inline to heap, heap to a larger
  // heap, heap to a smaller one (the buffer reused), heap to inline.
  const std::vector<size_t> sizes = {10, 47, 48, 1000, 3000, 200, 48, 47, 0, 2000, 5};
  for (size_t i = 0; i < sizes.size(); ++i) {
    CAPTURE(sizes[i]);
    const std::string source = KeyOf(sizes[i], static_cast<char>('a' + i));
    bytes.assign(source);
    CHECK(bytes.view() == source);
    CHECK(bytes.size() == sizes[i]);
    // From a part of its own bytes: the tail, then the head.
    const std::string tail = source.substr(source.size() / 2);
    bytes.assign(bytes.view().substr(source.size() / 2));
    CHECK(bytes.view() == tail);
    const std::string head = tail.substr(0, tail.size() / 3);
    bytes.assign(bytes.view().substr(0, tail.size() / 3));
    CHECK(bytes.view() == head);
    bytes.assign(bytes.view());
    CHECK(bytes.view() == head);
  }
}

TEST_CASE("inline bytes: ordered as their bytes are") {
  std::vector<std::string> strings;
  for (size_t size : {0, 1, 5, 30, 31, 32, 33, 64}) {
    strings.push_back(KeyOf(size, 'a'));
    strings.push_back(KeyOf(size, 'b'));
    strings.push_back(std::string(size, '\xff'));
  }
  for (const std::string& a : strings) {
    for (const std::string& b : strings) {
      CAPTURE(a);
      CAPTURE(b);
      CHECK((TableKey(a) <=> TableKey(b)) == (std::string_view(a) <=> std::string_view(b)));
      CHECK((TableKey(a) <=> std::string_view(b)) == (std::string_view(a) <=> std::string_view(b)));
      CHECK((TableKey(a) == TableKey(b)) == (a == b));
      CHECK((TableKey(a) < std::string_view(b)) == (a < b));
      CHECK((std::string_view(a) < TableKey(b)) == (a < b));
    }
  }
}

TEST_CASE("inline bytes: a hash table keyed by it holds, finds and erases keys of every size") {
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
  };
  absl::flat_hash_map<TableKey, std::string, Hash, std::equal_to<>> table;
  std::map<std::string, std::string> expected;
  // Enough entries to make the table grow (and move its slots) many times.
  for (int i = 0; i < 5000; ++i) {
    const std::string key =
        "key:" + std::to_string(i) + std::string(static_cast<size_t>(i % 50), 'x');
    auto [it, inserted] = table.try_emplace(std::string_view(key));
    CHECK(inserted);
    it->second = std::to_string(i);
    expected[key] = std::to_string(i);
  }
  for (int i = 0; i < 5000; i += 3) {
    const std::string key =
        "key:" + std::to_string(i) + std::string(static_cast<size_t>(i % 50), 'x');
    CHECK(table.erase(std::string_view(key)) == 1);
    expected.erase(key);
  }
  REQUIRE(table.size() == expected.size());
  for (const auto& [key, value] : expected) {
    auto it = table.find(std::string_view(key));
    REQUIRE(it != table.end());
    CHECK(it->first.view() == key);
    CHECK(it->second == value);
  }
  CHECK(table.find(std::string_view("key:0")) == table.end());
  std::vector<std::string_view> keys;
  for (const auto& [key, value] : table) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  CHECK(std::equal(keys.begin(), keys.end(), expected.begin(), expected.end(),
                   [](std::string_view a, const auto& b) { return a == b.first; }));
}

}  // namespace
}  // namespace ringkv::storage
