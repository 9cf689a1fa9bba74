// cluster/peer_protocol.cc: encoding and validation of peer messages
// (docs/peer_protocol.md): the classification of their names and the
// replica messages (RK.PUT, RK.PUTR, RK.GET, RK.GETR). The batched replies
// are in peer_protocol_batch.cc, forwarding in peer_protocol_forward.cc,
// the handshake and gossip in peer_protocol_membership.cc, and the helpers
// they all use in peer_protocol_internal.h.
//
// Encoding writes RESP headers with std::to_chars into stack buffers and
// appends straight to the caller's buffer: the replica path sends one of
// these per replica per client write, so it must cost little more than the
// copy of the bytes.
#include "cluster/peer_protocol.h"

#include <xxhash.h>

#include <cassert>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "cluster/peer_protocol_internal.h"

namespace ringkv::cluster {

using internal::AppendBulk;
using internal::AppendHeader;
using internal::CheckName;
using internal::CheckShape;
using internal::DecimalBytes;
using internal::EqualsIgnoreCase;
using internal::Fail;
using internal::kAuth;
using internal::kDenied;
using internal::kForward;
using internal::kForwardReply;
using internal::kGet;
using internal::kGetReply;
using internal::kGossip;
using internal::kHello;
using internal::kPut;
using internal::kPutReplies;
using internal::kPutReply;
using internal::kSameReplies;
using internal::kWelcome;
using internal::ParseId;
using internal::WriteDecimal;

namespace {

// ---- Encoding ---------------------------------------------------------------

// One bulk string of a message: bytes, or a number spelled in decimal.
struct Bulk {
  // Implicit on purpose: the parts of a message are written as a list.
  Bulk(std::string_view text) : bytes(text) {}    // NOLINT
  Bulk(const std::string& text) : bytes(text) {}  // NOLINT
  Bulk(const char* text) : bytes(text) {}         // NOLINT
  static Bulk Number(uint64_t value) {
    Bulk bulk{std::string_view()};
    bulk.number = value;
    bulk.is_number = true;
    return bulk;
  }
  size_t length() const { return is_number ? DecimalBytes(number) : bytes.size(); }

