// Multi-node test harness: a cluster of real ringkv-server processes on
// loopback, each with its own client and peer port and its own temporary data
// directory, every node listing every member in its config (or, for the last
// ClusterOptions::seeded_nodes, only a seed).
//
// Ownership: a Cluster owns its processes and its directory. The destructor
// resumes every paused node, kills and reaps every process and removes the
// directory, also when a test failed half way (a failed REQUIRE unwinds
// through it; a Cluster whose constructor fails cleans up through its
// members). A node process also dies with the test process
// (PR_SET_PDEATHSIG), so a test binary killed by a ctest timeout leaves no
// server behind.
//
// Every wait is bounded in time; a bound that expires fails the test with the
// node's log tail instead of hanging the suite.
//
// Thread safety: one thread uses a Cluster at a time. The node processes
// must not be signalled by anyone else.
#ifndef RINGKV_TESTS_CLUSTER_CLUSTER_HARNESS_H_
#define RINGKV_TESTS_CLUSTER_CLUSTER_HARNESS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "blackbox/harness.h"
#include "cluster/cluster_replies.h"
#include "cluster/node_process.h"

namespace ringkv::cluster_test {

using blackbox::RedisContext;
using blackbox::Reply;

struct ClusterOptions : ClusterShape {
  ClusterOptions() {
    // Short, so that tests of unavailability finish quickly.
    request_timeout_ms = 500;
    fsync = "no";
  }
  // Appended verbatim to every node's config, after the tables the harness
  // writes; must not repeat [node], [cluster] or [storage].
  std::string extra_toml;
  // Appended verbatim inside every node's [cluster] table (before the
  // member list), e.g. "gossip_interval_ms = 300\n".
  std::string cluster_toml;
  // The last `seeded_nodes` nodes are left out of every member list: their
  // own config lists no members, only `seeds`, node 0's peer address, so
  // they join by gossip.
  int seeded_nodes = 0;
};

// The secret every node of a Cluster is configured with (a test may use it
// to act as a peer).
inline constexpr const char* kClusterSecret = "ringkv-cluster-test-secret";

class Cluster {
 public:
  // Starts every node and waits until each answers PING and reports its
  // peer connections (see WaitConnected). REQUIREs success.
  explicit Cluster(ClusterOptions options = {});
  ~Cluster();

  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  int size() const { return static_cast<int>(nodes_.size()); }
  const ClusterOptions& options() const { return options_; }

  // Node `index` is named "n<index+1>".
  std::string name(int index) const;
  // The index of the node called `name`; REQUIREs that there is one.
  int IndexOf(std::string_view name) const;
  uint16_t port(int index) const;
  uint16_t peer_port(int index) const;
  pid_t pid(int index) const;  // -1 when the node is not running.
  bool Running(int index) const;
  bool Paused(int index) const;

  // A hiredis connection to node `index` (10 s I/O timeout).
  RedisContext Connect(int index) const;

  // Starts a stopped node on its old ports and data directory and waits until
  // it answers PING and is connected to its running peers.
  void Start(int index);
  // SIGTERM, then waits for the exit (SIGKILL after the bound). Returns the
  // wait status, or nullopt if the node had to be killed. Resumes a paused
  // node first so it can handle the signal.
  std::optional<int> Stop(int index);
  // SIGKILL and reap.
  void Kill9(int index);
  // SIGSTOP / SIGCONT: the node keeps its sockets open but answers nothing,
  // the closest a single machine gets to a node that hangs.
  void Pause(int index);
  void Resume(int index);

  // Polls `INFO cluster` on node `index` until peer_connections reaches the
  // number of other running nodes, for at most `timeout_ms`. Returns false on
  // timeout. When the server does not report peer_connections, waits a short
  // fixed time instead, says so once in a MESSAGE, and returns true.
  bool WaitConnected(int index, int timeout_ms);

  // The last bytes of node `index`'s log, for failure messages.
  std::string LogTail(int index, size_t bytes_max = 4096) const;
  // LogTail of every node.
  std::string AllLogTails(size_t bytes_max = 1500) const;

 private:
  struct Node;
  struct TempDir {
    std::string path;
    ~TempDir();
  };

  enum class PeerState { kConnected, kTimedOut, kNotReported };
  PeerState PollConnected(int index, int timeout_ms) const;
  void SleepInsteadOfPeerConnections();
  void WriteConfig(int index) const;
  void Spawn(int index);
  void WaitReady(int index, size_t log_offset);

  ClusterOptions options_;
  // Declared before nodes_ so that it outlives them: the processes are killed
  // before their directories are removed.
  TempDir root_;
  std::vector<std::unique_ptr<Node>> nodes_;
  bool warned_no_peer_connections_ = false;
};

// The indexes of `key`'s N replicas in preference-list order, asked of node
// `asked` with RING KEY.
std::vector<int> ReplicaIndexes(const Cluster& cluster, const std::string& key, int asked = 0);

// Polls LOCALGET on each of `nodes` until every one holds exactly one
// sibling with `value`, for at most `timeout_ms`. Returns whether they did.
// Independent of WAIT, so tests can settle replication without trusting it.
bool HeldByAll(const Cluster& cluster, const std::vector<int>& nodes, const std::string& key,
               const std::string& value, int timeout_ms);

// The indexes of the nodes that are not among `replicas`.
std::vector<int> OtherIndexes(const Cluster& cluster, const std::vector<int>& replicas);

// An integer field of node `index`'s INFO cluster; REQUIREs that it exists.
int64_t InfoInteger(const Cluster& cluster, int index, const std::string& field);

}  // namespace ringkv::cluster_test

#endif  // RINGKV_TESTS_CLUSTER_CLUSTER_HARNESS_H_
