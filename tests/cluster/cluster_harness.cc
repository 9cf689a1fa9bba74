// A cluster of real server processes for the cluster tests; see
// cluster_harness.h.
#include "cluster/cluster_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
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
constexpr const char* kReadyLine = "Ready to accept connections";

// Where test ports come from: below Linux's default ephemeral range
// (32768-60999), above the well-known services.
constexpr int kPortLow = 20000;
constexpr int kPortHigh = 32000;

// Whether `port` can be bound on loopback right now.
bool CanBind(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
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
  std::string name;
  std::string directory;
  std::string config_path;
  std::string log_path;
  uint16_t port = 0;
  uint16_t peer_port = 0;
  pid_t pid = -1;
  bool paused = false;

  // A paused process is resumed before it is killed, as the harness
  // promises, although SIGKILL would end it anyway.
  ~Node() {
    if (pid <= 0) return;
    if (paused) kill(pid, SIGCONT);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }

  size_t LogSize() const {
    struct stat info {};
    return stat(log_path.c_str(), &info) == 0 ? static_cast<size_t>(info.st_size) : 0;
  }

  std::string LogSince(size_t offset) const {
    std::ifstream log(log_path, std::ios::binary);
    log.seekg(static_cast<std::streamoff>(offset));
    return std::string((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  }
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
    auto node = std::make_unique<Node>();
    node->name = "n" + std::to_string(i + 1);
    node->directory = root_.path + "/" + node->name;
    node->config_path = node->directory + "/ringkv.toml";
    node->log_path = node->directory + "/server.log";
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

std::string Cluster::name(int index) const { return nodes_.at(index)->name; }

int Cluster::IndexOf(std::string_view name) const {
  for (int i = 0; i < size(); ++i) {
    if (nodes_[i]->name == name) return i;
  }
  FAIL("no node named '" << std::string(name) << "'");
  return -1;
}

uint16_t Cluster::port(int index) const { return nodes_.at(index)->port; }
uint16_t Cluster::peer_port(int index) const { return nodes_.at(index)->peer_port; }
pid_t Cluster::pid(int index) const { return nodes_.at(index)->pid; }
bool Cluster::Running(int index) const { return nodes_.at(index)->pid > 0; }
bool Cluster::Paused(int index) const { return nodes_.at(index)->paused; }

RedisContext Cluster::Connect(int index) const { return blackbox::Connect(port(index)); }

void Cluster::WriteConfig(int index) const {
  const Node& node = *nodes_.at(index);
  std::ofstream config(node.config_path);
  config << "[node]\n"
         << "name = \"" << node.name << "\"\n"
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
           << "name = \"" << member->name << "\"\n"
           << "host = \"127.0.0.1\"\n"
           << "port = " << member->port << "\n"
           << "peer_port = " << member->peer_port << "\n";
  }
  config << "\n[storage]\n"
         << "partitions = " << options_.partitions << "\n"
         << "fsync = \"" << options_.fsync
         << "\"\n"
         // The map is sparse, but a test needs far less than the default.
         << "map_size_bytes = 268435456\n\n"
         << options_.extra_toml << "\n";
  REQUIRE(config.good());
}

void Cluster::Spawn(int index) {
  Node& node = *nodes_.at(index);
  REQUIRE_MESSAGE(node.pid <= 0, node.name << " is already running");
  std::vector<std::string> args = {RINGKV_SERVER_PATH, "--config", node.config_path};
  int log_fd = open(node.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  REQUIRE(log_fd >= 0);
  // Built before fork: the child may only make async-signal-safe calls.
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Die with the test binary, even if it is killed before its destructors
    // run; the check after prctl covers a parent that died in between.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    execv(argv[0], argv.data());
    const char message[] = "cluster harness: exec of the server failed\n";
    (void)!write(STDERR_FILENO, message, sizeof message - 1);
    _exit(127);
  }
  close(log_fd);
  node.pid = pid;
  node.paused = false;
}

// Ready means the start-up line is in this run's part of the log (from
// `log_offset` on) and the node answers PING: a line from an earlier run, or a
// port still held by a dying process, must not count.
void Cluster::WaitReady(int index, size_t log_offset) {
  Node& node = *nodes_.at(index);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kStartTimeoutMs);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(node.pid, &status, WNOHANG) == node.pid) {
      node.pid = -1;
      FAIL(node.name << " exited during start-up (status " << status << ")\n" << LogTail(index));
    }
    if (node.LogSince(log_offset).find(kReadyLine) != std::string::npos &&
        QuickCommand(node.port, {"PING"}) == "+PONG") {
      return;
    }
    SleepMs(kPollIntervalMs);
  }
  FAIL(node.name << " did not become ready within " << kStartTimeoutMs << " ms\n"
                 << LogTail(index));
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
  size_t log_offset = nodes_.at(index)->LogSize();
  Spawn(index);
  WaitReady(index, log_offset);
  if (!WaitConnected(index, kConnectTimeoutMs)) {
    FAIL(name(index) << " did not reconnect to its peers within " << kConnectTimeoutMs << " ms\n"
                     << LogTail(index));
  }
}

