// tests/unit/storage/sibling_set_codec_test.cc: the binary encoding of
// sibling sets and its validation (docs/storage_format.md).
#include <doctest/doctest.h>
#include <xxhash.h>

#include <limits>
#include <random>
#include <string>

#include "storage/coding.h"
#include "storage/sibling_set.h"
#include "unit/storage/random_history.h"

namespace ringkv::storage {
namespace {

using namespace std::string_literals;

std::string Encode(const SiblingSet& set) {
  std::string bytes;
  EncodeSiblingSet(set, &bytes);
  return bytes;
}

// Rewrites the trailing checksum so a test can reach the checks behind it.
std::string WithChecksum(std::string body) {
  coding::PutFixed32(&body, static_cast<uint32_t>(XXH3_64bits(body.data(), body.size())));
  return body;
}

std::string WithoutChecksum(const std::string& bytes) { return bytes.substr(0, bytes.size() - 4); }

SiblingSet Sample() {
  SiblingSet set;
  Sibling a;
  a.value = std::string("hello\0world", 11);
  a.timestamp_ms = 1700000000123;
  ApplyWrite(&set, VersionVector{}, 0x10, a);
  Sibling b;
  b.tombstone = true;
  b.timestamp_ms = -5;
  ApplyWrite(&set, VersionVector{}, ~0ULL, b);
  Sibling c;
  c.value = "expiring";
  c.expire_at_ms = 1800000000000;
  ApplyWrite(&set, VersionVector{}, 0x7, c);
  return set;
}

TEST_CASE("sibling set codec: round trip of a hand-made set") {
  SiblingSet set = Sample();
  std::string bytes = Encode(set);
  SiblingSet decoded;
  REQUIRE(DecodeSiblingSet(bytes, &decoded).ok());
  CHECK(decoded == set);
  // Equal sets encode to equal bytes.
  CHECK(Encode(decoded) == bytes);
  // Encode appends.
  std::string prefixed = "prefix";
  EncodeSiblingSet(set, &prefixed);
  CHECK(prefixed == "prefix" + bytes);
}

TEST_CASE("sibling set codec: the documented byte layout") {
  SiblingSet set;
  Sibling version;
  version.value = "v";
  version.timestamp_ms = -1;
  version.expire_at_ms = 300;
  ApplyWrite(&set, VersionVector{}, 0x0102030405060708ULL, version);
  const std::string actor("\x08\x07\x06\x05\x04\x03\x02\x01", 8);
  std::string body;
  body += '\x01';                   // Format version.
  body += '\x01' + actor + '\x01';  // One clock entry: actor, counter 1.
  body += '\x01' + actor + '\x01';  // One sibling: dot (actor, 1),
  body += '\x01';                   //   timestamp -1 zigzagged,
  body += '\x02';                   //   flags: has expiry,
  body += "\xd8\x04";               //   expiry 300 zigzagged = 600,
  body += "\x01v";                  //   value.
  CHECK(Encode(set) == WithChecksum(body));
}

TEST_CASE("sibling set codec: round trip of random histories, and the view agrees") {
  SiblingSetView view;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    testing::RandomHistory history = testing::MakeRandomHistory(seed, 4, 40);
    for (const SiblingSet& set : history.states) {
      std::string bytes = Encode(set);
      SiblingSet decoded;
      REQUIRE(DecodeSiblingSet(bytes, &decoded).ok());
      CHECK(decoded == set);
      REQUIRE(view.Parse(bytes).ok());
      CHECK(view.clock() == set.clock);
      REQUIRE(view.sibling_count() == set.siblings.size());
      for (size_t i = 0; i < set.siblings.size(); ++i) {
        CHECK(view.sibling(i).dot == set.siblings[i].dot);
        CHECK(view.sibling(i).value == set.siblings[i].value);
        CHECK(view.sibling(i).timestamp_ms == set.siblings[i].timestamp_ms);
        CHECK(view.sibling(i).expire_at_ms == set.siblings[i].expire_at_ms);
        CHECK(view.sibling(i).tombstone == set.siblings[i].tombstone);
      }
      if (!set.siblings.empty()) {
        CHECK(view.winner().dot == set.siblings[PickWinner(set.siblings)].dot);
      }
      CHECK(view.live() == IsLive(set));
    }
  }
}

TEST_CASE("sibling set codec: every truncation is corruption") {
  std::string bytes = Encode(Sample());
  SiblingSetView view;
  for (size_t length = 0; length < bytes.size(); ++length) {
    SiblingSet decoded;
    CHECK(DecodeSiblingSet(bytes.substr(0, length), &decoded).IsCorruption());
    CHECK(view.Parse(bytes.substr(0, length)).IsCorruption());
    CHECK(view.sibling_count() == 0);
  }
  SiblingSet decoded;
  CHECK(DecodeSiblingSet(bytes + "x", &decoded).IsCorruption());
}

TEST_CASE("sibling set codec: every flipped bit is corruption") {
  std::string bytes = Encode(Sample());
  SiblingSetView view;
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string damaged = bytes;
      damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
      SiblingSet decoded;
      CHECK(DecodeSiblingSet(damaged, &decoded).IsCorruption());
      CHECK(view.Parse(damaged).IsCorruption());
    }
  }
}

