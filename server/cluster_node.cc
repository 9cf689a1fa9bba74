#include "server/cluster_node.h"

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdio>
#include <optional>

#include "server/arguments.h"
#include "server/cluster_commands.h"
#include "server/log.h"
#include "server/peer_connection.h"
#include "server/server.h"
#include "server/write_context.h"

namespace ringkv::server {
namespace {

// The tick runs at least this often (forwards' deadlines, WAIT, handshake
// timeouts), and sooner when the coordinator has work due.
constexpr int64_t kTickMs = 20;
constexpr int64_t kHandshakeTimeoutMs = 5000;

void CloseHandle(uv_handle_t* handle) {
  if (!uv_is_closing(handle)) uv_close(handle, nullptr);
}

cluster::CoordinatorOptions CoordinatorOptionsFrom(const Config& config) {
  cluster::CoordinatorOptions options;
  options.request_timeout_ms = config.request_timeout_ms;
  options.sloppy_quorum = config.sloppy_quorum;
  options.hint_after_ms = HintAfterMs(config);
  options.read_repair_chance = config.read_repair_chance;
  options.read_retry_after_ms = config.read_retry_after_ms;
  return options;
}

}  // namespace

ClusterNode::ClusterNode(Server* server) : server_(server) {
  listener_.data = this;
  tick_.data = this;
  tick_check_.data = this;
  gossip_timer_.data = this;
}

ClusterNode::~ClusterNode() = default;

const std::string& ClusterNode::self() const { return server_->config().name; }
const std::string& ClusterNode::secret() const { return server_->config().secret; }

bool ClusterNode::Start(std::string* error) {
  const Config& config = server_->config();
  clustered_ = IsClustered(config);
  default_consistency_ = {static_cast<uint32_t>(config.n), static_cast<uint32_t>(config.w),
                          static_cast<uint32_t>(config.r)};
  store_ = std::make_unique<cluster::EngineStore>(&server_->engine());
  coordinator_ = std::make_unique<cluster::Coordinator>(config.name, store_.get(),
                                                        CoordinatorOptionsFrom(config));
  uv_timer_init(server_->loop(), &tick_);
  uv_check_init(server_->loop(), &tick_check_);
  uv_idle_init(server_->loop(), &tick_idle_);
  uv_timer_init(server_->loop(), &gossip_timer_);
  // Loads the members and sets the ring from them.
  if (!InitGossip(error)) return false;

  ArmTick();
  if (!clustered_) return true;

  sockaddr_storage address;
  int rc = uv_ip4_addr(config.bind.c_str(), static_cast<int>(config.peer_port),
                       reinterpret_cast<sockaddr_in*>(&address));
  if (rc != 0) {
    rc = uv_ip6_addr(config.bind.c_str(), static_cast<int>(config.peer_port),
                     reinterpret_cast<sockaddr_in6*>(&address));
  }
  uv_tcp_init(server_->loop(), &listener_);
  listening_ = true;
  if (rc == 0) rc = uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&address), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 128, OnPeerConnection);
  }
  if (rc != 0) {
    *error = "cannot listen on peer port " + config.bind + ":" + std::to_string(config.peer_port) +
             ": " + uv_strerror(rc);
    return false;
  }
  SyncMemberLinks();
  ArmGossipTimer();
  Log(LogLevel::kNotice, "cluster: %zu members known, %zu seeds, Q=%" PRId64 ", N=%" PRId64
      " W=%" PRId64 " R=%" PRId64 ", peer port %s:%" PRId64 ", gossip every %" PRId64
      " ms, suspect after %" PRId64 " ms",
      gossip_->MemberCount(), config.seeds.size(), config.partitions, config.n, config.w,
      config.r, config.bind.c_str(), config.peer_port, config.gossip_interval_ms,
      SuspectAfterMs(config));
  return true;
}

