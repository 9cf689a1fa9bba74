#include "server/server.h"

#include <signal.h>
#include <sys/random.h>
#include <time.h>

#include <algorithm>
#include <cinttypes>
#include <cstring>

#include "server/allocator.h"
#include "server/client.h"
#include "server/cluster_node.h"
#include "server/log.h"

namespace ringkv::server {
namespace {

int64_t WallClockMs() {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (getrandom(raw.data(), raw.size(), 0) != static_cast<ssize_t>(raw.size())) {
    for (char& c : raw) c = static_cast<char>(rand());
  }
  static const char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : raw) {
    hex.push_back(kDigits[c >> 4]);
    hex.push_back(kDigits[c & 15]);
  }
  return hex;
}

// Keeps the loop from blocking in poll forever while handles are closing.
void CloseHandle(uv_handle_t* handle) {
  if (!uv_is_closing(handle)) uv_close(handle, nullptr);
}

}  // namespace

Server::Server(Config config) : config_(std::move(config)) {
  uv_loop_init(&loop_);
  // The loop's time in the poll, to tell an iteration's work from its wait
  // (INFO eventloop_*). Fails only on a platform without it: the figures
  // then count the wait too.
  uv_loop_configure(&loop_, UV_METRICS_IDLE_TIME);
  listener_.data = this;
  before_poll_.data = this;
  cron_.data = this;
  sigterm_.data = this;
  sigint_.data = this;
  sync_request_.data = this;
  release_request_.data = this;
  run_id_ = RandomHex(20);
  start_ms_ = WallClockMs();
}

Server::~Server() {
  clients_.clear();
  cluster_.reset();
  keyspace_.reset();
  engine_.reset();
  uv_loop_close(&loop_);
}

int64_t Server::now_ms() {
  // uv_now changes once per iteration; refresh the wall clock with it.
  uint64_t loop_ms = uv_now(&loop_);
  if (loop_ms != cached_now_loop_ms_) {
    cached_now_loop_ms_ = loop_ms;
    cached_now_ms_ = WallClockMs();
  }
  return cached_now_ms_;
}

bool Server::Start(std::string* error) {
  storage::EngineOptions options;
  options.data_dir = config_.data_dir;
  options.map_size_bytes = static_cast<uint64_t>(config_.map_size_bytes);
  options.partition_count = static_cast<uint32_t>(config_.partitions);
  options.node_name = config_.name;
  options.hint_limits.count_max = static_cast<uint64_t>(config_.hints_count_max);
  options.hint_limits.bytes_max = static_cast<uint64_t>(config_.hints_bytes_max);
  options.hint_limits.age_max_ms = config_.hints_age_max_ms;
  options.write_log = config_.write_log;
  options.memtable_bytes_max = static_cast<uint64_t>(config_.memtable_bytes_max);
  options.log_bytes_max = static_cast<uint64_t>(config_.log_bytes_max);
  options.record_cache_bytes = static_cast<uint64_t>(config_.record_cache_bytes);
  options.digest_cache_bytes = static_cast<uint64_t>(config_.digest_cache_bytes);
  options.checkpoint_sync_ms = config_.checkpoint_sync_ms;
  options.log_retained_bytes_max = static_cast<uint64_t>(config_.log_retained_bytes_max);
  storage::Status status = storage::Engine::Open(options, &engine_);
  if (!status.ok()) {
    *error = "cannot open data directory '" + config_.data_dir + "': " + status.ToString();
    return false;
  }
  keyspace_ = std::make_unique<Keyspace>(engine_.get());
  durable_sequence_ = engine_->committed_sequence();
  cluster_ = std::make_unique<ClusterNode>(this);
  if (!cluster_->Start(error)) return false;

  sockaddr_storage address;
  int rc = uv_ip4_addr(config_.bind.c_str(), static_cast<int>(config_.port),
                       reinterpret_cast<sockaddr_in*>(&address));
  if (rc != 0) {
    rc = uv_ip6_addr(config_.bind.c_str(), static_cast<int>(config_.port),
                     reinterpret_cast<sockaddr_in6*>(&address));
  }
  if (rc != 0) {
    *error = "bad bind address '" + config_.bind + "'";
    return false;
  }
  uv_tcp_init(&loop_, &listener_);
  rc = uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&address), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 511, OnConnection);
  if (rc != 0) {
    *error = "cannot listen on " + config_.bind + ":" + std::to_string(config_.port) + ": " +
             uv_strerror(rc);
    return false;
  }

  uv_prepare_init(&loop_, &before_poll_);
  uv_prepare_start(&before_poll_, OnBeforePoll);
  uv_idle_init(&loop_, &storage_busy_);
  uv_async_init(&loop_, &checkpoint_done_, [](uv_async_t*) {});
  engine_->SetCheckpointListener([this] { uv_async_send(&checkpoint_done_); });
  uv_idle_init(&loop_, &input_held_);
  uv_timer_init(&loop_, &cron_);
  uv_timer_start(&cron_, OnCron, 100, 100);
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_start(&sigterm_, OnSignal, SIGTERM);
  uv_signal_init(&loop_, &sigint_);
  uv_signal_start(&sigint_, OnSignal, SIGINT);
  signal(SIGPIPE, SIG_IGN);

  Log(LogLevel::kNotice, "ringkv node '%s' (actor %s), data in %s, fsync %s", config_.name.c_str(),
      storage::ActorToHex(engine_->identity().actor).c_str(), config_.data_dir.c_str(),
      FsyncPolicyName(config_.fsync));
  Log(LogLevel::kNotice, "Ready to accept connections tcp on %s:%lld", config_.bind.c_str(),
      static_cast<long long>(config_.port));
  return true;
}

