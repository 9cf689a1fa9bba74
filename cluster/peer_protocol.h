// cluster/peer_protocol.h: the peer channel's wire format, as pure functions.
//
// Every peer message is a RESP array of bulk strings, so the receiving side
// reads it with the same resp::RequestParser as client requests and hands
// the parsed arguments here. The first argument names the message
// ("RK.PUT", "RK.GETR", ...); docs/peer_protocol.md is the spec.
//
// Encoders append to a caller-owned buffer and allocate nothing beyond it.
// Decoders validate everything (arity, ids, numbers, hex, the sibling-set
// encoding) and answer false with a reason on bad input, never a crash:
// an authenticated peer can still run a buggy or newer build.
//
// Thread safety: pure functions, safe from any thread.
#ifndef RINGKV_CLUSTER_PEER_PROTOCOL_H_
#define RINGKV_CLUSTER_PEER_PROTOCOL_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/gossip.h"
#include "cluster/messages.h"

namespace ringkv::cluster {

// What a peer message's first argument names. Matching ignores ASCII case,
// as Redis does for command names, so an operator can type them in
// redis-cli against a peer port while debugging.
enum class PeerCommandKind {
  kUnknown,  // Not a peer message: the peer port answers with an error.
  kPut,
  kPutReply,
  kPutReplies,
  kGet,
  kGetReply,
  kSameReplies,
  kForward,
  kForwardReply,
  kHello,
  kAuth,
  kWelcome,
  kDenied,
  kGossip,
};

PeerCommandKind Classify(std::string_view name);

// True if `name` starts with the "RK." prefix every peer message uses. The
// client port refuses such names before its command table is consulted, so
// a client can never reach a peer-only command even by accident.
bool HasPeerPrefix(std::string_view name);

// ---- Replica messages (cluster/messages.h) --------------------------------

// Appends `message` as one RESP array. REQUIRES: a set inside it keeps the
// storage::SiblingSet invariants; a GetReply's encoded_set, when not empty,
// is a valid encoded set (it is sent as it is, in place of `set`). The
// per-type overloads let a caller that holds a concrete message encode it
// without first copying it (sibling set and all) into a Message.
void EncodeMessage(const Message& message, std::string* out);
void EncodeMessage(const PutRequest& request, std::string* out);
void EncodeMessage(const PutReply& reply, std::string* out);
void EncodeMessage(const GetRequest& request, std::string* out);
void EncodeMessage(const GetReply& reply, std::string* out);

// Decodes RK.PUT, RK.PUTR, RK.GET or RK.GETR. On bad input returns false,
// sets *error and leaves *out unchanged. A hint_for, when present, is a
// member name (1..kPeerNameBytesMax bytes).
bool DecodeMessage(std::span<const std::string> args, Message* out, std::string* error);
// The same, moving what it keeps out of `args` (an RK.PUT's set bytes)
// rather than copying them; `args` is left valid but unspecified.
bool DecodeMessageTaking(std::span<std::string> args, Message* out, std::string* error);

// ---- Batched put replies --------------------------------------------------
//
// RK.PUTRS <id> <result> [<id> <result> ...]: the replies to several puts
// from one peer in one message, <result> being "OK" or "ERR <message>".
// Under pipelined load a replica answers hundreds of puts from the same
// coordinator per loop iteration; one message for them all saves a message
// name, an array header and a dispatch per reply on both sides.

// A batch holds at most this many replies, so a receiver never decodes an
// unbounded list, and is closed once its encoded replies reach
// kPutRepliesBytesMax (an error message may take it past by one reply).
inline constexpr size_t kPutRepliesCountMax = 512;
inline constexpr size_t kPutRepliesBytesMax = 64 * 1024;

// Put replies to one peer, collected and then encoded as one RK.PUTRS. It
// keeps its buffer across batches, so a warm batch allocates nothing.
class PutReplyBatch {
 public:
  // REQUIRES: !full().
  void Add(const PutReply& reply);
  bool empty() const { return count_ == 0; }
  bool full() const {
    return count_ >= kPutRepliesCountMax || entries_.size() >= kPutRepliesBytesMax;
  }
  size_t count() const { return count_; }
  // The encoded replies so far (the message adds a few bytes of header).
  size_t bytes() const { return entries_.size(); }
  // Appends the batch as one RK.PUTRS and empties it. REQUIRES: !empty().
  void EncodeTo(std::string* out);

