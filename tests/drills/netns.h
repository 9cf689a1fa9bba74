// The drills' network: one Linux network namespace per node, all attached to
// a bridge in a hub namespace, plus a client namespace on the same bridge
// for the test's own connections. Faults are made here: a node isolated by
// taking its link down or by nftables rules in its namespace, or the cluster
// split by nftables rules on each side.
//
//   hub namespace:     bridge br0, ports v1..vK (one per node) and vc
//   node namespace i:  eth0 = 10.77.0.(10+i+1)/24 (other end: v(i+1) in hub), lo
//   client namespace:  eth0 = 10.77.0.100/24 (other end: vc in hub), lo
//
// Every name the harness creates outside its own namespaces carries an owner
// tag, "rkdrill-<pid>-<start time>", naming the test process that owns it:
// namespaces are rkdrill-<pid>-<start>-{hub,n1..nK,client}, temporary
// directories /tmp/rkdrill-<pid>-<start>-*. Interfaces and nftables tables
// exist only inside those namespaces, so deleting the namespaces removes
// them. A test process killed before its destructors ran leaves its
// namespaces behind; the next Network removes those whose owner is dead
// (RemoveLeftovers), so a crashed run never accumulates.
//
// Ownership: a Network owns its namespaces; the destructor kills any process
// still inside one and deletes them all, also after a failed REQUIRE.
// Thread safety: one thread calls a Network's methods at a time; the
// namespace descriptors may be used by any thread (NamespaceScope).
#ifndef RINGKV_TESTS_DRILLS_NETNS_H_
#define RINGKV_TESTS_DRILLS_NETNS_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace ringkv::drills {

// Enters a network namespace in the calling thread only (setns affects one
// thread) and returns to the thread's previous one on destruction. Sockets
// created meanwhile stay in the entered namespace for their whole life.
// Threads started meanwhile inherit it. REQUIREs that both setns calls work.
class NamespaceScope {
 public:
  explicit NamespaceScope(int netns_fd);
  ~NamespaceScope();

  NamespaceScope(const NamespaceScope&) = delete;
  NamespaceScope& operator=(const NamespaceScope&) = delete;

 private:
  int previous_fd_ = -1;
};

// "rkdrill-<pid>-<start time in clock ticks>" of this process. The start
// time tells a live owner from an unrelated process that reused its pid.
std::string OwnerTag();
// Whether the process named by an owner tag (as in a namespace or directory
// name) still runs. False for a name without a well-formed tag.
bool OwnerAlive(const std::string& name);

// The path of a system program such as "ip" or "nft": from PATH, else from
// the sbin directories (root's tools are often not in a test's PATH).
// Empty when it is not installed.
std::string ToolPath(const char* name);

// The names of the network namespaces that `ip netns list` shows.
std::vector<std::string> ListNamespaces();

// Deletes every namespace and temporary directory whose owner tag names a
// dead process, killing the processes left inside those namespaces first.
// Returns how many namespaces it deleted.
int RemoveLeftovers();

// Whether this process may create namespaces (it tries once, with a probe
// namespace). On false, *why says what failed.
bool NamespacesAvailable(std::string* why);

// How a node is cut off from the others.
enum class Cut {
  kLinkDown,  // `ip link set v<i> down` on the hub side of its veth.
  kNftables,  // An nftables table in its namespace dropping eth0 both ways.
};
const char* CutName(Cut cut);

class Network {
 public:
  static constexpr uint16_t kNodePort = 6379;
  static constexpr uint16_t kPeerPort = 7379;

  // Removes leftovers of dead owners, then creates the hub, `nodes` node
  // namespaces and the client namespace. REQUIREs success.
  explicit Network(int nodes);
  ~Network();

  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  int size() const { return static_cast<int>(nodes_.size()); }
  std::string NodeAddress(int index) const;  // "10.77.0.11" for node 0.
  std::string ClientAddress() const;
  const std::string& NodeNamespace(int index) const;
  const std::string& ClientNamespace() const { return client_.name; }
  // Descriptors of the namespaces, open for the Network's lifetime.
  int NodeNamespaceFd(int index) const;
  int ClientNamespaceFd() const { return client_.fd; }
  // Every namespace this Network created (hub, nodes, client).
  std::vector<std::string> AllNamespaces() const;

  // Cuts node `index` off from every other namespace, both ways. Its own
  // loopback keeps working, so a test can still ask it what it sees.
  void Isolate(int index, Cut cut);
  // Splits the nodes into sides that cannot reach each other (nftables in
  // every node's namespace). Within a side, and from the client namespace,
  // traffic flows. Every node must be on exactly one side. A node's
  // nftables rules are replaced by each Isolate(kNftables) and Split.
  void Split(const std::vector<std::vector<int>>& sides);
  // Undoes every Isolate and Split: links up, nftables tables deleted.
  void Heal();
  // Whether any cut is in place.
  bool HasCuts() const { return !links_down_.empty() || !nft_tables_.empty(); }

  // The nftables tables in node `index`'s namespace (`nft list tables`).
  std::string NftTables(int index) const;

 private:
  struct Namespace {
    std::string name;
    int fd = -1;
  };

  Namespace Create(const std::string& suffix);
  void Attach(const Namespace& ns, const std::string& hub_port, const std::string& address);
  void LoadNftables(int index, const std::string& ruleset);
  void Destroy() noexcept;

  Namespace hub_;
  std::vector<Namespace> nodes_;
  Namespace client_;
  std::set<int> links_down_;  // Node indexes whose hub-side link is down.
  std::set<int> nft_tables_;  // Node indexes with our nftables table.
};

// Tries a TCP connection from inside the namespace `netns_fd` to
// `address`:`port` for at most `timeout_ms`. True if it was established.
bool CanConnect(int netns_fd, const std::string& address, uint16_t port, int timeout_ms);

}  // namespace ringkv::drills

#endif  // RINGKV_TESTS_DRILLS_NETNS_H_
