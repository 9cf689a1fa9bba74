// Network namespaces, veths, a bridge and nftables for the drills; see
// netns.h. Everything is done with the `ip` and `nft` programs, so what the
// harness does can be replayed by hand from a shell.
#include "drills/netns.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "blackbox/harness.h"

namespace ringkv::drills {
namespace {

constexpr const char* kTagPrefix = "rkdrill-";
constexpr const char* kSubnet = "10.77.0.";
constexpr int kFirstNodeHost = 11;
constexpr int kClientHost = 100;
constexpr const char* kNftTable = "ringkv_drill";
constexpr int kCommandTimeoutMs = 10000;

// The start time of process `pid` (clock ticks since boot), or empty when
// it does not exist.
std::string StartTime(const std::string& pid) {
  return blackbox::ProcStatField(static_cast<pid_t>(std::atol(pid.c_str())), 22);
}

const std::string& Ip() {
  static const std::string path = ToolPath("ip");
  return path;
}

// Runs `ip args...`; returns the result without judging it.
blackbox::ProgramResult RunIp(std::vector<std::string> args, std::string_view input = {}) {
  args.insert(args.begin(), Ip());
  return blackbox::RunProgram(args, input, kCommandTimeoutMs);
}

// Runs `ip args...` and REQUIREs that it succeeded.
void MustIp(const std::vector<std::string>& args, std::string_view input = {}) {
  blackbox::ProgramResult result = RunIp(args, input);
  std::string line;
  for (const std::string& arg : args) line += " " + arg;
  REQUIRE_MESSAGE(result.exit_code == 0,
                  "ip" << line << " failed (exit " << result.exit_code << "): " << result.output);
}

// Kills every process inside namespace `name` (left there by a crashed run)
// and deletes the namespace. Never throws: used by destructors.
void DeleteNamespace(const std::string& name) noexcept {
  blackbox::ProgramResult pids = RunIp({"netns", "pids", name});
  std::istringstream lines(pids.output);
  std::string pid;
  while (lines >> pid) {
    if (pid.find_first_not_of("0123456789") == std::string::npos) {
      kill(static_cast<pid_t>(std::atoi(pid.c_str())), SIGKILL);
    }
  }
  blackbox::ProgramResult result = RunIp({"netns", "del", name});
  if (result.exit_code != 0) {
    std::cerr << "drill network: ip netns del " << name << " failed: " << result.output;
  }
}

std::string AddressSet(const std::vector<std::string>& addresses) {
  std::string set;
  for (const std::string& address : addresses) set += (set.empty() ? "" : ", ") + address;
  return "{ " + set + " }";
}

// An nftables table with an input and an output chain holding `input_rule`
// and `output_rule`. Declaring the table and deleting it first makes the
// load replace a table an earlier cut left.
std::string NftRuleset(const std::string& input_rule, const std::string& output_rule) {
  std::string table = std::string("inet ") + kNftTable;
  return "table " + table + "\ndelete table " + table + "\ntable " + table +
         " {\n"
         "  chain input {\n"
         "    type filter hook input priority 0; policy accept;\n"
         "    " +
         input_rule +
         "\n"
         "  }\n"
         "  chain output {\n"
         "    type filter hook output priority 0; policy accept;\n"
         "    " +
         output_rule +
         "\n"
         "  }\n"
         "}\n";
}

}  // namespace

std::string ToolPath(const char* name) {
  std::string path = blackbox::FindInPath(name);
  if (path.empty()) {
    for (const char* directory : {"/usr/sbin/", "/sbin/", "/usr/bin/"}) {
      std::string candidate = std::string(directory) + name;
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  return path;
}

NamespaceScope::NamespaceScope(int netns_fd) {
  previous_fd_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  REQUIRE_MESSAGE(previous_fd_ >= 0, "open /proc/thread-self/ns/net: " << strerror(errno));
  REQUIRE_MESSAGE(setns(netns_fd, CLONE_NEWNET) == 0, "setns: " << strerror(errno));
}

NamespaceScope::~NamespaceScope() {
  if (setns(previous_fd_, CLONE_NEWNET) != 0) {
    // A thread left in a namespace that is about to be deleted would make
    // every later connection of the test go astray: stop here.
    std::cerr << "drill network: cannot return to the previous namespace: " << strerror(errno)
              << "\n";
    std::abort();
  }
  close(previous_fd_);
}

// Not cached: a forked child (the leftover test forks one) is another owner.
std::string OwnerTag() {
  std::string pid = std::to_string(getpid());
  return kTagPrefix + pid + "-" + StartTime(pid);
}

bool OwnerAlive(const std::string& name) {
  std::string_view rest(name);
  if (rest.substr(0, std::string_view(kTagPrefix).size()) != kTagPrefix) return false;
  rest.remove_prefix(std::string_view(kTagPrefix).size());
  size_t dash = rest.find('-');
  if (dash == std::string_view::npos) return false;
  std::string pid(rest.substr(0, dash));
  rest.remove_prefix(dash + 1);
  std::string start(rest.substr(0, rest.find('-')));
  if (pid.empty() || start.empty() || pid.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  return StartTime(pid) == start;
}

std::vector<std::string> ListNamespaces() {
  blackbox::ProgramResult result = RunIp({"netns", "list"});
  std::vector<std::string> names;
  std::istringstream lines(result.output);
  std::string line;
  while (std::getline(lines, line)) {
    std::string name = line.substr(0, line.find(' '));
    if (!name.empty()) names.push_back(name);
  }
  return names;
}

int RemoveLeftovers() {
  int removed = 0;
  for (const std::string& name : ListNamespaces()) {
    if (name.rfind(kTagPrefix, 0) != 0 || OwnerAlive(name)) continue;
    DeleteNamespace(name);
    ++removed;
  }
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/tmp", error)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(kTagPrefix, 0) == 0 && !OwnerAlive(name)) {
      std::filesystem::remove_all(entry.path(), error);
    }
  }
  return removed;
}

bool NamespacesAvailable(std::string* why) {
  static std::string failure = [] {
    if (Ip().empty()) return std::string("the ip program (iproute2) is not installed");
    if (ToolPath("nft").empty()) return std::string("the nft program (nftables) is not installed");
    std::string probe = OwnerTag() + "-probe";
    blackbox::ProgramResult added = RunIp({"netns", "add", probe});
    if (added.exit_code != 0) return "ip netns add failed: " + added.output;
    RunIp({"netns", "del", probe});
    return std::string();
  }();
  *why = failure;
  return failure.empty();
}

const char* CutName(Cut cut) { return cut == Cut::kLinkDown ? "link down" : "nftables drop"; }

Network::Network(int nodes) {
  REQUIRE(nodes >= 1);
  REQUIRE(nodes <= kClientHost - kFirstNodeHost);
  int removed = RemoveLeftovers();
  if (removed > 0) MESSAGE("removed " << removed << " namespaces left by crashed drill runs");
  // A constructor that throws runs no destructor: a REQUIRE failing half way
  // deletes what exists so far (the members are filled in as they are
  // created) and fails on.
  try {
    hub_ = Create("hub");
    MustIp({"-n", hub_.name, "link", "add", "br0", "type", "bridge"});
    MustIp({"-n", hub_.name, "link", "set", "br0", "up"});
    for (int i = 0; i < nodes; ++i) {
      nodes_.push_back(Create("n" + std::to_string(i + 1)));
      Attach(nodes_.back(), "v" + std::to_string(i + 1), NodeAddress(i));
    }
    client_ = Create("client");
    Attach(client_, "vc", ClientAddress());
  } catch (...) {
    Destroy();
    throw;
  }
}

Network::~Network() { Destroy(); }

void Network::Destroy() noexcept {
  std::vector<Namespace*> all = {&client_};
  for (Namespace& node : nodes_) all.push_back(&node);
  all.push_back(&hub_);
  for (Namespace* ns : all) {
    if (ns->fd >= 0) close(ns->fd);
    ns->fd = -1;
    if (!ns->name.empty()) DeleteNamespace(ns->name);
    ns->name.clear();
  }
  links_down_.clear();
  nft_tables_.clear();
}

Network::Namespace Network::Create(const std::string& suffix) {
  Namespace ns;
  std::string name = OwnerTag() + "-" + suffix;
  MustIp({"netns", "add", name});
  ns.name = name;  // From here on the destructor deletes it.
  ns.fd = open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  if (ns.fd < 0) {
    DeleteNamespace(name);
    FAIL("open /run/netns/" << name << ": " << strerror(errno));
  }
  return ns;
}

void Network::Attach(const Namespace& ns, const std::string& hub_port, const std::string& address) {
  MustIp({"-n", hub_.name, "link", "add", hub_port, "type", "veth", "peer", "name", "eth0", "netns",
          ns.name});
  MustIp({"-n", hub_.name, "link", "set", hub_port, "master", "br0", "up"});
  MustIp({"-n", ns.name, "addr", "add", address + "/24", "dev", "eth0"});
  MustIp({"-n", ns.name, "link", "set", "eth0", "up"});
  MustIp({"-n", ns.name, "link", "set", "lo", "up"});
}

std::string Network::NodeAddress(int index) const {
  return kSubnet + std::to_string(kFirstNodeHost + index);
}

std::string Network::ClientAddress() const { return kSubnet + std::to_string(kClientHost); }

const std::string& Network::NodeNamespace(int index) const { return nodes_.at(index).name; }

int Network::NodeNamespaceFd(int index) const { return nodes_.at(index).fd; }

std::vector<std::string> Network::AllNamespaces() const {
  std::vector<std::string> names = {hub_.name};
  for (const Namespace& node : nodes_) names.push_back(node.name);
  names.push_back(client_.name);
  return names;
}

void Network::LoadNftables(int index, const std::string& ruleset) {
  MustIp({"netns", "exec", NodeNamespace(index), ToolPath("nft"), "-f", "-"}, ruleset);
  nft_tables_.insert(index);
}

void Network::Isolate(int index, Cut cut) {
  REQUIRE(index >= 0);
  REQUIRE(index < size());
  if (cut == Cut::kLinkDown) {
    MustIp({"-n", hub_.name, "link", "set", "v" + std::to_string(index + 1), "down"});
    links_down_.insert(index);
    return;
  }
  LoadNftables(index, NftRuleset("iifname \"eth0\" drop", "oifname \"eth0\" drop"));
}

void Network::Split(const std::vector<std::vector<int>>& sides) {
  std::vector<int> side_of(nodes_.size(), -1);
  for (size_t s = 0; s < sides.size(); ++s) {
    for (int index : sides[s]) {
      REQUIRE(index >= 0);
      REQUIRE(index < size());
      REQUIRE_MESSAGE(side_of[index] == -1, "node " << index << " is on two sides");
      side_of[index] = static_cast<int>(s);
    }
  }
  for (int i = 0; i < size(); ++i)
    REQUIRE_MESSAGE(side_of[i] >= 0, "node " << i << " is on no side");
  for (int i = 0; i < size(); ++i) {
    std::vector<std::string> others;
    for (int j = 0; j < size(); ++j) {
      if (side_of[j] != side_of[i]) others.push_back(NodeAddress(j));
    }
    if (others.empty()) continue;
    std::string set = AddressSet(others);
    LoadNftables(i, NftRuleset("ip saddr " + set + " drop", "ip daddr " + set + " drop"));
  }
}

void Network::Heal() {
  for (int index : links_down_) {
    MustIp({"-n", hub_.name, "link", "set", "v" + std::to_string(index + 1), "up"});
  }
  links_down_.clear();
  for (int index : nft_tables_) {
    MustIp({"netns", "exec", NodeNamespace(index), ToolPath("nft"), "delete", "table", "inet",
            kNftTable});
  }
  nft_tables_.clear();
}

std::string Network::NftTables(int index) const {
  return RunIp({"netns", "exec", NodeNamespace(index), ToolPath("nft"), "list", "tables"}).output;
}

bool CanConnect(int netns_fd, const std::string& address, uint16_t port, int timeout_ms) {
  int fd = -1;
  {
    NamespaceScope scope(netns_fd);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }
  REQUIRE(fd >= 0);
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_port = htons(port);
  REQUIRE(inet_pton(AF_INET, address.c_str(), &peer.sin_addr) == 1);
  bool connected = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&peer), sizeof peer) == 0) {
    connected = true;
  } else if (errno == EINPROGRESS) {
    pollfd wait{fd, POLLOUT, 0};
    if (poll(&wait, 1, timeout_ms) == 1) {
      int error = 0;
      socklen_t length = sizeof error;
      connected = getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0;
    }
  }
  close(fd);
  return connected;
}

}  // namespace ringkv::drills