 private:
  std::string entries_;  // The <id> <result> pairs, encoded.
  size_t count_ = 0;
};

// Decodes RK.PUTRS into *out (replacing its contents): 1 to
// kPutRepliesCountMax replies. On bad input returns false, sets *error and
// leaves *out unchanged.
bool DecodePutReplies(std::span<const std::string> args, std::vector<PutReply>* out,
                      std::string* error);

// ---- Batched SAME replies ---------------------------------------------------
//
// RK.SAMES <id> [<id> ...]: the SAME answers to several conditional gets
// (RK.GET with a digest) from one peer in one message, each meaning what
// RK.GETR <id> SAME would. Under pipelined reads nearly every reply a
// replica sends is one; one message for an iteration's saves a message
// name, an array header, a status and a dispatch per reply on both sides.
inline constexpr size_t kSameRepliesCountMax = 1024;

// SAME answers to one peer, collected and then encoded as one RK.SAMES. It
// keeps its buffer across batches, so a warm batch allocates nothing.
class SameReplyBatch {
 public:
  // REQUIRES: !full().
  void Add(uint64_t id);
  bool empty() const { return count_ == 0; }
  bool full() const { return count_ >= kSameRepliesCountMax; }
  size_t count() const { return count_; }
  // The encoded ids so far (the message adds a few bytes of header).
  size_t bytes() const { return entries_.size(); }
  // Appends the batch as one RK.SAMES and empties it. REQUIRES: !empty().
  void EncodeTo(std::string* out);

