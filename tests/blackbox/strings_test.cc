// String commands with Redis's semantics and replies: GET, SET and its
// options, SETNX, GETDEL, DEL, EXISTS, MGET, MSET, MSETNX, STRLEN, APPEND.
#include <string>
#include <vector>

#include "blackbox/harness.h"

namespace ringkv::blackbox {
namespace {

TEST_CASE("set then get returns the value; a missing key is nil") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"GET", "k"}) == "nil");
  CHECK(Do(c.get(), {"SET", "k", "v1"}) == "+OK");
  CHECK(Do(c.get(), {"GET", "k"}) == "$v1");
  CHECK(Do(c.get(), {"SET", "k", "v2"}) == "+OK");
  CHECK(Do(c.get(), {"GET", "k"}) == "$v2");
  CHECK(Do(c.get(), {"SET", "empty", ""}) == "+OK");
  CHECK(Do(c.get(), {"GET", "empty"}) == "$");
  CHECK(Do(c.get(), {"EXISTS", "empty"}) == ":1");
  CHECK(Do(c.get(), {"SET", "k"}) == "-ERR wrong number of arguments for 'set' command");
}

TEST_CASE("set NX writes only a missing key, XX only an existing one") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"SET", "k", "first", "NX"}) == "+OK");
  CHECK(Do(c.get(), {"SET", "k", "second", "nx"}) == "nil");
  CHECK(Do(c.get(), {"GET", "k"}) == "$first");
  CHECK(Do(c.get(), {"SET", "k", "third", "XX"}) == "+OK");
  CHECK(Do(c.get(), {"GET", "k"}) == "$third");
  CHECK(Do(c.get(), {"SET", "missing", "v", "xx"}) == "nil");
  CHECK(Do(c.get(), {"EXISTS", "missing"}) == ":0");
  CHECK(Do(c.get(), {"SET", "k", "v", "NX", "XX"}) == "-ERR syntax error");
  CHECK(Do(c.get(), {"GET", "k"}) == "$third");
}

TEST_CASE("set GET returns the old value and still writes") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"SET", "k", "old", "GET"}) == "nil");
  CHECK(Do(c.get(), {"SET", "k", "new", "GET"}) == "$old");
  CHECK(Do(c.get(), {"GET", "k"}) == "$new");
  // With NX the old value comes back and nothing is written.
  CHECK(Do(c.get(), {"SET", "k", "ignored", "NX", "GET"}) == "$new");
  CHECK(Do(c.get(), {"GET", "k"}) == "$new");
  CHECK(Do(c.get(), {"SET", "k", "newer", "XX", "GET"}) == "$new");
  CHECK(Do(c.get(), {"SET", "other", "v", "XX", "GET"}) == "nil");
  CHECK(Do(c.get(), {"EXISTS", "other"}) == ":0");
}

// Until keys can expire, an expiry option must be refused rather than
// silently ignored. Redis of course accepts them.
TEST_CASE("set with an expiry option is refused for now" * RingkvOnly()) {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  for (const auto& option : std::vector<std::vector<std::string>>{{"EX", "10"},
                                                                  {"PX", "10000"},
                                                                  {"EXAT", "4000000000"},
                                                                  {"PXAT", "4000000000000"},
                                                                  {"KEEPTTL"}}) {
    std::vector<std::string> args = {"SET", "k", "v"};
    args.insert(args.end(), option.begin(), option.end());
    std::string reply = Do(c.get(), args);
    CHECK_MESSAGE(reply.rfind("-ERR", 0) == 0, option[0] << ": " << reply);
  }
  CHECK(Do(c.get(), {"EXISTS", "k"}) == ":0");
}

TEST_CASE("setnx answers 1 when it writes and 0 when the key exists") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"SETNX", "k", "a"}) == ":1");
  CHECK(Do(c.get(), {"SETNX", "k", "b"}) == ":0");
  CHECK(Do(c.get(), {"GET", "k"}) == "$a");
}

