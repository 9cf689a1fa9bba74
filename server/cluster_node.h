// server/cluster_node.h: the adapter that binds the cluster's pure protocol
// objects (cluster::Coordinator, cluster::Gossip) to libuv: the peer port,
// one outbound link per member with reconnection and backoff, routing of
// messages, timers, forwarding of writes from a node that is not a key's
// replica, and membership (cluster_gossip.cc).
//
// Membership: the members are what gossip knows (the configured ones from
// the start, the persisted list of the last run, and whoever joins through
// gossip), and the ring is claimed afresh from that set whenever it changes
// (cluster/membership.h), so every node converges to the same ring. A
// suspect member stays in the ring. Adding a member changes ownership but
// moves no data yet (ownership transfer is a later layer).
//
// Handlers call Read and Write; their callbacks may run inside the call
// (when the quorum is local) or in a later iteration. Messages produced by
// any event are queued on the peer connections and leave at the end of the
// iteration, after the group commit (SealAndFlush).
//
// Routing: requests go out on this node's outbound link to the member;
// replies go back on the inbound connection the request came in on. Put
// replies to one peer are batched there until the end of the iteration
// (PeerConnection::QueuePutReply) and leave as one RK.PUTRS.
//
// Thread safety: loop thread only.
#ifndef RINGKV_SERVER_CLUSTER_NODE_H_
#define RINGKV_SERVER_CLUSTER_NODE_H_

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cluster/coordinator.h"
#include "cluster/engine_store.h"
#include "cluster/gossip.h"
#include "cluster/peer_protocol.h"
#include "cluster/ring.h"

namespace ringkv::server {

class Server;
class PeerConnection;

struct WriteOutcome {
  bool ok = false;
  uint32_t acks = 0;
  uint32_t required = 0;
  std::string error;  // A store or routing failure; empty for a quorum miss.
};

struct ClusterStats {
  uint64_t peer_auth_failures = 0;
  uint64_t peer_protocol_errors = 0;
  uint64_t messages_dropped = 0;  // No link, or the peer's queue was full.
  uint64_t forwards_sent = 0;
  uint64_t forwards_served = 0;
  uint64_t forward_failures = 0;
  uint64_t gossip_messages_sent = 0;
  uint64_t gossip_messages_unsent = 0;  // No authenticated link, or its queue was full.
  uint64_t ring_changes = 0;            // SetRing after the member set changed.
  uint64_t members_persist_failures = 0;
};

class ClusterNode {
 public:
  using WriteDone = std::function<void(const WriteOutcome&)>;
  using Settled = std::function<void(uint32_t total_acks)>;

  explicit ClusterNode(Server* server);
  ~ClusterNode();

  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  // Loads the member list, builds the ring, listens on the peer port (when
  // this node is part of a cluster), starts dialling the members and the
  // gossip rounds.
  bool Start(std::string* error);
  void Stop();

  // True when this node is part of a cluster (other members listed, or
  // seeds): the commands then go through quorums.
  bool clustered() const { return clustered_; }

  // Membership (cluster_gossip.cc).
  // True if gossip holds member `name` suspect (its heartbeat stopped).
  bool IsSuspect(std::string_view name) const;
  // Whether this node may coordinate a request now. False, with the error
  // reply in *error (TRYAGAIN ...), while a node that started knowing only
  // itself has not yet heard from the cluster, or knows fewer members than
  // the N replicas a key needs.
  bool CanCoordinate(std::string* error) const;
  // What MEMBERS shows: self first, then by name.
  std::vector<cluster::MemberStatus> Members() const;
  const cluster::Gossip& gossip() const { return *gossip_; }
  const cluster::Ring& ring() const { return coordinator_->ring(); }
  cluster::Coordinator& coordinator() { return *coordinator_; }
  cluster::Consistency default_consistency() const { return default_consistency_; }
  const ClusterStats& stats() const { return stats_; }

  void Read(std::string_view key, cluster::Consistency consistency,
            cluster::Coordinator::ReadCallback done);
  // Writes through the coordinator when this node is a replica of `key`,
  // otherwise forwards the write to the first reachable replica.
  void Write(std::string_view key, storage::Sibling version,
             const storage::VersionVector* context, cluster::Consistency consistency,
             WriteDone done, Settled settled = {});

  // Group commit hooks, called by the Server after each commit and each
  // completed sync.
  void SealAndFlush(uint64_t required_sequence, uint64_t durable_sequence);
  void FlushDurable(uint64_t durable_sequence);
  bool has_held_output() const;
  // After a failed commit: closes every peer connection with output of the
  // iteration not yet sealed (it may acknowledge lost writes).
  void DropUnsentOutput();

  // INFO's cluster section (its membership part: AppendMembershipInfo).
  std::string InfoSection();
  size_t authenticated_links() const;

  // For PeerConnection.
  Server& server() { return *server_; }
  const std::string& self() const;
  const std::string& secret() const;
  void OnPeerAuthenticated(PeerConnection* connection);
  void OnPeerAuthFailed(PeerConnection* connection, const std::string& reason);
  void OnPeerMessage(PeerConnection* connection, std::span<std::string> args);
  // Starts loading what the replica reads found in `input` will read
  // (cluster::FindGetRequestKeys), so that their misses overlap.
  void PrefetchReplicaReads(std::string_view input);
  void OnPeerClosed(PeerConnection* connection);

 private:
  static constexpr int64_t kReconnectMinMs = 100;
  static constexpr int64_t kReconnectMaxMs = 5000;

