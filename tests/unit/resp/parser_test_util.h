// tests/unit/resp/parser_test_util.h: feeds a RequestParser in chosen
// pieces and records what came out, so tests can compare splits.
#ifndef RINGKV_TESTS_UNIT_RESP_PARSER_TEST_UTIL_H_
#define RINGKV_TESTS_UNIT_RESP_PARSER_TEST_UTIL_H_

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/parser.h"

namespace ringkv::resp::testing {

struct Request {
  std::vector<std::string> args;
  bool inline_command = false;
  bool operator==(const Request&) const = default;
};

struct Outcome {
  std::vector<Request> requests;
  bool failed = false;
  std::string error;
  bool operator==(const Outcome&) const = default;
};

// Feeds every piece in order, draining each with as many Feed calls as it
// takes, and checks the consumed-bytes contract on the way.
inline Outcome FeedPieces(RequestParser* parser, const std::vector<std::string_view>& pieces) {
  Outcome outcome;
  for (std::string_view piece : pieces) {
    size_t offset = 0;
    while (true) {
      size_t consumed = 12345;
      ParseStatus status = parser->Feed(piece.substr(offset), &consumed);
      REQUIRE(consumed <= piece.size() - offset);
      offset += consumed;
      if (status == ParseStatus::kError) {
        outcome.failed = true;
        outcome.error = parser->error();
        return outcome;
      }
      if (status == ParseStatus::kNeedMore) {
        REQUIRE(offset == piece.size());
        break;
      }
      REQUIRE(consumed > 0);
      REQUIRE(!parser->args().empty());
      auto args = parser->args();
      outcome.requests.push_back(Request{{args.begin(), args.end()}, parser->last_was_inline()});
    }
  }
  return outcome;
}

inline Outcome ParseOneShot(std::string_view input, const ParserLimits& limits = {}) {
  RequestParser parser(limits);
  return FeedPieces(&parser, {input});
}

// Cuts `input` into pieces of `piece_bytes` (the last may be shorter).
inline std::vector<std::string_view> SplitEvery(std::string_view input, size_t piece_bytes) {
  std::vector<std::string_view> pieces;
  for (size_t i = 0; i < input.size(); i += piece_bytes) {
    pieces.push_back(input.substr(i, piece_bytes));
  }
  return pieces;
}

// Cuts `input` at positions drawn from a small xorshift generator, so a seed
// gives the same split on every platform. Pieces may be empty.
inline std::vector<std::string_view> SplitRandomly(std::string_view input, uint64_t seed,
                                                   size_t piece_bytes_max) {
  uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
  std::vector<std::string_view> pieces;
  size_t i = 0;
  while (i < input.size()) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    size_t length = state % (piece_bytes_max + 1);
    pieces.push_back(input.substr(i, length));
    i += length;
  }
  return pieces;
}

inline Outcome ParseInPieces(const std::vector<std::string_view>& pieces,
                             const ParserLimits& limits = {}) {
  RequestParser parser(limits);
  return FeedPieces(&parser, pieces);
}

}  // namespace ringkv::resp::testing

#endif  // RINGKV_TESTS_UNIT_RESP_PARSER_TEST_UTIL_H_
