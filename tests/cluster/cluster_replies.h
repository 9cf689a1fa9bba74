// Parsers for the cluster commands' replies (RING KEY, VGET, LOCALGET), so
// the tests compare fields rather than rendered strings. Each REQUIREs the
// shape docs/commands.md gives, so a malformed reply fails the test there.
#ifndef RINGKV_TESTS_CLUSTER_CLUSTER_REPLIES_H_
#define RINGKV_TESTS_CLUSTER_CLUSTER_REPLIES_H_

#include <hiredis/hiredis.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ringkv::cluster_test {

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

class Cluster;

// The indexes of `key`'s N replicas in preference-list order, asked of node
// `asked` with RING KEY.
std::vector<int> ReplicaIndexes(const Cluster& cluster, const std::string& key, int asked = 0);

// Polls LOCALGET on each of `nodes` until every one holds exactly one
// sibling with `value`, for at most `timeout_ms`. Returns whether they did.
// Independent of WAIT, so tests can settle replication without trusting it.
bool HeldByAll(const Cluster& cluster, const std::vector<int>& nodes, const std::string& key,
               const std::string& value, int timeout_ms);

// The indexes of the nodes that are not among `replicas`.
std::vector<int> OtherIndexes(const Cluster& cluster, const std::vector<int>& replicas);

}  // namespace ringkv::cluster_test

#endif  // RINGKV_TESTS_CLUSTER_CLUSTER_REPLIES_H_
