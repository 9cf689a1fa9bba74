// Nodes in network namespaces for the drills; see drill_cluster.h.
#include "drills/drill_cluster.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cluster/cluster_replies.h"
#include "drills/drill_replies.h"

namespace ringkv::drills {
namespace {

// Six nodes start at once on two shared cores: generous.
constexpr int kStartTimeoutMs = 30000;
constexpr int kConnectTimeoutMs = 20000;
constexpr int kClientTimeoutMs = 10000;
constexpr int kPollIntervalMs = 100;
constexpr const char* kSecret = "ringkv-drill-secret";

timeval Timeval(int milliseconds) {
  return timeval{milliseconds / 1000, (milliseconds % 1000) * 1000};
}

}  // namespace

bool FailureKeysWanted() {
  const char* value = std::getenv("RINGKV_DRILL_NO_FAILURE_KEYS");
  return value == nullptr || std::string_view(value) != "1";
}

struct DrillCluster::Node {
  Node(const std::string& name, const std::string& directory)
      : directory(directory),
        process(name, RINGKV_SERVER_PATH, directory + "/ringkv.toml", directory + "/server.log") {}

  std::string directory;
  cluster_test::NodeProcess process;
};

DrillCluster::DrillCluster(const Network& network, DrillClusterOptions options)
    : network_(network), options_(std::move(options)) {
  REQUIRE(network_.size() == options_.nodes);
  std::string pattern = "/tmp/" + OwnerTag() + "-XXXXXX";
  REQUIRE(mkdtemp(pattern.data()) != nullptr);
  root_.path = pattern;
  for (int i = 0; i < options_.nodes; ++i) {
    std::string node_name = "n" + std::to_string(i + 1);
    nodes_.push_back(std::make_unique<Node>(node_name, root_.path + "/" + node_name));
    REQUIRE(mkdir(nodes_.back()->directory.c_str(), 0700) == 0);
  }
  for (int i = 0; i < size(); ++i) WriteConfig(i);
  // Start every process before waiting for any: they need each other to
  // connect, and starting in parallel is faster.
  for (int i = 0; i < size(); ++i) process(i).Spawn(network_.NodeNamespaceFd(i));
  for (int i = 0; i < size(); ++i) WaitReady(i, 0);
  for (int i = 0; i < size(); ++i) {
    if (!WaitConnected(i, kConnectTimeoutMs)) {
      FAIL(name(i) << " did not connect to all its peers within " << kConnectTimeoutMs << " ms\n"
                   << Quick(i, Path::kLoopback, {"INFO", "cluster"}).value_or("(no reply)") << "\n"
                   << AllLogTails());
    }
  }
}

// The members kill, reap and remove; first, a sanitizer build's nodes must
// have reported nothing (reports are written when they happen, so a node
// killed later has already written its own).
DrillCluster::~DrillCluster() {
  for (const auto& node : nodes_) {
    std::string log = node->process.LogSince(0);
    for (const char* report :
         {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"}) {
      CHECK_MESSAGE(log.find(report) == std::string::npos, "sanitizer report in the log\n"
                                                               << node->process.LogTail());
    }
  }
}

DrillCluster::TempDir::~TempDir() {
  std::error_code ignored;
  if (!path.empty()) std::filesystem::remove_all(path, ignored);
}

std::string DrillCluster::name(int index) const { return nodes_.at(index)->process.name(); }

cluster_test::NodeProcess& DrillCluster::process(int index) { return nodes_.at(index)->process; }

bool DrillCluster::Running(int index) const { return nodes_.at(index)->process.Running(); }

int DrillCluster::IndexOf(std::string_view name) const {
  for (int i = 0; i < size(); ++i) {
    if (nodes_[i]->process.name() == name) return i;
  }
  return -1;
}

void DrillCluster::WriteConfig(int index) const {
  const Node& node = *nodes_.at(index);
  std::ofstream config(node.directory + "/ringkv.toml");
  std::string seed = address(0) + ":" + std::to_string(Network::kPeerPort);
  bool keys = options_.failure_handling_keys && FailureKeysWanted();
  config << "# Written by the drill harness (tests/drills/drill_cluster.cc).\n"
         << "[node]\n"
         << "name = \"" << name(index) << "\"\n"
         << "bind = \"0.0.0.0\"\n"
         << "port = " << Network::kNodePort << "\n"
         << "data_dir = \"" << node.directory << "/data\"\n"
         << "advertise_host = \"" << address(index) << "\"\n\n"
         << "[cluster]\n"
         << "peer_port = " << Network::kPeerPort << "\n"
         << "secret = \"" << kSecret << "\"\n"
         << "n = " << options_.n << "\nw = " << options_.w << "\nr = " << options_.r << "\n"
         << "request_timeout_ms = " << options_.request_timeout_ms << "\n"
         << FailureHandlingConfig(keys, options_.gossip_interval_ms, options_.suspect_after_ms,
                                  seed);
  for (int i = 0; i < size(); ++i) {
    config << "\n[[cluster.members]]\n"
           << "name = \"" << name(i) << "\"\n"
           << "host = \"" << address(i) << "\"\n"
           << "port = " << Network::kNodePort << "\n"
           << "peer_port = " << Network::kPeerPort << "\n";
  }
  config << "\n[storage]\n"
         << "partitions = " << options_.partitions << "\n"
         << "fsync = \"" << options_.fsync << "\"\n"
         << cluster_test::WritePathToml(options_)
         << "map_size_bytes = 268435456\n";
  REQUIRE(config.good());
}

RedisContext DrillCluster::TryConnect(int index, Path path, int timeout_ms) const {
  redisContext* raw = nullptr;
  {
    int netns_fd =
        path == Path::kNetwork ? network_.ClientNamespaceFd() : network_.NodeNamespaceFd(index);
    NamespaceScope scope(netns_fd);
    std::string host = path == Path::kNetwork ? address(index) : "127.0.0.1";
    raw = redisConnectWithTimeout(host.c_str(), Network::kNodePort, Timeval(timeout_ms));
  }
  RedisContext context(raw);
  if (raw == nullptr || raw->err != 0) return RedisContext();
  redisSetTimeout(raw, Timeval(timeout_ms));
  return context;
}

RedisContext DrillCluster::Connect(int index, Path path) const {
  RedisContext context = TryConnect(index, path, kClientTimeoutMs);
  REQUIRE_MESSAGE(context != nullptr, "cannot connect to " << name(index) << "\n"
                                                           << LogTail(index, 1500));
  return context;
}

std::optional<std::string> DrillCluster::Quick(int index, Path path,
                                               const std::vector<std::string>& args,
                                               int timeout_ms) const {
  RedisContext context = TryConnect(index, path, timeout_ms);
  if (!context) return std::nullopt;
  Reply reply = blackbox::Command(context.get(), args);
  if (!reply) return std::nullopt;
  if (reply->type == REDIS_REPLY_STRING) return std::string(reply->str, reply->len);
  return blackbox::Render(reply.get(), context.get());
}

void DrillCluster::WaitReady(int index, size_t log_offset) {
  process(index).WaitReady(
      log_offset, [this, index] { return Quick(index, Path::kLoopback, {"PING"}) == "+PONG"; },
      kStartTimeoutMs);
}

bool DrillCluster::WaitConnected(int index, int timeout_ms) const {
  int expected = 0;
  for (int i = 0; i < size(); ++i) {
    if (i != index && Running(i)) ++expected;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    std::optional<std::string> info = Quick(index, Path::kLoopback, {"INFO", "cluster"});
    if (info) {
      std::optional<std::string> connections = cluster_test::InfoField(*info, "peer_connections");
      if (connections && std::atoi(connections->c_str()) >= expected) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollIntervalMs));
  }
  return false;
}

void DrillCluster::Kill9(int index) { process(index).Kill9(); }

void DrillCluster::Restart(int index, bool wait_for_peers) {
  size_t log_offset = process(index).LogSize();
  process(index).Spawn(network_.NodeNamespaceFd(index));
  WaitReady(index, log_offset);
  if (wait_for_peers && !WaitConnected(index, kConnectTimeoutMs)) {
    FAIL(name(index) << " did not reconnect to its peers within " << kConnectTimeoutMs << " ms\n"
                     << LogTail(index));
  }
}

void DrillCluster::Pause(int index) { process(index).Pause(); }
void DrillCluster::Resume(int index) { process(index).Resume(); }

std::string DrillCluster::LogTail(int index, size_t bytes_max) const {
  return nodes_.at(index)->process.LogTail(bytes_max);
}

std::string DrillCluster::AllLogTails(size_t bytes_max) const {
  std::string text;
  for (int i = 0; i < size(); ++i) text += LogTail(i, bytes_max) + "\n";
  return text;
}

}  // namespace ringkv::drills