TEST_CASE("getdel returns the value and removes the key") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"SET", "k", "v"}) == "+OK");
  CHECK(Do(c.get(), {"GETDEL", "k"}) == "$v");
  CHECK(Do(c.get(), {"GETDEL", "k"}) == "nil");
  CHECK(Do(c.get(), {"GET", "k"}) == "nil");
  CHECK(Do(c.get(), {"EXISTS", "k"}) == ":0");
}

TEST_CASE("del counts the keys it removed") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"MSET", "a", "1", "b", "2"}) == "+OK");
  CHECK(Do(c.get(), {"DEL", "a", "b", "missing"}) == ":2");
  CHECK(Do(c.get(), {"DEL", "a"}) == ":0");
  CHECK(Do(c.get(), {"GET", "a"}) == "nil");
  // Deleting then writing again brings the key back.
  CHECK(Do(c.get(), {"SET", "a", "again"}) == "+OK");
  CHECK(Do(c.get(), {"GET", "a"}) == "$again");
  CHECK(Do(c.get(), {"DEL"}) == "-ERR wrong number of arguments for 'del' command");
}

TEST_CASE("exists counts every argument, repeats included") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"SET", "k", "v"}) == "+OK");
  CHECK(Do(c.get(), {"EXISTS", "k"}) == ":1");
  CHECK(Do(c.get(), {"EXISTS", "k", "k", "k"}) == ":3");
  CHECK(Do(c.get(), {"EXISTS", "k", "missing", "k"}) == ":2");
  CHECK(Do(c.get(), {"EXISTS", "missing"}) == ":0");
}

TEST_CASE("mget answers one entry per key, nil for missing ones") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"MSET", "a", "1", "b", "2"}) == "+OK");
  CHECK(Do(c.get(), {"MGET", "a", "missing", "b", "a"}) == "*[$1, nil, $2, $1]");
  CHECK(Do(c.get(), {"MGET"}) == "-ERR wrong number of arguments for 'mget' command");
}

TEST_CASE("mset writes all pairs; the last of a repeated key wins") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"MSET", "a", "1", "b", "2", "a", "3"}) == "+OK");
  CHECK(Do(c.get(), {"MGET", "a", "b"}) == "*[$3, $2]");
  CHECK(Do(c.get(), {"MSET", "a", "1", "b"}) ==
        "-ERR wrong number of arguments for 'mset' command");
  CHECK(Do(c.get(), {"MSET", "a"}) == "-ERR wrong number of arguments for 'mset' command");
}

TEST_CASE("msetnx writes all pairs only when no key exists") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"MSETNX", "a", "1", "b", "2"}) == ":1");
  CHECK(Do(c.get(), {"MSETNX", "c", "3", "a", "9"}) == ":0");
  CHECK(Do(c.get(), {"MGET", "a", "b", "c"}) == "*[$1, $2, nil]");
  CHECK(Do(c.get(), {"MSETNX", "a", "1", "b"}) ==
        "-ERR wrong number of arguments for 'msetnx' command");
}

TEST_CASE("strlen is the value's length in bytes, 0 when missing") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"STRLEN", "missing"}) == ":0");
  CHECK(Do(c.get(), {"SET", "k", "hello"}) == "+OK");
  CHECK(Do(c.get(), {"STRLEN", "k"}) == ":5");
  CHECK(Do(c.get(), {"SET", "utf8", "\xc3\xa9t\xc3\xa9"}) == "+OK");
  CHECK(Do(c.get(), {"STRLEN", "utf8"}) == ":5");
}

TEST_CASE("append creates or extends and answers the new length") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"APPEND", "k", "Hello"}) == ":5");
  CHECK(Do(c.get(), {"APPEND", "k", " World"}) == ":11");
  CHECK(Do(c.get(), {"GET", "k"}) == "$Hello World");
  CHECK(Do(c.get(), {"APPEND", "k", ""}) == ":11");
}

}  // namespace
}  // namespace ringkv::blackbox
