// Tests for cluster/peer_protocol_forward.cc: forwarded requests and
// replies round-trip through the real resp::RequestParser, bad ones are
// refused and leave the arguments untouched, and a forwarded reply must be
// exactly one well-formed RESP reply (docs/peer_protocol.md).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cluster/peer_protocol.h"
#include "unit/cluster/peer_protocol_test_util.h"

namespace ringkv::cluster {
namespace {

using namespace std::string_literals;
using namespace ringkv::cluster::peer_protocol_testing;

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

}  // namespace
}  // namespace ringkv::cluster
