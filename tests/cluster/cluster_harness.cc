// A cluster of real server processes for the cluster tests; see
// cluster_harness.h.
#include "cluster/cluster_harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

namespace ringkv::cluster_test {
namespace {

// Six nodes start at once on two cores, possibly in the ASan build: generous.
constexpr int kStartTimeoutMs = 30000;
constexpr int kConnectTimeoutMs = 20000;
constexpr int kStopTimeoutMs = 10000;
// Used when the server does not report peer_connections: long enough for
// peers on loopback to connect and authenticate.
constexpr int kConnectFallbackMs = 1500;
constexpr int kPollIntervalMs = 20;

// Where test ports come from: below Linux's default ephemeral range
// (32768-60999), above the well-known services.
constexpr int kPortLow = 20000;
constexpr int kPortHigh = 32000;

// Whether `port` can be bound on loopback right now.
bool CanBind(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address = blackbox::LoopbackAddress(port);
  bool bound = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return bound;
}

void SleepMs(int milliseconds) {
  std::this_thread::sleep_for(std::chrono::milliseconds(milliseconds));
}

// One command on a fresh connection with short timeouts, so that polling a
// node that is still starting (or hung) never blocks for long. Returns the
// rendered reply (a bulk string's bytes as they are), or nullopt when the
// node could not be reached.
std::optional<std::string> QuickCommand(uint16_t port, const std::vector<std::string>& args) {
  timeval timeout{0, 300 * 1000};
  redisContext* raw = redisConnectWithTimeout("127.0.0.1", port, timeout);
  RedisContext context(raw);
  if (raw == nullptr || raw->err != 0) return std::nullopt;
  redisSetTimeout(raw, timeout);
  Reply reply = blackbox::Command(raw, args);
  if (!reply) return std::nullopt;
  if (reply->type == REDIS_REPLY_STRING) return std::string(reply->str, reply->len);
  return blackbox::Render(reply.get(), raw);
}

}  // namespace

struct Cluster::Node {
  Node(std::string name, std::string directory)
      : directory(directory),
        process(std::move(name), RINGKV_SERVER_PATH, directory + "/ringkv.toml",
                directory + "/server.log") {}

