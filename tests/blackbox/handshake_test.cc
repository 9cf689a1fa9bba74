// Handshake and connection commands as clients use them when they connect:
// PING, ECHO, HELLO, AUTH, CLIENT, SELECT, QUIT, RESET, and the error
// replies every client library parses.
#include <string>

#include "blackbox/harness.h"

namespace ringkv::blackbox {
namespace {

TEST_CASE("ping answers PONG, or echoes its argument") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"PING"}) == "+PONG");
  CHECK(Do(c.get(), {"PING", "hello"}) == "$hello");
  CHECK(Do(c.get(), {"PING", "a", "b"}) == "-ERR wrong number of arguments for 'ping' command");
  CHECK(Do(c.get(), {"ECHO", "hi there"}) == "$hi there");
  CHECK(Do(c.get(), {"ECHO"}) == "-ERR wrong number of arguments for 'echo' command");
}

TEST_CASE("errors: unknown command, wrong arity and syntax use Redis's text") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"foo", "a", "b"}) ==
        "-ERR unknown command 'foo', with args beginning with: 'a' 'b' ");
  CHECK(Do(c.get(), {"foo"}) == "-ERR unknown command 'foo', with args beginning with: ");
  CHECK(Do(c.get(), {"GET"}) == "-ERR wrong number of arguments for 'get' command");
  CHECK(Do(c.get(), {"get", "a", "b"}) == "-ERR wrong number of arguments for 'get' command");
  CHECK(Do(c.get(), {"SET", "k", "v", "NX", "XX"}) == "-ERR syntax error");
  CHECK(Do(c.get(), {"SET", "k", "v", "BOGUS"}) == "-ERR syntax error");
  // The connection stays usable after each error.
  CHECK(Do(c.get(), {"PING"}) == "+PONG");
}

TEST_CASE("hello 2 answers the server map as a flat array") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  Reply reply = Command(c.get(), {"HELLO", "2"});
  REQUIRE(reply != nullptr);
  REQUIRE(reply->type == REDIS_REPLY_ARRAY);
  REQUIRE(reply->elements == 14);
  const char* keys[] = {"server", "version", "proto", "id", "mode", "role", "modules"};
  for (size_t i = 0; i < 7; ++i) {
    CHECK(Render(reply->element[2 * i], c.get()) == std::string("$") + keys[i]);
  }
  CHECK(Render(reply->element[5], c.get()) == ":2");
  CHECK(reply->element[7]->type == REDIS_REPLY_INTEGER);
  CHECK(Render(reply->element[13], c.get()) == "*[]");
  // Without a version HELLO describes the connection as it is.
  Reply current = Command(c.get(), {"HELLO"});
  REQUIRE(current != nullptr);
  REQUIRE(current->type == REDIS_REPLY_ARRAY);
  REQUIRE(current->elements == 14);
  CHECK(Render(current->element[5], c.get()) == ":2");
  // The id is the connection's CLIENT ID.
  CHECK(Render(current->element[7], c.get()) == Do(c.get(), {"CLIENT", "ID"}));
  CHECK(Do(c.get(), {"HELLO", "4"}) == "-NOPROTO unsupported protocol version");
  CHECK(Do(c.get(), {"HELLO", "1"}) == "-NOPROTO unsupported protocol version");
}

TEST_CASE("hello with SETNAME names the connection") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  Reply reply = Command(c.get(), {"HELLO", "2", "SETNAME", "worker-1"});
  REQUIRE(reply != nullptr);
  CHECK(reply->type == REDIS_REPLY_ARRAY);
  CHECK(Do(c.get(), {"CLIENT", "GETNAME"}) == "$worker-1");
}

TEST_CASE("auth: requirepass makes commands answer NOAUTH until AUTH") {
  ServerOptions options;
  options.requirepass = "secret";
  ServerProcess server(options);
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"GET", "k"}) == "-NOAUTH Authentication required.");
  CHECK(Do(c.get(), {"SET", "k", "v"}) == "-NOAUTH Authentication required.");
  CHECK(Do(c.get(), {"AUTH", "wrong"}) ==
        "-WRONGPASS invalid username-password pair or user is disabled.");
  CHECK(Do(c.get(), {"AUTH", "default", "wrong"}) ==
        "-WRONGPASS invalid username-password pair or user is disabled.");
  CHECK(Do(c.get(), {"AUTH", "secret"}) == "+OK");
  CHECK(Do(c.get(), {"SET", "k", "v"}) == "+OK");
  CHECK(Do(c.get(), {"GET", "k"}) == "$v");

  RedisContext other = Connect(server.port());
  CHECK(Do(other.get(), {"AUTH", "default", "secret"}) == "+OK");
  CHECK(Do(other.get(), {"GET", "k"}) == "$v");
}

TEST_CASE("auth: HELLO needs AUTH when a password is set, and accepts it") {
  ServerOptions options;
  options.requirepass = "secret";
  ServerProcess server(options);
  server.Start();
  RedisContext c = Connect(server.port());
  std::string refused = Do(c.get(), {"HELLO", "2"});
  CHECK(refused.rfind("-NOAUTH", 0) == 0);
  CHECK(Do(c.get(), {"HELLO", "2", "AUTH", "default", "wrong"}) ==
        "-WRONGPASS invalid username-password pair or user is disabled.");
  Reply reply = Command(c.get(), {"HELLO", "2", "AUTH", "default", "secret", "SETNAME", "authed"});
  REQUIRE(reply != nullptr);
  CHECK(reply->type == REDIS_REPLY_ARRAY);
  CHECK(Do(c.get(), {"CLIENT", "GETNAME"}) == "$authed");
  CHECK(Do(c.get(), {"PING"}) == "+PONG");
}

