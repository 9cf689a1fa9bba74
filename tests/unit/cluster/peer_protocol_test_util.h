// tests/unit/cluster/peer_protocol_test_util.h: what the peer protocol
// tests share: parsing one message as the peer side does, the replica
// decoder's error for bad arguments, random damage to encoded messages,
// and the count of operator new calls; shared by peer_protocol_test.cc,
// peer_protocol_batch_test.cc, peer_protocol_forward_test.cc,
// peer_protocol_membership_test.cc and (Parse) peer_auth_test.cc.
#ifndef RINGKV_TESTS_UNIT_CLUSTER_PEER_PROTOCOL_TEST_UTIL_H_
#define RINGKV_TESTS_UNIT_CLUSTER_PEER_PROTOCOL_TEST_UTIL_H_

#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cluster/messages.h"
#include "cluster/peer_protocol.h"
#include "resp/parser.h"

namespace ringkv::cluster::peer_protocol_testing {

// How many times operator new has run in the unit_cluster binary;
// peer_protocol_test.cc replaces operator new to count them.
extern std::atomic<size_t> allocations;

// Parses `bytes` as exactly one request with the peer side's parser.
inline std::vector<std::string> Parse(const std::string& bytes) {
  resp::RequestParser parser(resp::ParserLimits{});
  size_t consumed = 0;
  REQUIRE(parser.Feed(bytes, &consumed) == resp::ParseStatus::kComplete);
  REQUIRE(consumed == bytes.size());
  auto args = parser.args();
  return std::vector<std::string>(args.begin(), args.end());
}

inline std::string DecodeError(std::vector<std::string> args) {
  Message decoded;
  std::string error;
  CHECK_FALSE(DecodeMessage(args, &decoded, &error));
  CHECK_FALSE(error.empty());
  return error;
}

// Damages one of `encoded` (1 to 3 random bytes, a fixed-seed generator)
// 20,000 times and hands each damaged message that still parses as one RESP
// request to `decode`, which returns whether it decoded (checking what it
// got, or the error). Returns how many decoded.
template <typename Decode>
int DecodeDamaged(const std::vector<std::string>& encoded, uint64_t seed, Decode decode) {
  uint64_t state = seed;
  auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  int decoded = 0;
  for (int round = 0; round < 20000; round++) {
    std::string bytes = encoded.size() == 1 ? encoded[0] : encoded[next() % encoded.size()];
    for (int flips = 1 + next() % 3; flips > 0; flips--) {
      bytes[next() % bytes.size()] = static_cast<char>(next());
    }
    resp::RequestParser parser(resp::ParserLimits{});
    size_t consumed = 0;
    if (parser.Feed(bytes, &consumed) != resp::ParseStatus::kComplete) continue;
    auto args = parser.args();
    if (decode(std::span<const std::string>(args.data(), args.size()))) decoded++;
  }
  return decoded;
}

}  // namespace ringkv::cluster::peer_protocol_testing

#endif  // RINGKV_TESTS_UNIT_CLUSTER_PEER_PROTOCOL_TEST_UTIL_H_
