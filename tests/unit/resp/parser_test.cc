// Tests for resp/parser.cc: requests, skipped requests, errors and limits.
// Splitting and memory behaviour are in parser_split_test.cc.
#include "resp/parser.h"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "unit/resp/parser_test_util.h"

namespace ringkv::resp {
namespace {

using testing::Outcome;
using testing::ParseInPieces;
using testing::ParseOneShot;
using testing::Request;
using testing::SplitEvery;

using Args = std::vector<std::string>;

// The error a one-shot parse of `input` ends with; also checks that feeding
// it a byte at a time ends with the same error, since an error must never
// depend on how the bytes arrived.
std::string ErrorOf(std::string_view input, const ParserLimits& limits = {}) {
  Outcome one_shot = ParseOneShot(input, limits);
  Outcome byte_at_a_time = ParseInPieces(SplitEvery(input, 1), limits);
  CHECK(one_shot == byte_at_a_time);
  CHECK(one_shot.failed);
  return one_shot.error;
}

TEST_CASE("parser: multibulk request in one read") {
  Outcome outcome = ParseOneShot("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  REQUIRE(outcome.requests.size() == 1);
  CHECK(outcome.requests[0] == Request{Args{"GET", "k"}, false});
  CHECK_FALSE(outcome.failed);
}

TEST_CASE("parser: pipelined requests come out one per Feed with exact consumed counts") {
  RequestParser parser({});
  std::string input = "*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n";
  size_t consumed = 0;
  REQUIRE(parser.Feed(input, &consumed) == ParseStatus::kComplete);
  CHECK(consumed == 14);
  CHECK(parser.args()[0] == "PING");
  CHECK_FALSE(parser.last_was_inline());
  input.erase(0, consumed);
  REQUIRE(parser.Feed(input, &consumed) == ParseStatus::kComplete);
  CHECK(consumed == 6);
  CHECK(parser.last_was_inline());
  input.erase(0, consumed);
  REQUIRE(parser.Feed(input, &consumed) == ParseStatus::kComplete);
  CHECK(consumed == input.size());
  CHECK(Args(parser.args().begin(), parser.args().end()) == Args{"ECHO", "hi"});
  CHECK(parser.Feed("", &consumed) == ParseStatus::kNeedMore);
  CHECK(consumed == 0);
}

TEST_CASE("parser: inline requests end at LF with an optional CR") {
  Outcome outcome = ParseOneShot("SET k v\r\nGET k\nEXISTS a\rb\n");
  REQUIRE(outcome.requests.size() == 3);
  CHECK(outcome.requests[0] == Request{Args{"SET", "k", "v"}, true});
  CHECK(outcome.requests[1] == Request{Args{"GET", "k"}, true});
  // Only the CR right before the LF is stripped; another CR is a blank.
  CHECK(outcome.requests[2] == Request{Args{"EXISTS", "a", "b"}, true});
}

TEST_CASE("parser: inline request with quotes") {
  Outcome outcome = ParseOneShot("SET \"a key\" 'it\\'s' \"\\x41\\n\"\r\n");
  REQUIRE(outcome.requests.size() == 1);
  CHECK(outcome.requests[0].args == Args{"SET", "a key", "it's", "A\n"});
}

TEST_CASE("parser: empty arrays, negative arrays and blank lines are skipped") {
  Outcome outcome =
      ParseOneShot("*0\r\n*-1\r\n*-10\r\n\r\n\n   \r\n \t \n*1\r\n$4\r\nPING\r\n*0\r\n");
  REQUIRE(outcome.requests.size() == 1);
  CHECK(outcome.requests[0].args == Args{"PING"});
  CHECK_FALSE(outcome.failed);
}

TEST_CASE("parser: bulk arguments are binary safe") {
  std::string value("a\0b\r\nc\n\r", 8);
  std::string input = "*2\r\n$3\r\nSET\r\n$8\r\n" + value + "\r\n";
  Outcome outcome = ParseOneShot(input);
  REQUIRE(outcome.requests.size() == 1);
  CHECK(outcome.requests[0].args[1] == value);
  CHECK(ParseInPieces(SplitEvery(input, 1)) == outcome);
}

TEST_CASE("parser: empty bulk argument") {
  Outcome outcome = ParseOneShot("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n");
  REQUIRE(outcome.requests.size() == 1);
  CHECK(outcome.requests[0].args == Args{"ECHO", ""});
}

TEST_CASE("parser: the two bytes after bulk data are skipped unchecked, as in Redis") {
  Outcome outcome = ParseOneShot("*2\r\n$4\r\nECHOxy$2\r\nhiAB");
  REQUIRE(outcome.requests.size() == 1);
  CHECK(outcome.requests[0].args == Args{"ECHO", "hi"});
}

TEST_CASE("parser: the byte after a header's CR is skipped unchecked, as in Redis") {
  Outcome outcome = ParseOneShot("*1\rX$4\rYPING\r\n");
  REQUIRE(outcome.requests.size() == 1);
  CHECK(outcome.requests[0].args == Args{"PING"});
}

TEST_CASE("parser: a request is not complete before its last CRLF arrives") {
  RequestParser parser({});
  size_t consumed = 0;
  CHECK(parser.Feed("*1\r\n$4\r\nPING", &consumed) == ParseStatus::kNeedMore);
  CHECK(parser.Feed("\r", &consumed) == ParseStatus::kNeedMore);
  CHECK(parser.Feed("\n", &consumed) == ParseStatus::kComplete);
  CHECK(parser.args()[0] == "PING");
}

TEST_CASE("parser: multibulk length errors") {
  for (const char* input : {"*x\r\n", "*\r\n", "*01\r\n", "*-0\r\n", "*+1\r\n", "*1 \r\n",
                            "* 1\r\n", "*2147483648\r\n", "*99999999999999999999\r\n"}) {
    CAPTURE(input);
    CHECK(ErrorOf(input) == "invalid multibulk length");
  }
  // Redis would wait for a CR past the NUL (strchr); a NUL is no digit here.
  CHECK(ErrorOf(std::string("*1\0\r\n", 5)) == "invalid multibulk length");
}

TEST_CASE("parser: expected '$' errors name the byte found") {
  CHECK(ErrorOf("*1\r\nx\r\n") == "expected '$', got 'x'");
  CHECK(ErrorOf("*2\r\n$4\r\nECHO\r\n:1\r\n") == "expected '$', got ':'");
  // The reply writer turns the CR into a space, as Redis's reply does.
  CHECK(ErrorOf("*1\r\n\r\n") == "expected '$', got '\r'");
}

TEST_CASE("parser: bulk length errors") {
  for (const char* input :
       {"*1\r\n$x\r\n", "*1\r\n$\r\n", "*1\r\n$-1\r\n", "*1\r\n$-0\r\n", "*1\r\n$01\r\n",
        "*1\r\n$+1\r\n", "*1\r\n$536870913\r\n", "*1\r\n$99999999999999999999\r\n"}) {
    CAPTURE(input);
    CHECK(ErrorOf(input) == "invalid bulk length");
  }
}

TEST_CASE("parser: unbalanced quotes in an inline request") {
  for (const char* input :
       {"SET \"a\r\n", "SET 'a\r\n", "SET \"a\"b\r\n", "SET 'a'b\r\n", "SET \"a\\\r\n", "\"\r\n"}) {
    CAPTURE(input);
    CHECK(ErrorOf(input) == "unbalanced quotes in request");
  }
}

TEST_CASE("parser: lines longer than the inline limit") {
  ParserLimits limits;
  std::string long_line(limits.inline_bytes_max + 1, 'a');
  CHECK(ErrorOf(long_line) == "too big inline request");
  CHECK(ErrorOf("*" + std::string(limits.inline_bytes_max, '1')) == "too big mbulk count string");
  CHECK(ErrorOf("*1\r\n$" + std::string(limits.inline_bytes_max, '1')) ==
        "too big bulk count string");
}

TEST_CASE("parser: inline limit at the boundary") {
  ParserLimits limits;
  limits.inline_bytes_max = 16;
  // The limit counts the bytes before the LF, a CR included.
  Outcome ok = ParseOneShot(std::string(16, 'a') + "\n" + std::string(15, 'b') + "\r\n", limits);
  CHECK(ok.requests.size() == 2);
  CHECK_FALSE(ok.failed);
  CHECK(ErrorOf(std::string(17, 'a') + "\n", limits) == "too big inline request");
  CHECK(ErrorOf(std::string(16, 'a') + "\r\n", limits) == "too big inline request");
  // Exactly at the limit without a newline yet: still waiting, no error.
  Outcome waiting = ParseOneShot(std::string(16, 'a'), limits);
  CHECK_FALSE(waiting.failed);
}

TEST_CASE("parser: header limit at the boundary") {
  ParserLimits limits;
  limits.inline_bytes_max = 4;  // "*100" and "$100" fit, one more digit not.
  Outcome ok = ParseOneShot("*1\r\n$100\r\n" + std::string(100, 'x') + "\r\n", limits);
  CHECK(ok.requests.size() == 1);
  CHECK(ErrorOf("*1000\r\n", limits) == "too big mbulk count string");
  CHECK(ErrorOf("*1\r\n$1000\r\n", limits) == "too big bulk count string");
  CHECK_FALSE(ParseOneShot("*100", limits).failed);
  CHECK(ErrorOf("*1000", limits) == "too big mbulk count string");
}

TEST_CASE("parser: multibulk and bulk limits at the boundary") {
  ParserLimits limits;
  limits.multibulk_length_max = 3;
  limits.bulk_bytes_max = 5;
  Outcome ok = ParseOneShot("*3\r\n$5\r\nabcde\r\n$0\r\n\r\n$1\r\nx\r\n", limits);
  REQUIRE(ok.requests.size() == 1);
  CHECK(ok.requests[0].args == Args{"abcde", "", "x"});
  CHECK(ErrorOf("*4\r\n", limits) == "invalid multibulk length");
  CHECK(ErrorOf("*1\r\n$6\r\n", limits) == "invalid bulk length");
  // Redis's defaults: 512 MB bulk and INT_MAX elements are accepted.
  CHECK_FALSE(ParseOneShot("*2147483647\r\n$536870912\r\n").failed);
}

TEST_CASE("parser: unauthenticated limits") {
  RequestParser parser({});
  parser.set_unauthenticated_limits(true);
  std::string ten = "*10\r\n";
  for (int i = 0; i < 10; i++) ten += "$1\r\nx\r\n";
  Outcome outcome = testing::FeedPieces(&parser, {ten, "*-20\r\n", "*1\r\n$16384\r\n"});
  CHECK(outcome.requests.size() == 1);
  CHECK_FALSE(outcome.failed);

  RequestParser too_many({});
  too_many.set_unauthenticated_limits(true);
  outcome = testing::FeedPieces(&too_many, {"*11\r\n"});
  CHECK(outcome.error == "unauthenticated multibulk length");

  RequestParser too_long({});
  too_long.set_unauthenticated_limits(true);
  outcome = testing::FeedPieces(&too_long, {"*1\r\n$16385\r\n"});
  CHECK(outcome.error == "unauthenticated bulk length");

  RequestParser authenticated({});
  authenticated.set_unauthenticated_limits(true);
  authenticated.set_unauthenticated_limits(false);
  CHECK_FALSE(testing::FeedPieces(&authenticated, {"*11\r\n$16385\r\n"}).failed);
}

TEST_CASE("parser: the parser stays failed after an error") {
  RequestParser parser({});
  size_t consumed = 0;
  REQUIRE(parser.Feed("*x\r\n*1\r\n$4\r\nPING\r\n", &consumed) == ParseStatus::kError);
  CHECK(consumed <= 4);
  CHECK(parser.error() == "invalid multibulk length");
  CHECK(parser.Feed("*1\r\n$4\r\nPING\r\n", &consumed) == ParseStatus::kError);
  CHECK(consumed == 0);
  CHECK(parser.error() == "invalid multibulk length");
}

TEST_CASE("parser: errors after valid pipelined requests come after those requests") {
  Outcome outcome = ParseOneShot("PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n");
  CHECK(outcome.requests.size() == 2);
  CHECK(outcome.error == "invalid bulk length");
}

}  // namespace
}  // namespace ringkv::resp

namespace ringkv::resp {
namespace {

// A header number in one of the spellings a client might send: plain, or
// one of the odd ones the one-pass path leaves to the state machine.
std::string RandomNumber(std::mt19937_64& random, int64_t plain) {
  switch (random() % 12) {
    case 0:
      return "0" + std::to_string(plain);  // Leading zero.
    case 1:
      return "-" + std::to_string(plain);
    case 2:
      return "+" + std::to_string(plain);
    case 3:
      return std::to_string(plain) + "x";
    case 4:
      return "99999999999999999999";  // 20 digits: past int64.
    case 5:
      return "";
    default:
      return std::to_string(plain);
  }
}

// Random request streams, mostly valid, sometimes odd: the one-pass parse
// of whole requests must give exactly what the byte-at-a-time state machine
// gives (requests, consumed bytes, errors), whatever the limits.
TEST_CASE("parser: whole requests in one read parse as byte by byte does") {
  std::mt19937_64 random(42);
  for (int trial = 0; trial < 3000; ++trial) {
    CAPTURE(trial);
    ParserLimits limits;
    if (trial % 3 == 0) {
      limits.bulk_bytes_max = 1 + static_cast<int64_t>(random() % 40);
      limits.multibulk_length_max = 1 + static_cast<int64_t>(random() % 6);
      limits.inline_bytes_max = 1 + random() % 8;
    }
    std::string input;
    const int requests = 1 + static_cast<int>(random() % 4);
    for (int r = 0; r < requests; ++r) {
      const bool odd = random() % 5 == 0;
      const int64_t count = 1 + static_cast<int64_t>(random() % 5);
      input += "*" + (odd ? RandomNumber(random, count) : std::to_string(count)) + "\r\n";
      for (int64_t i = 0; i < count; ++i) {
        std::string value(random() % 30, static_cast<char>('a' + random() % 26));
        const bool odd_arg = random() % 9 == 0;
        input += (odd_arg && random() % 2 ? "%" : "$") +
                 (odd_arg ? RandomNumber(random, static_cast<int64_t>(value.size()))
                          : std::to_string(value.size())) +
                 "\r\n" + value + (odd_arg && random() % 2 ? "ab" : "\r\n");
      }
    }
    if (random() % 4 == 0) input.resize(random() % (input.size() + 1));  // Cut short.
    Outcome one_shot = ParseOneShot(input, limits);
    Outcome byte_at_a_time = ParseInPieces(SplitEvery(input, 1), limits);
    CHECK(one_shot == byte_at_a_time);
  }
}

}  // namespace
}  // namespace ringkv::resp
