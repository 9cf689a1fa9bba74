// VCLOCK, ringkv's window on its versioning: the key's version vector and
// the dots of its siblings (format in the server's command docs):
//   [ [[actor-hex, counter], ...], [[actor-hex, counter, timestamp_ms, kind], ...] ]
// where kind is "value" or "tombstone"; nil when the key does not exist.
#include <chrono>
#include <cstdint>
#include <string>

#include "blackbox/harness.h"

namespace ringkv::blackbox {
namespace {

struct Dot {
  std::string actor;
  long long counter = 0;
};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool IsHex(const std::string& text) {
  if (text.empty()) return false;
  for (char c : text) {
    bool digit = c >= '0' && c <= '9';
    bool lower = c >= 'a' && c <= 'f';
    bool upper = c >= 'A' && c <= 'F';
    if (!digit && !lower && !upper) return false;
  }
  return true;
}

std::string Text(const redisReply* reply) { return std::string(reply->str, reply->len); }

// Checks the shape of a single-node VCLOCK reply for a live key and returns
// its one sibling's dot. A single node never has more than one actor or
// sibling.
Dot CheckSingleVersion(const redisReply* reply, int64_t written_after_ms) {
  REQUIRE(reply != nullptr);
  REQUIRE(reply->type == REDIS_REPLY_ARRAY);
  REQUIRE(reply->elements == 2);
  const redisReply* clock = reply->element[0];
  const redisReply* siblings = reply->element[1];
  REQUIRE(clock->type == REDIS_REPLY_ARRAY);
  REQUIRE(clock->elements == 1);
  const redisReply* entry = clock->element[0];
  REQUIRE(entry->type == REDIS_REPLY_ARRAY);
  REQUIRE(entry->elements == 2);
  REQUIRE(entry->element[0]->type == REDIS_REPLY_STRING);
  REQUIRE(entry->element[1]->type == REDIS_REPLY_INTEGER);
  std::string actor = Text(entry->element[0]);
  CHECK_MESSAGE(IsHex(actor), actor);
  long long clock_counter = entry->element[1]->integer;
  CHECK(clock_counter >= 1);

  REQUIRE(siblings->type == REDIS_REPLY_ARRAY);
  REQUIRE(siblings->elements == 1);
  const redisReply* sibling = siblings->element[0];
  REQUIRE(sibling->type == REDIS_REPLY_ARRAY);
  REQUIRE(sibling->elements == 4);
  REQUIRE(sibling->element[0]->type == REDIS_REPLY_STRING);
  REQUIRE(sibling->element[1]->type == REDIS_REPLY_INTEGER);
  REQUIRE(sibling->element[2]->type == REDIS_REPLY_INTEGER);
  REQUIRE(sibling->element[3]->type == REDIS_REPLY_STRING);
  // The only sibling is the latest write, so its dot is the clock's top.
  CHECK(Text(sibling->element[0]) == actor);
  CHECK(sibling->element[1]->integer == clock_counter);
  int64_t timestamp_ms = sibling->element[2]->integer;
  CHECK(timestamp_ms >= written_after_ms - 1000);
  CHECK(timestamp_ms <= NowMs() + 1000);
  CHECK(Text(sibling->element[3]) == "value");
  return Dot{actor, clock_counter};
}

TEST_CASE("vclock: nil for a missing key" * RingkvOnly()) {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"VCLOCK", "missing"}) == "nil");
  CHECK(Do(c.get(), {"VCLOCK"}) == "-ERR wrong number of arguments for 'vclock' command");
}

TEST_CASE("vclock: each write advances the node's counter" * RingkvOnly()) {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  int64_t before_ms = NowMs();
  CHECK(Do(c.get(), {"SET", "k", "v1"}) == "+OK");
  Reply first_reply = Command(c.get(), {"VCLOCK", "k"});
  Dot first = CheckSingleVersion(first_reply.get(), before_ms);

  CHECK(Do(c.get(), {"SET", "k", "v2"}) == "+OK");
  Reply second_reply = Command(c.get(), {"VCLOCK", "k"});
  Dot second = CheckSingleVersion(second_reply.get(), before_ms);
  CHECK(second.actor == first.actor);
  CHECK(second.counter > first.counter);

  CHECK(Do(c.get(), {"APPEND", "k", "+"}) == ":3");
  Reply third_reply = Command(c.get(), {"VCLOCK", "k"});
  Dot third = CheckSingleVersion(third_reply.get(), before_ms);
  CHECK(third.counter > second.counter);
  // Reading does not write a version.
  CHECK(Do(c.get(), {"GET", "k"}) == "$v2+");
  Reply again = Command(c.get(), {"VCLOCK", "k"});
  CHECK(CheckSingleVersion(again.get(), before_ms).counter == third.counter);
}

TEST_CASE("vclock: a deleted key shows a tombstone or nothing" * RingkvOnly()) {
  ServerProcess server;
  server.Start();
  RedisContext c = Connect(server.port());
  CHECK(Do(c.get(), {"SET", "k", "v"}) == "+OK");
  CHECK(Do(c.get(), {"DEL", "k"}) == ":1");
  Reply reply = Command(c.get(), {"VCLOCK", "k"});
  REQUIRE(reply != nullptr);
  if (reply->type == REDIS_REPLY_NIL) return;
  REQUIRE(reply->type == REDIS_REPLY_ARRAY);
  REQUIRE(reply->elements == 2);
  const redisReply* siblings = reply->element[1];
  REQUIRE(siblings->type == REDIS_REPLY_ARRAY);
  REQUIRE(siblings->elements == 1);
  REQUIRE(siblings->element[0]->elements == 4);
  CHECK(Text(siblings->element[0]->element[3]) == "tombstone");
}

TEST_CASE("vclock: the actor and its counter survive a restart" * RingkvOnly()) {
  ServerProcess server;
  server.Start();
  int64_t before_ms = NowMs();
  Dot before;
  {
    RedisContext c = Connect(server.port());
    CHECK(Do(c.get(), {"SET", "k", "v1"}) == "+OK");
    Reply reply = Command(c.get(), {"VCLOCK", "k"});
    before = CheckSingleVersion(reply.get(), before_ms);
  }
  server.Restart();
  RedisContext c = Connect(server.port());
  Reply kept = Command(c.get(), {"VCLOCK", "k"});
  Dot after_restart = CheckSingleVersion(kept.get(), before_ms);
  CHECK(after_restart.actor == before.actor);
  CHECK(after_restart.counter == before.counter);
  // A new write must dominate the old one, never reuse its dot.
  CHECK(Do(c.get(), {"SET", "k", "v2"}) == "+OK");
  Reply rewritten = Command(c.get(), {"VCLOCK", "k"});
  Dot after_write = CheckSingleVersion(rewritten.get(), before_ms);
  CHECK(after_write.counter > before.counter);
}

}  // namespace
}  // namespace ringkv::blackbox