  // One outbound link: a member dialled, or a seed address (not yet known as
  // a member) that gossip sends its table to; the current connection (if
  // any) and the reconnection state.
  struct Link {
    ClusterNode* node;
    std::string name;  // The member; for a seed, the name learned at handshake.
    std::string host;
    int port;
    // A seed link's address as configured ("host:peer_port"); empty for a
    // member link. A seed link accepts whichever member answers there, and
    // is dialled only while gossip still sends to that address.
    std::string seed;
    bool wanted = true;  // Seed links: targeted by the latest round.
    PeerConnection* connection = nullptr;  // Owned by node->connections_.
    uv_timer_t timer;
    uv_getaddrinfo_t resolve;
    bool resolving = false;
    int64_t backoff_ms;
  };
  // A write forwarded to a replica: its reply (`done`) and, later, its
  // settlement (`settled`: every replica answered, for WAIT).
  struct PendingForward {
    WriteDone done;
    Settled settled;
    int64_t deadline_ms;
    std::string to;
    uint32_t required;
    bool done_fired = false;
    uint32_t acks = 0;
  };

  // Marks a call into the coordinator, whose callbacks may call back into
  // this object (see Pump).
  class CoordinatorCall {
   public:
    explicit CoordinatorCall(ClusterNode* node) : node_(node) { ++node_->coordinator_depth_; }
    ~CoordinatorCall() { End(); }
    void End() {
      if (node_) --node_->coordinator_depth_;
      node_ = nullptr;
    }

   private:
    ClusterNode* node_;
  };

  static void OnPeerConnection(uv_stream_t* listener, int status);
  static void OnTick(uv_timer_t* timer);
  static void OnTickCheck(uv_check_t* check);
  static void OnReconnect(uv_timer_t* timer);
  static void OnResolved(uv_getaddrinfo_t* request, int status, addrinfo* result);

  Link* AddLink(std::string name, std::string host, int port, std::string seed);
  void Dial(Link* link);
  void ScheduleReconnect(Link* link);
  // Sends the coordinator's outbox (answering what cannot be sent with
  // failed replies) and re-arms the tick.
  void Pump();
  // Re-arms the tick at the coordinator's next deadline, kTickMs at most.
  void ArmTick();
  // The last PutRequest Route encoded from the batch being routed (it
  // points into that batch), and its bytes.
  struct EncodedPut {
    const cluster::PutRequest* request = nullptr;
    std::string bytes;
  };
  void Route(const cluster::Envelope& envelope, std::vector<cluster::Envelope>* failed,
             EncodedPut* last_put);
  void HandleForward(PeerConnection* connection, std::span<std::string> args);
  void HandleForwardReply(std::span<std::string> args);
  void ExpireForwards(int64_t now_ms);
  PeerConnection* LinkTo(const std::string& member) const;

  // Gossip (cluster_gossip.cc).
  static void OnGossipTimer(uv_timer_t* timer);
  bool InitGossip(std::string* error);
  int64_t GossipNowMs() const;
  void ArmGossipTimer();
  void SendGossipRound(const std::vector<cluster::GossipTarget>& targets);
  bool SendTable(PeerConnection* connection);
  bool HandleGossip(PeerConnection* connection, std::span<std::string> args,
                    std::string* error);
  // The one place gossip's events are acted on: logged, links made for new
  // members, the ring recomputed, the coordinator told who is down (suspect)
  // or up (alive, joined, new incarnation), the member list persisted.
  void OnGossipEvents(const std::vector<cluster::GossipEvent>& events);
  // A member is back (gossip says alive, or it connected to us): dial its
  // link now if it is waiting out a reconnection backoff.
  void RedialNow(const std::string& member);
  // A link for every known member, at the address gossip knows for it.
  void SyncMemberLinks();
  void RefreshRing();
  void PersistMembers();
  void AppendMembershipInfo(std::string* out) const;
  // INFO's hinted-handoff fields: totals, then one line per target.
  void AppendHintsInfo(std::string* out) const;

  Server* server_;  // Not owned; owns this object.
  bool clustered_ = false;
  cluster::Consistency default_consistency_;
  std::unique_ptr<cluster::EngineStore> store_;
  std::unique_ptr<cluster::Coordinator> coordinator_;
  uv_tcp_t listener_;
  uv_timer_t tick_;
  // The tick's work runs in the check phase, after the poll that follows
  // its timer (see OnTick); the idle handle keeps that poll from blocking.
  uv_check_t tick_check_;
  uv_idle_t tick_idle_;
  uv_timer_t gossip_timer_;
  std::unique_ptr<cluster::Gossip> gossip_;
  bool listening_ = false;
  bool stopping_ = false;
  std::unordered_map<PeerConnection*, std::unique_ptr<PeerConnection>> connections_;
  std::unordered_map<std::string, PeerConnection*> inbound_;  // By member name.
  // Links live as long as this object (their timers close in Stop): at most
  // one per member (kGossipMembersMax) plus one per configured seed.
  std::vector<std::unique_ptr<Link>> links_;
  std::unordered_map<std::string, Link*> member_links_;  // By member name.
  std::unordered_map<uint64_t, PendingForward> forwards_;
  uint64_t next_forward_id_ = 1;
  int coordinator_depth_ = 0;
  std::vector<cluster::Envelope> undeliverable_;  // Failed replies to deliver.
  std::vector<cluster::Envelope> outbox_batch_;   // Pump's, its capacity kept.
  EncodedPut last_put_;                           // Route's, reused across batches.
  ClusterStats stats_;
};

}  // namespace ringkv::server

#endif  // RINGKV_SERVER_CLUSTER_NODE_H_
