// The drills' checkers, run after the cluster healed and the load stopped.
//
// Set checker (Jepsen's set workload): read every key the load tried to
// write at R = N (CONSISTENCY ALL, then GET), and compare with the history:
//
//   lost        an acknowledged write whose value is not there;
//   unexpected  a value that no write of that key sent;
//   an indeterminate write (failed or unknown outcome) may be there or not:
//   counted as present or absent, never an error.
//
// Placement checker: every acknowledged key is held by each of its N owners
// (RING KEY, then LOCALGET on every node) with exactly that one value, no
// other node holds a copy, and no node holds keys the load never wrote
// (DBSIZE). It reads each node's own copy without coordination, so it must
// run before the set checker's reads at R = N, which repair what they read.
//
// CheckSet is pure; ReadAll and CheckPlacement talk to the cluster from the
// calling thread and REQUIRE working connections.
#ifndef RINGKV_TESTS_DRILLS_CHECKER_H_
#define RINGKV_TESTS_DRILLS_CHECKER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster/cluster_replies.h"
#include "drills/drill_cluster.h"
#include "drills/load.h"

namespace ringkv::drills {

struct FinalRead {
  std::map<std::string, std::optional<std::string>> values;  // nullopt: nil.
  std::map<std::string, std::string> unreadable;             // Key -> last error.
};

// Reads `keys` through node `via` (client path) at CONSISTENCY ALL, in
// pipelined batches; keys answered with an error are read again, a few
// times, before they count as unreadable.
FinalRead ReadAll(const DrillCluster& cluster, int via, const std::vector<std::string>& keys);

struct SetVerdict {
  int64_t attempted = 0;
  int64_t acknowledged = 0;
  int64_t failed = 0;
  int64_t unknown = 0;
  int64_t lost = 0;
  int64_t unexpected = 0;
  int64_t indeterminate_present = 0;
  int64_t indeterminate_absent = 0;
  int64_t unreadable = 0;
  std::vector<std::string> examples;  // The first few problems, in words.

  bool ok() const { return lost == 0 && unexpected == 0 && unreadable == 0; }
  std::string Summary() const;
};

SetVerdict CheckSet(const std::vector<WriteRecord>& writes, const FinalRead& final_read);

struct PlacementVerdict {
  int64_t keys_checked = 0;    // Acknowledged keys.
  int64_t missing_copies = 0;  // An owner without the key.
  int64_t wrong_copies = 0;    // An owner with another value or siblings.
  int64_t stray_copies = 0;    // A node that is no owner holds a copy.
  int64_t extra_keys = 0;      // DBSIZE counts keys the load never wrote.
  std::vector<std::string> examples;

  bool ok() const {
    return missing_copies == 0 && wrong_copies == 0 && stray_copies == 0 && extra_keys == 0;
  }
  std::string Summary() const;
};

// What the placement checker judges, gathered from the cluster.
struct PlacementFacts {
  std::vector<std::string> nodes;                // Names, by index.
  std::vector<std::vector<std::string>> owners;  // Per write: its N owners.
  // copies[i][k]: node i's copy of write k (LOCALGET), nullopt for none.
  std::vector<std::vector<std::optional<cluster_test::VersionedValue>>> copies;
  std::vector<int64_t> dbsize;  // Per node.
};

// Pure: the verdict on `facts` about `writes`.
PlacementVerdict JudgePlacement(const std::vector<WriteRecord>& writes,
                                const PlacementFacts& facts);

// Gathers the facts over each node's loopback (so it needs every node
// running) and judges them.
PlacementVerdict CheckPlacement(const DrillCluster& cluster,
                                const std::vector<WriteRecord>& writes);

}  // namespace ringkv::drills

#endif  // RINGKV_TESTS_DRILLS_CHECKER_H_