 private:
  std::string entries_;  // The ids, encoded.
  size_t count_ = 0;
};

// Decodes RK.SAMES into *ids (replacing its contents): 1 to
// kSameRepliesCountMax ids. On bad input returns false, sets *error and
// leaves *ids unchanged.
bool DecodeSameReplies(std::span<const std::string> args, std::vector<uint64_t>* ids,
                       std::string* error);

// ---- Forwarding a client write to a replica -------------------------------
//
// A node that is not in a key's preference list passes the client's write
// to one that is, with the connection's protocol and consistency, and
// relays the encoded reply back to the client unchanged.

// Largest N a forwarded request may carry: far above any real cluster, low
// enough that a corrupt number cannot make a coordinator plan for billions.
inline constexpr uint32_t kReplicasMax = 255;

struct ForwardRequest {
  uint64_t id = 0;
  int protocol = 2;  // RESP version of the client connection: 2 or 3.
  uint32_t n = 3;
  uint32_t w = 2;
  uint32_t r = 2;
  std::vector<std::string> argv;  // The client's command, name first.
};

struct ForwardReply {
  uint64_t id = 0;
  std::string reply;  // Exactly one encoded RESP reply, in `protocol`.
};

// REQUIRES: protocol is 2 or 3, 1 <= w, r <= n <= kReplicasMax, argv not
// empty.
void EncodeForwardRequest(const ForwardRequest& request, std::string* out);
// REQUIRES: `reply` is exactly one encoded RESP reply.
void EncodeForwardReply(const ForwardReply& reply, std::string* out);

// These two move the large arguments (the client's values, the reply) out
// of `args` on success instead of copying them: a forwarded value can be as
// big as a bulk string may be. On failure `args` is left untouched.
bool DecodeForwardRequest(std::span<std::string> args, ForwardRequest* out, std::string* error);
// Also checks that the reply is exactly one well-formed RESP2/RESP3 reply,
// so relaying it can never desynchronize the client's connection.
bool DecodeForwardReply(std::span<std::string> args, ForwardReply* out, std::string* error);

// True if `bytes` is exactly one complete, well-formed RESP2 or RESP3 reply
// (attributes and nesting included).
bool IsOneRespReply(std::string_view bytes);

// The keys of replica reads (RK.GET) in `input`, as they are on the wire,
// without parsing or copying the messages: at most keys.size() of them,
// into `keys`; returns how many. For prefetching what those reads will
// touch before the messages are parsed (ClusterNode::PrefetchReplicaReads).
// A hint only: `input` may start or end inside a message, and a value that
// holds a request's bytes yields a key that is not one.
size_t FindGetRequestKeys(std::string_view input, std::span<std::string_view> keys);

// ---- Handshake (cluster/peer_auth.h runs it) ------------------------------

// 2: RK.PUTRS (batched put replies); 3: conditional reads; 4: RK.SAMES.
inline constexpr int kPeerProtocolVersion = 4;
inline constexpr size_t kPeerNonceBytes = 16;
inline constexpr size_t kPeerMacBytes = 32;  // HMAC-SHA256.
// Longest member name the handshake accepts.
inline constexpr size_t kPeerNameBytesMax = 255;
// Longest reason a DENIED may carry.
inline constexpr size_t kPeerReasonBytesMax = 1024;

using PeerNonce = std::array<unsigned char, kPeerNonceBytes>;
using PeerMac = std::array<unsigned char, kPeerMacBytes>;

// Accepting side -> connecting side, first message on every connection.
struct PeerHello {
  int version = kPeerProtocolVersion;
  std::string server_name;
  PeerNonce server_nonce{};
};

// Connecting side's answer: its name, its nonce and the proof.
struct PeerAuth {
  std::string client_name;
  PeerNonce client_nonce{};
  PeerMac mac{};
};

// Accepting side's proof that it knows the secret too.
struct PeerWelcome {
  PeerMac mac{};
};

struct PeerDenied {
  std::string reason;
};

// REQUIRES (all): names 1..kPeerNameBytesMax bytes.
void EncodeHello(const PeerHello& hello, std::string* out);
void EncodeAuth(const PeerAuth& auth, std::string* out);
void EncodeWelcome(const PeerWelcome& welcome, std::string* out);
// A reason longer than kPeerReasonBytesMax is cut.
void EncodeDenied(const PeerDenied& denied, std::string* out);

// Nonces and MACs travel as lowercase hex and decode only from exactly that
// spelling, so every value has one wire form (the MACs cover the hex).
bool DecodeHello(std::span<const std::string> args, PeerHello* out, std::string* error);
bool DecodeAuth(std::span<const std::string> args, PeerAuth* out, std::string* error);
bool DecodeWelcome(std::span<const std::string> args, PeerWelcome* out, std::string* error);
bool DecodeDenied(std::span<const std::string> args, PeerDenied* out, std::string* error);

// Lowercase hex of `bytes`, appended to *out.
void AppendHex(std::span<const unsigned char> bytes, std::string* out);

// ---- Gossip (cluster/gossip.h) --------------------------------------------
//
// RK.GOSSIP <sender-name> <member-list>: the sender's membership table, in
// the member-list encoding of docs/gossip.md. One way: there is no reply.

struct GossipMessage {
  std::string sender;               // The sending member's name.
  std::vector<MemberRecord> table;  // Includes the sender's own record.
};

// REQUIRES: sender 1..kPeerNameBytesMax bytes, table as EncodeMembers
// requires it and holding a record named `sender`.
void EncodeGossip(const GossipMessage& message, std::string* out);
// Validates the sender name, the member list (every record, count at most
// kGossipMembersMax, no duplicates, checksum) and that the sender's own
// record is in it. On failure returns false and leaves *out unchanged.
bool DecodeGossip(std::span<const std::string> args, GossipMessage* out, std::string* error);

}  // namespace ringkv::cluster

#endif  // RINGKV_CLUSTER_PEER_PROTOCOL_H_