int Server::Run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
  return 0;
}

void Server::Stop() {
  if (stopping_) return;
  stopping_ = true;
  Log(LogLevel::kNotice, "Shutting down: committing and syncing");
  CommitAndFlush();
  uint64_t durable = 0;
  storage::Status status = engine_->Sync(&durable);
  if (!status.ok()) Log(LogLevel::kWarning, "final sync failed: %s", status.ToString().c_str());
  for (auto& [id, client] : clients_) client->Close();
  cluster_->Stop();
  CloseHandle(reinterpret_cast<uv_handle_t*>(&listener_));
  CloseHandle(reinterpret_cast<uv_handle_t*>(&before_poll_));
  CloseHandle(reinterpret_cast<uv_handle_t*>(&storage_busy_));
  engine_->SetCheckpointListener(nullptr);
  CloseHandle(reinterpret_cast<uv_handle_t*>(&checkpoint_done_));
  CloseHandle(reinterpret_cast<uv_handle_t*>(&input_held_));
  CloseHandle(reinterpret_cast<uv_handle_t*>(&cron_));
  CloseHandle(reinterpret_cast<uv_handle_t*>(&sigterm_));
  CloseHandle(reinterpret_cast<uv_handle_t*>(&sigint_));
  // A sync still running on the thread pool keeps the loop alive until it
  // is done; its callback sees stopping_ and sends nothing.
}

void Server::OnConnection(uv_stream_t* listener, int status) {
  Server* server = static_cast<Server*>(listener->data);
  if (status < 0) {
    Log(LogLevel::kWarning, "accept error: %s", uv_strerror(status));
    return;
  }
  uint64_t id = server->next_client_id_++;
  auto client = std::make_unique<Client>(server, id);
  int rc = client->Accept(listener);
  if (rc != 0) {
    Log(LogLevel::kWarning, "accept failed: %s", uv_strerror(rc));
    client->Close();
    server->clients_.emplace(id, std::move(client));
    return;
  }
  ++server->stats_.connections_received;
  if (static_cast<int64_t>(server->clients_.size()) >= server->config_.maxclients) {
    ++server->stats_.connections_rejected;
    client->reply().Error("ERR max number of clients reached");
    server->ScheduleFlush(client.get());
    client->CloseAfterReply();
  }
  server->clients_.emplace(id, std::move(client));
}

void Server::CompleteReply(const ReplyToken& token, std::string bytes) {
  auto it = clients_.find(token.client_id);
  if (it == clients_.end() || it->second->closing()) return;
  it->second->CompleteReply(token.slot, std::move(bytes));
}

void Server::ScheduleFlush(Client* client) {
  if (client->flush_scheduled) return;
  client->flush_scheduled = true;
  flush_list_.push_back(client);
}

void Server::HoldInput(Client* client) {
  ++stats_.input_held;
  if (held_input_.empty()) uv_idle_start(&input_held_, [](uv_idle_t*) {});
  held_input_.push_back(client);
}

