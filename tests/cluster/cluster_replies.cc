// Reply parsers for the cluster tests; see cluster_replies.h.
#include "cluster/cluster_replies.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>

namespace ringkv::cluster_test {
namespace {

std::string Describe(const redisReply* reply) { return blackbox::Render(reply, nullptr); }

std::string StringOf(const redisReply* reply) {
  REQUIRE(reply != nullptr);
  REQUIRE_MESSAGE((reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS),
                  "expected a string, got " << Describe(reply));
  return std::string(reply->str, reply->len);
}

}  // namespace

int64_t IntegerOf(const redisReply* reply) {
  REQUIRE(reply != nullptr);
  REQUIRE_MESSAGE(reply->type == REDIS_REPLY_INTEGER,
                  "expected an integer, got " << Describe(reply));
  return reply->integer;
}

KeyPlacement ParseRingKey(const redisReply* reply) {
  REQUIRE(reply != nullptr);
  REQUIRE_MESSAGE(
      (reply->type == REDIS_REPLY_ARRAY && reply->elements == 4),
      "RING KEY: expected [partition, hash, replicas, fallbacks], got " << Describe(reply));
  KeyPlacement placement;
  placement.partition = IntegerOf(reply->element[0]);
  placement.hash = StringOf(reply->element[1]);
  placement.replicas = StringElements(reply->element[2]);
  placement.fallbacks = StringElements(reply->element[3]);
  return placement;
}

std::optional<VersionedValue> ParseVersioned(const redisReply* reply) {
  REQUIRE(reply != nullptr);
  if (reply->type == REDIS_REPLY_NIL) return std::nullopt;
  REQUIRE_MESSAGE((reply->type == REDIS_REPLY_ARRAY && reply->elements == 2),
                  "expected [siblings, context], got " << Describe(reply));
  const redisReply* siblings = reply->element[0];
  REQUIRE_MESSAGE(siblings->type == REDIS_REPLY_ARRAY,
                  "expected an array of siblings, got " << Describe(siblings));
  VersionedValue versioned;
  for (size_t i = 0; i < siblings->elements; ++i) {
    const redisReply* element = siblings->element[i];
    REQUIRE_MESSAGE((element->type == REDIS_REPLY_ARRAY && element->elements == 4),
                    "expected [value, timestamp_ms, actor, counter], got " << Describe(element));
    Sibling sibling;
    if (element->element[0]->type != REDIS_REPLY_NIL) sibling.value = StringOf(element->element[0]);
    sibling.timestamp_ms = IntegerOf(element->element[1]);
    sibling.actor = StringOf(element->element[2]);
    sibling.counter = IntegerOf(element->element[3]);
    versioned.siblings.push_back(std::move(sibling));
  }
  versioned.context = StringOf(reply->element[1]);
  return versioned;
}

std::map<std::string, int64_t> ParseConsistency(const redisReply* reply) {
  REQUIRE(reply != nullptr);
  REQUIRE_MESSAGE((reply->type == REDIS_REPLY_ARRAY), "CONSISTENCY: got " << Describe(reply));
  std::map<std::string, int64_t> levels;
  bool nested = reply->elements > 0 && reply->element[0]->type == REDIS_REPLY_ARRAY;
  if (nested) {
    for (size_t i = 0; i < reply->elements; ++i) {
      const redisReply* pair = reply->element[i];
      REQUIRE(pair->type == REDIS_REPLY_ARRAY);
      REQUIRE(pair->elements == 2);
      levels[StringOf(pair->element[0])] = IntegerOf(pair->element[1]);
    }
    return levels;
  }
  REQUIRE_MESSAGE(reply->elements % 2 == 0, "CONSISTENCY: got " << Describe(reply));
  for (size_t i = 0; i < reply->elements; i += 2) {
    levels[StringOf(reply->element[i])] = IntegerOf(reply->element[i + 1]);
  }
  return levels;
}

std::vector<MemberInfo> ParseMembers(const redisReply* reply) {
  static const char* const kFields[] = {"name",        "host",   "port",      "peer_port",
                                        "state",       "self",   "heartbeat", "age_ms",
                                        "incarnation", "weight", "partitions"};
  constexpr size_t kFieldCount = sizeof(kFields) / sizeof(kFields[0]);
  REQUIRE(reply != nullptr);
  REQUIRE_MESSAGE(reply->type == REDIS_REPLY_ARRAY, "MEMBERS: got " << Describe(reply));
  std::vector<MemberInfo> members;
  for (size_t i = 0; i < reply->elements; ++i) {
    const redisReply* entry = reply->element[i];
    REQUIRE_MESSAGE((entry->type == REDIS_REPLY_ARRAY && entry->elements == 2 * kFieldCount),
                    "MEMBERS entry: got " << Describe(entry));
    for (size_t field = 0; field < kFieldCount; ++field) {
      REQUIRE(StringOf(entry->element[2 * field]) == kFields[field]);
    }
    auto value = [entry](size_t field) { return entry->element[2 * field + 1]; };
    MemberInfo member;
    member.name = StringOf(value(0));
    member.host = StringOf(value(1));
    member.port = IntegerOf(value(2));
    member.peer_port = IntegerOf(value(3));
    member.state = StringOf(value(4));
    member.self = IntegerOf(value(5));
    member.heartbeat = IntegerOf(value(6));
    member.age_ms = IntegerOf(value(7));
    member.incarnation = StringOf(value(8));
    member.weight = IntegerOf(value(9));
    member.partitions = IntegerOf(value(10));
    REQUIRE_MESSAGE((member.state == "alive" || member.state == "suspect"), member.state);
    REQUIRE((member.self == 0 || member.self == 1));
    REQUIRE(member.incarnation.size() == 16);
    members.push_back(std::move(member));
  }
  return members;
}

bool IsErrorStartingWith(const redisReply* reply, std::string_view prefix) {
  return reply != nullptr && reply->type == REDIS_REPLY_ERROR &&
         std::string_view(reply->str, reply->len).substr(0, prefix.size()) == prefix;
}

std::vector<std::string> StringElements(const redisReply* reply) {
  REQUIRE(reply != nullptr);
  REQUIRE_MESSAGE(reply->type == REDIS_REPLY_ARRAY, "expected an array, got type " << reply->type);
  std::vector<std::string> strings;
  for (size_t i = 0; i < reply->elements; ++i) {
    const redisReply* element = reply->element[i];
    REQUIRE((element->type == REDIS_REPLY_STRING || element->type == REDIS_REPLY_STATUS));
    strings.emplace_back(element->str, element->len);
  }
  return strings;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace ringkv::cluster_test
