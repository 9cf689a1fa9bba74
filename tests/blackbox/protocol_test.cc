// Malformed requests and inline commands. A protocol error is answered with
// Redis's "-ERR Protocol error: <reason>" and closes only that connection.
#include <string>
#include <vector>

#include "blackbox/harness.h"

namespace ringkv::blackbox {
namespace {

struct BadRequest {
  const char* name;
  std::string bytes;
  std::string reply;
};

std::vector<BadRequest> BadRequests() {
  return {
      {"non-numeric multibulk length", "*abc\r\n",
       "-ERR Protocol error: invalid multibulk length\r\n"},
      {"non-numeric bulk length", "*1\r\n$abc\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {"bulk length over 512 MB", "*1\r\n$600000000\r\n",
       "-ERR Protocol error: invalid bulk length\r\n"},
      {"array element not a bulk string", "*1\r\nfoo\r\n",
       "-ERR Protocol error: expected '$', got 'f'\r\n"},
      {"inline unbalanced double quote", "SET \"foo bar\r\n",
       "-ERR Protocol error: unbalanced quotes in request\r\n"},
      {"inline unbalanced single quote", "GET 'key\r\n",
       "-ERR Protocol error: unbalanced quotes in request\r\n"},
      {"inline request over 64 KB", std::string(70 * 1024, 'a'),
       "-ERR Protocol error: too big inline request\r\n"},
      {"multibulk count line over 64 KB", "*" + std::string(70 * 1024, '1'),
       "-ERR Protocol error: too big mbulk count string\r\n"},
  };
}

TEST_CASE("protocol errors answer the reason and close only that client") {
  ServerProcess server;
  server.Start();
  // Connected before the bad requests and kept open throughout.
  RedisContext bystander = Connect(server.port());
  CHECK(Do(bystander.get(), {"SET", "k", "v"}) == "+OK");
  for (const BadRequest& request : BadRequests()) {
    CAPTURE(request.name);
    bool closed = false;
    std::string reply = RawExchange(server.port(), request.bytes, 5000, &closed);
    CHECK(reply == request.reply);
    CHECK(closed);
    CHECK(Do(bystander.get(), {"GET", "k"}) == "$v");
  }
  RedisContext fresh = Connect(server.port());
  CHECK(Do(fresh.get(), {"PING"}) == "+PONG");
}

TEST_CASE("protocol error after good pipelined commands answers them first") {
  ServerProcess server;
  server.Start();
  std::string bytes = EncodeCommand({"SET", "k", "v"}) + EncodeCommand({"GET", "k"}) +
                      "*1\r\n$abc\r\n" + EncodeCommand({"SET", "after", "error"});
  bool closed = false;
  CHECK(RawExchange(server.port(), bytes, 5000, &closed) ==
        "+OK\r\n$1\r\nv\r\n-ERR Protocol error: invalid bulk length\r\n");
  CHECK(closed);
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"EXISTS", "after"}) == ":0");
}

TEST_CASE("negative multibulk counts and empty lines are ignored") {
  ServerProcess server;
  server.Start();
  RawConnection raw(server.port());
  REQUIRE(raw.Send("*-10\r\n\r\n\r\n*0\r\nPING\r\n"));
  CHECK(raw.ReadReply() == "+PONG\r\n");
  REQUIRE(raw.Send(EncodeCommand({"PING"})));
  CHECK(raw.ReadReply() == "+PONG\r\n");
}

TEST_CASE("inline commands split words and honour quotes and escapes") {
  ServerProcess server;
  server.Start();
  RawConnection raw(server.port());
  REQUIRE(raw.Send("SET \"a key\" 'single quoted'\r\n"));
  CHECK(raw.ReadReply() == "+OK\r\n");
  REQUIRE(raw.Send("GET \"a key\"\r\n"));
  CHECK(raw.ReadReply() == "$13\r\nsingle quoted\r\n");
  REQUIRE(raw.Send("SET esc \"tab\\there\\x41\\n\"\r\n"));
  CHECK(raw.ReadReply() == "+OK\r\n");
  REQUIRE(raw.Send("GET esc\n"));  // A bare LF ends an inline line too.
  CHECK(raw.ReadReply() == "$10\r\ntab\there\x41\n\r\n");
  REQUIRE(raw.Send("  EXISTS   esc    esc  \r\n"));
  CHECK(raw.ReadReply() == ":2\r\n");
}

TEST_CASE("a request split into single bytes is still one request") {
  ServerProcess server;
  server.Start();
  RawConnection raw(server.port());
  std::string request = EncodeCommand({"SET", "slow", "bytes"}) + EncodeCommand({"GET", "slow"});
  for (char byte : request) REQUIRE(raw.Send(std::string(1, byte)));
  CHECK(raw.ReadReply() == "+OK\r\n");
  CHECK(raw.ReadReply() == "$5\r\nbytes\r\n");
}

}  // namespace
}  // namespace ringkv::blackbox