std::optional<int> Cluster::Stop(int index) {
  Node& node = *nodes_.at(index);
  if (node.pid <= 0) return std::nullopt;
  if (node.paused) Resume(index);
  kill(node.pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kStopTimeoutMs);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(node.pid, &status, WNOHANG) == node.pid) {
      node.pid = -1;
      return status;
    }
    SleepMs(10);
  }
  Kill9(index);
  return std::nullopt;
}

void Cluster::Kill9(int index) {
  Node& node = *nodes_.at(index);
  if (node.pid <= 0) return;
  kill(node.pid, SIGKILL);
  waitpid(node.pid, nullptr, 0);
  node.pid = -1;
  node.paused = false;
}

void Cluster::Pause(int index) {
  Node& node = *nodes_.at(index);
  REQUIRE_MESSAGE(node.pid > 0, node.name << " is not running");
  REQUIRE(kill(node.pid, SIGSTOP) == 0);
  node.paused = true;
  // SIGSTOP is asynchronous; wait until the kernel reports the stop so that
  // a measurement taken next really runs against a stopped node.
  int status = 0;
  REQUIRE(waitpid(node.pid, &status, WUNTRACED) == node.pid);
  REQUIRE(WIFSTOPPED(status));
}

void Cluster::Resume(int index) {
  Node& node = *nodes_.at(index);
  if (node.pid <= 0 || !node.paused) return;
  REQUIRE(kill(node.pid, SIGCONT) == 0);
  node.paused = false;
}

std::string Cluster::LogTail(int index, size_t bytes_max) const {
  const Node& node = *nodes_.at(index);
  std::string text = node.LogSince(0);
  if (text.size() > bytes_max) text = text.substr(text.size() - bytes_max);
  return "--- " + node.name + " log (" + node.log_path + ") ---\n" + text;
}

std::string Cluster::AllLogTails(size_t bytes_max) const {
  std::string text;
  for (int i = 0; i < size(); ++i) text += LogTail(i, bytes_max) + "\n";
  return text;
}

std::optional<std::string> InfoField(std::string_view info, std::string_view field) {
  std::string prefix = std::string(field) + ":";
  size_t position = 0;
  while (position < info.size()) {
    size_t end = info.find('\n', position);
    if (end == std::string_view::npos) end = info.size();
    std::string_view line = info.substr(position, end - position);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.substr(0, prefix.size()) == prefix) return std::string(line.substr(prefix.size()));
    position = end + 1;
  }
  return std::nullopt;
}

std::vector<Reply> Pipeline(redisContext* context,
                            const std::vector<std::vector<std::string>>& commands,
                            size_t batch_size) {
  REQUIRE(batch_size > 0);
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  for (size_t start = 0; start < commands.size(); start += batch_size) {
    size_t end = std::min(commands.size(), start + batch_size);
    for (size_t i = start; i < end; ++i) {
      std::vector<const char*> argv;
      std::vector<size_t> lengths;
      for (const std::string& arg : commands[i]) {
        argv.push_back(arg.data());
        lengths.push_back(arg.size());
      }
      REQUIRE(redisAppendCommandArgv(context, static_cast<int>(argv.size()), argv.data(),
                                     lengths.data()) == REDIS_OK);
    }
    for (size_t i = start; i < end; ++i) {
      void* reply = nullptr;
      if (redisGetReply(context, &reply) != REDIS_OK) {
        replies.resize(commands.size());  // The rest stay null: I/O error.
        return replies;
      }
      replies.emplace_back(static_cast<redisReply*>(reply));
    }
  }
  return replies;
}

bool IsErrorStartingWith(const redisReply* reply, std::string_view prefix) {
  return reply != nullptr && reply->type == REDIS_REPLY_ERROR &&
         std::string_view(reply->str, reply->len).substr(0, prefix.size()) == prefix;
}

std::vector<std::string> StringElements(const redisReply* reply) {
  REQUIRE(reply != nullptr);
  REQUIRE_MESSAGE(reply->type == REDIS_REPLY_ARRAY, "expected an array, got type " << reply->type);
  std::vector<std::string> strings;
  for (size_t i = 0; i < reply->elements; ++i) {
    const redisReply* element = reply->element[i];
    REQUIRE((element->type == REDIS_REPLY_STRING || element->type == REDIS_REPLY_STATUS));
    strings.emplace_back(element->str, element->len);
  }
  return strings;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace ringkv::cluster_test