TEST_CASE("auth: AUTH without a configured password is an error") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  std::string reply = Do(c.get(), {"AUTH", "anything"});
  CHECK(reply.rfind("-ERR AUTH <password> called without any password", 0) == 0);
  CHECK(Do(c.get(), {"PING"}) == "+PONG");
}

TEST_CASE("client: ID, SETNAME, GETNAME, LIST and INFO") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  RedisContext other = Connect(server.port());
  Reply id = Command(c.get(), {"CLIENT", "ID"});
  REQUIRE(id != nullptr);
  REQUIRE(id->type == REDIS_REPLY_INTEGER);
  Reply other_id = Command(other.get(), {"CLIENT", "ID"});
  REQUIRE(other_id != nullptr);
  CHECK(other_id->integer != id->integer);

  CHECK(Do(c.get(), {"CLIENT", "GETNAME"}) == "nil");
  CHECK(Do(c.get(), {"CLIENT", "SETNAME", "tester"}) == "+OK");
  CHECK(Do(c.get(), {"CLIENT", "GETNAME"}) == "$tester");
  CHECK(Do(c.get(), {"CLIENT", "SETNAME", ""}) == "+OK");  // Clears the name.
  CHECK(Do(c.get(), {"CLIENT", "GETNAME"}) == "nil");
  CHECK(Do(c.get(), {"CLIENT", "SETNAME", "tester"}) == "+OK");
  CHECK(Do(c.get(), {"CLIENT", "SETNAME", "has space"}) ==
        "-ERR Client names cannot contain spaces, newlines or special "
        "characters.");

  std::string list = Do(c.get(), {"CLIENT", "LIST"});
  CHECK(list.find("id=" + std::to_string(id->integer) + " ") != std::string::npos);
  CHECK(list.find("id=" + std::to_string(other_id->integer) + " ") != std::string::npos);
  CHECK(list.find("name=tester ") != std::string::npos);

  std::string info = Do(c.get(), {"CLIENT", "INFO"});
  CHECK(info.rfind("$id=" + std::to_string(id->integer) + " ", 0) == 0);
  CHECK(info.find("name=tester ") != std::string::npos);
  CHECK(info.find("id=" + std::to_string(other_id->integer) + " ") == std::string::npos);
}

// CLIENT SETINFO arrived in Redis 7.2; the redis-server we compare with is 7.0.
TEST_CASE("client: SETINFO accepts lib-name and lib-ver" * RingkvOnly()) {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"CLIENT", "SETINFO", "lib-name", "hiredis"}) == "+OK");
  CHECK(Do(c.get(), {"CLIENT", "SETINFO", "lib-ver", "0.14"}) == "+OK");
  CHECK(Do(c.get(), {"CLIENT", "SETINFO", "bogus", "x"}).rfind("-ERR", 0) == 0);
}

TEST_CASE("select: database 0 is accepted") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"SELECT", "0"}) == "+OK");
  CHECK(Do(c.get(), {"SELECT", "abc"}) == "-ERR value is not an integer or out of range");
}

// Redis has 16 databases; ringkv has only database 0.
TEST_CASE("select: any database but 0 is an error" * RingkvOnly()) {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"SELECT", "1"}).rfind("-ERR", 0) == 0);
  CHECK(Do(c.get(), {"PING"}) == "+PONG");
}

TEST_CASE("quit answers OK and closes the connection") {
  ServerProcess server;
  server.Start();
  RawConnection raw(server.port());
  REQUIRE(raw.Send(EncodeCommand({"QUIT"})));
  bool closed = false;
  CHECK(raw.ReadUntilClose(5000, &closed) == "+OK\r\n");
  CHECK(closed);
}

TEST_CASE("reset returns the connection to RESP2, unnamed") {
  ServerProcess server;
  server.Start();
  RawConnection raw(server.port());
  REQUIRE(raw.Send(EncodeCommand({"HELLO", "3", "SETNAME", "before"})));
  CHECK(raw.ReadReply().rfind("%7\r\n", 0) == 0);
  REQUIRE(raw.Send(EncodeCommand({"RESET"})));
  CHECK(raw.ReadReply() == "+RESET\r\n");
  REQUIRE(raw.Send(EncodeCommand({"GET", "missing"})));
  CHECK(raw.ReadReply() == "$-1\r\n");
  REQUIRE(raw.Send(EncodeCommand({"CLIENT", "GETNAME"})));
  CHECK(raw.ReadReply() == "$-1\r\n");
}

TEST_CASE("reset forgets authentication") {
  ServerOptions options;
  options.requirepass = "secret";
  ServerProcess server(options);
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"AUTH", "secret"}) == "+OK");
  CHECK(Do(c.get(), {"PING"}) == "+PONG");
  CHECK(Do(c.get(), {"RESET"}) == "+RESET");
  CHECK(Do(c.get(), {"PING"}) == "-NOAUTH Authentication required.");
}

}  // namespace
}  // namespace ringkv::blackbox