void ClusterNode::Stop() {
  if (stopping_) return;
  stopping_ = true;
  CloseHandle(reinterpret_cast<uv_handle_t*>(&tick_));
  CloseHandle(reinterpret_cast<uv_handle_t*>(&tick_check_));
  CloseHandle(reinterpret_cast<uv_handle_t*>(&tick_idle_));
  CloseHandle(reinterpret_cast<uv_handle_t*>(&gossip_timer_));
  if (listening_) CloseHandle(reinterpret_cast<uv_handle_t*>(&listener_));
  for (auto& link : links_) {
    CloseHandle(reinterpret_cast<uv_handle_t*>(&link->timer));
    if (link->resolving) uv_cancel(reinterpret_cast<uv_req_t*>(&link->resolve));
  }
  std::vector<PeerConnection*> open;
  for (auto& [pointer, connection] : connections_) open.push_back(pointer);
  for (PeerConnection* connection : open) connection->Close();
}

// ---- Links ------------------------------------------------------------------

ClusterNode::Link* ClusterNode::AddLink(std::string name, std::string host, int port,
                                        std::string seed) {
  auto link = std::make_unique<Link>();
  link->node = this;
  link->name = std::move(name);
  link->host = std::move(host);
  link->port = port;
  link->seed = std::move(seed);
  link->backoff_ms = kReconnectMinMs;
  uv_timer_init(server_->loop(), &link->timer);
  link->timer.data = link.get();
  link->resolve.data = link.get();
  Link* pointer = link.get();
  links_.push_back(std::move(link));
  if (pointer->seed.empty()) member_links_[pointer->name] = pointer;
  return pointer;
}

void ClusterNode::Dial(Link* link) {
  if (stopping_ || link->resolving || link->connection) return;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  std::string port = std::to_string(link->port);
  link->resolving = true;
  int rc = uv_getaddrinfo(server_->loop(), &link->resolve, OnResolved, link->host.c_str(),
                          port.c_str(), &hints);
  if (rc != 0) {
    link->resolving = false;
    ScheduleReconnect(link);
  }
}

void ClusterNode::OnResolved(uv_getaddrinfo_t* request, int status, addrinfo* result) {
  Link* link = static_cast<Link*>(request->data);
  ClusterNode* node = link->node;
  link->resolving = false;
  if (node->stopping_ || status < 0 || result == nullptr) {
    if (result) uv_freeaddrinfo(result);
    if (!node->stopping_) {
      Log(LogLevel::kVerbose, "peer %s: cannot resolve %s: %s",
          link->name.empty() ? link->seed.c_str() : link->name.c_str(),
          link->host.c_str(), uv_strerror(status));
      node->ScheduleReconnect(link);
    }
    return;
  }
  if (!link->wanted) {  // A seed link no longer needed while it resolved.
    uv_freeaddrinfo(result);
    return;
  }
  // A seed link takes whichever member answers at its address.
  auto connection = std::make_unique<PeerConnection>(node, PeerConnection::Role::kOutbound,
                                                     link->seed.empty() ? link->name : "");
  PeerConnection* pointer = connection.get();
  node->connections_.emplace(pointer, std::move(connection));
  link->connection = pointer;
  int rc = pointer->Connect(result->ai_addr);
  uv_freeaddrinfo(result);
  if (rc != 0) pointer->Close();  // OnPeerClosed schedules the retry.
}

void ClusterNode::ScheduleReconnect(Link* link) {
  if (stopping_ || !link->wanted) return;
  uv_timer_start(&link->timer, OnReconnect, static_cast<uint64_t>(link->backoff_ms), 0);
  link->backoff_ms = std::min(link->backoff_ms * 2, kReconnectMaxMs);
}

void ClusterNode::OnReconnect(uv_timer_t* timer) {
  Link* link = static_cast<Link*>(timer->data);
  link->node->Dial(link);
}

PeerConnection* ClusterNode::LinkTo(const std::string& member) const {
  auto it = member_links_.find(member);
  if (it == member_links_.end()) return nullptr;
  PeerConnection* connection = it->second->connection;
  if (connection && connection->authenticated() && !connection->closing()) return connection;
  return nullptr;
}

size_t ClusterNode::authenticated_links() const {
  size_t count = 0;
  for (const auto& [name, link] : member_links_) count += LinkTo(name) != nullptr;
  return count;
}

// ---- Connections --------------------------------------------------------------

void ClusterNode::OnPeerConnection(uv_stream_t* listener, int status) {
  ClusterNode* node = static_cast<ClusterNode*>(listener->data);
  if (status < 0 || node->stopping_) return;
  auto connection = std::make_unique<PeerConnection>(node, PeerConnection::Role::kInbound, "");
  PeerConnection* pointer = connection.get();
  node->connections_.emplace(pointer, std::move(connection));
  if (pointer->Accept(listener) != 0) pointer->Close();
}