// The command budget (cluster.commands_per_iteration). A node with peers
// is one stage of a pipeline: its coordinator sends replica requests when
// the iteration ends, and the replies to its clients go out then too.
// Without a bound, one iteration took in every client's whole pipeline
// (800 SETs from 50 clients at -P 16), and the replicas, then the clients,
// then the coordinator again took turns working in large waves while a
// core stayed idle. Bounded, the stages overlap. A node without peers has
// no later stage, and larger batches only save it work, so it is not
// bounded.
//
// The input clients held when the last iteration's budget ran out runs
// first, in the order it was held, before what the next poll reads. A
// client held again at once goes behind those the budget did not reach,
// so that one long pipeline does not keep the others waiting until it
// ends.
void Server::ResumeHeldInput() {
  commands_this_iteration_ = 0;
  command_budget_ = config_.commands_per_iteration > 0 && cluster_->authenticated_links() > 0
                        ? static_cast<size_t>(config_.commands_per_iteration)
                        : SIZE_MAX;
  if (!held_input_.empty()) {
    std::vector<Client*> held;
    held.swap(held_input_);
    size_t resumed = 0;
    while (resumed < held.size() && commands_this_iteration_ < command_budget_) {
      held[resumed++]->ResumeHeldInput();
    }
    held_input_.insert(held_input_.begin(), held.begin() + static_cast<ptrdiff_t>(resumed),
                       held.end());
  }
  // Also when the last held client went away (DestroyClient): an idle
  // handle left active would keep the poll from ever waiting.
  if (held_input_.empty()) uv_idle_stop(&input_held_);
}

void Server::DestroyClient(Client* client) {
  auto held = std::find(held_input_.begin(), held_input_.end(), client);
  if (held != held_input_.end()) held_input_.erase(held);
  if (held_input_.empty()) uv_idle_stop(&input_held_);
  auto it = std::find(flush_list_.begin(), flush_list_.end(), client);
  if (it != flush_list_.end()) flush_list_.erase(it);
  auto waiting = std::find(waiting_durable_.begin(), waiting_durable_.end(), client);
  if (waiting != waiting_durable_.end()) waiting_durable_.erase(waiting);
  clients_.erase(client->id());
}

void Server::OnBeforePoll(uv_prepare_t* handle) {
  Server* server = static_cast<Server*>(handle->data);
  // Replies finished by this iteration's callbacks (a read's last replica
  // answering) leave before the held input runs, when no write waits for
  // the commit: they would otherwise wait for every command read this
  // iteration.
  if (!server->held_input_.empty() && !server->flush_list_.empty() &&
      !server->engine_->has_pending_writes()) {
    server->FlushClients();
  }
  server->ResumeHeldInput();
  server->CommitAndFlush();
  server->EndIteration();
}

// An iteration runs from the end of the last one's (here, before the poll)
// to the end of its own, less the time the poll waited: the timers, the
// callbacks of what the poll found, and the commits and flushes above. As
// Redis's eventloop_cycles and eventloop_duration_sum, in INFO stats.
void Server::EndIteration() {
  const uint64_t now_ns = uv_hrtime();
  const uint64_t idle_ns = uv_metrics_idle_time(&loop_);
  if (iteration_end_ns_ != 0) {
    const uint64_t elapsed_ns = now_ns - iteration_end_ns_;
    const uint64_t waited_ns = idle_ns - iteration_end_idle_ns_;
    const uint64_t worked_us = (elapsed_ns > waited_ns ? elapsed_ns - waited_ns : 0) / 1000;
    ++stats_.eventloop_cycles;
    stats_.eventloop_duration_us += worked_us;
    iteration_max_us_ = std::max(iteration_max_us_, worked_us);
  }
  iteration_end_ns_ = now_ns;
  iteration_end_idle_ns_ = idle_ns;
}

// Seals and sends the replies of the clients in flush_list_ (what was
// committed so far); returns the committed sequence.
uint64_t Server::FlushClients() {
  const uint64_t committed = engine_->committed_sequence();
  if (config_.fsync != FsyncPolicy::kAlways) durable_sequence_ = committed;
  const uint64_t required = config_.fsync == FsyncPolicy::kAlways ? committed : 0;
  for (Client* client : flush_list_) {
    client->flush_scheduled = false;
    if (client->closing()) continue;
    client->Seal(required);
    client->FlushReady(durable_sequence_);
    if (client->has_held_replies() && std::find(waiting_durable_.begin(), waiting_durable_.end(),
                                                client) == waiting_durable_.end()) {
      waiting_durable_.push_back(client);
    }
  }
  flush_list_.clear();
  return committed;
}

