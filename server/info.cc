#include "server/info.h"

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdarg>
#include <cstdio>

#include "server/allocator.h"
#include "server/arguments.h"
#include "server/client.h"
#include "server/cluster_node.h"
#include "server/server.h"

namespace ringkv::server {
namespace {

constexpr const char* kRingkvVersion = "0.1.0";
constexpr const char* kRedisCompatibleVersion = "7.0.15";

void Line(std::string* out, const char* format, ...) __attribute__((format(printf, 2, 3)));
void Line(std::string* out, const char* format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  vsnprintf(buffer, sizeof(buffer), format, args);
  va_end(args);
  out->append(buffer);
  out->append("\r\n");
}

std::string Human(uint64_t bytes) {
  char buffer[32];
  if (bytes < 1024) {
    snprintf(buffer, sizeof(buffer), "%" PRIu64 "B", bytes);
  } else if (bytes < 1024 * 1024) {
    snprintf(buffer, sizeof(buffer), "%.2fK", bytes / 1024.0);
  } else if (bytes < 1024ULL * 1024 * 1024) {
    snprintf(buffer, sizeof(buffer), "%.2fM", bytes / 1048576.0);
  } else {
    snprintf(buffer, sizeof(buffer), "%.2fG", bytes / 1073741824.0);
  }
  return buffer;
}

uint64_t ResidentSetBytes() {
  FILE* file = fopen("/proc/self/statm", "r");
  if (!file) return 0;
  unsigned long long pages_total = 0, pages_resident = 0;
  int matched = fscanf(file, "%llu %llu", &pages_total, &pages_resident);
  fclose(file);
  if (matched != 2) return 0;
  return pages_resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

void ServerSection(Server& server, std::string* out) {
  utsname name;
  uname(&name);
  int64_t uptime_s = (server.now_ms() - server.start_ms()) / 1000;
  char executable[512] = "";
  ssize_t length = readlink("/proc/self/exe", executable, sizeof(executable) - 1);
  if (length > 0) executable[length] = '\0';
  out->append("# Server\r\n");
  Line(out, "redis_version:%s", kRedisCompatibleVersion);
  Line(out, "ringkv_version:%s", kRingkvVersion);
  Line(out, "redis_mode:standalone");
  Line(out, "os:%s %s %s", name.sysname, name.release, name.machine);
  Line(out, "arch_bits:%d", static_cast<int>(sizeof(void*) * 8));
  Line(out, "multiplexing_api:libuv-%s", uv_version_string());
  Line(out, "process_id:%d", static_cast<int>(getpid()));
  Line(out, "run_id:%s", server.run_id().c_str());
  Line(out, "node_name:%s", server.config().name.c_str());
  Line(out, "node_actor:%s", storage::ActorToHex(server.engine().identity().actor).c_str());
  Line(out, "tcp_port:%lld", static_cast<long long>(server.config().port));
  Line(out, "uptime_in_seconds:%lld", static_cast<long long>(uptime_s));
  Line(out, "uptime_in_days:%lld", static_cast<long long>(uptime_s / 86400));
  Line(out, "executable:%s", executable);
  Line(out, "config_file:%s", server.config().config_file.c_str());
}

void ClientsSection(Server& server, std::string* out) {
  out->append("# Clients\r\n");
  Line(out, "connected_clients:%zu", server.clients().size());
  Line(out, "maxclients:%lld", static_cast<long long>(server.config().maxclients));
  Line(out, "blocked_clients:0");
}

void MemorySection(Server& server, std::string* out) {
  AllocatorStats allocator = ReadAllocatorStats();
  uint64_t rss = ResidentSetBytes();
  uint64_t used = allocator.available ? allocator.allocated : rss;
  storage::EngineStats engine;
  storage::Status status = server.engine().GetStats(&engine);
  (void)status;  // On failure the zeroed figures are shown.
  out->append("# Memory\r\n");
  Line(out, "used_memory:%" PRIu64, used);
  Line(out, "used_memory_human:%s", Human(used).c_str());
  Line(out, "used_memory_rss:%" PRIu64, rss);
  Line(out, "used_memory_rss_human:%s", Human(rss).c_str());
  Line(out, "allocator_allocated:%" PRIu64, allocator.allocated);
  Line(out, "allocator_active:%" PRIu64, allocator.active);
  Line(out, "allocator_resident:%" PRIu64, allocator.resident);
  Line(out, "mem_allocator:%s", allocator.version.c_str());
  Line(out, "allocator_thp:%s", allocator.thp.c_str());
  // Pages freed memory left, kept for reuse up to limits.allocator_dirty_max
  // (server/allocator.h), and the times they were returned past it.
  Line(out, "allocator_dirty:%" PRIu64, allocator.dirty);
  Line(out, "allocator_dirty_decay_ms:%" PRId64, allocator.dirty_decay_ms);
  Line(out, "allocator_dirty_max:%lld",
       static_cast<long long>(server.config().allocator_dirty_max));
  Line(out, "allocator_purges:%" PRIu64, server.stats().allocator_purges);
  Line(out, "allocator_purged_bytes:%" PRIu64, server.stats().allocator_purged_bytes);
  Line(out, "maxmemory:0");
  Line(out, "storage_map_size:%" PRIu64, engine.map_size_bytes);
  Line(out, "storage_used_bytes:%" PRIu64, engine.used_bytes);
  Line(out, "storage_used_human:%s", Human(engine.used_bytes).c_str());
}

void PersistenceSection(Server& server, std::string* out) {
  storage::EngineStats engine;
  storage::Status status = server.engine().GetStats(&engine);
  (void)status;
  out->append("# Persistence\r\n");
  Line(out, "loading:0");
  Line(out, "async_loading:0");
  Line(out, "storage_engine:lmdb");
  Line(out, "fsync:%s", FsyncPolicyName(server.config().fsync));
  Line(out, "rdb_changes_since_last_save:0");
  Line(out, "rdb_bgsave_in_progress:0");
  Line(out, "aof_enabled:0");
  Line(out, "aof_rewrite_in_progress:0");
  Line(out, "committed_sequence:%" PRIu64, server.engine().committed_sequence());
  Line(out, "durable_sequence:%" PRIu64, server.durable_sequence());
  Line(out, "commits:%" PRIu64, engine.commits);
  Line(out, "syncs:%" PRIu64, engine.syncs);
  Line(out, "lmdb_syncs:%" PRIu64, engine.lmdb_syncs);
  Line(out, "commit_failures:%" PRIu64, server.stats().commit_failures);
  Line(out, "sync_failures:%" PRIu64, server.stats().sync_failures);
  Line(out, "data_records:%" PRIu64, engine.data_entries);
  Line(out, "write_path:%s", server.config().write_log ? "log" : "btree");
  Line(out, "memtable_records:%" PRIu64, engine.memtable_entries);
  Line(out, "memtable_bytes:%" PRIu64, engine.memtable_bytes);
  Line(out, "log_segments:%" PRIu64, engine.log_segments);
  Line(out, "log_spare_segments:%" PRIu64, engine.log_spares);
  Line(out, "log_checkpoints:%" PRIu64, engine.checkpoints);
  Line(out, "log_checkpoint_failures:%" PRIu64, engine.checkpoint_failures);
  Line(out, "log_checkpoint_step_max_us:%" PRIu64, engine.checkpoint_step_max_us);
  Line(out, "log_checkpoint_waits:%" PRIu64, engine.checkpoint_waits);
  Line(out, "log_retained_bytes:%" PRIu64, engine.log_retained_bytes);
  Line(out, "record_cache_max:%" PRIu64,
       server.config().write_log ? static_cast<uint64_t>(server.config().record_cache_bytes) : 0);
  Line(out, "record_cache_bytes:%" PRIu64, engine.record_cache_bytes);
  Line(out, "record_cache_records:%" PRIu64, engine.record_cache_entries);
  Line(out, "record_cache_hits:%" PRIu64, engine.record_cache_hits);
  Line(out, "record_cache_misses:%" PRIu64, engine.record_cache_misses);
  Line(out, "record_cache_evictions:%" PRIu64, engine.record_cache_evictions);
  Line(out, "digest_cache_max:%" PRIu64, static_cast<uint64_t>(server.config().digest_cache_bytes));
  Line(out, "digest_cache_bytes:%" PRIu64, engine.digest_cache_bytes);
  Line(out, "digest_cache_hits:%" PRIu64, engine.digest_cache_hits);
  Line(out, "digest_cache_misses:%" PRIu64, engine.digest_cache_misses);
}

void StatsSection(Server& server, std::string* out) {
  const ServerStats& stats = server.stats();
  out->append("# Stats\r\n");
  Line(out, "total_connections_received:%" PRIu64, stats.connections_received);
  Line(out, "total_commands_processed:%" PRIu64, stats.commands_processed);
  const Server::Sample recent = server.instantaneous();
  Line(out, "instantaneous_ops_per_sec:%" PRIu64, recent.ops_per_sec);
  Line(out, "total_net_input_bytes:%" PRIu64, stats.net_input_bytes);
  Line(out, "total_net_output_bytes:%" PRIu64, stats.net_output_bytes);
  Line(out, "rejected_connections:%" PRIu64, stats.connections_rejected);
  Line(out, "keyspace_hits:%" PRIu64, stats.keyspace_hits);
  Line(out, "keyspace_misses:%" PRIu64, stats.keyspace_misses);
  Line(out, "total_error_replies:%" PRIu64, stats.error_replies);
  Line(out, "protocol_errors:%" PRIu64, stats.protocol_errors);
  Line(out, "client_query_buffer_limit_disconnections:%" PRIu64,
       stats.query_limit_disconnections);
  Line(out, "client_output_buffer_limit_disconnections:%" PRIu64,
       stats.output_limit_disconnections);
  Line(out, "client_input_held:%" PRIu64, stats.input_held);
  Line(out, "eventloop_cycles:%" PRIu64, stats.eventloop_cycles);
  Line(out, "eventloop_duration_sum:%" PRIu64, stats.eventloop_duration_us);
  Line(out, "instantaneous_eventloop_cycles_per_sec:%" PRIu64, recent.cycles_per_sec);
  Line(out, "instantaneous_eventloop_duration_usec:%" PRIu64, recent.duration_us);
  Line(out, "instantaneous_eventloop_duration_max_usec:%" PRIu64, recent.duration_max_us);
}

void ClusterSection(Server& server, std::string* out) {
  out->append(server.cluster().InfoSection());
}

void KeyspaceSection(Server& server, std::string* out) {
  out->append("# Keyspace\r\n");
  uint64_t keys = server.engine().live_keys();
  if (keys > 0) Line(out, "db0:keys=%" PRIu64 ",expires=0,avg_ttl=0", keys);
}

}  // namespace

std::string BuildInfo(Server& server, const std::vector<std::string>& sections) {
  struct Section {
    const char* name;
    void (*build)(Server&, std::string*);
  };
  static const Section kSections[] = {
      {"server", ServerSection},           {"clients", ClientsSection},
      {"memory", MemorySection},           {"persistence", PersistenceSection},
      {"stats", StatsSection},             {"cluster", ClusterSection},
      {"keyspace", KeyspaceSection},
  };
  bool all = sections.empty();
  for (const std::string& name : sections) {
    all |= EqualsIgnoreCase(name, "all") || EqualsIgnoreCase(name, "default") ||
           EqualsIgnoreCase(name, "everything");
  }
  std::string out;
  for (const Section& section : kSections) {
    bool wanted = all;
    for (const std::string& name : sections) wanted |= EqualsIgnoreCase(name, section.name);
    if (!wanted) continue;
    if (!out.empty()) out.append("\r\n");
    section.build(server, &out);
  }
  return out;
}

}  // namespace ringkv::server
