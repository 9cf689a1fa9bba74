// tests/unit/cluster/simulation.h: a deterministic simulation of the
// coordination core, driven by simulation_test.cc.
//
// Several nodes, each a Coordinator over an in-memory store, run in one
// process on a fake network (sim_network.h: seeded delay, reordering, loss,
// duplication, a node cut off for a while unnoticed, nodes down for a while
// with the others told so through SetDown) and a fake clock, driven as a
// discrete-event loop, while seeded clients write (SET-style, or VSET-style
// with the possibly stale context of an earlier read) and read. Then the
// network heals, every node is up in every view, hints are handed off
// (CheckHandoff), every key is read at R = N from some node, read repair
// runs to quiescence, and the history is checked (CheckFinal). Everything
// depends only on the seed (sim_config.h picks the rest from it).
// docs/coordination.md describes what is checked and why.
//
// This header declares the Simulation; its members are defined, inline, in
// simulation_loop.h (the event loop: clock, network, views, outboxes) and
// simulation_history.h (the clients, the history they leave and its
// checks). A file that runs a Simulation includes both.
#ifndef RINGKV_TESTS_UNIT_CLUSTER_SIMULATION_H_
#define RINGKV_TESTS_UNIT_CLUSTER_SIMULATION_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cluster/coordinator.h"
#include "unit/cluster/sim_config.h"
#include "unit/cluster/sim_memory_store.h"
#include "unit/cluster/sim_network.h"
#include "unit/cluster/sim_random.h"

namespace ringkv::cluster::simulation_testing {

class Simulation {
 public:
  Simulation(uint64_t seed, const SimConfig& config, bool verbose);

  // Runs the scenario; returns "" if every check held, else what broke first.
  std::string Run();
  const SimSummary& summary() const { return summary_; }

 private:
  struct Node {
    std::string name;
    std::unique_ptr<MemoryStore> store;
    std::unique_ptr<Coordinator> coordinator;
  };
  // What a client saw in a successful read: the context it may write back
  // (VSET), and the siblings that write would then supersede.
  struct SeenContext {
    storage::VersionVector clock;
    std::vector<storage::Dot> dots;
  };
  struct WriteRecord {
    std::string key;
    std::string value;
    bool tombstone = false;
    Consistency consistency;
    storage::Dot dot;  // Read from the coordinator's store once Write returned.
    int done_calls = 0;
    int settled_calls = 0;
    bool acked = false;
    bool failed_locally = false;  // The coordinator's store failed: no dot.
    uint64_t acked_step = 0;
    WriteResult result;
  };
  struct ReadRecord {
    std::string key;
    Consistency consistency;
    uint64_t start_step = 0;
    bool heal = false;
    int done_calls = 0;
  };
  // A failure detector's verdict reaching one node: `member` is down (or up
  // again) in `observer`'s view from `at_ms` on.
  struct ViewChange {
    int64_t at_ms = 0;
    size_t observer = 0;
    std::string member;
    bool down = false;
  };

  void PlanViewChanges();
  void ApplyViewChanges();
  void RunUntilQuiet();
  void FlushOutboxes();
  void UpdateStoreFaults();
  void ClientOperation();
  void StartWrite(const std::string& key, Consistency consistency, bool tombstone,
                  const SeenContext* context);
  void StartRead(const std::string& key, size_t node, Consistency consistency, bool heal);
  void OnWriteDone(size_t index, WriteResult result);
  void OnReadDone(size_t index, ReadResult result);
  void CheckKnownValues(const std::string& key, const storage::SiblingSet& set, const char* where);
  void CheckReadYourWrites(const ReadRecord& read, const ReadResult& result);
  void CheckHandoff();
  void CheckFinal();
  void CheckFinalKey(const std::string& key);
  Node& NodeNamed(const std::string& name);
  void Fail(const std::string& what);
  void Log(const char* format, ...) __attribute__((format(printf, 2, 3)));

  const uint64_t seed_;
  const SimConfig config_;
  const bool verbose_;
  SimRandom random_;
  SimNetwork network_;
  std::vector<Node> nodes_;
  std::vector<std::string> keys_;
  std::vector<int64_t> client_times_ms_;  // Sorted.
  size_t next_client_ = 0;
  std::vector<ViewChange> view_changes_;  // Sorted by time.
  size_t next_view_change_ = 0;
  int64_t now_ms_ = 0;
  uint64_t step_ = 0;  // Orders acks and read starts that share a millisecond.
  std::vector<WriteRecord> writes_;
  std::vector<ReadRecord> reads_;
  // Dots are per key: each key's clock counts its own writes.
  using KeyDot = std::pair<std::string, storage::Dot>;
  std::map<KeyDot, size_t> write_of_dot_;
  std::set<KeyDot> superseded_;  // Siblings some write's context covered.
  std::map<std::string, std::deque<SeenContext>> contexts_;  // Recent reads per key.
  std::string failure_;
  SimSummary summary_;
};

constexpr size_t kContextsPerKeyMax = 4;
// Far more events than any seed needs; reaching it means the run does not
// converge (a request that never ends, messages that breed messages).
constexpr uint64_t kLoopIterationsMax = 1000000;

inline std::string DotString(const storage::Dot& dot) {
  return storage::ActorToHex(dot.actor) + ":" + std::to_string(dot.counter);
}

inline std::string SetString(const storage::SiblingSet& set) {
  std::string text = "{";
  for (const storage::Sibling& sibling : set.siblings) {
    if (text.size() > 1) text += " ";
    text += sibling.tombstone ? std::string("<del>") : sibling.value;
    text += "@" + DotString(sibling.dot);
  }
  return text + "}";
}

}  // namespace ringkv::cluster::simulation_testing

#endif  // RINGKV_TESTS_UNIT_CLUSTER_SIMULATION_H_