// The group commit: one LMDB commit for every write of the iteration, then
// the replies that waited for it.
void Server::CommitAndFlush() {
  if (engine_->has_pending_writes()) {
    storage::Status status = engine_->Commit();
    if (!status.ok()) {
      // The transaction is lost, so the replies that acknowledged its
      // writes must never reach their clients: close those connections.
      ++stats_.commit_failures;
      Log(LogLevel::kWarning, "commit failed: %s; closing %zu clients with unsent replies",
          status.ToString().c_str(), flush_list_.size());
      for (Client* client : flush_list_) {
        client->flush_scheduled = false;
        client->Close();
      }
      flush_list_.clear();
      // Peers' acks for the lost writes must not leave either.
      cluster_->DropUnsentOutput();
      engine_->EndIteration();
      return;
    }
  }
  const uint64_t committed = FlushClients();
  cluster_->SealAndFlush(config_.fsync == FsyncPolicy::kAlways ? committed : 0, durable_sequence_);
  engine_->EndIteration();
  // A checkpoint that ended (or a retry that is due) is finished by the
  // next iteration's commit: the poll does not wait for it. (One running
  // on the engine's thread wakes the loop with checkpoint_done_.)
  if (engine_->has_pending_writes()) {
    uv_idle_start(&storage_busy_, [](uv_idle_t*) {});
  } else {
    uv_idle_stop(&storage_busy_);
  }
  if (config_.fsync == FsyncPolicy::kAlways && committed > durable_sequence_) StartSync();
}

void Server::StartSync() {
  if (sync_in_flight_) return;  // OnSyncDone starts the next one if needed.
  sync_in_flight_ = true;
  int rc = uv_queue_work(&loop_, &sync_request_, OnSyncWork, OnSyncDone);
  if (rc != 0) {
    sync_in_flight_ = false;
    Log(LogLevel::kWarning, "cannot queue sync: %s", uv_strerror(rc));
  }
}

// Thread pool: with OnReleaseWork, the only code that runs off the loop
// thread, and every wait for the disk.
void Server::OnSyncWork(uv_work_t* request) {
  Server* server = static_cast<Server*>(request->data);
  uint64_t durable = 0;
  server->sync_result_ = server->engine_->Sync(&durable);
  server->sync_result_sequence_ = durable;
}

void Server::OnSyncDone(uv_work_t* request, int status) {
  Server* server = static_cast<Server*>(request->data);
  server->sync_in_flight_ = false;
  if (status != 0 || !server->sync_result_.ok()) {
    ++server->stats_.sync_failures;
    Log(LogLevel::kWarning, "fsync failed: %s", server->sync_result_.ToString().c_str());
  } else {
    server->stats_.last_sync_ms = server->now_ms();
    if (server->sync_result_sequence_ > server->durable_sequence_) {
      server->durable_sequence_ = server->sync_result_sequence_;
    }
    // Log segments a checkpoint covered go once a write-back of LMDB
    // covers it (the release job runs it when it is due).
    server->StartRelease(server->sync_result_sequence_);
  }
  if (server->stopping_) return;
  server->FlushDurable();
  server->cluster_->FlushDurable(server->durable_sequence_);
  if (server->config_.fsync == FsyncPolicy::kAlways &&
      server->engine_->committed_sequence() > server->durable_sequence_) {
    server->StartSync();
  }
}

// The write log's segments a checkpoint covered, removed on the thread pool
// (an unlink and a directory sync each) once `durable_sequence` and a
// write-back of LMDB cover the checkpoint; the job runs that write-back
// first when it is due (storage.checkpoint_sync_ms). A job of its own,
// beside the syncs: replies held for a sync (fsync = "always") wait for
// neither.
void Server::StartRelease(uint64_t durable_sequence) {
  if (release_in_flight_ || stopping_ ||
      !(engine_->log_release_pending() || engine_->tree_write_back_due())) {
    return;
  }
  release_in_flight_ = true;
  release_through_ = durable_sequence;
  int rc = uv_queue_work(&loop_, &release_request_, OnReleaseWork, OnReleaseDone);
  if (rc != 0) {
    release_in_flight_ = false;
    Log(LogLevel::kWarning, "cannot queue the write log's release: %s", uv_strerror(rc));
  }
}

void Server::OnReleaseWork(uv_work_t* request) {
  Server* server = static_cast<Server*>(request->data);
  // With fsync = "no" nothing is written back by us: no sync to wait for.
  server->release_result_ = server->engine_->ReleaseLog(server->release_through_,
                                                        server->config_.fsync != FsyncPolicy::kNo);
}