  std::string_view bytes;
  uint64_t number = 0;
  bool is_number = false;
};

// Appends the header of an array of `count` bulk strings and the first of
// them, `parts`, sized once and written through a pointer: every replica
// message starts this way, several per client request. The caller appends
// the remaining count - parts.size() bulks.
void AppendArray(size_t count, std::initializer_list<Bulk> parts, std::string* out) {
  assert(parts.size() <= count && parts.size() <= 4);
  size_t lengths[4];
  size_t total = 1 + DecimalBytes(count) + 2;
  size_t i = 0;
  for (const Bulk& part : parts) {
    lengths[i] = part.length();
    total += 1 + DecimalBytes(lengths[i]) + 2 + lengths[i] + 2;
    ++i;
  }
  const size_t start = out->size();
  out->resize(start + total);
  char* p = out->data() + start;
  *p++ = '*';
  p = WriteDecimal(p, count, DecimalBytes(count));
  *p++ = '\r';
  *p++ = '\n';
  i = 0;
  for (const Bulk& part : parts) {
    const size_t length = lengths[i++];
    *p++ = '$';
    p = WriteDecimal(p, length, DecimalBytes(length));
    *p++ = '\r';
    *p++ = '\n';
    if (part.is_number) {
      p = WriteDecimal(p, part.number, length);
    } else if (length > 0) {
      std::memcpy(p, part.bytes.data(), length);
      p += length;
    }
    *p++ = '\r';
    *p++ = '\n';
  }
  assert(p == out->data() + out->size());
}

void AppendBulkSiblingSet(const storage::SiblingSet& set, std::string* out) {
  AppendHeader('$', storage::EncodedSiblingSetBytes(set), out);
  storage::EncodeSiblingSet(set, out);
  out->append("\r\n", 2);
}

// ---- Decoding helpers -------------------------------------------------------

bool DecodeSet(std::string_view bytes, storage::SiblingSet* set, std::string* error) {
  storage::Status status = storage::DecodeSiblingSet(bytes, set);
  if (status.ok()) return true;
  error->assign("bad sibling set: ");
  error->append(status.message());
  return false;
}

// ---- Replica messages -------------------------------------------------------

// With `take_set` (args[3] itself), its bytes are moved, not copied.
bool DecodePut(std::span<const std::string> args, std::string* take_set, Message* out,
               std::string* error) {
  if (!CheckShape(args, kPut, 4, 5, error)) return false;
  PutRequest request;
  if (!ParseId(args[1], &request.id, error)) return false;
  if (!DecodeSet(args[3], &request.set, error)) return false;
  // Checked by decoding it.
  if (take_set != nullptr) {
    request.encoded_set = std::move(*take_set);
  } else {
    request.encoded_set = args[3];
  }
  if (args.size() == 5) {
    // The encoder omits an empty hint, so an empty one is a malformed message.
    if (!CheckName(args[4], error)) return false;
    request.hint_for = args[4];
  }
  request.key = args[2];
  *out = std::move(request);
  return true;
}

bool DecodePutReply(std::span<const std::string> args, Message* out, std::string* error) {
  if (!CheckShape(args, kPutReply, 3, 4, error)) return false;
  PutReply reply;
  if (!ParseId(args[1], &reply.id, error)) return false;
  if (args[2] == "OK" && args.size() == 3) {
    reply.ok = true;
  } else if (args[2] == "ERR" && args.size() == 4) {
    reply.error = args[3];
  } else {
    return Fail(error, "bad RK.PUTR status");
  }
  *out = std::move(reply);
  return true;
}

// A digest on the wire: 16 bytes, `high` then `low`, each big-endian.
constexpr size_t kDigestBytes = 16;

void StoreDigest(const ReadDigest& digest, char* out) {
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>(digest.high >> (56 - 8 * i));
    out[8 + i] = static_cast<char>(digest.low >> (56 - 8 * i));
  }
}

ReadDigest LoadDigest(std::string_view bytes) {
  assert(bytes.size() == kDigestBytes);
  ReadDigest digest;
  for (int i = 0; i < 8; ++i) {
    digest.high = (digest.high << 8) | static_cast<uint8_t>(bytes[i]);
    digest.low = (digest.low << 8) | static_cast<uint8_t>(bytes[8 + i]);
  }
  return digest;
}

bool DecodeGet(std::span<const std::string> args, Message* out, std::string* error) {
  if (!CheckShape(args, kGet, 3, 4, error)) return false;
  GetRequest request;
  if (!ParseId(args[1], &request.id, error)) return false;
  request.key = args[2];
  if (args.size() == 4) {
    if (args[3].size() != kDigestBytes) return Fail(error, "bad RK.GET digest");
    request.digest = LoadDigest(args[3]);
  }
  *out = std::move(request);
  return true;
}

bool DecodeGetReply(std::span<const std::string> args, Message* out, std::string* error) {
  if (!CheckShape(args, kGetReply, 3, 4, error)) return false;
  GetReply reply;
  if (!ParseId(args[1], &reply.id, error)) return false;
  if (args[2] == "FOUND" && args.size() == 4) {
    if (!DecodeSet(args[3], &reply.set, error)) return false;
    reply.ok = true;
    reply.found = true;
  } else if (args[2] == "NONE" && args.size() == 3) {
    reply.ok = true;
  } else if (args[2] == "SAME" && args.size() == 3) {
    reply.ok = true;
    reply.same = true;
  } else if (args[2] == "ERR" && args.size() == 4) {
    reply.error = args[3];
  } else {
    return Fail(error, "bad RK.GETR status");
  }
  *out = std::move(reply);
  return true;
}

}  // namespace

PeerCommandKind Classify(std::string_view name) {
  // Cheap reject first: every client command goes through HasPeerPrefix.
  if (!HasPeerPrefix(name)) return PeerCommandKind::kUnknown;
  static constexpr std::pair<std::string_view, PeerCommandKind> kNames[] = {
      {kPut, PeerCommandKind::kPut},
      {kPutReply, PeerCommandKind::kPutReply},
      {kPutReplies, PeerCommandKind::kPutReplies},
      {kGet, PeerCommandKind::kGet},
      {kGetReply, PeerCommandKind::kGetReply},
      {kSameReplies, PeerCommandKind::kSameReplies},
      {kForward, PeerCommandKind::kForward},
      {kForwardReply, PeerCommandKind::kForwardReply},
      {kHello, PeerCommandKind::kHello},
      {kAuth, PeerCommandKind::kAuth},
      {kWelcome, PeerCommandKind::kWelcome},
      {kDenied, PeerCommandKind::kDenied},
      {kGossip, PeerCommandKind::kGossip},
  };
  // The exact spelling first: it is what peers send, and it costs one
  // memcmp per candidate of the right length.
  for (const auto& [text, kind] : kNames) {
    if (name == text) return kind;
  }
  for (const auto& [text, kind] : kNames) {
    if (EqualsIgnoreCase(name, text)) return kind;
  }
  return PeerCommandKind::kUnknown;
}

bool HasPeerPrefix(std::string_view name) {
  return name.size() >= 3 && EqualsIgnoreCase(name.substr(0, 3), "RK.");
}

void EncodeMessage(const Message& message, std::string* out) {
  std::visit([out](const auto& concrete) { EncodeMessage(concrete, out); }, message);
}