void ClusterNode::OnPeerAuthenticated(PeerConnection* connection) {
  if (connection->role() == PeerConnection::Role::kInbound) {
    inbound_[connection->member()] = connection;
    // The peer is evidently running (a restart, a healed network): dial it
    // back now instead of at the end of a backoff grown while it was away,
    // so it hears our table (and its hints) without waiting seconds.
    RedialNow(connection->member());
    return;
  }
  for (auto& link : links_) {
    if (link->connection != connection) continue;
    link->backoff_ms = kReconnectMinMs;
    if (!link->seed.empty()) {
      link->name = connection->member();
      if (link->name == self()) {
        // Our own address spelled another way: never dial it again.
        Log(LogLevel::kNotice, "seed %s is this node; not using it", link->seed.c_str());
        link->wanted = false;
        connection->Close();
        return;
      }
      Log(LogLevel::kNotice, "peer %s: connected (seed %s)", link->name.c_str(),
          link->seed.c_str());
    } else {
      Log(LogLevel::kNotice, "peer %s: connected", connection->member().c_str());
    }
  }
  // A fresh link carries our table at once: a seed learns of us without
  // waiting for a round, and a restarted peer hears our heartbeat.
  SendTable(connection);
}

void ClusterNode::OnPeerAuthFailed(PeerConnection* connection, const std::string& reason) {
  ++stats_.peer_auth_failures;
  Log(LogLevel::kWarning, "peer %s: handshake failed: %s",
      connection->member().empty() ? "(unknown)" : connection->member().c_str(), reason.c_str());
}

void ClusterNode::OnPeerClosed(PeerConnection* connection) {
  if (connection->role() == PeerConnection::Role::kInbound) {
    auto it = inbound_.find(connection->member());
    if (it != inbound_.end() && it->second == connection) {
      inbound_.erase(it);
      // A peer may have two links to us for a while (a seed link and its
      // member link): replies go on the one that stays.
      for (auto& [pointer, other] : connections_) {
        if (pointer != connection && other->role() == PeerConnection::Role::kInbound &&
            other->authenticated() && !other->closing() &&
            other->member() == connection->member()) {
          inbound_[other->member()] = pointer;
          break;
        }
      }
    }
  } else {
    for (auto& link : links_) {
      if (link->connection != connection) continue;
      link->connection = nullptr;
      if (!link->wanted) {
        // A seed link closed on purpose: its member is known (or it is us).
        Log(LogLevel::kVerbose, "seed %s: link closed, no longer needed", link->seed.c_str());
      } else if (connection->authenticated()) {
        Log(LogLevel::kNotice, "peer %s: disconnected", link->name.c_str());
      }
      ScheduleReconnect(link.get());
    }
  }
  connections_.erase(connection);
}

// ---- Messages -----------------------------------------------------------------

// A replica answers a coordinator's conditional reads from the digest
// cache, one line per key, and that line is most often a miss
// (docs/benchmarks.md, twenty-third pass): loading the lines of a socket
// read's requests before serving them makes the misses overlap. 256 keys
// cover a read of a loaded coordinator's requests (about 60 a read in the
// benchmark); those past them are served as before.
void ClusterNode::PrefetchReplicaReads(std::string_view input) {
  std::array<std::string_view, 256> keys;
  const size_t count = cluster::FindGetRequestKeys(input, keys);
  for (size_t i = 0; i < count; ++i) store_->PrefetchVersionDigest(keys[i]);
}

