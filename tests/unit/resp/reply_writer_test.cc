// Tests for resp/reply_writer.cc: every reply type in RESP2 and RESP3.
#include "resp/reply_writer.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>

namespace ringkv::resp {
namespace {

// What `write` appends, in the given protocol.
std::string Encode(int protocol, const std::function<void(ReplyWriter&)>& write) {
  std::string out;
  ReplyWriter writer(&out, protocol);
  write(writer);
  return out;
}

// Checks the encoding of one reply in both protocols.
void CheckBoth(const std::function<void(ReplyWriter&)>& write, std::string_view resp2,
               std::string_view resp3) {
  CHECK(Encode(2, write) == resp2);
  CHECK(Encode(3, write) == resp3);
}

TEST_CASE("reply writer: simple strings turn CR and LF into spaces") {
  CheckBoth([](ReplyWriter& w) { w.SimpleString("OK"); }, "+OK\r\n", "+OK\r\n");
  CheckBoth([](ReplyWriter& w) { w.SimpleString("a\r\nb"); }, "+a  b\r\n", "+a  b\r\n");
}

TEST_CASE("reply writer: errors turn CR and LF into spaces") {
  CheckBoth([](ReplyWriter& w) { w.Error("ERR unknown command"); }, "-ERR unknown command\r\n",
            "-ERR unknown command\r\n");
  CheckBoth([](ReplyWriter& w) { w.Error("ERR Protocol error: expected '$', got '\r'"); },
            "-ERR Protocol error: expected '$', got ' '\r\n",
            "-ERR Protocol error: expected '$', got ' '\r\n");
  CheckBoth([](ReplyWriter& w) { w.Error("ERR a\nb"); }, "-ERR a b\r\n", "-ERR a b\r\n");
}

TEST_CASE("reply writer: integers, extremes included") {
  CheckBoth([](ReplyWriter& w) { w.Integer(0); }, ":0\r\n", ":0\r\n");
  CheckBoth([](ReplyWriter& w) { w.Integer(-42); }, ":-42\r\n", ":-42\r\n");
  CheckBoth([](ReplyWriter& w) { w.Integer(INT64_MAX); }, ":9223372036854775807\r\n",
            ":9223372036854775807\r\n");
  CheckBoth([](ReplyWriter& w) { w.Integer(INT64_MIN); }, ":-9223372036854775808\r\n",
            ":-9223372036854775808\r\n");
}

TEST_CASE("reply writer: bulk strings are binary safe") {
  CheckBoth([](ReplyWriter& w) { w.Bulk("hello"); }, "$5\r\nhello\r\n", "$5\r\nhello\r\n");
  CheckBoth([](ReplyWriter& w) { w.Bulk(""); }, "$0\r\n\r\n", "$0\r\n\r\n");
  std::string binary("a\0\r\n", 4);
  CheckBoth([&](ReplyWriter& w) { w.Bulk(binary); }, "$4\r\n" + binary + "\r\n",
            "$4\r\n" + binary + "\r\n");
}

TEST_CASE("reply writer: nulls") {
  CheckBoth([](ReplyWriter& w) { w.Null(); }, "$-1\r\n", "_\r\n");
  CheckBoth([](ReplyWriter& w) { w.NullArray(); }, "*-1\r\n", "_\r\n");
}

TEST_CASE("reply writer: aggregate headers") {
  CheckBoth([](ReplyWriter& w) { w.ArrayHeader(3); }, "*3\r\n", "*3\r\n");
  CheckBoth([](ReplyWriter& w) { w.ArrayHeader(0); }, "*0\r\n", "*0\r\n");
  CheckBoth([](ReplyWriter& w) { w.MapHeader(2); }, "*4\r\n", "%2\r\n");
  CheckBoth([](ReplyWriter& w) { w.SetHeader(5); }, "*5\r\n", "~5\r\n");
  CheckBoth([](ReplyWriter& w) { w.PushHeader(3); }, "*3\r\n", ">3\r\n");
  CheckBoth([](ReplyWriter& w) { w.ArrayHeader(SIZE_MAX); }, "*18446744073709551615\r\n",
            "*18446744073709551615\r\n");
}

TEST_CASE("reply writer: doubles use the shortest round-trip text") {
  CheckBoth([](ReplyWriter& w) { w.Double(1.5); }, "$3\r\n1.5\r\n", ",1.5\r\n");
  CheckBoth([](ReplyWriter& w) { w.Double(3.0); }, "$1\r\n3\r\n", ",3\r\n");
  CheckBoth([](ReplyWriter& w) { w.Double(-0.1); }, "$4\r\n-0.1\r\n", ",-0.1\r\n");
  CheckBoth([](ReplyWriter& w) { w.Double(0.1 + 0.2); }, "$19\r\n0.30000000000000004\r\n",
            ",0.30000000000000004\r\n");
  CheckBoth([](ReplyWriter& w) { w.Double(1e300); }, "$6\r\n1e+300\r\n", ",1e+300\r\n");
}

TEST_CASE("reply writer: infinities and NaN are spelled as Redis does") {
  const double inf = std::numeric_limits<double>::infinity();
  CheckBoth([&](ReplyWriter& w) { w.Double(inf); }, "$3\r\ninf\r\n", ",inf\r\n");
  CheckBoth([&](ReplyWriter& w) { w.Double(-inf); }, "$4\r\n-inf\r\n", ",-inf\r\n");
  CheckBoth([](ReplyWriter& w) { w.Double(std::nan("")); }, "$3\r\nnan\r\n", ",nan\r\n");
  CheckBoth([](ReplyWriter& w) { w.Double(-std::nan("")); }, "$3\r\nnan\r\n", ",nan\r\n");
}

TEST_CASE("reply writer: booleans") {
  CheckBoth([](ReplyWriter& w) { w.Boolean(true); }, ":1\r\n", "#t\r\n");
  CheckBoth([](ReplyWriter& w) { w.Boolean(false); }, ":0\r\n", "#f\r\n");
}

TEST_CASE("reply writer: verbatim strings") {
  CheckBoth([](ReplyWriter& w) { w.Verbatim("txt", "Some string"); }, "$11\r\nSome string\r\n",
            "=15\r\ntxt:Some string\r\n");
  CheckBoth([](ReplyWriter& w) { w.Verbatim("mkd", ""); }, "$0\r\n\r\n", "=4\r\nmkd:\r\n");
}

TEST_CASE("reply writer: big numbers") {
  CheckBoth([](ReplyWriter& w) { w.BigNumber("3492890328409238509324850943850943825024385"); },
            "$43\r\n3492890328409238509324850943850943825024385\r\n",
            "(3492890328409238509324850943850943825024385\r\n");
}

TEST_CASE("reply writer: replies append in order, raw bytes untouched") {
  std::string out = "prefix";
  ReplyWriter writer(&out, 3);
  CHECK(writer.protocol() == 3);
  CHECK(writer.buffer() == &out);
  writer.MapHeader(1);
  writer.Bulk("k");
  writer.Integer(7);
  writer.Raw("+relayed\r\n");
  CHECK(out == "prefix%1\r\n$1\r\nk\r\n:7\r\n+relayed\r\n");
}

}  // namespace
}  // namespace ringkv::resp