void Server::OnReleaseDone(uv_work_t* request, int /*status*/) {
  Server* server = static_cast<Server*>(request->data);
  server->release_in_flight_ = false;
  if (!server->release_result_.ok()) {
    // Tried again after the next sync (or cron tick); said once until then.
    if (!server->release_failing_) {
      Log(LogLevel::kWarning, "removing checkpointed write log segments failed: %s",
          server->release_result_.ToString().c_str());
    }
    server->release_failing_ = true;
  } else {
    server->release_failing_ = false;
  }
}

void Server::FlushDurable() {
  std::vector<Client*> still_waiting;
  for (Client* client : waiting_durable_) {
    client->FlushReady(durable_sequence_);
    if (client->has_held_replies()) still_waiting.push_back(client);
  }
  waiting_durable_.swap(still_waiting);
}

void Server::OnCron(uv_timer_t* handle) {
  Server* server = static_cast<Server*>(handle->data);
  int64_t now = server->now_ms();
  // Ops-per-second and the loop's samples, as Redis's
  // trackInstantaneousMetric.
  if (server->last_sample_ms_ != 0 && now > server->last_sample_ms_) {
    const uint64_t interval_ms = static_cast<uint64_t>(now - server->last_sample_ms_);
    const uint64_t commands = server->stats_.commands_processed - server->last_sample_commands_;
    const uint64_t cycles = server->stats_.eventloop_cycles - server->last_sample_cycles_;
    const uint64_t duration_us =
        server->stats_.eventloop_duration_us - server->last_sample_duration_us_;
    Sample& sample = server->samples_[server->sample_index_];
    sample.ops_per_sec = commands * 1000 / interval_ms;
    sample.cycles_per_sec = cycles * 1000 / interval_ms;
    sample.duration_us = cycles == 0 ? 0 : duration_us / cycles;
    sample.duration_max_us = server->iteration_max_us_;
    server->sample_index_ = (server->sample_index_ + 1) % kSamples;
  }
  server->iteration_max_us_ = 0;
  server->last_sample_cycles_ = server->stats_.eventloop_cycles;
  server->last_sample_duration_us_ = server->stats_.eventloop_duration_us;
  server->last_sample_ms_ = now;
  server->last_sample_commands_ = server->stats_.commands_processed;
  server->CheckAllocator(now);

  if (server->config_.fsync == FsyncPolicy::kEverySecond &&
      now - server->stats_.last_sync_ms >= 1000 &&
      server->engine_->committed_sequence() > server->sync_result_sequence_) {
    server->StartSync();
  }
  // With fsync = "no" nothing is synced: checkpointed segments go as soon
  // as a cron tick sees them. Otherwise a write-back that fell due without
  // a sync (no writes since) is run here.
  if (server->config_.fsync == FsyncPolicy::kNo) {
    server->StartRelease(server->engine_->committed_sequence());
  } else if (server->engine_->tree_write_back_due()) {
    server->StartRelease(server->durable_sequence_);
  }
}

void Server::CheckAllocator(int64_t now) {
  if (now - last_allocator_check_ms_ < 1000) return;
  last_allocator_check_ms_ = now;
  const AllocatorStats allocator = ReadAllocatorStats();
  if (!allocator.available ||
      allocator.dirty <= static_cast<uint64_t>(config_.allocator_dirty_max)) {
    return;
  }
  if (PurgeAllocator()) {
    ++stats_.allocator_purges;
    stats_.allocator_purged_bytes += allocator.dirty;
    Log(LogLevel::kVerbose, "Returned %" PRIu64 " bytes of free pages to the kernel",
        allocator.dirty);
  }
}

Server::Sample Server::instantaneous() const {
  Sample mean;
  for (const Sample& sample : samples_) {
    mean.ops_per_sec += sample.ops_per_sec;
    mean.cycles_per_sec += sample.cycles_per_sec;
    mean.duration_us += sample.duration_us;
    mean.duration_max_us = std::max(mean.duration_max_us, sample.duration_max_us);
  }
  mean.ops_per_sec /= kSamples;
  mean.cycles_per_sec /= kSamples;
  mean.duration_us /= kSamples;
  return mean;
}

void Server::OnSignal(uv_signal_t* handle, int signal) {
  Server* server = static_cast<Server*>(handle->data);
  Log(LogLevel::kWarning, "Received %s, scheduling shutdown...",
      signal == SIGINT ? "SIGINT" : "SIGTERM");
  server->Stop();
}

}  // namespace ringkv::server