void ClusterNode::OnPeerMessage(PeerConnection* connection, std::span<std::string> args) {
  using cluster::PeerCommandKind;
  PeerCommandKind kind = cluster::Classify(args[0]);
  bool inbound = connection->role() == PeerConnection::Role::kInbound;
  std::string error;
  bool ok = true;
  switch (kind) {
    case PeerCommandKind::kPut:
    case PeerCommandKind::kGet:
    case PeerCommandKind::kPutReply:
    case PeerCommandKind::kGetReply: {
      bool is_request = kind == PeerCommandKind::kPut || kind == PeerCommandKind::kGet;
      cluster::Message message;
      ok = is_request == inbound && cluster::DecodeMessageTaking(args, &message, &error);
      if (ok) {
        CoordinatorCall call(this);
        coordinator_->OnMessage(connection->member(), std::move(message), server_->now_ms());
      }
      break;
    }
    case PeerCommandKind::kPutReplies: {
      std::vector<cluster::PutReply> replies;
      ok = !inbound && cluster::DecodePutReplies(args, &replies, &error);
      if (ok) {
        CoordinatorCall call(this);
        for (cluster::PutReply& reply : replies) {
          coordinator_->OnMessage(connection->member(), std::move(reply), server_->now_ms());
        }
      }
      break;
    }
    case PeerCommandKind::kSameReplies: {
      std::vector<uint64_t> ids;
      ok = !inbound && cluster::DecodeSameReplies(args, &ids, &error);
      if (ok) {
        CoordinatorCall call(this);
        for (uint64_t id : ids) {
          coordinator_->OnSameReply(connection->member(), id, server_->now_ms());
        }
      }
      break;
    }
    case PeerCommandKind::kForward:
      ok = inbound;
      if (ok) HandleForward(connection, args);
      break;
    case PeerCommandKind::kForwardReply:
      ok = !inbound;
      if (ok) HandleForwardReply(args);
      break;
    case PeerCommandKind::kGossip:
      ok = inbound && HandleGossip(connection, args, &error);
      break;
    default:
      ok = false;
      error = "unexpected message";
  }
  if (!ok) {
    ++stats_.peer_protocol_errors;
    Log(LogLevel::kWarning, "peer %s: bad message %.32s: %s", connection->member().c_str(),
        args[0].c_str(), error.empty() ? "wrong direction" : error.c_str());
    connection->Close();
  }
  Pump();
}

void ClusterNode::Pump() {
  // Requests that cannot be sent are answered here with a failed reply, so
  // the coordinator gives up on that replica at once (a stand-in takes its
  // slot) instead of at the deadline. The coordinator must not be
  // re-entered from its own callbacks, so only the outermost Pump delivers
  // them; delivering may start new requests (a callback's next step, or the
  // next stand-in), hence the bounded loop.
  for (int round = 0; round < 64; ++round) {
    // Routing never re-enters the coordinator, so a nested Pump (from a
    // callback below) finds outbox_batch_ free again.
    coordinator_->TakeOutbox(&outbox_batch_);
    last_put_.request = nullptr;  // Points into the batch only.
    for (cluster::Envelope& envelope : outbox_batch_) Route(envelope, &undeliverable_, &last_put_);
    last_put_.request = nullptr;
    outbox_batch_.clear();
    if (coordinator_depth_ > 0) return;
    if (undeliverable_.empty()) break;
    std::vector<cluster::Envelope> failed = std::move(undeliverable_);
    undeliverable_.clear();
    CoordinatorCall call(this);
    for (cluster::Envelope& reply : failed) {
      coordinator_->OnMessage(reply.to, std::move(reply.message), server_->now_ms());
    }
  }
  ArmTick();
}

void ClusterNode::ArmTick() {
  if (stopping_) return;
  // The coordinator's next deadline may be "now" (a hint delivery made due
  // by SetDown): a 0 ms timer runs in the next loop iteration.
  int64_t delay_ms = kTickMs;
  if (std::optional<int64_t> next = coordinator_->NextDeadlineMs()) {
    delay_ms = std::clamp<int64_t>(*next - server_->now_ms(), 0, kTickMs);
  }
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(&tick_)) &&
      static_cast<int64_t>(uv_timer_get_due_in(&tick_)) <= delay_ms) {
    return;
  }
  uv_timer_start(&tick_, OnTick, static_cast<uint64_t>(delay_ms), 0);
}