void EncodeMessage(const PutRequest& request, std::string* out) {
  bool hinted = !request.hint_for.empty();
  assert(request.hint_for.size() <= kPeerNameBytesMax);  // Decoding checks it.
  AppendArray(hinted ? 5 : 4, {kPut, Bulk::Number(request.id), request.key}, out);
  if (request.encoded_set.empty()) {
    AppendBulkSiblingSet(request.set, out);
  } else {
    AppendBulk(request.encoded_set, out);
  }
  if (hinted) AppendBulk(request.hint_for, out);
}

void EncodeMessage(const PutReply& reply, std::string* out) {
  if (reply.ok) {
    AppendArray(3, {kPutReply, Bulk::Number(reply.id), "OK"}, out);
  } else {
    AppendArray(4, {kPutReply, Bulk::Number(reply.id), "ERR", reply.error}, out);
  }
}

std::optional<ReadDigest> DigestOf(std::string_view encoded_set) {
  // Scratch kept per thread: a record's version bytes are some tens of
  // bytes, and this runs for every read.
  thread_local std::string versions;
  versions.clear();
  if (!encoded_set.empty() && !storage::AppendSiblingSetVersionBytes(encoded_set, &versions).ok()) {
    return std::nullopt;
  }
  const XXH128_hash_t hash = XXH3_128bits(versions.data(), versions.size());
  return ReadDigest{hash.high64, hash.low64};
}

void EncodeMessage(const GetRequest& request, std::string* out) {
  if (request.digest) {
    char digest[kDigestBytes];
    StoreDigest(*request.digest, digest);
    AppendArray(
        4, {kGet, Bulk::Number(request.id), request.key, std::string_view(digest, kDigestBytes)},
        out);
  } else {
    AppendArray(3, {kGet, Bulk::Number(request.id), request.key}, out);
  }
}

void EncodeMessage(const GetReply& reply, std::string* out) {
  if (!reply.ok) {
    AppendArray(4, {kGetReply, Bulk::Number(reply.id), "ERR", reply.error}, out);
  } else if (reply.same) {
    AppendArray(3, {kGetReply, Bulk::Number(reply.id), "SAME"}, out);
  } else if (reply.found && !reply.encoded_set.empty()) {
    AppendArray(4, {kGetReply, Bulk::Number(reply.id), "FOUND", reply.encoded_set}, out);
  } else if (reply.found) {
    AppendArray(4, {kGetReply, Bulk::Number(reply.id), "FOUND"}, out);
    AppendBulkSiblingSet(reply.set, out);
  } else {
    AppendArray(3, {kGetReply, Bulk::Number(reply.id), "NONE"}, out);
  }
}

namespace {

bool Decode(std::span<const std::string> args, std::string* take_set, Message* out,
            std::string* error) {
  if (args.empty()) return Fail(error, "empty message");
  switch (Classify(args[0])) {
    case PeerCommandKind::kPut:
      return DecodePut(args, take_set, out, error);
    case PeerCommandKind::kPutReply:
      return DecodePutReply(args, out, error);
    case PeerCommandKind::kGet:
      return DecodeGet(args, out, error);
    case PeerCommandKind::kGetReply:
      return DecodeGetReply(args, out, error);
    default:
      return Fail(error, "not a replica message");
  }
}

}  // namespace

size_t FindGetRequestKeys(std::string_view input, std::span<std::string_view> keys) {
  // The command's bulk string; the id's and the key's follow it.
  static constexpr std::string_view kMarker = "$6\r\nRK.GET\r\n";
  static_assert(kGet.size() == 6 && kMarker.substr(4, 6) == kGet);
  // One bulk string at `*pos`, moving past it; false if it is not whole.
  auto bulk = [input](size_t* pos, std::string_view* out) {
    if (*pos >= input.size() || input[*pos] != '$') return false;
    const size_t end = input.find("\r\n", *pos + 1);
    uint64_t length = 0;
    if (end == std::string_view::npos ||
        !internal::ParseDecimal(input.substr(*pos + 1, end - *pos - 1), &length) ||
        length > input.size() - end - 2 || input.size() - end - 2 - length < 2) {
      return false;
    }
    *out = input.substr(end + 2, length);
    *pos = end + 2 + length + 2;
    return true;
  };
  size_t found = 0;
  size_t pos = 0;
  while (found < keys.size()) {
    pos = input.find(kMarker, pos);
    if (pos == std::string_view::npos) break;
    pos += kMarker.size();
    std::string_view id;
    std::string_view key;
    if (bulk(&pos, &id) && bulk(&pos, &key)) keys[found++] = key;
  }
  return found;
}

bool DecodeMessage(std::span<const std::string> args, Message* out, std::string* error) {
  return Decode(args, nullptr, out, error);
}

bool DecodeMessageTaking(std::span<std::string> args, Message* out, std::string* error) {
  return Decode(args, args.size() > 3 ? &args[3] : nullptr, out, error);
}

}  // namespace ringkv::cluster