// With a valid checksum over damaged bytes, the structural checks must
// still reject or accept the input without crashing, and whatever they
// accept must satisfy the invariants and re-encode to the same bytes.
TEST_CASE("sibling set codec: random damage behind a valid checksum never crashes") {
  std::mt19937_64 random(7);
  std::string body = WithoutChecksum(Encode(Sample()));
  SiblingSetView view;
  int accepted = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    std::string damaged = body;
    const int edits = 1 + static_cast<int>(random() % 3);
    for (int e = 0; e < edits; ++e) {
      const size_t at = random() % damaged.size();
      switch (random() % 3) {
        case 0:
          damaged[at] = static_cast<char>(random());
          break;
        case 1:
          damaged.erase(at, 1 + random() % 4);
          break;
        default:
          damaged.insert(at, 1, static_cast<char>(random()));
      }
      if (damaged.empty()) damaged = "\x01";
    }
    std::string bytes = WithChecksum(damaged);
    SiblingSet decoded;
    Status status = DecodeSiblingSet(bytes, &decoded);
    CHECK(view.Parse(bytes).code() == status.code());
    if (status.ok()) {
      ++accepted;
      CHECK(Encode(decoded) == bytes);
    } else {
      CHECK(status.IsCorruption());
      CHECK_FALSE(status.message().empty());
    }
  }
  MESSAGE("accepted " << accepted << " of 20000 damaged records");
}

TEST_CASE("sibling set codec: the checksum check is the decoder's first checks only") {
  const std::string bytes = Encode(Sample());
  CHECK(CheckSiblingSetChecksum(bytes).ok());
  CHECK(CheckSiblingSetChecksum(Encode(SiblingSet())).ok());
  SiblingSet decoded;
  for (size_t length = 0; length < bytes.size(); ++length) {
    CAPTURE(length);
    CHECK(CheckSiblingSetChecksum(bytes.substr(0, length)).IsCorruption());
  }
  for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    std::string flipped = bytes;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    Status status = CheckSiblingSetChecksum(flipped);
    CHECK(status.IsCorruption());
    CHECK(status.message() == DecodeSiblingSet(flipped, &decoded).message());
  }
  std::string version_two = WithoutChecksum(bytes);
  version_two[0] = 2;
  CHECK(CheckSiblingSetChecksum(WithChecksum(version_two)).message() ==
        "sibling set: unknown format version");
  // Behind a valid checksum it parses nothing: only the decoder sees this.
  const std::string trailing = WithChecksum(WithoutChecksum(bytes) + "x");
  CHECK(CheckSiblingSetChecksum(trailing).ok());
  CHECK(DecodeSiblingSet(trailing, &decoded).IsCorruption());
}

