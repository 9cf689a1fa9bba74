// cluster/messages.h: the messages nodes exchange over the peer channel, as
// plain values. The pure protocol objects (Coordinator, later Gossip and
// Handoff) consume and produce them; cluster/peer_protocol.h turns them into
// bytes (RESP arrays of bulk strings) and back. docs/peer_protocol.md is the
// wire spec.
//
// Every request carries an id chosen by the sender, unique among its
// requests in flight to that peer; the reply carries the same id. Replies
// may come back in any order.
#ifndef RINGKV_CLUSTER_MESSAGES_H_
#define RINGKV_CLUSTER_MESSAGES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "storage/digest_cache.h"
#include "storage/sibling_set.h"

namespace ringkv::cluster {

// Bytes that never change once made, shared by every copy: a write's set
// as its coordinator stored it goes to each replica without a copy per
// request.
class SharedBytes {
 public:
  SharedBytes() = default;
  SharedBytes(std::string bytes)  // NOLINT: implicit, as a std::string would be.
      : bytes_(bytes.empty() ? nullptr : std::make_shared<const std::string>(std::move(bytes))) {}
  std::string_view view() const { return bytes_ ? std::string_view(*bytes_) : std::string_view(); }
  operator std::string_view() const { return view(); }  // NOLINT: a view of the bytes.
  bool empty() const { return bytes_ == nullptr; }
  bool operator==(std::string_view other) const { return view() == other; }

 private:
  std::shared_ptr<const std::string> bytes_;
};

// Merge `set` into your copy of `key` (replication, read repair, hinted
// handoff). `hint_for` is empty when the receiver is one of the key's
// replicas; otherwise it names the replica the receiver holds it for.
struct PutRequest {
  uint64_t id = 0;
  std::string key;
  storage::SiblingSet set;  // Unless `encoded_set` holds it (sending side).
  std::string hint_for;
  // The set encoded (docs/storage_format.md; never empty when set). On the
  // sending side it may stand in for `set` (a coordinator's write, as its
  // store wrote the record), which then stays empty, and goes on the wire
  // as it is. On the receiving side DecodeMessage fills both: the bytes as
  // received (checked by decoding them), so a replica whose record becomes
  // the incoming set can store them without encoding it again.
  SharedBytes encoded_set;
};

struct PutReply {
  uint64_t id = 0;
  bool ok = false;
  std::string error;  // When !ok.
};

// A 128-bit XXH3 of a copy's versions: of the version bytes of its encoded
// set (storage::AppendSiblingSetVersionBytes: the record without its
// values' bytes), or of no bytes at all for no record. Equal digests stand
// for equal copies (docs/coordination.md, "Conditional reads"), and a
// replica reads none of a value to tell.
// The storage engine keeps them for replicas (storage::DigestCache), as
// the same type.
using ReadDigest = storage::Digest128;
// The digest of `encoded_set` (empty for no record); nullopt when its
// structure does not parse.
std::optional<ReadDigest> DigestOf(std::string_view encoded_set);

// Send me your copy of `key`; with `digest`, only if it differs from the
// copy with that digest (else answer `same`).
struct GetRequest {
  uint64_t id = 0;
  std::string key;
  std::optional<ReadDigest> digest;
};

struct GetReply {
  uint64_t id = 0;
  bool ok = false;
  bool found = false;
  storage::SiblingSet set;  // When found, unless `encoded_set` holds it.
  std::string error;        // When !ok.
  // When found, on the sending side only: the set already encoded
  // (docs/storage_format.md; never empty), as the replica's store holds it,
  // so that serving a read neither decodes nor re-encodes the record. It
  // goes on the wire in place of `set`; DecodeMessage always fills `set`.
  std::string encoded_set;
  // With ok: the replica's copy has the request's digest (GetRequest); found
  // stays false and no set is sent.
  bool same = false;
};

using Message = std::variant<PutRequest, PutReply, GetRequest, GetReply>;

// A message addressed to a member, by name.
struct Envelope {
  std::string to;
  Message message;
};

}  // namespace ringkv::cluster

#endif  // RINGKV_CLUSTER_MESSAGES_H_
