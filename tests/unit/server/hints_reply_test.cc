// Tests for WriteHintsReply (server/commands_hints.cc): the HINTS reply's
// fields, their order and their encodings, which failure drills parse
// (docs/commands.md, tests/drills/drill_replies.h).
#include "server/hints_reply.h"

#include <doctest/doctest.h>

#include <string>

namespace ringkv::server {
namespace {

std::string Bulk(const std::string& text) {
  return "$" + std::to_string(text.size()) + "\r\n" + text + "\r\n";
}

std::string Integer(int64_t value) { return ":" + std::to_string(value) + "\r\n"; }

TEST_CASE("hints reply: one map per target with the contract's fields in order") {
  cluster::HintsStatus status;
  cluster::HintTargetStatus n3;
  n3.target = "n3";
  n3.count = 17;
  n3.bytes = 2048;
  n3.delivered = 5;
  n3.refused = 2;
  n3.delivering = true;
  n3.in_flight = 4;
  n3.stored = 24;
  n3.delivery_failures = 1;
  n3.next_attempt_ms = 900;  // In the past: a pass is under way.
  cluster::HintTargetStatus n5;
  n5.target = "n5";
  n5.count = 1;
  n5.bytes = 60;
  n5.down = true;
  n5.next_attempt_ms = 1250;
  status.targets = {n3, n5};
  for (int protocol : {2, 3}) {
    CAPTURE(protocol);
    std::string out;
    resp::ReplyWriter writer(&out, protocol);
    WriteHintsReply(status, 1000, writer);
    std::string map = protocol == 3 ? "%11\r\n" : "*22\r\n";
    std::string expected =
        "*2\r\n" + map + Bulk("target") + Bulk("n3") + Bulk("count") + Integer(17) + Bulk("bytes") +
        Integer(2048) + Bulk("delivered") + Integer(5) + Bulk("dropped") + Integer(2) +
        Bulk("delivering") + Integer(1) + Bulk("down") + Integer(0) + Bulk("in_flight") +
        Integer(4) + Bulk("stored") + Integer(24) + Bulk("failed") + Integer(1) +
        Bulk("retry_in_ms") + Integer(0) + map + Bulk("target") + Bulk("n5") + Bulk("count") +
        Integer(1) + Bulk("bytes") + Integer(60) + Bulk("delivered") + Integer(0) +
        Bulk("dropped") + Integer(0) + Bulk("delivering") + Integer(0) + Bulk("down") + Integer(1) +
        Bulk("in_flight") + Integer(0) + Bulk("stored") + Integer(0) + Bulk("failed") + Integer(0) +
        Bulk("retry_in_ms") + Integer(250);
    CHECK(out == expected);
  }
}

TEST_CASE("hints reply: no targets is an empty array") {
  std::string out;
  resp::ReplyWriter writer(&out, 2);
  WriteHintsReply(cluster::HintsStatus{}, 0, writer);
  CHECK(out == "*0\r\n");
}

}  // namespace
}  // namespace ringkv::server
