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

}  // namespace
}  // namespace ringkv::drills
