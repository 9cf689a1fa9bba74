// Self-tests of the drill harness against the server as it is: the
// namespaces exist and carry the cluster's traffic, a cut really blocks a
// node both ways (link down and nftables) and healing restores it, a split
// separates exactly its sides, kill -9 and SIGSTOP reach nodes inside their
// namespaces, nothing is left behind (also when a test fails half way, and
// after a crashed run), and the checkers find what they should on a live
// cluster. None of this needs MEMBERS or HINTS, so the failure-handling
// config keys are left out.
#include <doctest/doctest.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "cluster/cluster_replies.h"
#include "drills/checker.h"
#include "drills/drill.h"

namespace ringkv::drills {
namespace {

using blackbox::Do;
using cluster_test::NowMs;
using Path = DrillCluster::Path;

constexpr int kBlockedProbeMs = 300;
constexpr int kOpenProbeMs = 2000;
constexpr int kHealTimeoutMs = 5000;
constexpr int kReconnectTimeoutMs = 20000;

DrillClusterOptions CurrentServerOptions() {
  DrillClusterOptions options;
  options.failure_handling_keys = false;
  return options;
}

bool Listed(const std::string& name) {
  std::vector<std::string> names = ListNamespaces();
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Whether `from` (a node index, or -1 for the client namespace) can open a
// TCP connection to node `to`'s peer port (client port from the client).
bool Reaches(const Network& network, int from, int to, int timeout_ms) {
  int fd = from < 0 ? network.ClientNamespaceFd() : network.NodeNamespaceFd(from);
  uint16_t port = from < 0 ? Network::kNodePort : Network::kPeerPort;
  return CanConnect(fd, network.NodeAddress(to), port, timeout_ms);
}

// Polls until `from` reaches `to` again after a heal (a neighbour entry
// may need a new ARP round), for at most kHealTimeoutMs.
bool ReachesSoon(const Network& network, int from, int to) {
  int64_t deadline_ms = NowMs() + kHealTimeoutMs;
  while (NowMs() < deadline_ms) {
    if (Reaches(network, from, to, kOpenProbeMs)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

char ProcessState(pid_t pid) {
  const std::string state = blackbox::ProcStatField(pid, 3);
  return state.empty() ? '-' : state[0];
}

TEST_CASE("drill harness: namespaces carry the cluster, cuts block both ways, heal restores") {
  if (!DrillsCanRun()) return;
  Network network(6);
  for (const std::string& name : network.AllNamespaces()) CHECK_MESSAGE(Listed(name), name);
  DrillCluster cluster(network, CurrentServerOptions());

  // Every node answers through the bridge, and is linked to its 5 peers in
  // their namespaces (the constructor waited for that); a key written
  // through one node is read through another.
  for (int i = 0; i < cluster.size(); ++i) {
    CHECK(cluster.Quick(i, Path::kNetwork, {"PING"}) == "+PONG");
    std::optional<std::string> info = cluster.Quick(i, Path::kLoopback, {"INFO", "cluster"});
    REQUIRE(info);
    CHECK(cluster_test::InfoField(*info, "peer_connections") == "5");
  }
  {
    RedisContext writer = cluster.Connect(0);
    RedisContext reader = cluster.Connect(3);
    REQUIRE(Do(writer.get(), {"SET", "harness:key", "through-n1"}) == "+OK");
    CHECK(Do(reader.get(), {"GET", "harness:key"}) == "$through-n1");
  }

  const int cut_off = 1;  // n2
  for (Cut cut : {Cut::kLinkDown, Cut::kNftables}) {
    CAPTURE(CutName(cut));
    network.Isolate(cut_off, cut);
    CHECK(network.HasCuts());
    CHECK_FALSE(Reaches(network, -1, cut_off, kBlockedProbeMs));  // Client to n2.
    CHECK_FALSE(Reaches(network, 0, cut_off, kBlockedProbeMs));   // n1 to n2.
    CHECK_FALSE(Reaches(network, cut_off, 0, kBlockedProbeMs));   // n2 to n1.
    CHECK_FALSE(Reaches(network, cut_off, 4, kBlockedProbeMs));   // n2 to n5.
    CHECK(Reaches(network, 0, 2, kOpenProbeMs));                  // n1 to n3: untouched.
    CHECK(Reaches(network, -1, 0, kOpenProbeMs));                 // Client to n1.
    // The node itself still runs and answers on its own loopback.
    CHECK(cluster.Quick(cut_off, Path::kLoopback, {"PING"}) == "+PONG");
    CHECK_FALSE(cluster.Quick(cut_off, Path::kNetwork, {"PING"}, kBlockedProbeMs));
    bool table = network.NftTables(cut_off).find("ringkv_drill") != std::string::npos;
    CHECK(table == (cut == Cut::kNftables));

    network.Heal();
    CHECK_FALSE(network.HasCuts());
    CHECK(network.NftTables(cut_off).find("ringkv_drill") == std::string::npos);
    CHECK(ReachesSoon(network, -1, cut_off));
    CHECK(ReachesSoon(network, 0, cut_off));
    CHECK(ReachesSoon(network, cut_off, 0));
    CHECK(cluster.Quick(cut_off, Path::kNetwork, {"PING"}, kOpenProbeMs) == "+PONG");
    for (int i = 0; i < cluster.size(); ++i) {
      CHECK_MESSAGE(cluster.WaitConnected(i, kReconnectTimeoutMs),
                    cluster.name(i) << " did not reconnect to all its peers after the heal");
    }
  }

  // A split: within a side and from the client, traffic flows; across, not.
  network.Split({{0, 1, 2}, {3, 4, 5}});
  CHECK(Reaches(network, 0, 1, kOpenProbeMs));
  CHECK(Reaches(network, 3, 4, kOpenProbeMs));
  CHECK_FALSE(Reaches(network, 0, 3, kBlockedProbeMs));
  CHECK_FALSE(Reaches(network, 3, 0, kBlockedProbeMs));
  CHECK_FALSE(Reaches(network, 2, 5, kBlockedProbeMs));
  CHECK(Reaches(network, -1, 0, kOpenProbeMs));
  CHECK(Reaches(network, -1, 5, kOpenProbeMs));
  network.Heal();
  CHECK(ReachesSoon(network, 0, 3));
  CHECK(ReachesSoon(network, 3, 0));
  for (int i = 0; i < cluster.size(); ++i) {
    CHECK(network.NftTables(i).find("ringkv_drill") == std::string::npos);
  }
}

TEST_CASE("drill harness: kill -9 and SIGSTOP reach the nodes in their namespaces") {
  if (!DrillsCanRun()) return;
  Network network(6);
  DrillCluster cluster(network, CurrentServerOptions());
  const int killed = 2;  // n3
  const int paused = 3;  // n4
  {
    RedisContext context = cluster.Connect(killed);
    REQUIRE(Do(context.get(), {"SET", "harness:kill", "before"}) == "+OK");
  }
  pid_t old_pid = cluster.process(killed).pid();
  cluster.Kill9(killed);
  CHECK_FALSE(cluster.Running(killed));
  CHECK(kill(old_pid, 0) != 0);
  CHECK_FALSE(Reaches(network, -1, killed, kOpenProbeMs));  // Refused: nobody listens.
  cluster.Restart(killed);
  CHECK(cluster.process(killed).pid() != old_pid);
  {
    RedisContext context = cluster.Connect(killed);
    CHECK(Do(context.get(), {"GET", "harness:kill"}) == "$before");
  }

  cluster.Pause(paused);
  CHECK(ProcessState(cluster.process(paused).pid()) == 'T');
  // The kernel still completes the handshake, but nobody answers.
  CHECK_FALSE(cluster.Quick(paused, Path::kNetwork, {"PING"}, kBlockedProbeMs));
  CHECK_FALSE(cluster.Quick(paused, Path::kLoopback, {"PING"}, kBlockedProbeMs));
  cluster.Resume(paused);
  CHECK(cluster.Quick(paused, Path::kNetwork, {"PING"}, kOpenProbeMs) == "+PONG");
}

TEST_CASE("drill harness: nothing is left behind, also when a test fails half way") {
  if (!DrillsCanRun()) return;
  std::vector<std::string> names;
  std::vector<pid_t> pids;
  std::string directory;
  try {
    Network network(6);
    names = network.AllNamespaces();
    DrillCluster cluster(network, CurrentServerOptions());
    directory = cluster.directory();
    for (int i = 0; i < cluster.size(); ++i) pids.push_back(cluster.process(i).pid());
    network.Isolate(1, Cut::kNftables);
    network.Isolate(2, Cut::kLinkDown);
    cluster.Pause(4);
    // What a failed REQUIRE does: unwind through the harness's destructors.
    throw std::runtime_error("a test failing half way");
  } catch (const std::runtime_error&) {
  }
  REQUIRE(names.size() == 8);
  for (const std::string& name : names) CHECK_MESSAGE(!Listed(name), name << " left behind");
  for (pid_t pid : pids) CHECK_MESSAGE(kill(pid, 0) != 0, "node pid " << pid << " still runs");
  CHECK_FALSE(std::filesystem::exists(directory));
  // Nothing of ours in the test's own namespace either.
  blackbox::ProgramResult links = blackbox::RunProgram({ToolPath("ip"), "-o", "link"}, "", 5000);
  CHECK(links.exit_code == 0);
  CHECK(links.output.find("rkdrill") == std::string::npos);
  blackbox::ProgramResult tables =
      blackbox::RunProgram({ToolPath("nft"), "list", "tables"}, "", 5000);
  CHECK(tables.exit_code == 0);
  CHECK(tables.output.find("ringkv_drill") == std::string::npos);
}

TEST_CASE("drill harness: namespaces of a crashed run are removed by the next one") {
  if (!DrillsCanRun()) return;
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // A drill that crashes: a network, a process left inside a node's
    // namespace, a temporary directory; then it waits to be killed.
    close(pipe_fds[0]);
    std::string report;
    try {
      Network* network = new Network(2);  // Leaked on purpose: a crash runs no destructor.
      std::string directory = "/tmp/" + OwnerTag() + "-crashed";
      mkdir(directory.c_str(), 0700);
      pid_t sleeper = fork();
      if (sleeper == 0) {
        if (setns(network->NodeNamespaceFd(0), CLONE_NEWNET) != 0) _exit(1);
        execl("/bin/sleep", "sleep", "600", static_cast<char*>(nullptr));
        _exit(127);
      }
      report = OwnerTag() + " " + std::to_string(sleeper) + "\n";
    } catch (...) {
      report = "failed\n";
    }
    (void)!write(pipe_fds[1], report.data(), report.size());
    while (true) pause();
  }
  close(pipe_fds[1]);
  std::string report;
  char buffer[256];
  ssize_t received;
  while (report.find('\n') == std::string::npos &&
         (received = read(pipe_fds[0], buffer, sizeof buffer)) > 0) {
    report.append(buffer, static_cast<size_t>(received));
  }
  close(pipe_fds[0]);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  REQUIRE_MESSAGE(report != "failed\n", "the crashing child could not set up its network");
  std::string tag = report.substr(0, report.find(' '));
  pid_t sleeper = static_cast<pid_t>(std::atoi(report.c_str() + tag.size() + 1));
  REQUIRE(sleeper > 0);

  CHECK_FALSE(OwnerAlive(tag));
  CHECK(OwnerAlive(OwnerTag()));
  CHECK(Listed(tag + "-hub"));
  CHECK(Listed(tag + "-n1"));
  CHECK(std::filesystem::exists("/tmp/" + tag + "-crashed"));

  CHECK(RemoveLeftovers() >= 4);  // hub, n1, n2, client.
  for (const char* suffix : {"-hub", "-n1", "-n2", "-client"}) {
    std::string name = tag + suffix;
    CHECK_MESSAGE(!Listed(name), name << " left behind");
  }
  CHECK_FALSE(std::filesystem::exists("/tmp/" + tag + "-crashed"));
  // The process left in the namespace was killed (a zombie until its new
  // parent reaps it).
  int64_t deadline_ms = NowMs() + 2000;
  while (NowMs() < deadline_ms && ProcessState(sleeper) != '-' && ProcessState(sleeper) != 'Z') {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  char state = ProcessState(sleeper);
  CHECK_MESSAGE((state == '-' || state == 'Z'), "sleeper " << sleeper << " in state " << state);
}

TEST_CASE(
    "drill harness: the checkers find lost, unexpected and misplaced keys in a live cluster") {
  if (!DrillsCanRun()) return;
  Network network(6);
  DrillCluster cluster(network, CurrentServerOptions());
  Timeline timeline("harness self-test load");
  LoadOptions options;
  options.clients = 2;
  Load load(cluster, &timeline, options);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  load.Stop();
  std::vector<WriteRecord> writes = load.Writes();
  std::vector<const WriteRecord*> acknowledged;
  for (const WriteRecord& write : writes) {
    if (write.outcome == Outcome::kOk) acknowledged.push_back(&write);
  }
  REQUIRE(acknowledged.size() >= 10);
  // A healthy cluster: every write acknowledged and in place, once the
  // third copies of the last writes (acknowledged at W = 2) have landed.
  CHECK(acknowledged.size() == writes.size());
  PlacementVerdict placement = CheckPlacement(cluster, writes);
  for (int attempt = 0; attempt < 20 && !placement.ok(); ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    placement = CheckPlacement(cluster, writes);
  }
  CHECK_MESSAGE(placement.ok(), placement.Summary());
  CHECK(placement.keys_checked == static_cast<int64_t>(acknowledged.size()));

  std::vector<std::string> keys;
  for (const WriteRecord& write : writes) keys.push_back(write.key);
  SetVerdict clean = CheckSet(writes, ReadAll(cluster, 0, keys));
  CHECK_MESSAGE(clean.ok(), clean.Summary());

  // Damage the two ways a client can: delete one acknowledged key (lost),
  // overwrite another with a value no write of the load sent (lost and
  // unexpected). Both leave the owners with copies unlike the acknowledged
  // write. Missing and stray copies, which a client cannot make, are
  // covered by checker_test.cc.
  RedisContext context = cluster.Connect(1);
  REQUIRE(Do(context.get(), {"DEL", acknowledged[0]->key}) == ":1");
  REQUIRE(Do(context.get(), {"SET", acknowledged[1]->key, "never-written"}) == "+OK");
  SetVerdict damaged = CheckSet(writes, ReadAll(cluster, 0, keys));
  CHECK_FALSE(damaged.ok());
  CHECK(damaged.lost == 2);
  CHECK(damaged.unexpected == 1);
  PlacementVerdict misplaced = CheckPlacement(cluster, writes);
  CHECK_FALSE(misplaced.ok());
  CHECK(misplaced.wrong_copies >= 2 * cluster.options().w);
}

}  // namespace
}  // namespace ringkv::drills
