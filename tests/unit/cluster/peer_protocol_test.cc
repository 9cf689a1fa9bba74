// Tests for cluster/peer_protocol.cc: every message round-trips through the
// real resp::RequestParser, and every malformed input is refused with a
// reason (docs/peer_protocol.md).
#include "cluster/peer_protocol.h"

#include <doctest/doctest.h>
#include <xxhash.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "resp/parser.h"

// Counts every operator new in the unit_cluster binary, for the test that
// encoding into a warm buffer allocates nothing (the replica path encodes
// one message per replica per write). Counting changes nothing else.
namespace {
std::atomic<size_t> allocations{0};
}  // namespace

void* operator new(size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  std::abort();  // No exceptions in this codebase; out of memory is fatal.
}
// The nothrow forms too (std::stable_sort in ring.cc uses them): under
// ASan, a nothrow new left to the sanitizer would be freed here with free()
// and reported as an alloc-dealloc mismatch.
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace ringkv::cluster {
namespace {

using namespace std::string_literals;

storage::SiblingSet SampleSet() {
  storage::SiblingSet set;
  storage::Sibling a;
  a.value = "hello\0\r\nworld"s;
  a.timestamp_ms = 1700000000123;
  storage::ApplyWrite(&set, storage::VersionVector{}, 0x10, a);
  storage::Sibling b;
  b.tombstone = true;
  b.timestamp_ms = 1700000000200;
  storage::ApplyWrite(&set, storage::VersionVector{}, 0x20, b);
  return set;
}

// Parses `bytes` as exactly one request with the peer side's parser.
std::vector<std::string> Parse(const std::string& bytes) {
  resp::RequestParser parser(resp::ParserLimits{});
  size_t consumed = 0;
  REQUIRE(parser.Feed(bytes, &consumed) == resp::ParseStatus::kComplete);
  REQUIRE(consumed == bytes.size());
  auto args = parser.args();
  return std::vector<std::string>(args.begin(), args.end());
}

Message RoundTrip(const Message& message) {
  std::string bytes;
  EncodeMessage(message, &bytes);
  std::vector<std::string> args = Parse(bytes);
  Message decoded;
  std::string error;
  REQUIRE_MESSAGE(DecodeMessage(args, &decoded, &error), error);
  return decoded;
}

std::string DecodeError(std::vector<std::string> args) {
  Message decoded;
  std::string error;
  CHECK_FALSE(DecodeMessage(args, &decoded, &error));
  CHECK_FALSE(error.empty());
  return error;
}

std::string EncodedSet(const storage::SiblingSet& set) {
  std::string bytes;
  storage::EncodeSiblingSet(set, &bytes);
  return bytes;
}

// Damages one of `encoded` (1 to 3 random bytes, a fixed-seed generator)
// 20,000 times and hands each damaged message that still parses as one RESP
// request to `decode`, which returns whether it decoded (checking what it
// got, or the error). Returns how many decoded.
template <typename Decode>
int DecodeDamaged(const std::vector<std::string>& encoded, uint64_t seed, Decode decode) {
  uint64_t state = seed;
  auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  int decoded = 0;
  for (int round = 0; round < 20000; round++) {
    std::string bytes = encoded.size() == 1 ? encoded[0] : encoded[next() % encoded.size()];
    for (int flips = 1 + next() % 3; flips > 0; flips--) {
      bytes[next() % bytes.size()] = static_cast<char>(next());
    }
    resp::RequestParser parser(resp::ParserLimits{});
    size_t consumed = 0;
    if (parser.Feed(bytes, &consumed) != resp::ParseStatus::kComplete) continue;
    auto args = parser.args();
    if (decode(std::span<const std::string>(args.data(), args.size()))) decoded++;
  }
  return decoded;
}

TEST_CASE("peer protocol: put request round trip, with and without hint") {
  PutRequest request;
  request.id = 18446744073709551615ULL;
  request.key = "binary\0key\r\n"s;
  request.set = SampleSet();
  Message decoded = RoundTrip(request);
  auto& put = std::get<PutRequest>(decoded);
  CHECK(put.id == request.id);
  CHECK(put.key == request.key);
  CHECK(put.set == request.set);
  CHECK(put.hint_for.empty());

  request.hint_for = "n4";
  request.id = 0;
  put = std::get<PutRequest>(RoundTrip(request));
  CHECK(put.id == 0);
  CHECK(put.hint_for == "n4");
}

TEST_CASE("peer protocol: exact bytes of a get request") {
  std::string bytes = "prefix";
  EncodeMessage(GetRequest{42, "k"}, &bytes);
  CHECK(bytes == "prefix*3\r\n$6\r\nRK.GET\r\n$2\r\n42\r\n$1\r\nk\r\n");
}

TEST_CASE("peer protocol: a get request's digest and the SAME reply") {
  // The digest is of the record's versions, not its values.
  storage::SiblingSet set;
  storage::Sibling version;
  version.value = "one";
  storage::ApplyWrite(&set, storage::VersionVector{}, 7, version);
  std::string record;
  storage::EncodeSiblingSet(set, &record);
  const std::optional<ReadDigest> found = DigestOf(record);
  REQUIRE(found);
  const ReadDigest digest = *found;
  set.siblings[0].value = "two";
  std::string same_dot;
  storage::EncodeSiblingSet(set, &same_dot);
  CHECK(DigestOf(same_dot) == digest);
  storage::ApplyWrite(&set, set.clock, 7, version);
  std::string next;
  storage::EncodeSiblingSet(set, &next);
  CHECK_FALSE(DigestOf(next) == digest);
  CHECK_FALSE(DigestOf("") == digest);
  CHECK_FALSE(DigestOf("not a record").has_value());
  auto get = std::get<GetRequest>(RoundTrip(GetRequest{9, "k", digest}));
  REQUIRE(get.digest.has_value());
  CHECK(*get.digest == digest);
  CHECK_FALSE(std::get<GetRequest>(RoundTrip(GetRequest{9, "k", std::nullopt})).digest);
  // 16 bytes on the wire: high then low, big-endian.
  std::string bytes;
  EncodeMessage(GetRequest{1, "k", ReadDigest{0x0102030405060708ULL, 0x090a0b0c0d0e0f10ULL}},
                &bytes);
  CHECK(bytes == std::string("*4\r\n$6\r\nRK.GET\r\n$1\r\n1\r\n$1\r\nk\r\n$16\r\n"
                             "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e"
                             "\x0f\x10\r\n"));
  GetReply same;
  same.id = 3;
  same.ok = true;
  same.same = true;
  bytes.clear();
  EncodeMessage(same, &bytes);
  CHECK(bytes == "*3\r\n$7\r\nRK.GETR\r\n$1\r\n3\r\n$4\r\nSAME\r\n");
  auto reply = std::get<GetReply>(RoundTrip(same));
  CHECK(reply.ok);
  CHECK(reply.same);
  CHECK_FALSE(reply.found);
  CHECK(DecodeError({"RK.GET", "1", "k", "short"}) == "bad RK.GET digest");
  CHECK(DecodeError({"RK.GET", "1", "k", std::string(17, 'x')}) == "bad RK.GET digest");
  CHECK_FALSE(DecodeError({"RK.GETR", "1", "SAME", "extra"}).empty());
}

TEST_CASE("peer protocol: put reply ok and error") {
  auto ok = std::get<PutReply>(RoundTrip(PutReply{7, true, ""}));
  CHECK(ok.id == 7);
  CHECK(ok.ok);
  auto failed = std::get<PutReply>(RoundTrip(PutReply{8, false, "OOM map full"}));
  CHECK(failed.id == 8);
  CHECK_FALSE(failed.ok);
  CHECK(failed.error == "OOM map full");
}

TEST_CASE("peer protocol: get request and the three get replies") {
  auto get = std::get<GetRequest>(RoundTrip(GetRequest{9, ""}));
  CHECK(get.id == 9);
  CHECK(get.key.empty());

  GetReply found;
  found.id = 10;
  found.ok = true;
  found.found = true;
  found.set = SampleSet();
  auto reply = std::get<GetReply>(RoundTrip(found));
  CHECK(reply.ok);
  CHECK(reply.found);
  CHECK(reply.set == found.set);

  GetReply none;
  none.id = 11;
  none.ok = true;
  reply = std::get<GetReply>(RoundTrip(none));
  CHECK(reply.ok);
  CHECK_FALSE(reply.found);

  GetReply error;
  error.id = 12;
  error.error = "IOERR disk";
  reply = std::get<GetReply>(RoundTrip(error));
  CHECK_FALSE(reply.ok);
  CHECK(reply.error == "IOERR disk");
}

TEST_CASE("peer protocol: a get reply's pre-encoded set goes out as the set would") {
  GetReply decoded{10, true, true, SampleSet(), ""};
  GetReply raw{10, true, true, {}, "", EncodedSet(SampleSet())};
  std::string from_set, from_bytes;
  EncodeMessage(decoded, &from_set);
  EncodeMessage(raw, &from_bytes);
  CHECK(from_bytes == from_set);
  auto reply = std::get<GetReply>(RoundTrip(raw));
  CHECK(reply.found);
  CHECK(reply.set == SampleSet());
  CHECK(reply.encoded_set.empty());  // The receiving side always gets a set.
}

TEST_CASE("peer protocol: a put request's pre-encoded set goes out as the set would") {
  for (const char* hint : {"", "n4"}) {
    PutRequest decoded{7, "k", SampleSet(), hint, {}};
    PutRequest raw{7, "k", {}, hint, EncodedSet(SampleSet())};
    std::string from_set, from_bytes;
    EncodeMessage(decoded, &from_set);
    EncodeMessage(raw, &from_bytes);
    CHECK(from_bytes == from_set);
    // The receiving side gets the set, and the bytes it came as.
    for (const PutRequest& sent : {decoded, raw}) {
      auto put = std::get<PutRequest>(RoundTrip(sent));
      CHECK(put.set == SampleSet());
      CHECK(put.encoded_set == EncodedSet(SampleSet()));
      CHECK(put.hint_for == hint);
    }
  }
}

TEST_CASE("peer protocol: decoding by taking the arguments gives the same messages") {
  std::vector<Message> messages = {
      PutRequest{7, "k", SampleSet(), "", {}},
      PutRequest{8, "k2", {}, "n4", EncodedSet(SampleSet())},
      PutReply{9, true, ""},
      GetRequest{10, "k3", std::nullopt},
  };
  for (const Message& message : messages) {
    std::string bytes;
    EncodeMessage(message, &bytes);
    std::vector<std::string> args = Parse(bytes);
    Message copied, taken;
    std::string error;
    REQUIRE_MESSAGE(DecodeMessage(args, &copied, &error), error);
    REQUIRE_MESSAGE(DecodeMessageTaking(args, &taken, &error), error);
    CHECK(taken.index() == copied.index());
    if (const auto* put = std::get_if<PutRequest>(&taken)) {
      const auto& expected = std::get<PutRequest>(copied);
      CHECK(put->id == expected.id);
      CHECK(put->key == expected.key);
      CHECK(put->set == expected.set);
      CHECK(put->hint_for == expected.hint_for);
      CHECK(put->encoded_set == EncodedSet(SampleSet()));
      CHECK(put->encoded_set == expected.encoded_set);
    }
  }
  // Bad input is refused the same way.
  std::vector<std::string> bad = {"RK.PUT", "1", "k", "not a set"};
  Message decoded;
  std::string error;
  CHECK_FALSE(DecodeMessageTaking(bad, &decoded, &error));
  CHECK_FALSE(error.empty());
}

TEST_CASE("peer protocol: encoding into a warm buffer allocates nothing") {
  PutRequest put{1, "key", SampleSet(), "n2"};
  GetReply found{2, true, true, SampleSet(), ""};
  ForwardRequest forward{3, 2, 3, 2, 2, {"SET", "key", "value"}};
  std::string out;
  out.reserve(4096);
  size_t before = allocations.load();
  for (int i = 0; i < 100; i++) {
    out.clear();
    EncodeMessage(put, &out);
    EncodeMessage(found, &out);
    EncodeMessage(PutReply{4, true, ""}, &out);
    EncodeMessage(GetRequest{5, "key"}, &out);
    EncodeForwardRequest(forward, &out);
  }
  CHECK(allocations.load() == before);
  CHECK(out.size() < 4096);
}

TEST_CASE("peer protocol: an empty sibling set is a valid record") {
  PutRequest request{1, "k", storage::SiblingSet{}, ""};
  CHECK(std::get<PutRequest>(RoundTrip(request)).set == storage::SiblingSet{});
}

TEST_CASE("peer protocol: classify ignores case and knows every name") {
  CHECK(Classify("RK.PUT") == PeerCommandKind::kPut);
  CHECK(Classify("rk.put") == PeerCommandKind::kPut);
  CHECK(Classify("RK.PUTR") == PeerCommandKind::kPutReply);
  CHECK(Classify("RK.PUTRS") == PeerCommandKind::kPutReplies);
  CHECK(Classify("rk.putrs") == PeerCommandKind::kPutReplies);
  CHECK(Classify("RK.GET") == PeerCommandKind::kGet);
  CHECK(Classify("RK.GETR") == PeerCommandKind::kGetReply);
  CHECK(Classify("RK.SAMES") == PeerCommandKind::kSameReplies);
  CHECK(Classify("rk.sames") == PeerCommandKind::kSameReplies);
  CHECK(Classify("RK.FWD") == PeerCommandKind::kForward);
  CHECK(Classify("RK.FWDR") == PeerCommandKind::kForwardReply);
  CHECK(Classify("RK.HELLO") == PeerCommandKind::kHello);
  CHECK(Classify("RK.AUTH") == PeerCommandKind::kAuth);
  CHECK(Classify("RK.WELCOME") == PeerCommandKind::kWelcome);
  CHECK(Classify("RK.DENIED") == PeerCommandKind::kDenied);
  CHECK(Classify("GET") == PeerCommandKind::kUnknown);
  CHECK(Classify("RK.PUTX") == PeerCommandKind::kUnknown);
  CHECK(Classify("") == PeerCommandKind::kUnknown);
  CHECK(HasPeerPrefix("rk.anything"));
  CHECK_FALSE(HasPeerPrefix("RK"));
  CHECK_FALSE(HasPeerPrefix("SET"));
}

TEST_CASE("peer protocol: bad ids are refused") {
  for (const std::string& id :
       {""s, "-1"s, "+1"s, "01"s, "1a"s, " 1"s, "18446744073709551616"s, "99999999999999999999"s}) {
    CAPTURE(id);
    CHECK(DecodeError({"RK.GET", id, "k"}) == "bad request id");
  }
}

TEST_CASE("peer protocol: wrong arity and unknown statuses are refused") {
  std::string set = EncodedSet(SampleSet());
  DecodeError({});
  DecodeError({"RK.GET", "1"});
  DecodeError({"RK.GET", "1", "k", "extra"});
  DecodeError({"RK.PUT", "1", "k"});
  DecodeError({"RK.PUT", "1", "k", set, "n2", "extra"});
  DecodeError({"RK.PUT", "1", "k", set, ""});  // An empty hint is never sent.
  DecodeError({"RK.PUTR", "1"});
  DecodeError({"RK.PUTR", "1", "OK", "extra"});
  DecodeError({"RK.PUTR", "1", "ERR"});
  DecodeError({"RK.PUTR", "1", "MAYBE"});
  DecodeError({"RK.GETR", "1", "NONE", set});
  DecodeError({"RK.GETR", "1", "FOUND"});
  DecodeError({"RK.GETR", "1", "ok"});
  CHECK(DecodeError({"RK.FWD", "1"}) == "not a replica message");
  CHECK(DecodeError({"SET", "k", "v"}) == "not a replica message");
}

TEST_CASE("peer protocol: corrupt sibling sets are refused with the storage reason") {
  std::string set = EncodedSet(SampleSet());
  std::string flipped = set;
  flipped[flipped.size() / 2] ^= 0x40;
  for (const std::string& bytes : {""s, "garbage"s, flipped, set.substr(0, set.size() - 1)}) {
    std::string error = DecodeError({"RK.PUT", "1", "k", bytes});
    CHECK(error.rfind("bad sibling set: ", 0) == 0);
    error = DecodeError({"RK.GETR", "1", "FOUND", bytes});
    CHECK(error.rfind("bad sibling set: ", 0) == 0);
  }
}

TEST_CASE("peer protocol: random damage to encoded messages never crashes") {
  std::vector<std::string> encoded(4);
  EncodeMessage(PutRequest{1, "key", SampleSet(), "n3"}, &encoded[0]);
  EncodeMessage(GetReply{2, true, true, SampleSet(), ""}, &encoded[1]);
  EncodeMessage(PutReply{3, false, "boom"}, &encoded[2]);
  EncodeMessage(GetRequest{4, "key"}, &encoded[3]);
  const int decoded = DecodeDamaged(encoded, 12345, [](std::span<const std::string> args) {
    Message message;
    std::string error;
    if (DecodeMessage(args, &message, &error)) return true;
    CHECK_FALSE(error.empty());
    return false;
  });
  // Damage outside the checksummed set (say, in the key) still decodes.
  CHECK(decoded > 0);
}

// ---- Forwarding ----------------------------------------------------------------

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

TEST_CASE("peer protocol: forward request round trip moves the arguments") {
  ForwardRequest request;
  request.id = 77;
  request.protocol = 3;
  request.n = 3;
  request.w = 3;
  request.r = 1;
  request.argv = {"SET", "k\0ey"s, std::string(100000, 'v')};
  std::string bytes;
  EncodeForwardRequest(request, &bytes);
  std::vector<std::string> args = Parse(bytes);
  CHECK(Classify(args[0]) == PeerCommandKind::kForward);
  ForwardRequest decoded;
  std::string error;
  REQUIRE_MESSAGE(DecodeForwardRequest(args, &decoded, &error), error);
  CHECK(decoded.id == 77);
  CHECK(decoded.protocol == 3);
  CHECK(decoded.n == 3);
  CHECK(decoded.w == 3);
  CHECK(decoded.r == 1);
  CHECK(decoded.argv == request.argv);
}

TEST_CASE("peer protocol: bad forward requests leave the arguments untouched") {
  const std::vector<std::vector<std::string>> bad = {
      {"RK.FWD", "1", "2", "3", "2", "2"},         // No command.
      {"RK.FWD", "1", "4", "3", "2", "2", "GET"},  // Protocol.
      {"RK.FWD", "1", "", "3", "2", "2", "GET"},
      {"RK.FWD", "1", "2", "0", "1", "1", "GET"},  // n < 1.
      {"RK.FWD", "1", "2", "256", "1", "1", "GET"},
      {"RK.FWD", "1", "2", "3", "4", "2", "GET"},  // w > n.
      {"RK.FWD", "1", "2", "3", "0", "2", "GET"},
      {"RK.FWD", "1", "2", "3", "2", "4", "GET"},  // r > n.
      {"RK.FWD", "x", "2", "3", "2", "2", "GET"},
      {"RK.PUT", "1", "2", "3", "2", "2", "GET"},
  };
  for (std::vector<std::string> args : bad) {
    const std::vector<std::string> before = args;
    ForwardRequest decoded;
    std::string error;
    CHECK_FALSE(DecodeForwardRequest(args, &decoded, &error));
    CHECK_FALSE(error.empty());
    CHECK(args == before);
  }
}

TEST_CASE("peer protocol: forward reply round trip and validation") {
  for (const std::string& reply :
       {"+OK\r\n"s, "-ERR wrong\r\n"s, "$-1\r\n"s, "_\r\n"s, "$3\r\na\r\n\r\n"s, ":-12\r\n"s,
        "*2\r\n$1\r\na\r\n*0\r\n"s, "%1\r\n+k\r\n,1.5\r\n"s, "*-1\r\n"s, "#t\r\n"s,
        "|1\r\n+a\r\n+b\r\n:1\r\n"s, "=8\r\ntxt:abcd\r\n"s, "~1\r\n(123\r\n"s}) {
    CAPTURE(reply);
    std::string bytes;
    EncodeForwardReply(ForwardReply{5, reply}, &bytes);
    std::vector<std::string> args = Parse(bytes);
    ForwardReply decoded;
    std::string error;
    REQUIRE_MESSAGE(DecodeForwardReply(args, &decoded, &error), error);
    CHECK(decoded.id == 5);
    CHECK(decoded.reply == reply);
  }
  for (const std::string& reply :
       {""s, "+OK"s, "+OK\r\n+OK\r\n"s, "$3\r\nab\r\n"s, "$3\r\nabcd\r\n"s, "*2\r\n+a\r\n"s,
        "*99999999999\r\n"s, "$-1x\r\n"s, ":1.5\r\n"s, "?\r\n"s, "_x\r\n"s, "#x\r\n"s, "+a\rb\r\n"s,
        "%-1\r\n"s, "$01\r\na\r\n"s}) {
    CAPTURE(reply);
    std::vector<std::string> args = {"RK.FWDR", "5", reply};
    ForwardReply decoded;
    std::string error;
    CHECK_FALSE(DecodeForwardReply(args, &decoded, &error));
    CHECK(args[2] == reply);
  }
}

TEST_CASE("peer protocol: deep nesting is validated without recursion") {
  std::string reply;
  for (int i = 0; i < 100000; i++) reply += "*1\r\n";
  reply += ":1\r\n";
  CHECK(IsOneRespReply(reply));
  CHECK_FALSE(IsOneRespReply(reply.substr(0, reply.size() - 4)));
}

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
