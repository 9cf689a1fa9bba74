// tests/fuzz/parser_fuzz.cc: libFuzzer entry for resp::RequestParser.
//
// Input layout, so the fuzzer can mutate the split apart from the bytes:
//   byte 0        options: bit 0 unauthenticated limits, bit 1 small limits
//   byte 1        k = byte % 16, the number of chunk-size bytes that follow
//   k bytes       chunk sizes (each + 1), used in turn
//   the rest      the byte stream a client sends
// Besides the Feed contract (consumed <= size, progress, non-empty args on
// kComplete, sticky errors) it checks that the chunked parse gives exactly
// the requests and error of a one-shot parse: a split must never matter.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "resp/parser.h"

namespace {

using ringkv::resp::ParserLimits;
using ringkv::resp::ParseStatus;
using ringkv::resp::RequestParser;

#define FUZZ_CHECK(condition)                                                            \
  do {                                                                                   \
    if (!(condition)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

struct Outcome {
  std::vector<std::vector<std::string>> requests;
  std::string error;
  bool failed = false;
  bool operator==(const Outcome&) const = default;
};

// Feeds one piece until it is used up or the parser fails, checking the
// Feed contract on every call. `fed_bytes` counts every byte handed over.
void FeedPiece(RequestParser* parser, std::string_view piece, size_t* fed_bytes, Outcome* outcome) {
  size_t offset = 0;
  // A request consumes at least one byte, so one call per byte at most.
  for (size_t calls = 0; calls <= piece.size() + 1; calls++) {
    size_t consumed = SIZE_MAX;
    std::string_view rest = piece.substr(offset);
    ParseStatus status = parser->Feed(rest, &consumed);
    FUZZ_CHECK(consumed <= rest.size());
    offset += consumed;
    *fed_bytes += consumed;
    FUZZ_CHECK(parser->buffered_bytes() <= *fed_bytes);
    // Memory follows what arrived (geometric growth at most doubles it),
    // never a declared length.
    for (const std::string& arg : parser->args()) {
      FUZZ_CHECK(arg.capacity() <= 2 * *fed_bytes + 32);
    }
    if (status == ParseStatus::kError) {
      FUZZ_CHECK(!parser->error().empty());
      size_t again = SIZE_MAX;
      FUZZ_CHECK(parser->Feed("*1\r\n$4\r\nPING\r\n", &again) == ParseStatus::kError);
      FUZZ_CHECK(again == 0);
      outcome->failed = true;
      outcome->error = parser->error();
      return;
    }
    if (status == ParseStatus::kNeedMore) {
      FUZZ_CHECK(offset == piece.size());
      return;
    }
    FUZZ_CHECK(consumed > 0);
    FUZZ_CHECK(!parser->args().empty());
    outcome->requests.emplace_back(parser->args().begin(), parser->args().end());
  }
  FUZZ_CHECK(false && "no progress");
}

ParserLimits LimitsFor(uint8_t options) {
  ParserLimits limits;
  if (options & 2) {
    limits.inline_bytes_max = 32;
    limits.bulk_bytes_max = 64;
    limits.multibulk_length_max = 16;
  }
  return limits;
}

Outcome Parse(uint8_t options, std::string_view stream, std::string_view sizes) {
  RequestParser parser(LimitsFor(options));
  parser.set_unauthenticated_limits(options & 1);
  Outcome outcome;
  size_t fed_bytes = 0;
  size_t offset = 0;
  for (size_t i = 0; offset < stream.size() && !outcome.failed; i++) {
    size_t length =
        sizes.empty() ? stream.size() : 1 + static_cast<uint8_t>(sizes[i % sizes.size()]);
    std::string_view piece = stream.substr(offset, length);
    offset += piece.size();
    FeedPiece(&parser, piece, &fed_bytes, &outcome);
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  uint8_t options = static_cast<uint8_t>(input[0]);
  size_t size_bytes = std::min<size_t>(static_cast<uint8_t>(input[1]) % 16, size - 2);
  std::string_view sizes = input.substr(2, size_bytes);
  std::string_view stream = input.substr(2 + size_bytes);

  Outcome chunked = Parse(options, stream, sizes);
  Outcome one_shot = Parse(options, stream, {});
  FUZZ_CHECK(chunked == one_shot);
  return 0;
}
