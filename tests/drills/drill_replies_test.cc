// The MEMBERS and HINTS parsers on RESP text written to the agreed contract
// (drill_replies.h), and the switch for the failure-handling config keys.
#include "drills/drill_replies.h"

#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include "blackbox/harness.h"

namespace ringkv::drills {
namespace {

// A reply parsed by hiredis's own reader from RESP bytes.
blackbox::Reply Parse(const std::string& resp) {
  redisReader* reader = redisReaderCreate();
  REQUIRE(redisReaderFeed(reader, resp.data(), resp.size()) == REDIS_OK);
  void* reply = nullptr;
  REQUIRE(redisReaderGetReply(reader, &reply) == REDIS_OK);
  redisReaderFree(reader);
  REQUIRE(reply != nullptr);
  return blackbox::Reply(static_cast<redisReply*>(reply));
}

std::string Bulk(const std::string& text) {
  return "$" + std::to_string(text.size()) + "\r\n" + text + "\r\n";
}

std::string Member(const std::string& name, const std::string& state, int self) {
  return "*22\r\n" + Bulk("name") + Bulk(name) + Bulk("host") + Bulk("10.77.0.11") + Bulk("port") +
         ":6379\r\n" + Bulk("peer_port") + ":7379\r\n" + Bulk("state") + Bulk(state) +
         Bulk("self") + ":" + std::to_string(self) + "\r\n" + Bulk("heartbeat") + ":42\r\n" +
         Bulk("age_ms") + ":120\r\n" + Bulk("incarnation") + Bulk("15f579a3db3a5f8b") +
         Bulk("weight") + ":1\r\n" + Bulk("partitions") + ":4\r\n";
}

TEST_CASE("drill replies: MEMBERS and HINTS parse the agreed contract") {
  std::string error;
  blackbox::Reply members = Parse("*2\r\n" + Member("n1", "alive", 1) + Member("n3", "suspect", 0));
  std::optional<std::vector<MemberView>> parsed = ParseMembers(members.get(), &error);
  REQUIRE_MESSAGE(parsed, error);
  REQUIRE(parsed->size() == 2);
  CHECK((*parsed)[0].name == "n1");
  CHECK((*parsed)[0].self);
  CHECK((*parsed)[0].partitions == 4);
  CHECK((*parsed)[1].state == "suspect");
  CHECK_FALSE((*parsed)[1].self);
  CHECK((*parsed)[1].heartbeat == 42);

  blackbox::Reply bad_state = Parse("*1\r\n" + Member("n1", "dead", 1));
  CHECK_FALSE(ParseMembers(bad_state.get(), &error));
  CHECK(error.find("dead") != std::string::npos);
  blackbox::Reply no_state = Parse("*1\r\n*2\r\n" + Bulk("name") + Bulk("n1"));
  CHECK_FALSE(ParseMembers(no_state.get(), &error));
  CHECK(error.find("state") != std::string::npos);
  blackbox::Reply unknown = Parse("-ERR unknown command 'MEMBERS', with args beginning with: \r\n");
  CHECK(IsUnknownCommand(unknown.get()));
  CHECK_FALSE(ParseMembers(unknown.get(), &error));

  blackbox::Reply hints =
      Parse("*1\r\n*14\r\n" + Bulk("target") + Bulk("n3") + Bulk("count") + ":17\r\n" +
            Bulk("bytes") + ":2048\r\n" + Bulk("delivered") + ":5\r\n" + Bulk("dropped") +
            ":0\r\n" + Bulk("delivering") + ":1\r\n" + Bulk("down") + ":0\r\n");
  std::optional<std::vector<HintTargetView>> targets = ParseHints(hints.get(), &error);
  REQUIRE_MESSAGE(targets, error);
  REQUIRE(targets->size() == 1);
  CHECK((*targets)[0].target == "n3");
  CHECK((*targets)[0].count == 17);
  CHECK((*targets)[0].delivered == 5);
  CHECK((*targets)[0].delivering);
  blackbox::Reply empty = Parse("*0\r\n");
  CHECK(ParseHints(empty.get(), &error)->empty());
}

TEST_CASE("drill replies: the failure-handling config keys come and go with one switch") {
  std::string on = FailureHandlingConfig(true, 300, 750, "10.77.0.11:7379");
  CHECK(on.find("gossip_interval_ms = 300\n") != std::string::npos);
  CHECK(on.find("suspect_after_ms = 750\n") != std::string::npos);
  CHECK(on.find("seeds = [\"10.77.0.11:7379\"]\n") != std::string::npos);
  CHECK(FailureHandlingConfig(true, 1000, 0, "h:1").find("suspect_after_ms") == std::string::npos);
  CHECK(FailureHandlingConfig(false, 300, 750, "10.77.0.11:7379").empty());
}

}  // namespace
}  // namespace ringkv::drills
