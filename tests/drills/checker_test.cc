// The drills' pure parts, without a cluster: the set checker and the
// placement checker on made-up histories, the MEMBERS and HINTS parsers on
// RESP text written to the contract, the config switch, the timeline's
// order. These need no root and run in every build.
#include "drills/checker.h"

#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include "drills/drill_replies.h"
#include "drills/timeline.h"

namespace ringkv::drills {
namespace {

WriteRecord Write(const std::string& key, const std::string& value, Outcome outcome) {
  WriteRecord write;
  write.key = key;
  write.value = value;
  write.outcome = outcome;
  return write;
}

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

TEST_CASE("drill checker: acknowledged writes must be there, indeterminate ones may be") {
  std::vector<WriteRecord> writes = {
      Write("a", "va", Outcome::kOk),      Write("b", "vb", Outcome::kOk),
      Write("c", "vc", Outcome::kOk),      Write("d", "vd", Outcome::kFailed),
      Write("e", "ve", Outcome::kUnknown), Write("f", "vf", Outcome::kUnknown),
      Write("g", "vg", Outcome::kFailed),  Write("h", "vh", Outcome::kOk),
  };
  FinalRead read;
  read.values["a"] = "va";          // Fine.
  read.values["b"] = std::nullopt;  // Lost.
  read.values["c"] = "other";       // Lost, and a value never written.
  read.values["d"] = "vd";          // Failed but present: allowed.
  read.values["e"] = std::nullopt;  // Unknown and absent: allowed.
  read.values["f"] = "vf";          // Unknown and present: allowed.
  read.values["g"] = "vg-not";      // Never written.
  read.unreadable["h"] = "-UNAVAILABLE read got 2 of 3 required replies";

  SetVerdict verdict = CheckSet(writes, read);
  CHECK(verdict.attempted == 8);
  CHECK(verdict.acknowledged == 4);
  CHECK(verdict.failed == 2);
  CHECK(verdict.unknown == 2);
  CHECK(verdict.lost == 2);
  CHECK(verdict.unexpected == 2);
  CHECK(verdict.unreadable == 1);
  CHECK(verdict.indeterminate_present == 2);
  CHECK(verdict.indeterminate_absent == 1);
  CHECK_FALSE(verdict.ok());
  CHECK(verdict.Summary().find("lost c: acknowledged \"vc\"") != std::string::npos);

  FinalRead clean;
  for (const WriteRecord& write : writes) clean.values[write.key] = write.value;
  clean.values["e"] = std::nullopt;
  SetVerdict ok = CheckSet(writes, clean);
  CHECK(ok.ok());
  CHECK(ok.lost == 0);
  CHECK(ok.unexpected == 0);
}

cluster_test::VersionedValue Copy(std::optional<std::string> value, int siblings = 1) {
  cluster_test::VersionedValue copy;
  for (int i = 0; i < siblings; ++i) {
    cluster_test::Sibling sibling;
    sibling.value = value;
    copy.siblings.push_back(sibling);
  }
  return copy;
}

TEST_CASE("drill checker: placement finds missing, wrong, stray and extra copies") {
  std::vector<WriteRecord> writes = {Write("a", "va", Outcome::kOk), Write("b", "vb", Outcome::kOk),
                                     Write("c", "vc", Outcome::kUnknown)};
  PlacementFacts facts;
  facts.nodes = {"n1", "n2", "n3", "n4"};
  facts.owners = {{"n1", "n2", "n3"}, {"n2", "n3", "n4"}, {"n1", "n3", "n4"}};
  facts.copies.assign(4, std::vector<std::optional<cluster_test::VersionedValue>>(3));
  // a: on its three owners. b: missing on n4, two siblings on n3, a stray
  // copy on n1. c (indeterminate): only on n3, which is fine.
  for (int i : {0, 1, 2}) facts.copies[i][0] = Copy("va");
  facts.copies[1][1] = Copy("vb");
  facts.copies[2][1] = Copy("vb", 2);
  facts.copies[0][1] = Copy("vb");
  facts.copies[2][2] = Copy("vc");
  facts.dbsize = {2, 2, 3, 1};  // n4 holds a key the load never wrote.

  PlacementVerdict verdict = JudgePlacement(writes, facts);
  CHECK(verdict.keys_checked == 2);
  CHECK(verdict.missing_copies == 1);
  CHECK(verdict.wrong_copies == 1);
  CHECK(verdict.stray_copies == 1);
  CHECK(verdict.extra_keys == 1);
  CHECK_FALSE(verdict.ok());

  facts.copies[0][1] = std::nullopt;
  facts.copies[2][1] = Copy("vb");
  facts.copies[3][1] = Copy("vb");
  facts.dbsize = {1, 2, 3, 1};
  CHECK(JudgePlacement(writes, facts).ok());
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
            Bulk("bytes") + ":2048\r\n" + Bulk("oldest_age_ms") + ":900\r\n" + Bulk("delivered") +
            ":5\r\n" + Bulk("dropped") + ":0\r\n" + Bulk("delivering") + ":1\r\n");
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

TEST_CASE("drill timeline: events in time order, then the sections") {
  Timeline timeline("a drill");
  int64_t start = timeline.start_ms();
  timeline.AddAt(start + 2000, "HEAL", "second");
  timeline.AddAt(start + 1000, "FAULT", "first");
  timeline.AddSection("verdict", "fine");
  std::string text = timeline.Render();
  size_t first = text.find("first");
  size_t second = text.find("second");
  REQUIRE(first != std::string::npos);
  REQUIRE(second != std::string::npos);
  CHECK(first < second);
  CHECK(text.find("     1.000  FAULT    first") != std::string::npos);
  CHECK(text.find("--- verdict\nfine\n") > second);
}

}  // namespace
}  // namespace ringkv::drills
