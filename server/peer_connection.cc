#include "server/peer_connection.h"

#include "cluster/peer_protocol.h"
#include "server/cluster_node.h"
#include "server/log.h"
#include "server/server.h"

namespace ringkv::server {
namespace {

constexpr size_t kReadBufferBytes = 64 * 1024;
char g_peer_read_buffer[kReadBufferBytes];
// A coordinator under pipelined 1 KB writes sends each replica hundreds of
// kilobytes per iteration; a node has a few peer links, so each keeps that
// much room.
constexpr size_t kOutputKeepCapacityBytes = 4 * 1024 * 1024;

// A peer message carries a whole sibling set: allow several values of the
// largest size a client may send.
resp::ParserLimits PeerLimits(const Config& config) {
  resp::ParserLimits limits;
  limits.bulk_bytes_max = config.proto_max_bulk_len * 4;
  limits.multibulk_length_max = config.proto_max_multibulk_len;
  limits.inline_bytes_max = static_cast<size_t>(config.proto_inline_max_size);
  return limits;
}

}  // namespace

PeerConnection::PeerConnection(ClusterNode* node, Role role, std::string member)
    : node_(node),
      role_(role),
      member_(std::move(member)),
      parser_(PeerLimits(node->server().config())),
      output_(
          reinterpret_cast<uv_stream_t*>(&handle_), [this] { Close(); },
          [this] {
            if (close_after_flush_) Close();
          },
          nullptr, kOutputKeepCapacityBytes) {
  uv_tcp_init(node->server().loop(), &handle_);
  handle_.data = this;
  connect_request_.data = this;
  created_ms_ = node->server().now_ms();
  // Before the handshake, only Redis's unauthenticated request sizes.
  parser_.set_unauthenticated_limits(true);
}

PeerConnection::~PeerConnection() = default;

int PeerConnection::Accept(uv_stream_t* listener) {
  int rc = uv_accept(listener, reinterpret_cast<uv_stream_t*>(&handle_));
  if (rc != 0) return rc;
  uv_tcp_nodelay(&handle_, 1);
  auth_server_ = std::make_unique<cluster::PeerAuthServer>(node_->secret(), node_->self());
  auth_server_->MakeHello(&output_.buffer());
  return uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), OnAlloc, OnRead);
}

int PeerConnection::Connect(const sockaddr* address) {
  auth_client_ = std::make_unique<cluster::PeerAuthClient>(node_->secret(), node_->self(), member_);
  return uv_tcp_connect(&connect_request_, &handle_, address, OnConnected);
}

void PeerConnection::OnConnected(uv_connect_t* request, int status) {
  auto* connection = static_cast<PeerConnection*>(request->data);
  if (connection->closing_) return;
  if (status < 0) {
    Log(LogLevel::kVerbose, "peer %s: connect failed: %s", connection->member_.c_str(),
        uv_strerror(status));
    connection->Close();
    return;
  }
  uv_tcp_nodelay(&connection->handle_, 1);
  int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&connection->handle_), OnAlloc, OnRead);
  if (rc != 0) connection->Close();
}

void PeerConnection::Close() {
  if (closing_) return;
  closing_ = true;
  output_.Stop();
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_), OnClosed);
}

void PeerConnection::OnClosed(uv_handle_t* handle) {
  auto* connection = static_cast<PeerConnection*>(handle->data);
  connection->node_->OnPeerClosed(connection);  // Deletes connection.
}

void PeerConnection::QueuePutReply(const cluster::PutReply& reply) {
  put_replies_.Add(reply);
  if (put_replies_.full()) put_replies_.EncodeTo(&output_.buffer());
}

void PeerConnection::QueueSameReply(uint64_t id) {
  same_replies_.Add(id);
  if (same_replies_.full()) same_replies_.EncodeTo(&output_.buffer());
}

void PeerConnection::Seal(uint64_t required_sequence, uint64_t durable_sequence) {
  if (closing_) return;
  if (!put_replies_.empty()) put_replies_.EncodeTo(&output_.buffer());
  if (!same_replies_.empty()) same_replies_.EncodeTo(&output_.buffer());
  output_.Seal(required_sequence, durable_sequence);
  if (close_after_flush_ && output_.idle()) Close();
}

void PeerConnection::FlushReady(uint64_t durable_sequence) {
  if (closing_) return;
  output_.FlushReady(durable_sequence);
}

void PeerConnection::OnAlloc(uv_handle_t*, size_t, uv_buf_t* buffer) {
  *buffer = uv_buf_init(g_peer_read_buffer, kReadBufferBytes);
}

void PeerConnection::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buffer) {
  auto* connection = static_cast<PeerConnection*>(stream->data);
  if (nread < 0) {
    connection->Close();
    return;
  }
  if (nread == 0 || connection->closing_) return;
  connection->ProcessInput(std::string_view(buffer->base, static_cast<size_t>(nread)));
}

void PeerConnection::ProcessInput(std::string_view input) {
  // Requests come in on inbound links only.
  if (authenticated_ && role_ == Role::kInbound) node_->PrefetchReplicaReads(input);
  while (!input.empty() && !closing_ && !close_after_flush_) {
    size_t consumed = 0;
    resp::ParseStatus status = parser_.Feed(input, &consumed);
    input.remove_prefix(consumed);
    if (status == resp::ParseStatus::kComplete) {
      if (authenticated_) {
        node_->OnPeerMessage(this, parser_.args());
      } else {
        HandleHandshake(parser_.args());
      }
    } else if (status == resp::ParseStatus::kError) {
      Log(LogLevel::kWarning, "peer %s: protocol error: %s", member_.c_str(),
          parser_.error().c_str());
      Close();
    } else {
      break;
    }
  }
}

void PeerConnection::HandleHandshake(std::span<std::string> args) {
  std::string error;
  if (role_ == Role::kInbound) {
    cluster::PeerAuthResult result = auth_server_->OnAuth(args, &output_.buffer());
    if (!result.accepted) {
      node_->OnPeerAuthFailed(this, result.reason);
      close_after_flush_ = true;  // DENIED goes out, then the connection closes.
      return;
    }
    member_ = result.peer_name;
  } else if (!auth_client_->authenticated() &&
             cluster::Classify(args[0]) == cluster::PeerCommandKind::kHello) {
    if (!auth_client_->OnHello(args, &output_.buffer(), &error)) {
      node_->OnPeerAuthFailed(this, error);
      Close();
    }
    return;
  } else if (!auth_client_->OnWelcome(args, &error)) {
    node_->OnPeerAuthFailed(this, error);
    Close();
    return;
  } else if (member_.empty()) {
    member_ = auth_client_->server_name();  // A seed link learns whom it reached.
  }
  authenticated_ = true;
  parser_.set_unauthenticated_limits(false);
  node_->OnPeerAuthenticated(this);
}

}  // namespace ringkv::server
