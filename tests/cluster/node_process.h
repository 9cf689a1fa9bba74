// One ringkv-server process of a multi-node test: started from a config
// file, its output appended to a log, and the signals a failure test sends
// it (SIGTERM, SIGKILL, SIGSTOP, SIGCONT). Shared by the loopback cluster
// harness (cluster_harness.h) and the failure drills, which start each node
// inside its own network namespace (tests/drills/).
//
// Ownership: a NodeProcess owns its child process, not its files. The
// destructor resumes a paused process, kills and reaps it. The child also
// dies with the test process (PR_SET_PDEATHSIG), so a test binary killed by
// a timeout leaves no server behind.
//
// Every wait is bounded in time; a bound that expires fails the test with the
// log's tail. Thread safety: one thread at a time; nobody else may signal or
// reap the process.
#ifndef RINGKV_TESTS_CLUSTER_NODE_PROCESS_H_
#define RINGKV_TESTS_CLUSTER_NODE_PROCESS_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace ringkv::cluster_test {

// The shape of a test cluster, shared by the loopback harness
// (ClusterOptions) and the drills (DrillClusterOptions), which differ only
// in their defaults and their own extra settings.
struct ClusterShape {
  // The seeds' test set: 6 servers x 4 virtual nodes, N = 3, W = 2, R = 2.
  int nodes = 6;
  int partitions = 24;
  int n = 3;
  int w = 2;
  int r = 2;
  int request_timeout_ms = 1000;
  std::string fsync = "everysec";
  // storage.write_path, and the memory table's bound when not 0.
  std::string write_path = "log";
  int64_t memtable_bytes_max = 0;
};

// The [storage] lines a ClusterShape sets beyond partitions and fsync.
inline std::string WritePathToml(const ClusterShape& shape) {
  std::string toml = "write_path = \"" + shape.write_path + "\"\n";
  if (shape.memtable_bytes_max != 0) {
    toml += "memtable_bytes_max = " + std::to_string(shape.memtable_bytes_max) + "\n";
  }
  return toml;
}

class NodeProcess {
 public:
  NodeProcess(std::string name, std::string server_path, std::string config_path,
              std::string log_path);
  ~NodeProcess();

  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;

  const std::string& name() const { return name_; }
  const std::string& log_path() const { return log_path_; }
  pid_t pid() const { return pid_; }  // -1 when not running.
  bool Running() const { return pid_ > 0; }
  bool Paused() const { return paused_; }

  // Forks and execs `server_path --config config_path`. With `netns_fd` >= 0
  // the child enters that network namespace (setns) before exec, so the
  // server's sockets live there. REQUIREs that the node is not running.
  void Spawn(int netns_fd = -1);

  // Waits until the ready line is in the log after `log_offset` (a line of
  // an earlier run must not count) and `answers()` returns true, for at most
  // `timeout_ms`. FAILs with the log's tail on timeout or if the process
  // exits meanwhile.
  void WaitReady(size_t log_offset, const std::function<bool()>& answers, int timeout_ms);

  // SIGTERM, then waits up to `timeout_ms` for the exit (SIGKILL after it).
  // Resumes a paused process first so it can handle the signal. Returns the
  // wait status, or nullopt if the process had to be killed or was not
  // running.
  std::optional<int> Stop(int timeout_ms);
  // SIGKILL and reap. Nothing if not running.
  void Kill9();
  // SIGSTOP, returning once the kernel reports the process stopped, so that
  // what a test does next really runs against a stopped process.
  void Pause();
  // SIGCONT. Nothing if not running or not paused.
  void Resume();

  size_t LogSize() const;
  std::string LogSince(size_t offset) const;
  // The last `bytes_max` bytes of the log under a header naming the node.
  std::string LogTail(size_t bytes_max = 4096) const;

 private:
  std::string name_;
  std::string server_path_;
  std::string config_path_;
  std::string log_path_;
  pid_t pid_ = -1;
  bool paused_ = false;
};

}  // namespace ringkv::cluster_test

#endif  // RINGKV_TESTS_CLUSTER_NODE_PROCESS_H_
