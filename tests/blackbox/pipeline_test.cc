// Throughput-shaped correctness: deep pipelines, binary-safe keys and values,
// large values and concurrent clients, each checked reply by reply.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "blackbox/harness.h"

namespace ringkv::blackbox {
namespace {

// Reads the next pipelined reply; a null one means the connection failed.
Reply NextReply(redisContext* context) {
  void* reply = nullptr;
  if (redisGetReply(context, &reply) != REDIS_OK) return Reply();
  return Reply(static_cast<redisReply*>(reply));
}

// Every byte value, so NUL, CR and LF all appear, plus a "\r\n" inside.
std::string AllBytes() {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  return bytes + "\r\n$3\r\n*1\r\n";
}

TEST_CASE("10,000 pipelined commands are answered in order") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  constexpr int kPairs = 5000;  // A SET and a GET each.
  for (int i = 0; i < kPairs; ++i) {
    std::string key = "pipelined:" + std::to_string(i);
    std::string value = "value-" + std::to_string(i);
    REQUIRE(redisAppendCommand(c.get(), "SET %b %b", key.data(), key.size(), value.data(),
                               value.size()) == REDIS_OK);
    REQUIRE(redisAppendCommand(c.get(), "GET %b", key.data(), key.size()) == REDIS_OK);
  }
  int mismatches = 0;
  for (int i = 0; i < kPairs; ++i) {
    Reply set = NextReply(c.get());
    REQUIRE_MESSAGE(set != nullptr, "reply " << 2 * i << ": " << c->errstr);
    Reply get = NextReply(c.get());
    REQUIRE_MESSAGE(get != nullptr, "reply " << 2 * i + 1 << ": " << c->errstr);
    std::string expected = "$value-" + std::to_string(i);
    if (Render(set.get(), c.get()) != "+OK" || Render(get.get(), c.get()) != expected) {
      if (++mismatches <= 5) {
        FAIL_CHECK("pair " << i << ": " << Render(set.get(), c.get()) << " "
                           << Render(get.get(), c.get()));
      }
    }
  }
  CHECK(mismatches == 0);
  CHECK(Do(c.get(), {"DBSIZE"}) == ":" + std::to_string(kPairs));
}

TEST_CASE("keys and values are binary-safe: NUL, CR, LF and every byte") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  const std::string key = std::string("bin\0key\r\n", 9) + AllBytes();
  const std::string value = AllBytes() + std::string("\0\0end", 5);
  CHECK(Do(c.get(), {"SET", key, value}) == "+OK");
  Reply reply = Command(c.get(), {"GET", key});
  REQUIRE(reply != nullptr);
  REQUIRE(reply->type == REDIS_REPLY_STRING);
  CHECK(std::string(reply->str, reply->len) == value);
  CHECK(Do(c.get(), {"STRLEN", key}) == ":" + std::to_string(value.size()));
  // A key that differs only after a NUL is a different key.
  CHECK(Do(c.get(), {"EXISTS", std::string("bin\0kez", 7)}) == ":0");
  CHECK(Do(c.get(), {"EXISTS", std::string("bin", 3)}) == ":0");
  CHECK(Do(c.get(), {"APPEND", key, std::string("\0", 1)}) ==
        ":" + std::to_string(value.size() + 1));
  CHECK(Do(c.get(), {"DEL", key}) == ":1");
}

TEST_CASE("1 MB values are stored, read back and appended to intact") {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  std::string value(1024 * 1024, '\0');
  for (size_t i = 0; i < value.size(); ++i) {
    value[i] = static_cast<char>((i * 7919) % 251);
  }
  CHECK(Do(c.get(), {"SET", "big", value}) == "+OK");
  Reply reply = Command(c.get(), {"GET", "big"});
  REQUIRE(reply != nullptr);
  REQUIRE(reply->type == REDIS_REPLY_STRING);
  CHECK(reply->len == value.size());
  CHECK(std::string(reply->str, reply->len) == value);
  CHECK(Do(c.get(), {"APPEND", "big", value}) == ":2097152");
  CHECK(Do(c.get(), {"STRLEN", "big"}) == ":2097152");
  // Several large values in one pipeline, then read back in one MGET.
  for (int i = 0; i < 8; ++i) {
    std::string key = "big:" + std::to_string(i);
    REQUIRE(redisAppendCommand(c.get(), "SET %b %b", key.data(), key.size(), value.data(),
                               value.size()) == REDIS_OK);
  }
  for (int i = 0; i < 8; ++i) {
    Reply set = NextReply(c.get());
    CHECK(Render(set.get(), c.get()) == "+OK");
  }
  Reply all = Command(c.get(), {"MGET", "big:0", "big:3", "big:7"});
  REQUIRE(all != nullptr);
  REQUIRE(all->elements == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(std::string(all->element[i]->str, all->element[i]->len) == value);
  }
}

TEST_CASE("concurrent clients each see their own writes") {
  ServerProcess server;
  server.Start();
  constexpr int kClients = 8;
  constexpr int kWritesPerClient = 500;
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int id = 0; id < kClients; ++id) {
    clients.emplace_back([&, id] {
      // Plain hiredis here: doctest assertions are not thread-safe.
      timeval timeout{10, 0};
      RedisContext c(redisConnectWithTimeout("127.0.0.1", server.port(), timeout));
      if (c == nullptr || c->err != 0) {
        ++failures;
        return;
      }
      redisSetTimeout(c.get(), timeout);
      for (int i = 0; i < kWritesPerClient; ++i) {
        std::string key = "c" + std::to_string(id) + ":" + std::to_string(i);
        if (Do(c.get(), {"SET", key, key}) != "+OK" || Do(c.get(), {"GET", key}) != "$" + key) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& client : clients) client.join();
  CHECK(failures.load() == 0);
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"DBSIZE"}) == ":" + std::to_string(kClients * kWritesPerClient));
}

TEST_CASE("200 open connections are all served") {
  ServerProcess server;
  server.Start();
  std::vector<RedisContext> connections;
  for (int i = 0; i < 200; ++i) connections.push_back(Connect(server.port()));
  for (size_t i = 0; i < connections.size(); ++i) {
    std::string key = "conn:" + std::to_string(i);
    REQUIRE(Do(connections[i].get(), {"SET", key, key}) == "+OK");
  }
  // Read back through other connections than the writers'.
  for (size_t i = 0; i < connections.size(); ++i) {
    std::string key = "conn:" + std::to_string(i);
    CHECK(Do(connections[(i + 1) % connections.size()].get(), {"GET", key}) == "$" + key);
  }
}

}  // namespace
}  // namespace ringkv::blackbox
