// server/peer_connection.h: one connection of the peer channel.
//
// Inbound connections are accepted on the peer port and run the accepting
// side of the handshake (cluster/peer_auth.h); outbound ones are dialled by
// this node to a member and run the connecting side. Until the handshake
// succeeds nothing else is accepted, and Redis's unauthenticated request
// limits apply. After it, every parsed message goes to the ClusterNode.
//
// Messages a node sends are appended to output() and leave at the end of
// the loop iteration, after the group commit (OutputQueue), so an ack never
// precedes the commit of the write it acknowledges.
//
// Lifetime: owned by the ClusterNode; Close() starts uv_close and the
// ClusterNode destroys the connection in the close callback.
//
// Thread safety: loop thread only.
#ifndef RINGKV_SERVER_PEER_CONNECTION_H_
#define RINGKV_SERVER_PEER_CONNECTION_H_

#include <uv.h>

#include <memory>
#include <span>
#include <string>

#include "cluster/peer_auth.h"
#include "cluster/peer_protocol.h"
#include "resp/parser.h"
#include "server/output_queue.h"

namespace ringkv::server {

class ClusterNode;

class PeerConnection {
 public:
  enum class Role { kInbound, kOutbound };

  // For kOutbound, `member` is the member dialled; the handshake checks that
  // the other side is that member. Empty (a seed address): any member is
  // accepted, and member() is its name once authenticated.
  PeerConnection(ClusterNode* node, Role role, std::string member);
  ~PeerConnection();

  PeerConnection(const PeerConnection&) = delete;
  PeerConnection& operator=(const PeerConnection&) = delete;

  // Inbound: accepts from `listener` and sends HELLO. Returns a libuv code.
  int Accept(uv_stream_t* listener);
  // Outbound: connects to `address`. Returns a libuv code.
  int Connect(const sockaddr* address);

  void Close();
  bool closing() const { return closing_; }
  Role role() const { return role_; }
  bool authenticated() const { return authenticated_; }
  // The authenticated member (inbound), or the member dialled (outbound;
  // for a seed link, the member that answered, once authenticated).
  const std::string& member() const { return member_; }
  int64_t created_ms() const { return created_ms_; }

  std::string& output() { return output_.buffer(); }
  // Queues a put reply. The queued replies go out as one RK.PUTRS
  // (docs/peer_protocol.md) when the output is sealed, or sooner, appended
  // to output(), once the batch is full.
  void QueuePutReply(const cluster::PutReply& reply);
  // The same for a conditional read's SAME answer: RK.SAMES.
  void QueueSameReply(uint64_t id);
  bool has_queued_replies() const { return !put_replies_.empty() || !same_replies_.empty(); }
  // Output not yet written to the socket, queued replies included.
  size_t pending_bytes() const {
    return output_.pending_bytes() + put_replies_.bytes() + same_replies_.bytes();
  }
  // Encodes the queued replies first, so they leave with this iteration's
  // output, after its commit.
  void Seal(uint64_t required_sequence, uint64_t durable_sequence);
  void FlushReady(uint64_t durable_sequence);
  bool has_held() const { return output_.has_held(); }

 private:
  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buffer);
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buffer);
  static void OnConnected(uv_connect_t* request, int status);
  static void OnClosed(uv_handle_t* handle);

  void ProcessInput(std::string_view input);
  void HandleHandshake(std::span<std::string> args);

  ClusterNode* node_;  // Not owned; outlives every connection.
  Role role_;
  std::string member_;
  uv_tcp_t handle_;
  uv_connect_t connect_request_;
  resp::RequestParser parser_;
  OutputQueue output_;
  cluster::PutReplyBatch put_replies_;
  cluster::SameReplyBatch same_replies_;
  std::unique_ptr<cluster::PeerAuthServer> auth_server_;
  std::unique_ptr<cluster::PeerAuthClient> auth_client_;
  bool authenticated_ = false;
  bool closing_ = false;
  bool close_after_flush_ = false;
  int64_t created_ms_ = 0;
};

}  // namespace ringkv::server

#endif  // RINGKV_SERVER_PEER_CONNECTION_H_
