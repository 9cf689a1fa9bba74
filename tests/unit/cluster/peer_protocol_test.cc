// Tests for cluster/peer_protocol.cc's replica messages (RK.PUT, RK.PUTR,
// RK.GET, RK.GETR) and the classification of names: every message
// round-trips through the real resp::RequestParser, and every malformed
// input is refused with a reason (docs/peer_protocol.md). The batched
// replies are tested in peer_protocol_batch_test.cc.
#include "cluster/peer_protocol.h"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "unit/cluster/peer_protocol_test_util.h"

// Counts every operator new in the unit_cluster binary, for the test that
// encoding into a warm buffer allocates nothing (the replica path encodes
// one message per replica per write). Counting changes nothing else.
namespace ringkv::cluster::peer_protocol_testing {
std::atomic<size_t> allocations{0};
}  // namespace ringkv::cluster::peer_protocol_testing

using ringkv::cluster::peer_protocol_testing::allocations;

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
using namespace ringkv::cluster::peer_protocol_testing;

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

Message RoundTrip(const Message& message) {
  std::string bytes;
  EncodeMessage(message, &bytes);
  std::vector<std::string> args = Parse(bytes);
  Message decoded;
  std::string error;
  REQUIRE_MESSAGE(DecodeMessage(args, &decoded, &error), error);
  return decoded;
}

std::string EncodedSet(const storage::SiblingSet& set) {
  std::string bytes;
  storage::EncodeSiblingSet(set, &bytes);
  return bytes;
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

// FindGetRequestKeys, on `input`, with room for `room` keys.
std::vector<std::string> GetKeys(std::string_view input, size_t room = 16) {
  std::vector<std::string_view> keys(room);
  const size_t count = FindGetRequestKeys(input, keys);
  REQUIRE(count <= room);
  return std::vector<std::string>(keys.begin(), keys.begin() + static_cast<ptrdiff_t>(count));
}

TEST_CASE("peer protocol: the keys of the replica reads in a socket read") {
  storage::SiblingSet set;
  storage::Sibling sibling;
  // A value that holds a request's bytes: its key is found too (a hint).
  sibling.value = "$6\r\nRK.GET\r\n$1\r\n9\r\n$4\r\nfake\r\n";
  storage::ApplyWrite(&set, storage::VersionVector{}, 7, sibling);
  PutRequest put;
  put.id = 2;
  put.key = "put-key";
  put.set = set;
  GetReply none;
  none.id = 4;
  none.ok = true;
  std::string bytes;
  EncodeMessage(GetRequest{1, "alpha"}, &bytes);
  const size_t put_start = bytes.size();
  EncodeMessage(put, &bytes);
  EncodeMessage(GetRequest{3, "", ReadDigest{7, 9}}, &bytes);  // The empty key.
  EncodeMessage(none, &bytes);
  const std::string binary("bin\r\n\0key", 10);
  EncodeMessage(GetRequest{12345678901234, binary}, &bytes);
  CHECK(GetKeys(bytes) == std::vector<std::string>{"alpha", "fake", "", binary});
  // At most as many as there is room for.
  CHECK(GetKeys(bytes, 2) == std::vector<std::string>{"alpha", "fake"});
  CHECK(GetKeys(bytes, 0).empty());
  // A read may start inside a message: the requests after it are found.
  CHECK(GetKeys(std::string_view(bytes).substr(12)) ==
        std::vector<std::string>{"fake", "", binary});
  const size_t fake = bytes.find("RK.GET", put_start);
  REQUIRE(fake != std::string::npos);
  CHECK(GetKeys(std::string_view(bytes).substr(fake + 1)) == std::vector<std::string>{"", binary});
  // And end inside one: a request cut anywhere before its key's CRLF is
  // not counted, nor read past the end (ASan).
  std::string one;
  EncodeMessage(GetRequest{5, "cut"}, &one);
  for (size_t end = 0; end < one.size(); ++end) {
    CAPTURE(end);
    CHECK(GetKeys(std::string_view(one).substr(0, end)).empty());
  }
  CHECK(GetKeys(one) == std::vector<std::string>{"cut"});
  // A length that is not decimal, overflows, or is larger than what is
  // left yields no key.
  CHECK(GetKeys("*3\r\n$6\r\nRK.GET\r\n$x\r\n1\r\n$1\r\nk\r\n").empty());
  CHECK(GetKeys("*3\r\n$6\r\nRK.GET\r\n$1\r\n1\r\n$99999999999999999999\r\nk\r\n").empty());
  CHECK(GetKeys("*3\r\n$6\r\nRK.GET\r\n$1\r\n1\r\n$18446744073709551615\r\nk\r\n").empty());
  CHECK(GetKeys("*3\r\n$6\r\nRK.GET\r\n$1\r\n1\r\n$2\r\nk\r\n").empty());
  CHECK(GetKeys("").empty());
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

}  // namespace
}  // namespace ringkv::cluster
