// Tests for cluster/peer_protocol_batch.cc: batches of put replies
// (RK.PUTRS) and of SAME replies (RK.SAMES) round-trip through the real
// resp::RequestParser, are bounded, allocate nothing once warm, and refuse
// malformed input with a reason (docs/peer_protocol.md).
#include <doctest/doctest.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cluster/peer_protocol.h"
#include "unit/cluster/peer_protocol_test_util.h"

namespace ringkv::cluster {
namespace {

using namespace std::string_literals;
using namespace ringkv::cluster::peer_protocol_testing;

std::vector<PutReply> DecodeBatch(const std::string& bytes) {
  std::vector<std::string> args = Parse(bytes);
  std::vector<PutReply> replies;
  std::string error;
  REQUIRE_MESSAGE(DecodePutReplies(args, &replies, &error), error);
  return replies;
}

std::string BatchError(std::vector<std::string> args) {
  std::vector<PutReply> replies{PutReply{99, true, ""}};
  std::string error;
  CHECK_FALSE(DecodePutReplies(args, &replies, &error));
  CHECK_FALSE(error.empty());
  REQUIRE(replies.size() == 1);  // Left unchanged.
  CHECK(replies[0].id == 99);
  return error;
}

TEST_CASE("peer protocol: a batch of put replies round trips, errors included") {
  PutReplyBatch batch;
  CHECK(batch.empty());
  batch.Add(PutReply{7, true, ""});
  batch.Add(PutReply{8, false, "map full"});
  batch.Add(PutReply{18446744073709551615ULL, false, ""});
  batch.Add(PutReply{0, false, "two\r\nlines \0 and a NUL"s});
  CHECK(batch.count() == 4);
  std::string bytes = "prefix";
  batch.EncodeTo(&bytes);
  CHECK(batch.empty());
  CHECK(batch.bytes() == 0);
  REQUIRE(bytes.rfind("prefix", 0) == 0);
  std::vector<PutReply> replies = DecodeBatch(bytes.substr(6));
  REQUIRE(replies.size() == 4);
  CHECK(replies[0].id == 7);
  CHECK(replies[0].ok);
  CHECK(replies[0].error.empty());
  CHECK(replies[1].id == 8);
  CHECK_FALSE(replies[1].ok);
  CHECK(replies[1].error == "map full");
  CHECK(replies[2].id == 18446744073709551615ULL);
  CHECK_FALSE(replies[2].ok);
  CHECK(replies[2].error.empty());
  CHECK(replies[3].error == "two\r\nlines \0 and a NUL"s);

  // The documented example.
  batch.Add(PutReply{7, true, ""});
  batch.Add(PutReply{8, false, "map full"});
  bytes.clear();
  batch.EncodeTo(&bytes);
  CHECK(bytes ==
        "*5\r\n$8\r\nRK.PUTRS\r\n$1\r\n7\r\n$2\r\nOK\r\n$1\r\n8\r\n$12\r\nERR map full\r\n");
}

TEST_CASE("peer protocol: a batch of put replies is bounded in count and bytes") {
  PutReplyBatch batch;
  for (uint64_t id = 0; id < kPutRepliesCountMax; ++id) {
    REQUIRE_FALSE(batch.full());
    batch.Add(PutReply{id, true, ""});
  }
  CHECK(batch.full());
  std::string bytes;
  batch.EncodeTo(&bytes);
  std::vector<PutReply> replies = DecodeBatch(bytes);
  REQUIRE(replies.size() == kPutRepliesCountMax);
  CHECK(replies.back().id == kPutRepliesCountMax - 1);

  // One more pair than the limit is refused.
  std::vector<std::string> args{"RK.PUTRS"};
  for (size_t i = 0; i <= kPutRepliesCountMax; ++i) {
    args.push_back(std::to_string(i));
    args.push_back("OK");
  }
  BatchError(args);

  // Long errors close a batch by bytes, after the reply that passes the limit.
  const std::string long_error(kPutRepliesBytesMax / 4, 'e');
  size_t added = 0;
  while (!batch.full()) {
    batch.Add(PutReply{added++, false, long_error});
  }
  CHECK(added == 4);
  CHECK(batch.bytes() >= kPutRepliesBytesMax);
  bytes.clear();
  batch.EncodeTo(&bytes);
  CHECK(DecodeBatch(bytes).size() == 4);
}

TEST_CASE("peer protocol: malformed put reply batches are refused") {
  BatchError({});
  BatchError({"RK.PUTRS"});
  BatchError({"RK.PUTRS", "1"});
  BatchError({"RK.PUTRS", "1", "OK", "2"});
  BatchError({"RK.PUTR", "1", "OK"});
  CHECK(BatchError({"RK.PUTRS", "01", "OK"}) == "bad request id");
  CHECK(BatchError({"RK.PUTRS", "1", "OK", "-2", "OK"}) == "bad request id");
  for (const std::string& result : {""s, "ok"s, "ERR"s, "ERRboom"s, "OK "s, " OK"s, "MAYBE"s}) {
    CAPTURE(result);
    CHECK(BatchError({"RK.PUTRS", "1", "OK", "2", result}) == "bad RK.PUTRS result");
  }
  // Not a replica message for DecodeMessage: the adapter decodes it itself.
  CHECK(DecodeError({"RK.PUTRS", "1", "OK"}) == "not a replica message");
}

TEST_CASE("peer protocol: a warm put reply batch allocates nothing") {
  PutReplyBatch batch;
  std::string out;
  out.reserve(1 << 16);
  for (int round = 0; round < 2; ++round) {
    out.clear();
    for (uint64_t id = 0; id < 100; ++id) batch.Add(PutReply{id, id % 7 != 0, "disk full"});
    batch.EncodeTo(&out);
  }
  size_t before = allocations.load();
  out.clear();
  for (uint64_t id = 0; id < 100; ++id) batch.Add(PutReply{id, id % 7 != 0, "disk full"});
  batch.EncodeTo(&out);
  CHECK(allocations.load() == before);
}

std::vector<uint64_t> DecodeSames(const std::string& bytes) {
  std::vector<std::string> args = Parse(bytes);
  std::vector<uint64_t> ids;
  std::string error;
  REQUIRE_MESSAGE(DecodeSameReplies(args, &ids, &error), error);
  return ids;
}

std::string SamesError(std::vector<std::string> args) {
  std::vector<uint64_t> ids{99};
  std::string error;
  CHECK_FALSE(DecodeSameReplies(args, &ids, &error));
  CHECK_FALSE(error.empty());
  CHECK(ids == std::vector<uint64_t>{99});  // Left unchanged.
  return error;
}

TEST_CASE("peer protocol: a batch of SAME replies round trips, bounded in count") {
  SameReplyBatch batch;
  CHECK(batch.empty());
  batch.Add(7);
  batch.Add(0);
  batch.Add(18446744073709551615ULL);
  CHECK(batch.count() == 3);
  std::string bytes = "prefix";
  batch.EncodeTo(&bytes);
  CHECK(batch.empty());
  CHECK(batch.bytes() == 0);
  REQUIRE(bytes.rfind("prefix", 0) == 0);
  CHECK(DecodeSames(bytes.substr(6)) == std::vector<uint64_t>{7, 0, 18446744073709551615ULL});

  // The documented example.
  batch.Add(7);
  batch.Add(12);
  bytes.clear();
  batch.EncodeTo(&bytes);
  CHECK(bytes == "*3\r\n$8\r\nRK.SAMES\r\n$1\r\n7\r\n$2\r\n12\r\n");

  for (uint64_t id = 0; id < kSameRepliesCountMax; ++id) {
    REQUIRE_FALSE(batch.full());
    batch.Add(id);
  }
  CHECK(batch.full());
  bytes.clear();
  batch.EncodeTo(&bytes);
  std::vector<uint64_t> ids = DecodeSames(bytes);
  REQUIRE(ids.size() == kSameRepliesCountMax);
  CHECK(ids.back() == kSameRepliesCountMax - 1);
  // One more id than the limit is refused.
  std::vector<std::string> args{"RK.SAMES"};
  for (size_t i = 0; i <= kSameRepliesCountMax; ++i) args.push_back(std::to_string(i));
  SamesError(args);
}

TEST_CASE("peer protocol: malformed SAME reply batches are refused") {
  SamesError({});
  SamesError({"RK.SAMES"});
  SamesError({"RK.SAME", "1"});
  SamesError({"RK.PUTRS", "1", "OK"});
  CHECK(SamesError({"RK.SAMES", "01"}) == "bad request id");
  CHECK(SamesError({"RK.SAMES", "1", "-2"}) == "bad request id");
  CHECK(SamesError({"RK.SAMES", "1", ""}) == "bad request id");
  CHECK(SamesError({"RK.SAMES", "1", "SAME"}) == "bad request id");
  // Not a replica message for DecodeMessage: the adapter decodes it itself.
  CHECK(DecodeError({"RK.SAMES", "1"}) == "not a replica message");
}

TEST_CASE("peer protocol: a warm SAME reply batch allocates nothing") {
  SameReplyBatch batch;
  std::string out;
  out.reserve(1 << 16);
  for (int round = 0; round < 2; ++round) {
    out.clear();
    for (uint64_t id = 0; id < 100; ++id) batch.Add(id * 1000003);
    batch.EncodeTo(&out);
  }
  size_t before = allocations.load();
  out.clear();
  for (uint64_t id = 0; id < 100; ++id) batch.Add(id * 1000003);
  batch.EncodeTo(&out);
  CHECK(allocations.load() == before);
}

TEST_CASE("peer protocol: random damage to put reply batches never crashes") {
  PutReplyBatch batch;
  batch.Add(PutReply{1, true, ""});
  batch.Add(PutReply{22, false, "boom"});
  batch.Add(PutReply{333, true, ""});
  std::string encoded;
  batch.EncodeTo(&encoded);
  const int decoded = DecodeDamaged({encoded}, 777, [](std::span<const std::string> args) {
    std::vector<PutReply> replies;
    std::string error;
    if (DecodePutReplies(args, &replies, &error)) {
      CHECK(!replies.empty());
      CHECK(replies.size() <= 3);
      return true;
    }
    CHECK_FALSE(error.empty());
    return false;
  });
  CHECK(decoded > 0);  // Some damage hits only an id's digits or a message.
}

}  // namespace
}  // namespace ringkv::cluster
