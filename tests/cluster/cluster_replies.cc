// Reply parsers for the cluster tests; see cluster_replies.h.
#include "cluster/cluster_replies.h"

#include <doctest/doctest.h>

#include "cluster/cluster_harness.h"

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

}  // namespace ringkv::cluster_test
