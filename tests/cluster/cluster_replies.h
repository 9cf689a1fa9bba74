// Parsers for the cluster commands' replies (RING KEY, VGET, LOCALGET,
// CONSISTENCY, INFO fields), so the tests compare fields rather than rendered
// strings, and the client helpers that go with them (pipelining, timing).
// Each parser REQUIREs the shape docs/commands.md gives, so a malformed reply
// fails the test there. Nothing here knows how the nodes were started: the
// loopback cluster tests (cluster_harness.h) and the failure drills
// (tests/drills/) share it.
#ifndef RINGKV_TESTS_CLUSTER_CLUSTER_REPLIES_H_
#define RINGKV_TESTS_CLUSTER_CLUSTER_REPLIES_H_

#include <hiredis/hiredis.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "blackbox/harness.h"

namespace ringkv::cluster_test {

using blackbox::RedisContext;
using blackbox::Reply;

// RING KEY <key>: [partition, key-hash, [N replica names], [fallback names]].
struct KeyPlacement {
  int64_t partition = -1;
  std::string hash;  // 16 hex digits.
  std::vector<std::string> replicas;
  std::vector<std::string> fallbacks;
};
KeyPlacement ParseRingKey(const redisReply* reply);

// One sibling of VGET / LOCALGET: [value or nil, timestamp_ms, actor, counter].
struct Sibling {
  std::optional<std::string> value;  // nullopt: a tombstone.
  int64_t timestamp_ms = 0;
  std::string actor;  // 16 hex digits.
  int64_t counter = 0;
};

// VGET: [[siblings...], context]. LOCALGET answers the same, or nil.
struct VersionedValue {
  std::vector<Sibling> siblings;
  std::string context;  // Opaque; empty when the key never existed.
};

// nullopt for a nil reply (LOCALGET of a key this node does not hold).
std::optional<VersionedValue> ParseVersioned(const redisReply* reply);

// CONSISTENCY without arguments: n, r and w by name, from a RESP2 flat array
// of pairs or an array of [name, value] pairs.
std::map<std::string, int64_t> ParseConsistency(const redisReply* reply);

// One entry of MEMBERS. The reply (RESP2) is an array of entries, each a
// flat array of field/value pairs; ParseMembers REQUIREs exactly the
// documented fields in the documented order.
struct MemberInfo {
  std::string name;
  std::string host;
  int64_t port = 0;
  int64_t peer_port = 0;
  std::string state;  // "alive" or "suspect".
  int64_t self = 0;
  int64_t heartbeat = 0;
  int64_t age_ms = 0;
  std::string incarnation;  // 16 hex digits.
  int64_t weight = 0;
  int64_t partitions = 0;
};
std::vector<MemberInfo> ParseMembers(const redisReply* reply);

// The integer of an integer reply, REQUIREd.
int64_t IntegerOf(const redisReply* reply);

// INFO fields and pipelining: blackbox/harness.h.
using blackbox::InfoField;
using blackbox::InfoInteger;
using blackbox::Pipeline;

// True when `reply` is an error whose text starts with `prefix`.
bool IsErrorStartingWith(const redisReply* reply, std::string_view prefix);

// The elements of an array reply as strings (bulk or status), for replies
// such as RING KEY's list of names. REQUIREs an array of strings.
std::vector<std::string> StringElements(const redisReply* reply);

// Milliseconds since an arbitrary start, for measuring how long a request
// took.
int64_t NowMs();

}  // namespace ringkv::cluster_test

#endif  // RINGKV_TESTS_CLUSTER_CLUSTER_REPLIES_H_
