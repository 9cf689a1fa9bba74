// server/cluster_gossip.cc: the membership half of ClusterNode, the libuv
// adapter of cluster::Gossip. Rounds run on a timer re-armed at
// Gossip::NextDeadlineMs; tables go out as RK.GOSSIP on the outbound links
// (to members, and to seed addresses through links that learn the member's
// name at the handshake) and come in on the inbound ones. What a membership
// change does to the node happens in OnGossipEvents. docs/gossip.md has the
// protocol and "Running in a node" how it is wired.
#include <algorithm>
#include <cassert>
#include <cinttypes>

#include "cluster/membership.h"
#include "cluster/peer_protocol.h"
#include "server/cluster_node.h"
#include "server/log.h"
#include "server/peer_connection.h"
#include "server/server.h"
#include "storage/engine.h"

namespace ringkv::server {
namespace {

// The engine meta entry that keeps EncodeMembers(Table()) across restarts.
constexpr std::string_view kMembersMetaName = "members";

const char* StateName(cluster::MemberState state) {
  return state == cluster::MemberState::kAlive ? "alive" : "suspect";
}

}  // namespace

int64_t ClusterNode::GossipNowMs() const {
  // Silence is measured on the loop's monotonic clock: the wall clock may
  // jump, and a jump must not look like a dead cluster.
  return static_cast<int64_t>(uv_now(server_->loop()));
}

bool ClusterNode::InitGossip(std::string* error) {
  const Config& config = server_->config();
  const storage::NodeIdentity& identity = server_->engine().identity();
  cluster::MemberRecord self;
  self.name = config.name;
  self.host = config.advertise_host.empty() ? config.bind : config.advertise_host;
  self.port = static_cast<uint16_t>(config.port);
  self.peer_port = static_cast<uint16_t>(config.peer_port);
  for (const MemberConfig& member : config.members) {
    if (member.name == config.name) self.weight = static_cast<uint32_t>(member.weight);
  }
  self.incarnation = identity.actor;
  self.created_ms = static_cast<uint64_t>(identity.created_ms);
  std::string reason;
  if (!cluster::ValidateMemberRecord(self, &reason)) {
    *error = "this node's member record is invalid: " + reason;
    return false;
  }
  cluster::GossipOptions options = cluster::GossipOptions::ForInterval(config.gossip_interval_ms);
  options.fanout = static_cast<uint32_t>(config.gossip_fanout);
  options.suspect_after_ms = SuspectAfterMs(config);
  gossip_ = std::make_unique<cluster::Gossip>(self, options, identity.actor ^ uv_hrtime());
  if (clustered_) {
    // The last run's members first: their records carry incarnations, which
    // the configured placeholders below do not replace.
    std::string bytes;
    storage::Status status = server_->engine().GetMeta(kMembersMetaName, &bytes);
    std::vector<cluster::MemberRecord> persisted;
    if (status.ok() && !cluster::DecodeMembers(bytes, &persisted, &reason)) {
      Log(LogLevel::kWarning, "gossip: ignoring the persisted member list: %s", reason.c_str());
    } else if (!status.ok() && !status.IsNotFound()) {
      Log(LogLevel::kWarning, "gossip: cannot read the persisted member list: %s",
          status.ToString().c_str());
    }
    if (!persisted.empty()) {
      gossip_->AddKnown(persisted);
      Log(LogLevel::kNotice, "gossip: loaded the member list of the last run (%zu members)",
          gossip_->MemberCount());
    }
    for (const MemberConfig& member : config.members) {
      cluster::MemberRecord record;
      record.name = member.name;
      record.host = member.host;
      record.port = static_cast<uint16_t>(member.port);
      record.peer_port = static_cast<uint16_t>(member.peer_port);
      record.weight = static_cast<uint32_t>(member.weight);
      if (!gossip_->AddConfigured(record)) {
        *error = "cluster member '" + member.name + "' cannot be gossiped (name or host too long)";
        return false;
      }
    }
    for (const std::string& seed : config.seeds) {
      if (!gossip_->AddSeed(seed)) {
        *error = "bad seed '" + seed + "'";
        return false;
      }
    }
    if (self.host == "0.0.0.0" || self.host == "::") {
      Log(LogLevel::kWarning,
          "gossip: this node advertises %s, which peers cannot dial; "
          "set node.advertise_host",
          self.host.c_str());
    }
  }
  uv_update_time(server_->loop());
  gossip_->Start(GossipNowMs());
  RefreshRing();
  if (ring().members().empty()) {
    *error = "cannot claim a ring for the " + std::to_string(gossip_->MemberCount()) +
             " known members with " + std::to_string(config.partitions) + " partitions";
    return false;
  }
  return true;
}

void ClusterNode::ArmGossipTimer() {
  if (stopping_ || !clustered_) return;
  int64_t delay_ms = std::max<int64_t>(0, gossip_->NextDeadlineMs() - GossipNowMs());
  uv_timer_start(&gossip_timer_, OnGossipTimer, static_cast<uint64_t>(delay_ms), 0);
}

void ClusterNode::OnGossipTimer(uv_timer_t* timer) {
  ClusterNode* node = static_cast<ClusterNode*>(timer->data);
  if (node->stopping_) return;
  uint64_t rounds_before = node->gossip_->stats().rounds;
  cluster::GossipTickResult result = node->gossip_->Tick(node->GossipNowMs());
  if (node->gossip_->stats().rounds != rounds_before) node->SendGossipRound(result.targets);
  node->OnGossipEvents(result.events);
  node->ArmGossipTimer();
}

// ---- Sending ------------------------------------------------------------------

void ClusterNode::SendGossipRound(const std::vector<cluster::GossipTarget>& targets) {
  std::string bytes;
  cluster::EncodeGossip({self(), gossip_->Table()}, &bytes);
  const size_t queue_max = static_cast<size_t>(server_->config().peer_queue_bytes_max);
  auto deliver = [&](PeerConnection* connection) {
    if (connection == nullptr || connection->pending_bytes() > queue_max) {
      ++stats_.gossip_messages_unsent;
      return;
    }
    connection->output().append(bytes);
    ++stats_.gossip_messages_sent;
  };
  for (auto& link : links_) {
    if (!link->seed.empty()) link->wanted = false;
  }
  for (const cluster::GossipTarget& target : targets) {
    if (target.kind == cluster::GossipTarget::Kind::kMember) {
      deliver(LinkTo(target.to));
      continue;
    }
    // A seed address not yet known as a member: its link is made on first
    // use and kept while rounds still go there.
    Link* link = nullptr;
    for (auto& candidate : links_) {
      if (candidate->seed == target.to) link = candidate.get();
    }
    if (link == nullptr) {
      std::string host;
      uint16_t port = 0;
      if (stopping_ || !cluster::ParsePeerAddress(target.to, &host, &port)) continue;
      link = AddLink("", std::move(host), port, target.to);
    }
    if (link->name == self()) continue;  // Our own address, spelled another way.
    link->wanted = true;
    PeerConnection* connection = link->connection;
    if (connection && connection->authenticated() && !connection->closing()) {
      deliver(connection);
    } else {
      // Dialled now; the handshake's end sends the table (OnPeerAuthenticated).
      ++stats_.gossip_messages_unsent;
      if (!connection && !link->resolving &&
          !uv_is_active(reinterpret_cast<uv_handle_t*>(&link->timer))) {
        Dial(link);
      }
    }
  }
  // Seeds now known as members are reached through their member links.
  for (auto& link : links_) {
    if (link->seed.empty() || link->wanted) continue;
    uv_timer_stop(&link->timer);
    if (link->connection) link->connection->Close();
  }
}

bool ClusterNode::SendTable(PeerConnection* connection) {
  if (connection->pending_bytes() > static_cast<size_t>(server_->config().peer_queue_bytes_max)) {
    ++stats_.gossip_messages_unsent;
    return false;
  }
  cluster::EncodeGossip({self(), gossip_->Table()}, &connection->output());
  ++stats_.gossip_messages_sent;
  return true;
}

// ---- Receiving ----------------------------------------------------------------

bool ClusterNode::HandleGossip(PeerConnection* connection, std::span<std::string> args,
                               std::string* error) {
  cluster::GossipMessage message;
  if (!cluster::DecodeGossip(args, &message, error)) return false;
  if (message.sender != connection->member()) {
    *error = "sender is not the authenticated peer";
    return false;
  }
  std::vector<cluster::GossipEvent> events = gossip_->OnGossip(message.table, GossipNowMs());
  // A member restarted on the same data directory may be back at another
  // address without any event: follow the record gossip now holds.
  for (const cluster::MemberRecord& record : message.table) {
    if (record.name != self() && member_links_.count(record.name) == 1) {
      const cluster::MemberRecord* current = gossip_->Find(record.name);
      Link* link = member_links_[record.name];
      if (current && (link->host != current->host || link->port != current->peer_port)) {
        SyncMemberLinks();
        break;
      }
    }
  }
  OnGossipEvents(events);
  ArmGossipTimer();
  return true;
}

// ---- Membership changes ---------------------------------------------------------

void ClusterNode::OnGossipEvents(const std::vector<cluster::GossipEvent>& events) {
  if (events.empty()) return;
  using Kind = cluster::GossipEvent::Kind;
  bool members_changed = false;
  // (member, down) in event order, applied once the ring is updated.
  std::vector<std::pair<std::string, bool>> views;
  for (const cluster::GossipEvent& event : events) {
    const cluster::MemberRecord* record = gossip_->Find(event.member);
    const char* name = event.member.c_str();
    std::string incarnation = record ? storage::ActorToHex(record->incarnation) : "?";
    unsigned long long heartbeat = record ? record->heartbeat : 0;
    switch (event.kind) {
      case Kind::kJoined:
        Log(LogLevel::kNotice, "gossip: member %s joined (%s, incarnation %s)", name,
            record ? cluster::PeerAddress(*record).c_str() : "?", incarnation.c_str());
        members_changed = true;
        views.emplace_back(event.member, false);
        break;
      case Kind::kIncarnationChanged:
        Log(LogLevel::kNotice,
            "gossip: member %s changed incarnation to %s (its data directory was re-created)", name,
            incarnation.c_str());
        members_changed = true;
        // Up, as a new actor. Hints held for the old incarnation are still
        // due to the member: they are merges, whatever its actor.
        views.emplace_back(event.member, false);
        break;
      case Kind::kSuspect:
        Log(LogLevel::kWarning,
            "gossip: member %s is suspect (heartbeat %llu not advanced for %" PRId64 " ms)", name,
            heartbeat, gossip_->options().suspect_after_ms);
        // Down (a temporary failure): its slots go to stand-ins at once,
        // with hints naming it, and no hints are delivered to it.
        views.emplace_back(event.member, true);
        break;
      case Kind::kAlive:
        Log(LogLevel::kNotice, "gossip: member %s is alive again (heartbeat %llu)", name,
            heartbeat);
        // Back: the hints held for it are due at once (the coordinator's
        // next OnTick), and its link is dialled now rather than at the end
        // of a reconnection backoff grown while it was away.
        views.emplace_back(event.member, false);
        break;
      case Kind::kSelfConflict:
        Log(LogLevel::kWarning,
            "gossip: SELF CONFLICT: a peer gossips this node's name %s with a newer "
            "incarnation than ours (%s): two nodes share the name, or an old copy of this "
            "data directory was restored",
            name, storage::ActorToHex(gossip_->self().incarnation).c_str());
        break;
    }
  }
  if (members_changed) {
    SyncMemberLinks();
    RefreshRing();
  }
  // After the ring, so a member that just joined is a delivery target.
  // Not inside a coordinator callback: gossip runs from its own timer and
  // from peer messages.
  assert(coordinator_depth_ == 0);
  for (const auto& [member, down] : views) {
    coordinator_->SetDown(member, down);
    if (!down) RedialNow(member);
  }
  PersistMembers();
  // Delivery made due now: the tick is re-armed to run it.
  Pump();
}

void ClusterNode::RedialNow(const std::string& member) {
  if (stopping_) return;
  auto it = member_links_.find(member);
  if (it == member_links_.end()) return;
  Link* link = it->second;
  link->backoff_ms = kReconnectMinMs;
  if (link->connection || link->resolving) return;
  uv_timer_stop(&link->timer);
  Dial(link);
}

void ClusterNode::SyncMemberLinks() {
  if (stopping_ || !clustered_) return;
  for (const cluster::MemberStatus& member : gossip_->Members(GossipNowMs())) {
    if (member.self) continue;
    const cluster::MemberRecord& record = member.record;
    auto it = member_links_.find(record.name);
    if (it == member_links_.end()) {
      Dial(AddLink(record.name, record.host, record.peer_port, ""));
      continue;
    }
    Link* link = it->second;
    if (link->host == record.host && link->port == record.peer_port) continue;
    Log(LogLevel::kNotice, "peer %s: now at %s", record.name.c_str(),
        cluster::PeerAddress(record).c_str());
    link->host = record.host;
    link->port = record.peer_port;
    link->backoff_ms = kReconnectMinMs;
    // The connection closes and the reconnection dials the new address.
    if (link->connection) link->connection->Close();
  }
}

void ClusterNode::RefreshRing() {
  // Coordinator::SetRing must not run inside one of its own callbacks.
  assert(coordinator_depth_ == 0);
  std::vector<cluster::RingMember> members =
      cluster::RingMembersFrom(gossip_->Members(GossipNowMs()));
  if (cluster::RingHasMembers(ring(), members)) return;
  bool first = ring().members().empty();
  size_t count = members.size();
  std::string reason;
  std::optional<cluster::Ring> next = cluster::RingFromMembers(
      static_cast<uint32_t>(server_->config().partitions), std::move(members), &reason);
  if (!next) {
    Log(LogLevel::kWarning, "ring: keeping the ring of %zu members: %s", ring().members().size(),
        reason.c_str());
    return;
  }
  coordinator_->SetRing(*next);
  if (first) return;
  ++stats_.ring_changes;
  int index = ring().MemberIndex(self());
  Log(LogLevel::kNotice,
      "ring: claimed again for %zu members; this node owns %u of %u partitions (data is not "
      "moved to new owners yet)",
      count, index >= 0 ? ring().OwnedCount(static_cast<uint32_t>(index)) : 0,
      ring().partition_count());
  if (count > gossip_->options().full_mesh_members_max &&
      gossip_->options().suspect_after_ms < 8 * gossip_->options().interval_ms) {
    Log(LogLevel::kWarning,
        "gossip: %zu members is past the full mesh (%u); suspect_after_ms %" PRId64
        " is below the 8 intervals docs/gossip.md measured as needed at fanout 2",
        count, gossip_->options().full_mesh_members_max, gossip_->options().suspect_after_ms);
  }
}

void ClusterNode::PersistMembers() {
  if (!clustered_) return;
  std::string bytes;
  cluster::EncodeMembers(gossip_->Table(), &bytes);
  storage::Status status = server_->engine().PutMeta(kMembersMetaName, bytes);
  if (!status.ok()) {
    ++stats_.members_persist_failures;
    Log(LogLevel::kWarning, "gossip: cannot persist the member list: %s",
        status.ToString().c_str());
  }
}

// ---- Queries ------------------------------------------------------------------------

bool ClusterNode::IsSuspect(std::string_view name) const { return gossip_->IsSuspect(name); }

std::vector<cluster::MemberStatus> ClusterNode::Members() const {
  return gossip_->Members(GossipNowMs());
}

bool ClusterNode::CanCoordinate(std::string* error) const {
  if (!clustered_) return true;
  if (gossip_->MemberCount() < 2) {
    *error = "TRYAGAIN cluster membership not yet known: no seed has answered";
    return false;
  }
  size_t members = ring().members().size();
  if (members < default_consistency_.n) {
    *error = "TRYAGAIN cluster has " + std::to_string(members) +
             " known members, fewer than N = " + std::to_string(default_consistency_.n) +
             " replicas";
    return false;
  }
  return true;
}

void ClusterNode::AppendMembershipInfo(std::string* out) const {
  const cluster::GossipStats& stats = gossip_->stats();
  const cluster::GossipOptions& options = gossip_->options();
  size_t alive = gossip_->AliveCount();
  char line[512];
  snprintf(line, sizeof(line),
           "members_alive:%zu\r\nmembers_suspect:%zu\r\nmembership_known:%d\r\n"
           "gossip_interval_ms:%" PRId64 "\r\ngossip_fanout:%u\r\nsuspect_after_ms:%" PRId64
           "\r\ngossip_rounds:%" PRIu64 "\r\ngossip_tables_received:%" PRIu64
           "\r\ngossip_messages_sent:%" PRIu64 "\r\ngossip_messages_unsent:%" PRIu64
           "\r\ngossip_local_pauses:%" PRIu64 "\r\ngossip_self_conflicts:%" PRIu64
           "\r\nring_changes:%" PRIu64 "\r\n",
           alive, gossip_->MemberCount() - alive, !clustered_ || gossip_->MemberCount() > 1,
           options.interval_ms, options.fanout, options.suspect_after_ms, stats.rounds,
           stats.tables_received, stats_.gossip_messages_sent, stats_.gossip_messages_unsent,
           stats.local_pauses, stats.self_conflicts, stats_.ring_changes);
  out->append(line);
  for (const cluster::MemberStatus& member : Members()) {
    // Names are free text in the config: keep the line one INFO field.
    std::string name = member.record.name;
    for (char& c : name) {
      if (c == ':' || c == '\r' || c == '\n' || c == ',') c = '_';
    }
    snprintf(line, sizeof(line), "member_%s:state=%s,heartbeat=%" PRIu64 ",age_ms=%" PRId64 "\r\n",
             name.substr(0, 255).c_str(), StateName(member.state), member.record.heartbeat,
             member.age_ms);
    out->append(line);
  }
}

}  // namespace ringkv::server
