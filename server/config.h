// server/config.h: the node's configuration.
//
// Loaded from a TOML file (conf/ringkv.toml documents every key and its
// default), then overridden from the command line. Every key has a type and
// a range checked in one place (config.cc's key table); an unknown key or a
// bad value stops start-up with a message naming the key.
#ifndef RINGKV_SERVER_CONFIG_H_
#define RINGKV_SERVER_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

namespace ringkv::server {

enum class FsyncPolicy { kAlways, kEverySecond, kNo };

// One member of the cluster as the configuration lists it.
struct MemberConfig {
  std::string name;
  std::string host;  // Where clients and peers reach it (name or address).
  int64_t port = 6379;
  int64_t peer_port = 7379;
  int64_t weight = 1;
};

struct Config {
  // [node]
  std::string name = "n1";
  std::string bind = "127.0.0.1";
  int64_t port = 6379;
  std::string data_dir = "./data/n1";
  // The host peers and clients use to reach this node; empty means `bind`.
  std::string advertise_host;

  // [storage]
  FsyncPolicy fsync = FsyncPolicy::kEverySecond;
  int64_t map_size_bytes = 1LL << 30;
  int64_t partitions = 64;
  // "btree": every write updates LMDB in the iteration's transaction.
  // "log" (the default): data writes go to a write log and a memory table,
  // and reach LMDB in sorted checkpoints (docs/storage_format.md, "Write
  // log"). A directory written on the B-tree path opens on the log path.
  bool write_log = true;
  int64_t memtable_bytes_max = 64LL << 20;
  int64_t log_bytes_max = 256LL << 20;
  // On the log path: a cache of records read from LMDB (0: none).
  int64_t record_cache_bytes = 256LL << 20;
  int64_t digest_cache_bytes = 16LL << 20;
  // When checkpoints are written back to disk (storage::EngineOptions).
  int64_t checkpoint_sync_ms = 30000;
  int64_t log_retained_bytes_max = 1LL << 30;

  // [limits] (Redis's names and defaults where Redis has the limit)
  int64_t proto_max_bulk_len = 512LL * 1024 * 1024;
  int64_t proto_max_multibulk_len = 2147483647;
  int64_t proto_inline_max_size = 64 * 1024;
  int64_t client_query_buffer_limit = 1LL << 30;
  int64_t client_output_buffer_limit = 1LL << 30;
  // Most bytes of pages freed memory left that the allocator keeps for
  // reuse; past it, the next check (once a second) returns them all to the
  // kernel (server/allocator.h). 0: returned at every check.
  int64_t allocator_dirty_max = 256LL << 20;
  int64_t maxclients = 10000;
  // Most commands of one client waiting for a quorum at once; later ones
  // wait to be parsed.
  int64_t client_pipeline_depth = 1024;

  // [cluster]
  int64_t peer_port = 7379;
  std::string secret;
  int64_t n = 1;
  int64_t w = 1;
  int64_t r = 1;
  int64_t request_timeout_ms = 1000;
  // Most bytes queued for one peer connection; past it messages are dropped
  // (their requests time out) instead of growing without bound.
  int64_t peer_queue_bytes_max = 64LL * 1024 * 1024;
  // Most client commands one loop iteration starts while the node has
  // peers (0: no limit); the rest of a client's input waits for the next
  // iteration, so replicas get the first requests sooner.
  int64_t commands_per_iteration = 128;
  // Empty: a cluster of one (this node), unless there are seeds. Otherwise
  // this node must be listed. Listed members are known from the start (and
  // in the ring); gossip adds the members they do not list.
  std::vector<MemberConfig> members;
  // Gossip (docs/gossip.md): a round every interval to `gossip_fanout` peers
  // (every peer in clusters of up to 8); a member silent for
  // suspect_after_ms is suspect. 0 means 2.5 intervals (SuspectAfterMs).
  int64_t gossip_interval_ms = 1000;
  int64_t gossip_fanout = 2;
  int64_t suspect_after_ms = 0;
  // Peer addresses "host:peer_port" a node sends its table to until it
  // knows a member there: how a node that lists no members finds the
  // cluster.
  std::vector<std::string> seeds;
  // Sloppy quorum and hinted handoff (docs/coordination.md): a slot whose
  // owner is suspect, failed, or has not acked a write within hint_after_ms
  // (0: request_timeout_ms / 2) goes to the next healthy fallback with a
  // hint. Off: strict quorums (hints received are still stored and
  // delivered).
  bool sloppy_quorum = true;
  int64_t hint_after_ms = 0;
  // Read fan-out (cluster::CoordinatorOptions): a read asks r replicas,
  // this node first when it is one, and asks another when one fails or
  // has not answered within read_retry_after_ms (0: only on failure); a
  // fraction read_repair_chance of reads asks all n, so read repair reaches
  // every replica.
  double read_repair_chance = 0.1;
  int64_t read_retry_after_ms = 100;
  // Bounds on the hints this node holds for others (storage::HintLimits);
  // a hint past the count or bytes maximum is refused and counted, one
  // older than the age maximum is expired.
  int64_t hints_count_max = 1000000;
  int64_t hints_bytes_max = 256LL << 20;
  int64_t hints_age_max_ms = 3LL * 3600 * 1000;

  // [security]
  std::string requirepass;

  // [log]
  std::string log_level = "notice";  // debug | verbose | notice | warning

  // Where the config came from ("" for built-in defaults; several files
  // joined by ","), for INFO.
  std::string config_file;
};

// The effective suspicion timeout: suspect_after_ms, or when it is 0, the
// default for the gossip interval (cluster::GossipOptions::ForInterval).
int64_t SuspectAfterMs(const Config& config);

// The effective hint-after time: hint_after_ms, or when it is 0, half the
// request timeout (cluster::CoordinatorOptions).
int64_t HintAfterMs(const Config& config);

// True when this node is part of a cluster: other members listed, or seeds
// to find them through.
bool IsClustered(const Config& config);

// Command-line options; empty/negative means "not given".
struct CommandLine {
  // --config may be given several times: each file is applied over the
  // ones before it (a profile such as conf/profiles/gossip-5s.toml on top of
  // a node's file), and the checks that need several keys run at the end.
  std::vector<std::string> config_files;
  std::string bind;
  int64_t port = -1;
  std::string data_dir;
  std::string name;
  bool show_help = false;
  bool show_version = false;
};

// Parses argv. On error returns false and sets *error.
bool ParseCommandLine(int argc, char** argv, CommandLine* command_line, std::string* error);

// Loads defaults, then the TOML file (if any), then command-line overrides.
// On error returns false and sets *error to a message naming the key.
bool LoadConfig(const CommandLine& command_line, Config* config, std::string* error);

// Loads defaults, then TOML text (for tests). `origin` names the source in
// messages.
bool LoadConfigFromString(const std::string& toml_text, const std::string& origin,
                          Config* config, std::string* error);

const char* FsyncPolicyName(FsyncPolicy policy);

// Pairs (name, value) for CONFIG GET, names as in the file ("section.key")
// and, where Redis has the parameter, Redis's name too.
std::vector<std::pair<std::string, std::string>> ConfigParameters(const Config& config);

}  // namespace ringkv::server

#endif  // RINGKV_SERVER_CONFIG_H_
