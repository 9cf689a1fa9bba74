// The drills' workload, in the style of Jepsen's set workload: a few client
// threads, each connected to a random node through the client namespace (so
// faults cut it like a real client's), write unique keys (key = element,
// value = a unique id) at a steady rate and read back keys they wrote. Every
// write is recorded with its outcome and times:
//
//   ok       +OK: acknowledged, must survive (the checker's "lost" if not);
//   failed   an error reply (-UNAVAILABLE ...): may still have reached a
//            replica, so it may appear or not;
//   unknown  no reply (timeout, connection reset): may appear or not.
//
// After an unknown outcome or a connection error a client reconnects to
// another random node. Every loop is bounded: by Stop(), and by
// ops_per_client_max.
//
// Ownership: the cluster and timeline must outlive the Load; the destructor
// stops and joins the clients. Thread safety: Stop, Writes and Reads from
// one thread; Writes and Reads only after Stop.
#ifndef RINGKV_TESTS_DRILLS_LOAD_H_
#define RINGKV_TESTS_DRILLS_LOAD_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "drills/drill_cluster.h"
#include "drills/timeline.h"

namespace ringkv::drills {

enum class Outcome { kOk, kFailed, kUnknown };
const char* OutcomeName(Outcome outcome);

struct WriteRecord {
  std::string key;
  std::string value;
  int client = 0;
  int node = 0;          // The node the client sent it to.
  int64_t start_ms = 0;  // cluster_test::NowMs clock.
  int64_t end_ms = 0;
  Outcome outcome = Outcome::kUnknown;
  std::string error;  // The error reply or I/O error, for failed and unknown.
};

struct ReadStats {
  int64_t found = 0;       // The value written.
  int64_t not_found = 0;   // nil for an acknowledged key: a stale read.
  int64_t mismatched = 0;  // Another value: never written for that key.
  int64_t failed = 0;
  int64_t unknown = 0;
  std::vector<std::string> mismatch_examples;
};

struct LoadOptions {
  int clients = 4;
  int ops_per_second = 100;  // Per client.
  int read_percent = 20;
  int connect_timeout_ms = 500;
  // Longer than a request timeout, so that a live coordinator always
  // answers first; a stopped or cut-off node gives "unknown" after it.
  int io_timeout_ms = 3000;
  int64_t ops_per_client_max = 1000000;
};

class Load {
 public:
  // Starts the clients at once.
  Load(const DrillCluster& cluster, Timeline* timeline, LoadOptions options);
  ~Load();

  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  void Stop();
  // Every write of every client, by start time. REQUIREs Stop() first.
  std::vector<WriteRecord> Writes() const;
  ReadStats Reads() const;

 private:
  struct Client {
    std::vector<WriteRecord> writes;
    ReadStats reads;
    int64_t connect_failures = 0;
  };

  void Run(int client_index);

  const DrillCluster& cluster_;
  Timeline* timeline_;  // Not owned.
  const LoadOptions options_;
  const std::string run_id_;  // In every value, so values are unique across runs.
  std::atomic<bool> stop_{false};
  std::vector<Client> clients_;  // clients_[i] is touched by thread i only until Stop.
  std::vector<std::thread> threads_;
};

}  // namespace ringkv::drills

#endif  // RINGKV_TESTS_DRILLS_LOAD_H_