TEST_CASE("sibling set codec: structural checks name the problem") {
  const std::string actor1(8, '\x01');
  const std::string actor2(8, '\x02');
  struct Case {
    const char* name;
    std::string body;
    const char* expected;
  };
  const Case cases[] = {
      {"version", "\x02\x00\x00"s, "format version"},
      {"clock count", "\x01\xff\xff\x01", "clock entry count"},
      {"unsorted clock", "\x01\x02" + actor2 + "\x01" + actor1 + "\x01" + '\x00', "sorted"},
      {"zero counter", "\x01\x01" + actor1 + '\x00' + '\x00', "sorted"},
      {"sibling count", "\x01\x01" + actor1 + "\x01\x05", "sibling count"},
      {"uncovered dot", "\x01\x01" + actor1 + "\x01\x01" + actor1 + "\x02\x00\x00\x00"s, "covered"},
      {"unknown flag", "\x01\x01" + actor1 + "\x01\x01" + actor1 + "\x01\x00\x04\x00"s, "flag"},
      {"tombstone value", "\x01\x01" + actor1 + "\x01\x01" + actor1 + "\x01\x00\x01\x01x"s,
       "tombstone"},
      {"zero expiry", "\x01\x01" + actor1 + "\x01\x01" + actor1 + "\x01\x00\x02\x00\x00"s,
       "expiry"},
      {"value length", "\x01\x01" + actor1 + "\x01\x01" + actor1 + "\x01\x00\x00\x09x"s,
       "value length"},
      {"duplicate dot",
       "\x01\x01" + actor1 + "\x01\x02" + actor1 + "\x01\x00\x00\x00"s + actor1 +
           "\x01\x00\x00\x00"s,
       "sorted"},
      {"trailing", "\x01\x01" + actor1 + "\x01\x01" + actor1 + "\x01\x00\x00\x00z"s, "trailing"},
      {"overlong varint", "\x01\x01" + actor1 + "\x81\x00\x00"s, "clock entry"},
      {"varint overflow", "\x01\x01" + actor1 + "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02\x00"s,
       "clock entry"},
  };
  for (const Case& c : cases) {
    SiblingSet decoded;
    Status status = DecodeSiblingSet(WithChecksum(c.body), &decoded);
    const std::string name = c.name;
    const std::string result = status.ToString();
    CAPTURE(name);
    CAPTURE(result);
    CHECK(status.IsCorruption());
    CHECK(result.find(c.expected) != std::string::npos);
  }
  // The largest counter and extreme timestamps are fine.
  SiblingSet set;
  set.clock.Set(5, std::numeric_limits<uint64_t>::max());
  Sibling sibling;
  sibling.dot = {5, std::numeric_limits<uint64_t>::max()};
  sibling.timestamp_ms = std::numeric_limits<int64_t>::min();
  sibling.expire_at_ms = std::numeric_limits<int64_t>::max();
  set.siblings.push_back(sibling);
  SiblingSet decoded;
  REQUIRE(DecodeSiblingSet(Encode(set), &decoded).ok());
  CHECK(decoded == set);
}

