// Tests for cluster/peer_protocol_membership.cc: the handshake messages and
// gossip round-trip through the real resp::RequestParser, and malformed ones
// are refused with a reason (docs/peer_protocol.md).
#include <doctest/doctest.h>
#include <xxhash.h>

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "cluster/gossip.h"
#include "cluster/peer_protocol.h"
#include "unit/cluster/peer_protocol_test_util.h"

namespace ringkv::cluster {
namespace {

using namespace std::string_literals;
using namespace ringkv::cluster::peer_protocol_testing;

// ---- Handshake -----------------------------------------------------------------

TEST_CASE("peer protocol: handshake messages round trip as lowercase hex") {
  PeerHello hello;
  hello.server_name = "n1";
  for (size_t i = 0; i < kPeerNonceBytes; i++) hello.server_nonce[i] = static_cast<uint8_t>(i * 17);
  std::string bytes;
  EncodeHello(hello, &bytes);
  CHECK(bytes.find("00112233445566778899aabbccddeeff") != std::string::npos);
  std::vector<std::string> args = Parse(bytes);
  PeerHello decoded;
  std::string error;
  REQUIRE(DecodeHello(args, &decoded, &error));
  CHECK(decoded.version == kPeerProtocolVersion);
  CHECK(decoded.server_name == "n1");
  CHECK(decoded.server_nonce == hello.server_nonce);

  PeerAuth auth;
  auth.client_name = "n2";
  auth.client_nonce.fill(0xab);
  auth.mac.fill(0xcd);
  bytes.clear();
  EncodeAuth(auth, &bytes);
  PeerAuth auth_decoded;
  REQUIRE(DecodeAuth(Parse(bytes), &auth_decoded, &error));
  CHECK(auth_decoded.client_name == "n2");
  CHECK(auth_decoded.client_nonce == auth.client_nonce);
  CHECK(auth_decoded.mac == auth.mac);

  bytes.clear();
  EncodeWelcome(PeerWelcome{auth.mac}, &bytes);
  PeerWelcome welcome;
  REQUIRE(DecodeWelcome(Parse(bytes), &welcome, &error));
  CHECK(welcome.mac == auth.mac);

  bytes.clear();
  EncodeDenied(PeerDenied{std::string(5000, 'r')}, &bytes);
  PeerDenied denied;
  REQUIRE(DecodeDenied(Parse(bytes), &denied, &error));
  CHECK(denied.reason.size() == kPeerReasonBytesMax);
}

TEST_CASE("peer protocol: malformed handshake messages are refused") {
  const std::string nonce(32, 'a');
  const std::string mac(64, 'b');
  PeerHello hello;
  PeerAuth auth;
  PeerWelcome welcome;
  std::string error;
  CHECK(DecodeHello(std::vector<std::string>{"RK.HELLO", "1", "n1", nonce}, &hello, &error));
  CHECK_FALSE(DecodeHello(std::vector<std::string>{"RK.HELLO", "0", "n1", nonce}, &hello, &error));
  CHECK_FALSE(DecodeHello(std::vector<std::string>{"RK.HELLO", "1", "", nonce}, &hello, &error));
  CHECK_FALSE(DecodeHello(std::vector<std::string>{"RK.HELLO", "1", std::string(256, 'n'), nonce},
                          &hello, &error));
  CHECK_FALSE(DecodeHello(std::vector<std::string>{"RK.HELLO", "1", "n1", std::string(32, 'A')},
                          &hello, &error));
  CHECK_FALSE(DecodeHello(std::vector<std::string>{"RK.HELLO", "1", "n1", std::string(30, 'a')},
                          &hello, &error));
  CHECK_FALSE(DecodeHello(std::vector<std::string>{"RK.HELLO", "1", "n1"}, &hello, &error));
  CHECK_FALSE(DecodeHello(std::vector<std::string>{"RK.AUTH", "1", "n1", nonce}, &hello, &error));
  CHECK(DecodeAuth(std::vector<std::string>{"RK.AUTH", "n2", nonce, mac}, &auth, &error));
  CHECK_FALSE(
      DecodeAuth(std::vector<std::string>{"RK.AUTH", "n2", nonce, mac + "0"}, &auth, &error));
  CHECK_FALSE(DecodeAuth(std::vector<std::string>{"RK.AUTH", "n2", mac, mac}, &auth, &error));
  CHECK_FALSE(DecodeAuth(std::vector<std::string>{"RK.AUTH", "n2", nonce, std::string(64, 'g')},
                         &auth, &error));
  CHECK_FALSE(DecodeAuth(std::vector<std::string>{"RK.AUTH", "", nonce, mac}, &auth, &error));
  CHECK(DecodeWelcome(std::vector<std::string>{"RK.WELCOME", mac}, &welcome, &error));
  CHECK_FALSE(DecodeWelcome(std::vector<std::string>{"RK.WELCOME"}, &welcome, &error));
  CHECK_FALSE(DecodeWelcome(std::vector<std::string>{"RK.WELCOME", nonce}, &welcome, &error));
}

// ---- Gossip --------------------------------------------------------------------

MemberRecord GossipRecord(const std::string& name, uint64_t heartbeat) {
  MemberRecord record;
  record.name = name;
  record.host = "10.0.0.1";
  record.port = 6379;
  record.peer_port = 7379;
  record.weight = 2;
  record.incarnation = 0x1234567890abcdefULL;
  record.created_ms = 1700000000000;
  record.heartbeat = heartbeat;
  return record;
}

TEST_CASE("peer protocol: gossip round trip through the parser") {
  GossipMessage message{"n1", {GossipRecord("n1", 9), GossipRecord("n2", 18446744073709551615ULL)}};
  std::string bytes = "prefix";
  EncodeGossip(message, &bytes);
  CHECK(bytes.rfind("prefix*3\r\n$9\r\nRK.GOSSIP\r\n$2\r\nn1\r\n$", 0) == 0);
  std::vector<std::string> args = Parse(bytes.substr(6));
  CHECK(Classify(args[0]) == PeerCommandKind::kGossip);
  CHECK(Classify("rk.gossip") == PeerCommandKind::kGossip);
  GossipMessage decoded;
  std::string error;
  REQUIRE_MESSAGE(DecodeGossip(args, &decoded, &error), error);
  CHECK(decoded.sender == "n1");
  CHECK(decoded.table == message.table);
  // Not a replica message: the replica decoder refuses it.
  Message replica;
  CHECK_FALSE(DecodeMessage(args, &replica, &error));
}

TEST_CASE("peer protocol: malformed gossip is refused and leaves the output alone") {
  std::string table;
  EncodeMembers(std::vector{GossipRecord("n1", 1)}, &table);
  std::string other;
  EncodeMembers(std::vector{GossipRecord("n2", 1)}, &other);
  std::string corrupt = table;
  corrupt[corrupt.size() / 2] ^= 0x10;
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"RK.GOSSIP", "n1"}, "wrong number of arguments for 'RK.GOSSIP'"},
      {{"RK.GOSSIP", "n1", table, "extra"}, "wrong number of arguments for 'RK.GOSSIP'"},
      {{"RK.GOSSIP", "", table}, "bad member name"},
      {{"RK.GOSSIP", std::string(kPeerNameBytesMax + 1, 'n'), table}, "bad member name"},
      {{"RK.GOSSIP", "n1", other}, "gossip table lacks the sender"},
      {{"RK.GOSSIP", "n1", corrupt}, "member list: checksum mismatch"},
      {{"RK.GOSSIP", "n1", ""}, "member list: truncated"},
      {{"RK.PUT", "n1", table}, "unexpected message"},
  };
  for (const auto& [args, reason] : bad) {
    CAPTURE(reason);
    GossipMessage decoded{"kept", {GossipRecord("kept", 3)}};
    std::string error;
    CHECK_FALSE(DecodeGossip(args, &decoded, &error));
    CHECK(error == reason);
    CHECK(decoded.sender == "kept");
    CHECK(decoded.table.size() == 1);
  }
}

