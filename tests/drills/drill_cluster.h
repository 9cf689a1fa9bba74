// A cluster of real ringkv-server processes for the failure drills, each in
// its own network namespace of a Network (netns.h): node i listens on
// 0.0.0.0 ports 6379 (clients) and 7379 (peers) inside namespace n<i+1>,
// advertises 10.77.0.(11+i), and lists every member by that address. Since
// every node has its own address, no port has to be picked.
//
// Two ways to reach a node:
//   Path::kNetwork   from the client namespace over the bridge, as a client
//                    would; faults (Isolate, Split) cut this path.
//   Path::kLoopback  from inside the node's own namespace on 127.0.0.1; no
//                    network fault cuts it, so the drills can always ask a
//                    node what it sees (like Jepsen's control connection).
//
// Ownership: a DrillCluster owns its processes (cluster/node_process.h) and
// its directory /tmp/<owner tag>-XXXXXX; it must be destroyed before the
// Network it runs in. The destructor kills and reaps every process and
// removes the directory, also after a failed REQUIRE.
// Thread safety: TryConnect and Quick may be called from any thread; the
// rest from one thread at a time.
#ifndef RINGKV_TESTS_DRILLS_DRILL_CLUSTER_H_
#define RINGKV_TESTS_DRILLS_DRILL_CLUSTER_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "blackbox/harness.h"
#include "cluster/node_process.h"
#include "drills/netns.h"

namespace ringkv::drills {

using blackbox::RedisContext;
using blackbox::Reply;

struct DrillClusterOptions : cluster_test::ClusterShape {
  // Gossip: short in the CI forms so that the drills finish quickly, the
  // server's default (1 s) in the long forms. suspect_after_ms 0 leaves it
  // to the server's default.
  int gossip_interval_ms = 300;
  int suspect_after_ms = 0;
  // Whether the config carries the failure-handling keys (gossip, seeds);
  // see FailureHandlingConfig. RINGKV_DRILL_NO_FAILURE_KEYS=1 in the
  // environment turns them off for every drill, for a server that does not
  // know them yet.
  bool failure_handling_keys = true;
};

// False when RINGKV_DRILL_NO_FAILURE_KEYS=1.
bool FailureKeysWanted();

class DrillCluster {
 public:
  enum class Path { kNetwork, kLoopback };

  // Starts every node in its namespace and waits until each answers PING
  // and is connected to all its peers. REQUIREs success.
  DrillCluster(const Network& network, DrillClusterOptions options);
  ~DrillCluster();

  DrillCluster(const DrillCluster&) = delete;
  DrillCluster& operator=(const DrillCluster&) = delete;

  int size() const { return static_cast<int>(nodes_.size()); }
  const DrillClusterOptions& options() const { return options_; }
  const Network& network() const { return network_; }
  // Node `index` is named "n<index+1>".
  std::string name(int index) const;
  // The index of the node called `name`, or -1.
  int IndexOf(std::string_view name) const;
  std::string address(int index) const { return network_.NodeAddress(index); }
  cluster_test::NodeProcess& process(int index);
  // The directory holding every node's config, data and log.
  const std::string& directory() const { return root_.path; }
  bool Running(int index) const;

  // A connection with `timeout_ms` for connecting and for every reply, or
  // null when the node cannot be reached.
  RedisContext TryConnect(int index, Path path, int timeout_ms) const;
  // A connection with 10 s timeouts; REQUIREs success.
  RedisContext Connect(int index, Path path = Path::kNetwork) const;
  // One command on a fresh connection with short timeouts: the rendered reply
  // (blackbox::Render; a bulk string's bytes as they are), or nullopt when
  // the node could not be reached or did not answer in time.
  std::optional<std::string> Quick(int index, Path path, const std::vector<std::string>& args,
                                   int timeout_ms = 500) const;

  // SIGKILL and reap.
  void Kill9(int index);
  // Starts a killed node again on its data directory and waits until it
  // answers PING on its loopback; with `wait_for_peers`, also until it is
  // connected to every other running node.
  void Restart(int index, bool wait_for_peers = true);
  // SIGSTOP (returns once stopped) / SIGCONT.
  void Pause(int index);
  void Resume(int index);

  // Polls peer_connections of node `index` (over its loopback) until it
  // reaches the number of other running nodes, for at most `timeout_ms`.
  bool WaitConnected(int index, int timeout_ms) const;

  std::string LogTail(int index, size_t bytes_max = 4096) const;
  std::string AllLogTails(size_t bytes_max = 1500) const;

 private:
  struct Node;
  struct TempDir {
    std::string path;
    ~TempDir();  // Removes the directory and everything in it.
  };

  void WriteConfig(int index) const;
  void WaitReady(int index, size_t log_offset);

  const Network& network_;  // Outlives the cluster (see the header comment).
  DrillClusterOptions options_;
  // Declared before nodes_ so that it outlives them: the processes are killed
  // before their directories are removed, also when the constructor fails.
  TempDir root_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

}  // namespace ringkv::drills

#endif  // RINGKV_TESTS_DRILLS_DRILL_CLUSTER_H_
