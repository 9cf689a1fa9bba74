// Tests for cluster/gossip.cc's member-list encoding (EncodeMembers,
// DecodeMembers), the form in which a node persists what it knows: a round
// trip through a restart, and every kind of malformed input rejected with
// its reason.
#include <doctest/doctest.h>
#include <xxhash.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/gossip.h"
#include "unit/cluster/gossip_test_util.h"

namespace ringkv::cluster {
namespace {

using namespace ringkv::cluster::gossip_testing;

TEST_CASE("gossip: the member list survives a restart") {
  Gossip before(MakeRecord("a", 0, 5), Options(), 1);
  before.Start(0);
  MemberRecord odd = MakeRecord("node-with-a-long-name", 77, 0xfedcba9876543210ULL);
  odd.host = std::string(255, 'h');
  odd.port = 65535;
  odd.peer_port = 1;
  odd.weight = kGossipWeightMax;
  odd.created_ms = UINT64_MAX;
  before.OnGossip(std::vector{MakeRecord("b", 9), odd}, 0);
  before.Tick(0);
  std::string bytes = "prefix";
  EncodeMembers(before.Table(), &bytes);
  std::vector<MemberRecord> loaded;
  std::string error;
  REQUIRE_MESSAGE(DecodeMembers(std::string_view(bytes).substr(6), &loaded, &error), error);
  CHECK(loaded == before.Table());

  Gossip after(MakeRecord("a", 0, 5), Options(), 2);
  after.AddKnown(loaded);
  after.Start(50000);
  CHECK(after.Table() == before.Table());
  CHECK(after.AliveCount() == 3);

  std::string empty;
  EncodeMembers({}, &empty);
  REQUIRE(DecodeMembers(empty, &loaded, &error));
  CHECK(loaded.empty());
}

// Appends a valid checksum to `body`, so a test reaches the validation
// behind it.
std::string WithChecksum(std::string body) {
  uint64_t hash = XXH3_64bits(body.data(), body.size());
  for (int i = 0; i < 4; i++) body.push_back(static_cast<char>(hash >> (8 * i)));
  return body;
}

std::string Body(const std::vector<MemberRecord>& records) {
  std::string bytes;
  EncodeMembers(records, &bytes);
  bytes.resize(bytes.size() - 4);
  return bytes;
}

std::string DecodeError(const std::string& bytes) {
  std::vector<MemberRecord> out = {MakeRecord("untouched")};
  std::string error;
  CHECK_FALSE(DecodeMembers(bytes, &out, &error));
  CHECK(out == std::vector{MakeRecord("untouched")});
  return error;
}

TEST_CASE("gossip: decoding a member list rejects malformed input") {
  std::vector<MemberRecord> records = {MakeRecord("a", 1), MakeRecord("b", 2)};
  std::string good;
  EncodeMembers(records, &good);
  for (size_t length = 0; length < good.size(); length++) {
    CAPTURE(length);
    DecodeError(good.substr(0, length));
  }
  for (size_t i = 0; i < good.size(); i++) {
    std::string flipped = good;
    flipped[i] ^= 0x01;
    CAPTURE(i);
    DecodeError(flipped);
  }
  CHECK(DecodeError(good + "x") == "member list: checksum mismatch");
  CHECK(DecodeError(WithChecksum(Body(records) + "x")) == "member list: trailing bytes");
  std::string body = Body(records);
  body[0] = 2;
  CHECK(DecodeError(WithChecksum(body)) == "member list: unknown format version");
  MemberRecord long_host = MakeRecord("c", 3);
  long_host.host = std::string(200, 'h');
  body = Body({MakeRecord("a", 1), long_host});
  body[1] = 3;  // Count 3, two records.
  CHECK(DecodeError(WithChecksum(body)) == "member list: truncated record");
  body[1] = 0;
  body[2] = 0x20;  // Count 8192.
  CHECK(DecodeError(WithChecksum(body)) == "member list: bad count");
  body = Body(records);
  body[1] = static_cast<char>(0xff);  // Count 255: more than the bytes could hold.
  CHECK(DecodeError(WithChecksum(body)) == "member list: bad count");
  CHECK(DecodeError(WithChecksum(Body({MakeRecord("a"), MakeRecord("a", 5)}))) ==
        "member list: duplicate member");

  // Every field's validation, reached with a valid checksum.
  struct Case {
    const char* reason;
    void (*damage)(MemberRecord*);
  };
  const Case cases[] = {
      {"member list: bad member name", [](MemberRecord* r) { r->name.clear(); }},
      {"member list: bad member host", [](MemberRecord* r) { r->host.clear(); }},
      {"member list: bad member port", [](MemberRecord* r) { r->port = 0; }},
      {"member list: bad member port", [](MemberRecord* r) { r->peer_port = 0; }},
      {"member list: bad member weight", [](MemberRecord* r) { r->weight = 0; }},
      {"member list: bad member weight", [](MemberRecord* r) { r->weight = kGossipWeightMax + 1; }},
      {"member list: bad member incarnation", [](MemberRecord* r) { r->incarnation = 0; }},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.reason));
    MemberRecord record = MakeRecord("node-a");  // Long enough to pass the count check.
    c.damage(&record);
    // Encode by hand: EncodeMembers asserts valid records.
    std::string bytes(1, '\1');
    bytes += std::string("\1\0\0\0", 4);
    bytes.push_back(static_cast<char>(record.name.size()));
    bytes += record.name;
    bytes.push_back(static_cast<char>(record.host.size()));
    bytes += record.host;
    auto put = [&bytes](uint64_t value, int width) {
      for (int i = 0; i < width; i++) bytes.push_back(static_cast<char>(value >> (8 * i)));
    };
    put(record.port, 2);
    put(record.peer_port, 2);
    put(record.weight, 4);
    put(record.incarnation, 8);
    put(record.created_ms, 8);
    put(record.heartbeat, 8);
    CHECK(DecodeError(WithChecksum(bytes)) == c.reason);
  }
}

}  // namespace
}  // namespace ringkv::cluster