TEST_CASE("peer protocol: a gossip table of kGossipMembersMax members fits, one more does not") {
  std::vector<MemberRecord> records;
  for (size_t i = 0; i < kGossipMembersMax; i++) {
    records.push_back(GossipRecord("n" + std::to_string(i), i));
  }
  std::string bytes;
  EncodeGossip(GossipMessage{"n0", records}, &bytes);
  GossipMessage decoded;
  std::string error;
  REQUIRE_MESSAGE(DecodeGossip(Parse(bytes), &decoded, &error), error);
  CHECK(decoded.table.size() == kGossipMembersMax);
  // One record more, with the count and checksum fixed up by hand.
  std::string table;
  EncodeMembers(records, &table);
  table.resize(table.size() - 4);
  std::string extra;
  EncodeMembers(std::vector{GossipRecord("extra", 1)}, &extra);
  table += extra.substr(5, extra.size() - 9);
  uint32_t count = kGossipMembersMax + 1;
  for (int i = 0; i < 4; i++) table[1 + i] = static_cast<char>(count >> (8 * i));
  uint64_t hash = XXH3_64bits(table.data(), table.size());
  for (int i = 0; i < 4; i++) table.push_back(static_cast<char>(hash >> (8 * i)));
  CHECK_FALSE(DecodeGossip(std::vector<std::string>{"RK.GOSSIP", "n0", table}, &decoded, &error));
  CHECK(error == "member list: bad count");
}

TEST_CASE("peer protocol: random damage to gossip messages never crashes") {
  std::string encoded;
  EncodeGossip(GossipMessage{"n1", {GossipRecord("n1", 1), GossipRecord("n2", 2)}}, &encoded);
  const int decoded_count = DecodeDamaged({encoded}, 99, [](std::span<const std::string> args) {
    GossipMessage message;
    std::string error;
    if (DecodeGossip(args, &message, &error)) {
      // Whatever got through keeps every promise the decoder makes.
      bool has_sender = false;
      for (const MemberRecord& record : message.table) {
        CHECK(ValidateMemberRecord(record, &error));
        has_sender = has_sender || record.name == message.sender;
      }
      CHECK(has_sender);
      return true;
    }
    CHECK_FALSE(error.empty());
    return false;
  });
  // The checksum catches damage inside the table and a damaged sender name
  // no longer matches a record; what still decodes is mostly a change of
  // case in the message name.
  CHECK(decoded_count < 2000);
}

}  // namespace
}  // namespace ringkv::cluster
