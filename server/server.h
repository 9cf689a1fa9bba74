// server/server.h: the node process: event loop, listener, clients, group
// commit and fsync policy.
//
// One libuv loop thread runs everything. Each iteration: read callbacks run
// commands (writes join one LMDB transaction); then the before-poll hook
// commits that transaction once, and sends the iteration's replies. Syncing
// to disk never blocks the loop: it runs on the libuv thread pool, every
// second (everysec) or right after each commit (always, in which case the
// replies wait for it).
//
// Thread safety: loop thread only, except the sync work item, which touches
// only storage::Engine::Sync().
#ifndef RINGKV_SERVER_SERVER_H_
#define RINGKV_SERVER_SERVER_H_

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/config.h"
#include "server/keyspace.h"
#include "storage/engine.h"

namespace ringkv::server {

class Client;
class ClusterNode;

struct ServerStats {
  uint64_t connections_received = 0;
  uint64_t connections_rejected = 0;
  uint64_t commands_processed = 0;
  uint64_t net_input_bytes = 0;
  uint64_t net_output_bytes = 0;
  uint64_t keyspace_hits = 0;
  uint64_t keyspace_misses = 0;
  uint64_t error_replies = 0;
  uint64_t protocol_errors = 0;
  uint64_t output_limit_disconnections = 0;
  uint64_t query_limit_disconnections = 0;
  uint64_t input_held = 0;  // Client inputs held to the next iteration.
  // Loop iterations, and the time they worked (not waiting in the poll).
  uint64_t eventloop_cycles = 0;
  uint64_t eventloop_duration_us = 0;
  uint64_t commit_failures = 0;
  uint64_t sync_failures = 0;
  int64_t last_sync_ms = 0;
  // Times the cron returned the allocator's kept pages to the kernel
  // (limits.allocator_dirty_max), and the bytes it returned.
  uint64_t allocator_purges = 0;
  uint64_t allocator_purged_bytes = 0;
};

class Server {
 public:
  explicit Server(Config config);
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens storage and starts listening. On failure returns false and sets
  // *error.
  bool Start(std::string* error);
  // Runs the loop until Stop(); returns the process exit code.
  int Run();
  // Stops accepting, commits and syncs, closes everything, ends Run().
  void Stop();

  const Config& config() const { return config_; }
  storage::Engine& engine() { return *engine_; }
  Keyspace& keyspace() { return *keyspace_; }
  ClusterNode& cluster() { return *cluster_; }
  // Looks up the client a deferred reply belongs to and hands it the reply
  // (dropped if the client is gone).
  void CompleteReply(const struct ReplyToken& token, std::string bytes);
  ServerStats& stats() { return stats_; }
  uv_loop_t* loop() { return &loop_; }

  // Wall clock (unix ms) read at the start of the current loop iteration.
  int64_t now_ms();
  int64_t start_ms() const { return start_ms_; }
  const std::string& run_id() const { return run_id_; }

  const std::unordered_map<uint64_t, std::unique_ptr<Client>>& clients() const {
    return clients_;
  }
  // A client with replies to send at the end of the iteration.
  void ScheduleFlush(Client* client);
  // Admits one more client command into the current iteration; false once
  // the iteration's budget is spent (the client then holds its input with
  // HoldInput until the next iteration).
  bool TakeCommandBudget() {
    if (commands_this_iteration_ >= command_budget_) return false;
    ++commands_this_iteration_;
    return true;
  }
  void HoldInput(Client* client);
  // Called from a client's close callback: destroys it.
  void DestroyClient(Client* client);

  uint64_t durable_sequence() const { return durable_sequence_; }
  // One sample per cron tick (Redis samples every 100 ms): replies per
  // second, loop iterations per second, the mean and the longest time an
  // iteration worked, in us.
  struct Sample {
    uint64_t ops_per_sec = 0;
    uint64_t cycles_per_sec = 0;
    uint64_t duration_us = 0;
    uint64_t duration_max_us = 0;
  };
  // The means over the last samples, and the longest duration_max_us
  // (INFO instantaneous_ops_per_sec, instantaneous_eventloop_*).
  Sample instantaneous() const;

 private:
  static void OnConnection(uv_stream_t* listener, int status);
  static void OnBeforePoll(uv_prepare_t* handle);
  void EndIteration();
  static void OnCron(uv_timer_t* handle);
  // Once a second: returns the allocator's kept pages to the kernel when
  // they pass limits.allocator_dirty_max.
  void CheckAllocator(int64_t now);
  static void OnSignal(uv_signal_t* handle, int signal);
  static void OnSyncWork(uv_work_t* request);
  static void OnSyncDone(uv_work_t* request, int status);
  static void OnReleaseWork(uv_work_t* request);
  static void OnReleaseDone(uv_work_t* request, int status);

  void CommitAndFlush();
  uint64_t FlushClients();
  void ResumeHeldInput();
  void StartSync();
  void StartRelease(uint64_t durable_sequence);
  void FlushDurable();

  Config config_;
  uv_loop_t loop_;
  uv_tcp_t listener_;
  uv_prepare_t before_poll_;
  uv_idle_t storage_busy_;  // Active while the engine has work for the next iteration.
  // Sent by the engine's checkpoint thread when a checkpoint ends: the
  // wake-up alone is enough, the next iteration's commit finishes it.
  uv_async_t checkpoint_done_;
  uv_timer_t cron_;
  uv_signal_t sigterm_;
  uv_signal_t sigint_;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<Keyspace> keyspace_;
  std::unique_ptr<ClusterNode> cluster_;
  std::unordered_map<uint64_t, std::unique_ptr<Client>> clients_;
  std::vector<Client*> flush_list_;
  std::vector<Client*> waiting_durable_;
  std::vector<Client*> held_input_;
  uv_idle_t input_held_;  // Active while clients hold input for the next iteration.
  size_t commands_this_iteration_ = 0;
  size_t command_budget_ = SIZE_MAX;
  ServerStats stats_;
  uint64_t next_client_id_ = 1;
  int64_t start_ms_ = 0;
  int64_t cached_now_ms_ = 0;
  uint64_t cached_now_loop_ms_ = UINT64_MAX;
  std::string run_id_;
  bool stopping_ = false;

  // Durability: commits (loop thread) and syncs (thread pool).
  uint64_t durable_sequence_ = 0;
  bool sync_in_flight_ = false;
  uv_work_t sync_request_;
  uint64_t sync_result_sequence_ = 0;
  storage::Status sync_result_;
  // The write log's release (thread pool, beside the syncs).
  bool release_in_flight_ = false;
  uv_work_t release_request_;
  uint64_t release_through_ = 0;
  storage::Status release_result_;
  bool release_failing_ = false;

  // instantaneous() samples, and the counts at the last one.
  static constexpr int kSamples = 16;
  Sample samples_[kSamples];
  int sample_index_ = 0;
  uint64_t last_sample_commands_ = 0;
  int64_t last_sample_ms_ = 0;
  uint64_t last_sample_cycles_ = 0;
  uint64_t last_sample_duration_us_ = 0;
  // Where the last iteration ended (uv_hrtime) and the loop's time in the
  // poll then (uv_metrics_idle_time), both in ns; the longest iteration
  // since the last sample, in us.
  uint64_t iteration_end_ns_ = 0;
  uint64_t iteration_end_idle_ns_ = 0;
  uint64_t iteration_max_us_ = 0;
  int64_t last_allocator_check_ms_ = 0;
};

}  // namespace ringkv::server

#endif  // RINGKV_SERVER_SERVER_H_