TEST_CASE("sibling set codec: version bytes are the record without its values") {
  SiblingSet set;
  Sibling version;
  version.value = "value";
  version.timestamp_ms = -1;
  ApplyWrite(&set, VersionVector{}, 0x0102030405060708ULL, version);
  const std::string actor("\x08\x07\x06\x05\x04\x03\x02\x01", 8);
  std::string versions = "prefix";
  REQUIRE(AppendSiblingSetVersionBytes(Encode(set), &versions).ok());
  // As the documented layout, with the value's bytes (not its length) and
  // the checksum left out; appended.
  CHECK(versions == "prefix\x01\x01" + actor + "\x01\x01" + actor + "\x01\x01\x00\x05"s);

  // Every sibling's value goes, tombstones and expiries stay.
  const SiblingSet sample = Sample();
  const std::string bytes = Encode(sample);
  std::string sample_versions;
  REQUIRE(AppendSiblingSetVersionBytes(bytes, &sample_versions).ok());
  size_t values = 0;
  for (const Sibling& sibling : sample.siblings) values += sibling.value.size();
  CHECK(sample_versions.size() == bytes.size() - 4 - values);
  CHECK(sample_versions.find("hello") == std::string::npos);
  CHECK(sample_versions.find("expiring") == std::string::npos);

  // Another value under the same dots has the same version bytes; another
  // length, timestamp or dot does not.
  SiblingSet other_value = set;
  other_value.siblings[0].value = "VALUE";
  std::string same;
  REQUIRE(AppendSiblingSetVersionBytes(Encode(other_value), &same).ok());
  CHECK("prefix" + same == versions);
  auto differs = [&](const SiblingSet& changed) {
    std::string out;
    REQUIRE(AppendSiblingSetVersionBytes(Encode(changed), &out).ok());
    return "prefix" + out != versions;
  };
  SiblingSet longer = set;
  longer.siblings[0].value = "values";
  CHECK(differs(longer));
  SiblingSet later = set;
  later.siblings[0].timestamp_ms = 5;
  CHECK(differs(later));
  SiblingSet rewritten = set;
  ApplyWrite(&rewritten, rewritten.clock, 0x0102030405060708ULL, version);
  CHECK(differs(rewritten));

  // The values (and so the checksum) are not read; the structure is.
  std::string damaged_value = bytes;
  damaged_value[bytes.find("hello")] ^= 0x20;
  std::string unchecked;
  REQUIRE(AppendSiblingSetVersionBytes(damaged_value, &unchecked).ok());
  CHECK(unchecked == sample_versions);
  for (size_t cut = 0; cut < bytes.size() - 4; ++cut) {
    std::string out;
    CHECK(AppendSiblingSetVersionBytes(WithChecksum(bytes.substr(0, cut)), &out).IsCorruption());
  }
  std::string out;
  CHECK(AppendSiblingSetVersionBytes(WithChecksum(WithoutChecksum(bytes) + "x"), &out)
            .IsCorruption());
}

TEST_CASE("sibling set codec: an empty set is valid and not live") {
  SiblingSetView view;
  REQUIRE(view.Parse(Encode(SiblingSet{})).ok());
  CHECK(view.sibling_count() == 0);
  CHECK_FALSE(view.live());
}

TEST_CASE("sibling set codec: the view is reusable across parses") {
  SiblingSetView view;
  std::string big = Encode(Sample());
  SiblingSet one;
  ApplyWrite(&one, VersionVector{}, 3, Sibling{{}, 1, false, 0, "one"});
  std::string small = Encode(one);
  REQUIRE(view.Parse(big).ok());
  CHECK(view.sibling_count() == 3);
  REQUIRE(view.Parse(small).ok());
  CHECK(view.sibling_count() == 1);
  CHECK(view.winner().value == "one");
  CHECK(view.live());
  CHECK(view.Parse("garbage").IsCorruption());
  CHECK(view.sibling_count() == 0);
  CHECK(view.clock().empty());
}

TEST_CASE("coding: varints are minimal and bounded") {
  for (uint64_t value : {0ULL, 1ULL, 127ULL, 128ULL, 16383ULL, 16384ULL, ~0ULL}) {
    std::string bytes;
    coding::PutVarint64(&bytes, value);
    CHECK(bytes.size() == coding::Varint64Length(value));
    std::string_view input = bytes;
    uint64_t decoded = 0;
    REQUIRE(coding::GetVarint64(&input, &decoded));
    CHECK(decoded == value);
    CHECK(input.empty());
  }
  for (int64_t value : std::initializer_list<int64_t>{0, 1, -1, std::numeric_limits<int64_t>::min(),
                                                      std::numeric_limits<int64_t>::max()}) {
    CHECK(coding::ZigZagDecode(coding::ZigZagEncode(value)) == value);
  }
  uint64_t value = 0;
  std::string_view overlong("\x80\x00", 2);
  CHECK_FALSE(coding::GetVarint64(&overlong, &value));
  std::string_view eleven("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
  CHECK_FALSE(coding::GetVarint64(&eleven, &value));
  std::string_view truncated("\xff", 1);
  CHECK_FALSE(coding::GetVarint64(&truncated, &value));
}

}  // namespace
}  // namespace ringkv::storage