  std::string directory;
  uint16_t port = 0;
  uint16_t peer_port = 0;
  NodeProcess process;  // Kills and reaps the server when the node goes.
};

Cluster::TempDir::~TempDir() {
  if (path.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(path, ignored);
}

Cluster::Cluster(ClusterOptions options) : options_(std::move(options)) {
  REQUIRE(options_.nodes >= 1);
  REQUIRE(options_.seeded_nodes >= 0);
  REQUIRE(options_.seeded_nodes < options_.nodes);
  char pattern[] = "/tmp/ringkv-cluster-XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  root_.path = pattern;

  // Two ports per node, all distinct, picked below the kernel's ephemeral
  // range: six nodes connecting to each other while they start would
  // otherwise be able to take a port of a node that has not bound it yet as
  // the local port of an outgoing connection.
  std::set<uint16_t> taken;
  std::mt19937 random(std::random_device{}());
  auto pick_distinct = [&taken, &random] {
    for (int attempt = 0; attempt < 1000; ++attempt) {
      uint16_t port = static_cast<uint16_t>(kPortLow + random() % (kPortHigh - kPortLow));
      if (taken.count(port) == 0 && CanBind(port)) {
        taken.insert(port);
        return port;
      }
    }
    FAIL("no free port in [" << kPortLow << ", " << kPortHigh << ") after 1000 attempts");
    return uint16_t{0};
  };
  for (int i = 0; i < options_.nodes; ++i) {
    std::string node_name = "n" + std::to_string(i + 1);
    auto node = std::make_unique<Node>(node_name, root_.path + "/" + node_name);
    node->port = pick_distinct();
    node->peer_port = pick_distinct();
    REQUIRE(mkdir(node->directory.c_str(), 0700) == 0);
    nodes_.push_back(std::move(node));
  }
  for (int i = 0; i < size(); ++i) WriteConfig(i);
  // Start every process before waiting for any: they need each other to
  // connect, and starting in parallel is faster.
  for (int i = 0; i < size(); ++i) Spawn(i);
  for (int i = 0; i < size(); ++i) WaitReady(i, 0);
  for (int i = 0; i < size(); ++i) {
    PeerState state = PollConnected(i, kConnectTimeoutMs);
    if (state == PeerState::kNotReported) {
      SleepInsteadOfPeerConnections();  // Once for all nodes.
      break;
    }
    if (state == PeerState::kTimedOut) {
      FAIL(name(i) << " did not report its peer connections within " << kConnectTimeoutMs << " ms\n"
                   << QuickCommand(port(i), {"INFO", "cluster"}).value_or("(no reply)") << "\n"
                   << AllLogTails());
    }
  }
}

Cluster::~Cluster() = default;  // The members kill, reap and remove.

std::string Cluster::name(int index) const { return nodes_.at(index)->process.name(); }

int Cluster::IndexOf(std::string_view name) const {
  for (int i = 0; i < size(); ++i) {
    if (nodes_[i]->process.name() == name) return i;
  }
  FAIL("no node named '" << std::string(name) << "'");
  return -1;
}

uint16_t Cluster::port(int index) const { return nodes_.at(index)->port; }
uint16_t Cluster::peer_port(int index) const { return nodes_.at(index)->peer_port; }
pid_t Cluster::pid(int index) const { return nodes_.at(index)->process.pid(); }
bool Cluster::Running(int index) const { return nodes_.at(index)->process.Running(); }
bool Cluster::Paused(int index) const { return nodes_.at(index)->process.Paused(); }

RedisContext Cluster::Connect(int index) const { return blackbox::Connect(port(index)); }

void Cluster::WriteConfig(int index) const {
  const Node& node = *nodes_.at(index);
  std::ofstream config(node.directory + "/ringkv.toml");
  config << "[node]\n"
         << "name = \"" << node.process.name() << "\"\n"
         << "bind = \"127.0.0.1\"\n"
         << "port = " << node.port << "\n"
         << "data_dir = \"" << node.directory << "/data\"\n"
         << "advertise_host = \"127.0.0.1\"\n\n"
         << "[cluster]\n"
         << "peer_port = " << node.peer_port << "\n"
         << "secret = \"" << kClusterSecret << "\"\n"
         << "n = " << options_.n << "\nw = " << options_.w << "\nr = " << options_.r << "\n"
         << "request_timeout_ms = " << options_.request_timeout_ms << "\n"
         << options_.cluster_toml;
  int listed = size() - options_.seeded_nodes;
  if (index >= listed) {
    config << "seeds = [\"127.0.0.1:" << nodes_[0]->peer_port << "\"]\n";
  }
  // Identical on every listed node, this node included.
  for (int i = 0; i < listed && index < listed; ++i) {
    const std::unique_ptr<Node>& member = nodes_[i];
    config << "\n[[cluster.members]]\n"
           << "name = \"" << member->process.name() << "\"\n"
           << "host = \"127.0.0.1\"\n"
           << "port = " << member->port << "\n"
           << "peer_port = " << member->peer_port << "\n";
  }
  config << "\n[storage]\n"
         << "partitions = " << options_.partitions << "\n"
         << "fsync = \"" << options_.fsync << "\"\n"
         << WritePathToml(options_)
         // The map is sparse, but a test needs far less than the default.
         << "map_size_bytes = 268435456\n\n"
         << options_.extra_toml << "\n";
  REQUIRE(config.good());
}

void Cluster::Spawn(int index) { nodes_.at(index)->process.Spawn(); }

// Ready means the start-up line is in this run's part of the log (from
// `log_offset` on) and the node answers PING: a line from an earlier run, or a
// port still held by a dying process, must not count.
void Cluster::WaitReady(int index, size_t log_offset) {
  uint16_t node_port = port(index);
  nodes_.at(index)->process.WaitReady(
      log_offset, [node_port] { return QuickCommand(node_port, {"PING"}) == "+PONG"; },
      kStartTimeoutMs);
}

Cluster::PeerState Cluster::PollConnected(int index, int timeout_ms) const {
  int expected = 0;
  for (int i = 0; i < size(); ++i) {
    if (i != index && Running(i)) ++expected;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    std::optional<std::string> info = QuickCommand(port(index), {"INFO", "cluster"});
    if (info) {
      std::optional<std::string> connections = InfoField(*info, "peer_connections");
      if (!connections) return PeerState::kNotReported;
      if (std::atoi(connections->c_str()) >= expected) return PeerState::kConnected;
    }
    SleepMs(kPollIntervalMs * 5);
  }
  return PeerState::kTimedOut;
}

void Cluster::SleepInsteadOfPeerConnections() {
  if (!warned_no_peer_connections_) {
    MESSAGE("INFO cluster has no peer_connections field; waiting a fixed "
            << kConnectFallbackMs << " ms for peers to connect instead");
    warned_no_peer_connections_ = true;
  }
  SleepMs(kConnectFallbackMs);
}

bool Cluster::WaitConnected(int index, int timeout_ms) {
  PeerState state = PollConnected(index, timeout_ms);
  if (state == PeerState::kNotReported) SleepInsteadOfPeerConnections();
  return state != PeerState::kTimedOut;
}

void Cluster::Start(int index) {
  // The log is appended to across restarts; only this run's part counts.
  size_t log_offset = nodes_.at(index)->process.LogSize();
  Spawn(index);
  WaitReady(index, log_offset);
  if (!WaitConnected(index, kConnectTimeoutMs)) {
    FAIL(name(index) << " did not reconnect to its peers within " << kConnectTimeoutMs << " ms\n"
                     << LogTail(index));
  }
}

std::optional<int> Cluster::Stop(int index) {
  return nodes_.at(index)->process.Stop(kStopTimeoutMs);
}

void Cluster::Kill9(int index) { nodes_.at(index)->process.Kill9(); }
void Cluster::Pause(int index) { nodes_.at(index)->process.Pause(); }
void Cluster::Resume(int index) { nodes_.at(index)->process.Resume(); }

std::string Cluster::LogTail(int index, size_t bytes_max) const {
  return nodes_.at(index)->process.LogTail(bytes_max);
}

std::string Cluster::AllLogTails(size_t bytes_max) const {
  std::string text;
  for (int i = 0; i < size(); ++i) text += LogTail(i, bytes_max) + "\n";
  return text;
}

std::vector<int> ReplicaIndexes(const Cluster& cluster, const std::string& key, int asked) {
  RedisContext context = cluster.Connect(asked);
  Reply reply = blackbox::Command(context.get(), {"RING", "KEY", key});
  std::vector<int> indexes;
  for (const std::string& name : ParseRingKey(reply.get()).replicas) {
    indexes.push_back(cluster.IndexOf(name));
  }
  return indexes;
}

bool HeldByAll(const Cluster& cluster, const std::vector<int>& nodes, const std::string& key,
               const std::string& value, int timeout_ms) {
  std::vector<RedisContext> contexts;
  for (int i : nodes) contexts.push_back(cluster.Connect(i));
  int64_t deadline_ms = NowMs() + timeout_ms;
  while (true) {
    bool all = true;
    for (RedisContext& context : contexts) {
      Reply reply = blackbox::Command(context.get(), {"LOCALGET", key});
      std::optional<VersionedValue> held = ParseVersioned(reply.get());
      all = all && held && held->siblings.size() == 1 && held->siblings[0].value == value;
    }
    if (all) return true;
    if (NowMs() > deadline_ms) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::vector<int> OtherIndexes(const Cluster& cluster, const std::vector<int>& replicas) {
  std::vector<int> others;
  for (int i = 0; i < cluster.size(); ++i) {
    if (std::find(replicas.begin(), replicas.end(), i) == replicas.end()) others.push_back(i);
  }
  return others;
}

int64_t InfoInteger(const Cluster& cluster, int index, const std::string& field) {
  RedisContext context = cluster.Connect(index);
  return InfoInteger(context.get(), field);
}

}  // namespace ringkv::cluster_test