void ClusterNode::Route(const cluster::Envelope& envelope, std::vector<cluster::Envelope>* failed,
                        EncodedPut* last_put) {
  bool reply = std::holds_alternative<cluster::PutReply>(envelope.message) ||
               std::holds_alternative<cluster::GetReply>(envelope.message);
  PeerConnection* target = nullptr;
  if (reply) {
    auto it = inbound_.find(envelope.to);
    if (it != inbound_.end() && !it->second->closing()) target = it->second;
  } else {
    target = LinkTo(envelope.to);
  }
  if (target == nullptr || target->pending_bytes() >
                               static_cast<size_t>(server_->config().peer_queue_bytes_max)) {
    ++stats_.messages_dropped;
    // A lost reply is the requester's timeout to find; a request we could
    // not send is answered as failed on the replica's behalf.
    if (const auto* put = std::get_if<cluster::PutRequest>(&envelope.message)) {
      failed->push_back({envelope.to, cluster::PutReply{put->id, false, "no connection"}});
    } else if (const auto* get = std::get_if<cluster::GetRequest>(&envelope.message)) {
      cluster::GetReply failure;
      failure.id = get->id;
      failure.error = "no connection";
      failed->push_back({envelope.to, std::move(failure)});
    }
    return;
  }
  if (const auto* put_reply = std::get_if<cluster::PutReply>(&envelope.message)) {
    // Batched per connection until the end of the iteration: RK.PUTRS.
    target->QueuePutReply(*put_reply);
    return;
  }
  if (const auto* get_reply = std::get_if<cluster::GetReply>(&envelope.message);
      get_reply != nullptr && get_reply->ok && get_reply->same) {
    target->QueueSameReply(get_reply->id);  // The same way: RK.SAMES.
    return;
  }
  std::string& output = target->output();
  if (const auto* put = std::get_if<cluster::PutRequest>(&envelope.message);
      put != nullptr && put->encoded_set.empty()) {
    // A write whose set is not encoded yet goes to each replica as the same
    // request: encode it (and checksum its set) once, then copy the bytes.
    const cluster::PutRequest* last = last_put->request;
    if (last != nullptr && last->id == put->id && last->key == put->key &&
        last->hint_for == put->hint_for && last->set == put->set) {
      output.append(last_put->bytes);
      return;
    }
    const size_t start = output.size();
    cluster::EncodeMessage(*put, &output);
    last_put->request = put;
    last_put->bytes.assign(output, start);
    return;
  }
  std::visit([&](const auto& message) { cluster::EncodeMessage(message, &output); },
             envelope.message);
}

// ---- Reads and writes ---------------------------------------------------------------

void ClusterNode::Read(std::string_view key, cluster::Consistency consistency,
                       cluster::Coordinator::ReadCallback done) {
  {
    CoordinatorCall call(this);
    coordinator_->Read(key, consistency, server_->now_ms(), std::move(done));
  }
  Pump();
}

void ClusterNode::Write(std::string_view key, storage::Sibling version,
                        const storage::VersionVector* context, cluster::Consistency consistency,
                        WriteDone done, Settled settled) {
  if (coordinator_->IsReplica(key, consistency.n)) {
    CoordinatorCall call(this);
    coordinator_->Write(
        key, std::move(version), context, consistency, server_->now_ms(),
        [done = std::move(done)](cluster::WriteResult result) {
          done({result.ok, result.acks, result.required, result.error});
        },
        std::move(settled));
    call.End();
    Pump();
    return;
  }
  // Not a replica: pass the write to the first reachable replica that is
  // not down (gossip's suspects), which coordinates it (so version vectors
  // only hold replica actors; docs/coordination.md, "Who coordinates").
  PeerConnection* link = nullptr;
  std::string target;
  for (const std::string& name : coordinator_->HealthyReplicaNames(key, consistency.n)) {
    link = LinkTo(name);
    if (link) {
      target = name;
      break;
    }
  }
  if (link == nullptr) {
    ++stats_.forward_failures;
    done({false, 0, consistency.w, ""});
    return;
  }
  cluster::ForwardRequest request;
  request.id = next_forward_id_++;
  request.n = consistency.n;
  request.w = consistency.w;
  request.r = consistency.r;
  request.argv = {"WRITE", std::string(key), version.tombstone ? "T" : "V",
                  std::move(version.value), std::to_string(version.timestamp_ms),
                  context ? "C" + EncodeContext(*context) : "L"};
  cluster::EncodeForwardRequest(request, &link->output());
  ++stats_.forwards_sent;
  int64_t deadline = server_->now_ms() + 2 * server_->config().request_timeout_ms;
  forwards_[request.id] = {std::move(done), std::move(settled), deadline, target,
                           consistency.w};
}

