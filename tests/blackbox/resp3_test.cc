// RESP3 after HELLO 3, read off a raw socket because hiredis 0.14 cannot
// parse RESP3 types.
#include <string>

#include "blackbox/harness.h"

namespace ringkv::blackbox {
namespace {

TEST_CASE("hello 3 answers a map and switches the connection to RESP3") {
  ServerProcess server;
  server.Start();
  RawConnection raw(server.port());
  REQUIRE(raw.Send(EncodeCommand({"HELLO", "3"})));
  std::string hello = raw.ReadReply();
  CHECK(hello.rfind("%7\r\n$6\r\nserver\r\n", 0) == 0);
  CHECK(hello.find("$7\r\nversion\r\n$") != std::string::npos);
  CHECK(hello.find("$5\r\nproto\r\n:3\r\n") != std::string::npos);
  CHECK(hello.find("$2\r\nid\r\n:") != std::string::npos);
  CHECK(hello.find("$4\r\nmode\r\n$10\r\nstandalone\r\n") != std::string::npos);
  CHECK(hello.find("$4\r\nrole\r\n$6\r\nmaster\r\n") != std::string::npos);
  CHECK(hello.find("$7\r\nmodules\r\n*0\r\n") != std::string::npos);

  // A missing key is RESP3's null, no longer "$-1".
  REQUIRE(raw.Send(EncodeCommand({"GET", "missing"})));
  CHECK(raw.ReadReply() == "_\r\n");
  REQUIRE(raw.Send(EncodeCommand({"SET", "k", "v"})));
  CHECK(raw.ReadReply() == "+OK\r\n");
  REQUIRE(raw.Send(EncodeCommand({"MGET", "k", "missing"})));
  CHECK(raw.ReadReply() == "*2\r\n$1\r\nv\r\n_\r\n");
  REQUIRE(raw.Send(EncodeCommand({"EXISTS", "k"})));
  CHECK(raw.ReadReply() == ":1\r\n");
  REQUIRE(raw.Send(EncodeCommand({"CONFIG", "GET", "appendonly"})));
  CHECK(raw.ReadReply().rfind("%1\r\n$10\r\nappendonly\r\n", 0) == 0);
  REQUIRE(raw.Send(EncodeCommand({"GET"})));
  CHECK(raw.ReadReply() == "-ERR wrong number of arguments for 'get' command\r\n");
}

TEST_CASE("hello 3 with AUTH and SETNAME authenticates and names at once") {
  ServerOptions options;
  options.requirepass = "secret";
  ServerProcess server(options);
  server.Start();
  RawConnection raw(server.port());
  REQUIRE(raw.Send(
      EncodeCommand({"HELLO", "3", "AUTH", "default", "secret", "SETNAME", "resp3-client"})));
  CHECK(raw.ReadReply().rfind("%7\r\n", 0) == 0);
  REQUIRE(raw.Send(EncodeCommand({"CLIENT", "GETNAME"})));
  CHECK(raw.ReadReply() == "$12\r\nresp3-client\r\n");
  REQUIRE(raw.Send(EncodeCommand({"GET", "missing"})));
  CHECK(raw.ReadReply() == "_\r\n");
}

TEST_CASE("hello 2 after hello 3 switches back to RESP2") {
  ServerProcess server;
  server.Start();
  RawConnection raw(server.port());
  REQUIRE(raw.Send(EncodeCommand({"HELLO", "3"})));
  CHECK(raw.ReadReply().rfind("%7\r\n", 0) == 0);
  REQUIRE(raw.Send(EncodeCommand({"HELLO", "2"})));
  CHECK(raw.ReadReply().rfind("*14\r\n", 0) == 0);
  REQUIRE(raw.Send(EncodeCommand({"GET", "missing"})));
  CHECK(raw.ReadReply() == "$-1\r\n");
}

TEST_CASE("hello with an unsupported version answers NOPROTO, keeps RESP2") {
  ServerProcess server;
  server.Start();
  RawConnection raw(server.port());
  REQUIRE(raw.Send(EncodeCommand({"HELLO", "4"})));
  CHECK(raw.ReadReply() == "-NOPROTO unsupported protocol version\r\n");
  REQUIRE(raw.Send(EncodeCommand({"GET", "missing"})));
  CHECK(raw.ReadReply() == "$-1\r\n");
}

}  // namespace
}  // namespace ringkv::blackbox
