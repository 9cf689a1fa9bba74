// Steady-state allocation checks for resp/: once a connection's parser and
// reply buffer have warmed up, parsing requests and encoding replies must
// not touch the allocator. Counts every operator new in this test binary.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "resp/parser.h"
#include "resp/reply_writer.h"

namespace {
std::atomic<size_t> allocations{0};
}  // namespace

void* operator new(size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  std::abort();  // No exceptions in this codebase; out of memory is fatal.
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace ringkv::resp {
namespace {

// Parses every request in `input` and returns how many there were.
size_t ParseAll(RequestParser* parser, std::string_view input) {
  size_t requests = 0;
  size_t consumed = 0;
  while (parser->Feed(input, &consumed) == ParseStatus::kComplete) {
    input.remove_prefix(consumed);
    requests++;
  }
  return requests;
}

TEST_CASE("parser: steady-state parsing allocates nothing") {
  std::string batch;
  for (int i = 0; i < 100; i++) {
    batch +=
        "*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000001\r\n$100\r\n" + std::string(100, 'v') + "\r\n";
    batch += "GET key:000000000001 \"quoted value that is long\"\r\n";
  }
  RequestParser parser({});
  size_t start = allocations.load();
  REQUIRE(ParseAll(&parser, batch) == 200);  // Warm up: arguments get capacity.
  size_t before = allocations.load();
  REQUIRE(before > start);  // The counter does see the parser's allocations.
  CHECK(ParseAll(&parser, batch) == 200);
  CHECK(allocations.load() == before);
}

TEST_CASE("reply writer: encoding into a warm buffer allocates nothing") {
  std::string out;
  out.reserve(4096);
  size_t before = allocations.load();
  for (int protocol : {2, 3}) {
    out.clear();
    ReplyWriter writer(&out, protocol);
    writer.MapHeader(2);
    writer.Bulk("value");
    writer.Integer(-1234567890123);
    writer.Double(0.1);
    writer.Null();
    writer.Boolean(true);
    writer.Error("ERR something\r\nbad");
    writer.Verbatim("txt", "text");
  }
  CHECK(allocations.load() == before);
}

}  // namespace
}  // namespace ringkv::resp