// A forwarded write: coordinate it here and answer on the same connection.
// argv: WRITE key V|T value timestamp_ms L|C<context>.
void ClusterNode::HandleForward(PeerConnection* connection, std::span<std::string> args) {
  cluster::ForwardRequest request;
  std::string error;
  auto reply = [this, from = connection->member()](uint64_t id, std::string bytes) {
    auto it = inbound_.find(from);
    if (it == inbound_.end()) return;
    cluster::EncodeForwardReply({id, std::move(bytes)}, &it->second->output());
  };
  if (!cluster::DecodeForwardRequest(args, &request, &error)) {
    ++stats_.peer_protocol_errors;
    Log(LogLevel::kWarning, "peer %s: bad forward: %s", connection->member().c_str(),
        error.c_str());
    connection->Close();
    return;
  }
  std::vector<std::string>& argv = request.argv;
  storage::Sibling version;
  storage::VersionVector context;
  bool valid = argv.size() == 6 && argv[0] == "WRITE" && (argv[2] == "V" || argv[2] == "T") &&
               ParseInt64(argv[4], &version.timestamp_ms) && !argv[5].empty() &&
               (argv[5] == "L" ||
                (argv[5][0] == 'C' && DecodeContext(std::string_view(argv[5]).substr(1), &context)));
  if (!valid) {
    reply(request.id, "-ERR malformed forwarded write\r\n");
    return;
  }
  cluster::Consistency consistency{request.n, request.w, request.r};
  if (consistency.n > ring().members().size() || !coordinator_->IsReplica(argv[1], request.n)) {
    reply(request.id, "-ERR this node is not a replica of the key\r\n");
    return;
  }
  ++stats_.forwards_served;
  version.tombstone = argv[2] == "T";
  version.value = std::move(argv[3]);
  CoordinatorCall call(this);
  coordinator_->Write(
      argv[1], std::move(version), argv[5] == "L" ? nullptr : &context, consistency,
      server_->now_ms(),
      [reply, id = request.id](cluster::WriteResult result) {
        std::string counts = std::to_string(result.acks) + " " + std::to_string(result.required);
        if (result.ok) {
          reply(id, "+OK " + counts + "\r\n");
        } else if (result.error.empty()) {
          reply(id, "-UNAVAILABLE " + counts + "\r\n");
        } else {
          reply(id, "-ERR " + result.error + "\r\n");
        }
      },
      [reply, id = request.id](uint32_t total_acks) {
        reply(id, "+SETTLED " + std::to_string(total_acks) + "\r\n");
      });
}

void ClusterNode::HandleForwardReply(std::span<std::string> args) {
  cluster::ForwardReply reply;
  std::string error;
  if (!cluster::DecodeForwardReply(args, &reply, &error)) {
    ++stats_.peer_protocol_errors;
    return;
  }
  auto it = forwards_.find(reply.id);
  if (it == forwards_.end()) return;  // Timed out already.
  PendingForward& pending = it->second;
  unsigned acks = 0, required = 0;
  if (sscanf(reply.reply.c_str(), "+SETTLED %u", &acks) == 1) {
    Settled settled = std::move(pending.settled);
    bool done_fired = pending.done_fired;
    forwards_.erase(it);
    if (done_fired && settled) settled(acks);
    return;
  }
  if (pending.done_fired) return;
  WriteOutcome outcome;
  outcome.required = pending.required;
  if (sscanf(reply.reply.c_str(), "+OK %u %u", &acks, &required) == 2) {
    outcome = {true, acks, required, ""};
  } else if (sscanf(reply.reply.c_str(), "-UNAVAILABLE %u %u", &acks, &required) == 2) {
    outcome = {false, acks, required, ""};
  } else {
    ++stats_.forward_failures;
    outcome.error = "replica " + pending.to + " refused the write: " +
                    reply.reply.substr(1, reply.reply.size() > 3 ? reply.reply.size() - 3 : 0);
  }
  pending.done_fired = true;
  pending.acks = outcome.acks;
  WriteDone done = std::move(pending.done);
  if (!outcome.ok && !outcome.error.empty()) {
    // No settlement follows a refused write.
    Settled settled = std::move(pending.settled);
    forwards_.erase(it);
    done(outcome);
    if (settled) settled(outcome.acks);
    return;
  }
  done(outcome);
}

