// Tests for resp/parser.cc: any split of the input gives the same requests,
// and memory follows what arrived, not what was declared.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "resp/parser.h"
#include "unit/resp/parser_test_util.h"

namespace ringkv::resp {
namespace {

using testing::Outcome;
using testing::ParseInPieces;
using testing::ParseOneShot;
using testing::SplitEvery;
using testing::SplitRandomly;

// A stream mixing every kind of request, skipped request and argument.
std::string MixedStream() {
  std::string stream;
  stream += "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
  stream += "PING\r\n";
  stream += "*0\r\n*-1\r\n\r\n   \n";
  stream += "SET \"quoted key\" 'single \\' quote' \"\\x00\\xff\\r\\n\"\n";
  stream += std::string("*2\r\n$4\r\nECHO\r\n$6\r\n\0\r\n\r\n\n\r\n", 26);
  stream += "*1\r\n$" + std::to_string(3000) + "\r\n" + std::string(3000, 'v') + "\r\n";
  stream += "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n";
  stream += "GET k\r\nGET k2\r\n";
  stream += "*1\rX$4\rYPINGAB";
  return stream;
}

TEST_CASE("parser: mixed stream one-shot gives the expected requests") {
  Outcome outcome = ParseOneShot(MixedStream());
  CHECK_FALSE(outcome.failed);
  REQUIRE(outcome.requests.size() == 9);
  CHECK(outcome.requests[2].args[3] == std::string("\0\xff\r\n", 4));
  CHECK(outcome.requests[3].args[1] == std::string("\0\r\n\r\n\n", 6));
  CHECK(outcome.requests[4].args[0].size() == 3000);
  CHECK(outcome.requests[8].args[0] == "PING");
}

TEST_CASE("parser: byte-at-a-time feeding of a mixed stream matches one-shot") {
  std::string stream = MixedStream();
  CHECK(ParseInPieces(SplitEvery(stream, 1)) == ParseOneShot(stream));
}

TEST_CASE("parser: every fixed piece size matches one-shot") {
  std::string stream = MixedStream();
  Outcome expected = ParseOneShot(stream);
  for (size_t piece_bytes = 2; piece_bytes <= 64; piece_bytes++) {
    CAPTURE(piece_bytes);
    CHECK(ParseInPieces(SplitEvery(stream, piece_bytes)) == expected);
  }
}

TEST_CASE("parser: seeded random splits match one-shot") {
  std::string stream = MixedStream();
  Outcome expected = ParseOneShot(stream);
  for (uint64_t seed = 1; seed <= 500; seed++) {
    CAPTURE(seed);
    size_t piece_bytes_max = 1 + seed % 40;
    CHECK(ParseInPieces(SplitRandomly(stream, seed, piece_bytes_max)) == expected);
  }
}

TEST_CASE("parser: seeded random splits end with the same error") {
  const std::vector<std::string> bad_tails = {"*1\r\n$x\r\n",
                                              "*y\r\n",
                                              "*1\r\n?\r\n",
                                              "SET \"a\r\n",
                                              std::string(70000, 'z'),
                                              "*1\r\n$" + std::string(70000, '1'),
                                              "*" + std::string(70000, '1')};
  for (const std::string& tail : bad_tails) {
    std::string stream = MixedStream() + tail;
    Outcome expected = ParseOneShot(stream);
    REQUIRE(expected.failed);
    for (uint64_t seed = 1; seed <= 50; seed++) {
      CAPTURE(seed);
      CHECK(ParseInPieces(SplitRandomly(stream, seed, 1 + seed * 97 % 3000)) == expected);
    }
  }
}

TEST_CASE("parser: bulk string split across reads") {
  RequestParser parser({});
  size_t consumed = 0;
  CHECK(parser.Feed("*2\r\n$3\r\nGET\r\n$10\r\n0123", &consumed) == ParseStatus::kNeedMore);
  CHECK(parser.buffered_bytes() == 3 + 4);
  CHECK(parser.Feed("456", &consumed) == ParseStatus::kNeedMore);
  CHECK(parser.Feed("789\r", &consumed) == ParseStatus::kNeedMore);
  CHECK(parser.buffered_bytes() == 3 + 10);
  CHECK(parser.Feed("\nPING\r\n", &consumed) == ParseStatus::kComplete);
  CHECK(consumed == 1);
  CHECK(parser.args()[1] == "0123456789");
}

TEST_CASE("parser: buffered_bytes counts a partial header line") {
  RequestParser parser({});
  size_t consumed = 0;
  CHECK(parser.Feed("*12", &consumed) == ParseStatus::kNeedMore);
  CHECK(parser.buffered_bytes() == 3);
  CHECK(parser.Feed("GET some", &consumed) == ParseStatus::kNeedMore);
  CHECK(parser.buffered_bytes() == 11);
}

TEST_CASE("parser: a huge declared bulk allocates only what arrived") {
  RequestParser parser({});
  size_t consumed = 0;
  std::string start = "*1\r\n$536870912\r\n" + std::string(100, 'x');
  REQUIRE(parser.Feed(start, &consumed) == ParseStatus::kNeedMore);
  CHECK(parser.buffered_bytes() == 100);
  REQUIRE(parser.args().size() == 1);
  CHECK(parser.args()[0].capacity() < 4096);

  std::string chunk(16 * 1024, 'y');
  for (int i = 0; i < 64; i++) {
    REQUIRE(parser.Feed(chunk, &consumed) == ParseStatus::kNeedMore);
  }
  size_t arrived = 100 + 64 * chunk.size();
  CHECK(parser.buffered_bytes() == arrived);
  // Geometric growth may double what arrived, never jump to the claim.
  CHECK(parser.args()[0].capacity() <= 2 * arrived);
}

TEST_CASE("parser: a huge declared multibulk count allocates only what arrived") {
  RequestParser parser({});
  size_t consumed = 0;
  REQUIRE(parser.Feed("*2147483647\r\n$1\r\na\r\n", &consumed) == ParseStatus::kNeedMore);
  CHECK(parser.args().size() == 1);
  CHECK(parser.buffered_bytes() == 1);
}

TEST_CASE("parser: argument strings keep their capacity across requests") {
  RequestParser parser({});
  std::string value(1000, 'v');
  std::string request = "*2\r\n$3\r\nSET\r\n$1000\r\n" + value + "\r\n";
  size_t consumed = 0;
  REQUIRE(parser.Feed(request, &consumed) == ParseStatus::kComplete);
  const char* first_data = parser.args()[1].data();
  for (int i = 0; i < 10; i++) {
    REQUIRE(parser.Feed(request, &consumed) == ParseStatus::kComplete);
    CHECK(parser.args()[1].data() == first_data);
    CHECK(parser.args()[1] == value);
  }
}

TEST_CASE("parser: arguments may be moved from by the caller") {
  RequestParser parser({});
  size_t consumed = 0;
  std::string request = "*2\r\n$4\r\nECHO\r\n$20\r\n01234567890123456789\r\n";
  REQUIRE(parser.Feed(request, &consumed) == ParseStatus::kComplete);
  std::string taken = std::move(parser.args()[1]);
  CHECK(taken == "01234567890123456789");
  REQUIRE(parser.Feed(request, &consumed) == ParseStatus::kComplete);
  CHECK(parser.args()[1] == "01234567890123456789");
}

TEST_CASE("parser: a very large request is followed by normal ones") {
  std::string many = "*3000\r\n";
  for (int i = 0; i < 3000; i++) many += "$1\r\na\r\n";
  std::string huge_arg = "*1\r\n$200000\r\n" + std::string(200000, 'h') + "\r\n";
  std::string stream = many + huge_arg + "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
  Outcome outcome = ParseOneShot(stream);
  REQUIRE(outcome.requests.size() == 3);
  CHECK(outcome.requests[0].args.size() == 3000);
  CHECK(outcome.requests[1].args[0].size() == 200000);
  CHECK(outcome.requests[2].args == std::vector<std::string>{"GET", "k"});
}

}  // namespace
}  // namespace ringkv::resp