void ClusterNode::ExpireForwards(int64_t now_ms) {
  std::vector<uint64_t> expired;
  for (const auto& [id, pending] : forwards_) {
    if (pending.deadline_ms <= now_ms) expired.push_back(id);
  }
  for (uint64_t id : expired) {
    PendingForward pending = std::move(forwards_[id]);
    forwards_.erase(id);
    if (!pending.done_fired) {
      ++stats_.forward_failures;
      pending.done({false, 0, pending.required, ""});
    }
    if (pending.settled) pending.settled(pending.acks);
  }
}

// Deadlines are not ended in the timer phase: libuv runs timers before it
// polls, so after the loop stalled (a slow disk call, SIGSTOP, a long
// checkpoint) every deadline would pass before the replies that came in
// meanwhile were read, and requests that were answered in time would fail.
// The timer only schedules the check phase of the same iteration, after a
// poll that reads what is there; the idle handle makes that poll return
// at once.
void ClusterNode::OnTick(uv_timer_t* timer) {
  ClusterNode* node = static_cast<ClusterNode*>(timer->data);
  if (node->stopping_) return;
  uv_idle_start(&node->tick_idle_, [](uv_idle_t*) {});
  uv_check_start(&node->tick_check_, OnTickCheck);
}

void ClusterNode::OnTickCheck(uv_check_t* check) {
  ClusterNode* node = static_cast<ClusterNode*>(check->data);
  uv_check_stop(&node->tick_check_);
  uv_idle_stop(&node->tick_idle_);
  int64_t now = node->server_->now_ms();
  {
    CoordinatorCall call(node);
    node->coordinator_->OnTick(now);
  }
  node->ExpireForwards(now);
  CheckWaiters(*node->server_);
  for (auto& [pointer, connection] : node->connections_) {
    if (!connection->authenticated() && now - connection->created_ms() > kHandshakeTimeoutMs) {
      connection->Close();
    }
  }
  node->Pump();
}

// ---- Group commit -------------------------------------------------------------------

void ClusterNode::SealAndFlush(uint64_t required_sequence, uint64_t durable_sequence) {
  for (auto& [pointer, connection] : connections_) {
    connection->Seal(required_sequence, durable_sequence);
    connection->FlushReady(durable_sequence);
  }
}

void ClusterNode::FlushDurable(uint64_t durable_sequence) {
  for (auto& [pointer, connection] : connections_) connection->FlushReady(durable_sequence);
}

void ClusterNode::DropUnsentOutput() {
  for (auto& [pointer, connection] : connections_) {
    if (!connection->output().empty() || connection->has_queued_replies()) {
      connection->Close();
    }
  }
}

bool ClusterNode::has_held_output() const {
  for (const auto& [pointer, connection] : connections_) {
    if (connection->has_held()) return true;
  }
  return false;
}

std::string ClusterNode::InfoSection() {
  const cluster::CoordinatorStats& coordinator = coordinator_->stats();
  const cluster::Ring& current = ring();
  int self_index = current.MemberIndex(self());
  char buffer[2048];
  snprintf(buffer, sizeof(buffer),
           "# Cluster\r\ncluster_enabled:%d\r\nmembers:%zu\r\npartitions:%u\r\n"
           "partitions_owned:%u\r\nn:%u\r\nw:%u\r\nr:%u\r\npeer_connections:%zu\r\n"
           "peer_inbound_connections:%zu\r\npeer_auth_failures:%" PRIu64
           "\r\npeer_protocol_errors:%" PRIu64 "\r\npeer_messages_dropped:%" PRIu64
           "\r\nwrites_coordinated:%" PRIu64 "\r\nreads_coordinated:%" PRIu64
           "\r\nquorum_failures:%" PRIu64 "\r\nwrite_quorum_failures:%" PRIu64
           "\r\nread_quorum_failures:%" PRIu64 "\r\nread_repairs:%" PRIu64
           "\r\nread_digests_same:%" PRIu64 "\r\nread_digests_differ:%" PRIu64
           "\r\nreplica_puts_served:%" PRIu64 "\r\nreplica_gets_served:%" PRIu64
           "\r\nforwards_sent:%" PRIu64 "\r\nforwards_served:%" PRIu64
           "\r\nforward_failures:%" PRIu64 "\r\n",
           clustered_ ? 1 : 0, gossip_->MemberCount(), current.partition_count(),
           self_index >= 0 ? current.OwnedCount(static_cast<uint32_t>(self_index)) : 0,
           default_consistency_.n, default_consistency_.w, default_consistency_.r,
           authenticated_links(), inbound_.size(), stats_.peer_auth_failures,
           stats_.peer_protocol_errors, stats_.messages_dropped, coordinator.writes,
           coordinator.reads, coordinator.write_quorum_failures + coordinator.read_quorum_failures,
           coordinator.write_quorum_failures, coordinator.read_quorum_failures,
           coordinator.read_repairs, coordinator.read_digests_same,
           coordinator.read_digests_differ, coordinator.puts_served, coordinator.gets_served,
           stats_.forwards_sent, stats_.forwards_served, stats_.forward_failures);
  std::string out = buffer;
  AppendMembershipInfo(&out);
  AppendHintsInfo(&out);
  return out;
}

void ClusterNode::AppendHintsInfo(std::string* out) const {
  const cluster::CoordinatorStats& coordinator = coordinator_->stats();
  cluster::HintsStatus hints = coordinator_->GetHintsStatus();
  size_t delivering = 0;
  for (const cluster::HintTargetStatus& target : hints.targets) delivering += target.delivering;
  char line[1024];
  // hints_delivered, _dropped and _expired are the store's counters, kept
  // across restarts; hints_stored, _refused and hint_delivery_failures count
  // since this process started.
  snprintf(line, sizeof(line),
           "sloppy_quorum:%d\r\nhint_after_ms:%" PRId64 "\r\nhints_held:%" PRIu64
           "\r\nhints_bytes:%" PRIu64 "\r\nhints_targets:%zu\r\nhints_delivering:%zu"
           "\r\nhints_delivered:%" PRIu64 "\r\nhints_dropped:%" PRIu64
           "\r\nhints_dropped_count_limit:%" PRIu64 "\r\nhints_dropped_bytes_limit:%" PRIu64
           "\r\nhints_expired:%" PRIu64 "\r\nhints_stored:%" PRIu64 "\r\nhints_refused:%" PRIu64
           "\r\nhint_delivery_failures:%" PRIu64 "\r\nhint_deliveries_in_flight:%zu"
           "\r\nwrite_stand_ins:%" PRIu64 "\r\nread_stand_ins:%" PRIu64 "\r\n",
           server_->config().sloppy_quorum ? 1 : 0, HintAfterMs(server_->config()), hints.count,
           hints.bytes, hints.targets.size(), delivering, hints.delivered,
           hints.dropped_count_limit + hints.dropped_bytes_limit, hints.dropped_count_limit,
           hints.dropped_bytes_limit, hints.expired, coordinator.hints_stored,
           coordinator.hints_refused, coordinator.hint_delivery_failures,
           coordinator_->hint_deliveries_in_flight(), coordinator.write_stand_ins,
           coordinator.read_stand_ins);
  out->append(line);
  snprintf(line, sizeof(line),
           "read_repair_chance:%g\r\nread_retry_after_ms:%" PRId64
           "\r\nreads_all_replicas:%" PRIu64 "\r\nread_spares_asked:%" PRIu64 "\r\n",
           server_->config().read_repair_chance, server_->config().read_retry_after_ms,
           coordinator.reads_all_slots, coordinator.read_spares_asked);
  out->append(line);
  for (const cluster::HintTargetStatus& target : hints.targets) {
    // Names are free text in the config: keep the line one INFO field.
    std::string name = target.target.substr(0, 255);
    for (char& c : name) {
      if (c == ':' || c == '\r' || c == '\n' || c == ',') c = '_';
    }
    snprintf(line, sizeof(line),
             "hints_for_%s:count=%" PRIu64 ",bytes=%" PRIu64 ",delivered=%" PRIu64
             ",dropped=%" PRIu64 ",delivering=%d,down=%d\r\n",
             name.c_str(), target.count, target.bytes, target.delivered, target.refused,
             target.delivering ? 1 : 0, target.down ? 1 : 0);
    out->append(line);
  }
}

}  // namespace ringkv::server
