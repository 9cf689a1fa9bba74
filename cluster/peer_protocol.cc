// cluster/peer_protocol.cc: encoding and validation of peer messages
// (docs/peer_protocol.md).
//
// Encoding writes RESP headers with std::to_chars into stack buffers and
// appends straight to the caller's buffer: the replica path sends one of
// these per replica per client write, so it must cost little more than the
// copy of the bytes.
#include "cluster/peer_protocol.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <utility>
#include <variant>

#include <xxhash.h>

namespace ringkv::cluster {
namespace {

// Room for a type byte, 20 digits and CRLF.
constexpr size_t kHeaderBytesMax = 32;

constexpr std::string_view kPut = "RK.PUT";
constexpr std::string_view kPutReply = "RK.PUTR";
constexpr std::string_view kPutReplies = "RK.PUTRS";
constexpr std::string_view kSameReplies = "RK.SAMES";
constexpr std::string_view kErrorPrefix = "ERR ";
constexpr std::string_view kGet = "RK.GET";
constexpr std::string_view kGetReply = "RK.GETR";
constexpr std::string_view kForward = "RK.FWD";
constexpr std::string_view kForwardReply = "RK.FWDR";
constexpr std::string_view kHello = "RK.HELLO";
constexpr std::string_view kAuth = "RK.AUTH";
constexpr std::string_view kWelcome = "RK.WELCOME";
constexpr std::string_view kDenied = "RK.DENIED";
constexpr std::string_view kGossip = "RK.GOSSIP";

// ---- Encoding ---------------------------------------------------------------

void AppendHeader(char type, uint64_t count, std::string* out) {
  char buffer[kHeaderBytesMax];
  buffer[0] = type;
  auto result = std::to_chars(buffer + 1, buffer + sizeof(buffer) - 2, count);
  assert(result.ec == std::errc());
  char* end = result.ptr;
  *end++ = '\r';
  *end++ = '\n';
  out->append(buffer, static_cast<size_t>(end - buffer));
}

void AppendBulk(std::string_view bytes, std::string* out) {
  AppendHeader('$', bytes.size(), out);
  out->append(bytes);
  out->append("\r\n", 2);
}

void AppendBulkNumber(uint64_t value, std::string* out) {
  char digits[24];
  auto result = std::to_chars(digits, digits + sizeof(digits), value);
  assert(result.ec == std::errc());
  AppendBulk(std::string_view(digits, static_cast<size_t>(result.ptr - digits)), out);
}

size_t DecimalBytes(uint64_t value) {
  size_t digits = 1;
  while (value >= 10) {
    value /= 10;
    ++digits;
  }
  return digits;
}

// Writes `value` in decimal as exactly `digits` bytes at `p`; returns the end.
char* WriteDecimal(char* p, uint64_t value, size_t digits) {
  char* const end = p + digits;
  char* q = end;
  do {
    *--q = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  return end;
}

// Writes `value` as one bulk string, "$<digits>\r\n<value>\r\n", at `p`
// (room for 27 bytes); returns the end. The batches' ids.
char* WriteBulkNumber(char* p, uint64_t value) {
  const size_t digits = DecimalBytes(value);
  *p++ = '$';
  p = WriteDecimal(p, digits, DecimalBytes(digits));
  *p++ = '\r';
  *p++ = '\n';
  p = WriteDecimal(p, value, digits);
  *p++ = '\r';
  *p++ = '\n';
  return p;
}

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

template <size_t kBytes>
void AppendBulkHex(const std::array<unsigned char, kBytes>& bytes, std::string* out) {
  AppendHeader('$', 2 * kBytes, out);
  AppendHex(bytes, out);
  out->append("\r\n", 2);
}

// ---- Decoding helpers -------------------------------------------------------

bool Fail(std::string* error, std::string_view reason) {
  error->assign(reason);
  return false;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a == b) return true;  // Peers spell names in upper case: the usual answer.
  for (size_t i = 0; i < a.size(); i++) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 'a' + 'A');
    if (x != y) return false;
  }
  return true;
}

// Canonical unsigned decimal: digits only, no sign, no leading zero (except
// "0" itself), no overflow. One spelling per value keeps ids comparable as
// text in logs and captures.
bool ParseDecimal(std::string_view text, uint64_t* value) {
  if (text.empty() || text.size() > 20) return false;
  if (text.size() > 1 && text[0] == '0') return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  auto result = std::from_chars(text.data(), text.data() + text.size(), *value);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

bool ParseId(std::string_view text, uint64_t* id, std::string* error) {
  if (!ParseDecimal(text, id)) return Fail(error, "bad request id");
  return true;
}

// Validates arity against [min, max] and the message name.
bool CheckShape(std::span<const std::string> args, std::string_view name, size_t min, size_t max,
                std::string* error) {
  if (args.empty() || !EqualsIgnoreCase(args[0], name)) return Fail(error, "unexpected message");
  if (args.size() < min || args.size() > max) {
    error->assign("wrong number of arguments for '");
    error->append(name);
    error->append("'");
    return false;
  }
  return true;
}

bool DecodeSet(std::string_view bytes, storage::SiblingSet* set, std::string* error) {
  storage::Status status = storage::DecodeSiblingSet(bytes, set);
  if (status.ok()) return true;
  error->assign("bad sibling set: ");
  error->append(status.message());
  return false;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // Uppercase too: one wire spelling per value.
}

template <size_t kBytes>
bool ParseHex(std::string_view text, std::array<unsigned char, kBytes>* bytes) {
  if (text.size() != 2 * kBytes) return false;
  for (size_t i = 0; i < kBytes; i++) {
    int high = HexDigit(text[2 * i]);
    int low = HexDigit(text[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    (*bytes)[i] = static_cast<unsigned char>(high << 4 | low);
  }
  return true;
}

bool CheckName(std::string_view name, std::string* error) {
  if (name.empty() || name.size() > kPeerNameBytesMax) return Fail(error, "bad member name");
  return true;
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

// ---- RESP reply validation --------------------------------------------------

// Reads the line starting at `pos` (after the type byte) up to CRLF. A bare
// CR or LF inside the line is malformed: Redis never writes one there.
bool ReadLine(std::string_view bytes, size_t* pos, std::string_view* line) {
  size_t end = bytes.find("\r\n", *pos);
  if (end == std::string_view::npos) return false;
  *line = bytes.substr(*pos, end - *pos);
  if (line->find_first_of("\r\n") != std::string_view::npos) return false;
  *pos = end + 2;
  return true;
}

// A length or count: canonical decimal, or exactly "-1" where `null_ok`.
bool ParseLength(std::string_view line, bool null_ok, int64_t* value) {
  if (null_ok && line == "-1") {
    *value = -1;
    return true;
  }
  uint64_t parsed = 0;
  if (!ParseDecimal(line, &parsed) || parsed > static_cast<uint64_t>(INT64_MAX)) return false;
  *value = static_cast<int64_t>(parsed);
  return true;
}

bool ValidSignedInteger(std::string_view line) {
  int64_t value = 0;
  auto result = std::from_chars(line.data(), line.data() + line.size(), value);
  return !line.empty() && result.ec == std::errc() && result.ptr == line.data() + line.size();
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

bool DecodeMessage(std::span<const std::string> args, Message* out, std::string* error) {
  return Decode(args, nullptr, out, error);
}

bool DecodeMessageTaking(std::span<std::string> args, Message* out, std::string* error) {
  return Decode(args, args.size() > 3 ? &args[3] : nullptr, out, error);
}

void PutReplyBatch::Add(const PutReply& reply) {
  assert(!full());
  // The common pair, "$<n>\r\n<id>\r\n$2\r\nOK\r\n", is written into a
  // stack buffer and appended once: a replica adds one per put it serves.
  char pair[48];
  char* p = WriteBulkNumber(pair, reply.id);
  if (reply.ok) {
    std::memcpy(p, "$2\r\nOK\r\n", 8);
    p += 8;
    entries_.append(pair, static_cast<size_t>(p - pair));
  } else {
    entries_.append(pair, static_cast<size_t>(p - pair));
    AppendHeader('$', kErrorPrefix.size() + reply.error.size(), &entries_);
    entries_.append(kErrorPrefix);
    entries_.append(reply.error);
    entries_.append("\r\n", 2);
  }
  ++count_;
}

void PutReplyBatch::EncodeTo(std::string* out) {
  assert(!empty());
  AppendHeader('*', 1 + 2 * count_, out);
  AppendBulk(kPutReplies, out);
  out->append(entries_);
  entries_.clear();
  count_ = 0;
}

bool DecodePutReplies(std::span<const std::string> args, std::vector<PutReply>* out,
                      std::string* error) {
  if (!CheckShape(args, kPutReplies, 3, 1 + 2 * kPutRepliesCountMax, error)) return false;
  if (args.size() % 2 != 1) return Fail(error, "wrong number of arguments for 'RK.PUTRS'");
  std::vector<PutReply> replies(args.size() / 2);
  for (size_t i = 0; i < replies.size(); ++i) {
    PutReply& reply = replies[i];
    const std::string& result = args[2 + 2 * i];
    if (!ParseId(args[1 + 2 * i], &reply.id, error)) return false;
    if (result == "OK") {
      reply.ok = true;
    } else if (std::string_view(result).starts_with(kErrorPrefix)) {
      reply.error.assign(result, kErrorPrefix.size());
    } else {
      return Fail(error, "bad RK.PUTRS result");
    }
  }
  *out = std::move(replies);
  return true;
}

void SameReplyBatch::Add(uint64_t id) {
  assert(!full());
  // As PutReplyBatch::Add: on the stack, appended once.
  char entry[32];
  const char* end = WriteBulkNumber(entry, id);
  entries_.append(entry, static_cast<size_t>(end - entry));
  ++count_;
}

void SameReplyBatch::EncodeTo(std::string* out) {
  assert(!empty());
  AppendHeader('*', 1 + count_, out);
  AppendBulk(kSameReplies, out);
  out->append(entries_);
  entries_.clear();
  count_ = 0;
}

bool DecodeSameReplies(std::span<const std::string> args, std::vector<uint64_t>* ids,
                       std::string* error) {
  if (!CheckShape(args, kSameReplies, 2, 1 + kSameRepliesCountMax, error)) return false;
  std::vector<uint64_t> decoded(args.size() - 1);
  for (size_t i = 0; i < decoded.size(); ++i) {
    if (!ParseId(args[1 + i], &decoded[i], error)) return false;
  }
  *ids = std::move(decoded);
  return true;
}

void EncodeForwardRequest(const ForwardRequest& request, std::string* out) {
  assert(request.protocol == 2 || request.protocol == 3);
  assert(request.n >= 1 && request.n <= kReplicasMax);
  assert(request.w >= 1 && request.w <= request.n);
  assert(request.r >= 1 && request.r <= request.n);
  assert(!request.argv.empty());
  AppendHeader('*', 6 + request.argv.size(), out);
  AppendBulk(kForward, out);
  AppendBulkNumber(request.id, out);
  AppendBulkNumber(static_cast<uint64_t>(request.protocol), out);
  AppendBulkNumber(request.n, out);
  AppendBulkNumber(request.w, out);
  AppendBulkNumber(request.r, out);
  for (const std::string& arg : request.argv) AppendBulk(arg, out);
}

void EncodeForwardReply(const ForwardReply& reply, std::string* out) {
  assert(IsOneRespReply(reply.reply));
  AppendHeader('*', 3, out);
  AppendBulk(kForwardReply, out);
  AppendBulkNumber(reply.id, out);
  AppendBulk(reply.reply, out);
}

bool DecodeForwardRequest(std::span<std::string> args, ForwardRequest* out, std::string* error) {
  std::span<const std::string> view(args.data(), args.size());
  if (!CheckShape(view, kForward, 7, std::numeric_limits<size_t>::max(), error)) return false;
  ForwardRequest request;
  if (!ParseId(args[1], &request.id, error)) return false;
  if (args[2] == "2" || args[2] == "3") {
    request.protocol = args[2][0] - '0';
  } else {
    return Fail(error, "bad protocol version");
  }
  uint64_t n = 0, w = 0, r = 0;
  if (!ParseDecimal(args[3], &n) || n < 1 || n > kReplicasMax) return Fail(error, "bad n");
  if (!ParseDecimal(args[4], &w) || w < 1 || w > n) return Fail(error, "bad w");
  if (!ParseDecimal(args[5], &r) || r < 1 || r > n) return Fail(error, "bad r");
  request.n = static_cast<uint32_t>(n);
  request.w = static_cast<uint32_t>(w);
  request.r = static_cast<uint32_t>(r);
  // Everything is valid: only now take the arguments, so a failure leaves
  // `args` as it was.
  request.argv.reserve(args.size() - 6);
  for (size_t i = 6; i < args.size(); i++) request.argv.push_back(std::move(args[i]));
  *out = std::move(request);
  return true;
}

bool DecodeForwardReply(std::span<std::string> args, ForwardReply* out, std::string* error) {
  std::span<const std::string> view(args.data(), args.size());
  if (!CheckShape(view, kForwardReply, 3, 3, error)) return false;
  uint64_t id = 0;
  if (!ParseId(args[1], &id, error)) return false;
  if (!IsOneRespReply(args[2])) return Fail(error, "forwarded reply is not one RESP reply");
  out->id = id;
  out->reply = std::move(args[2]);
  return true;
}

bool IsOneRespReply(std::string_view bytes) {
  // `pending` counts values still owed by the aggregates opened so far.
  // Every value takes at least 3 bytes ("_\r\n"), so a count larger than the
  // bytes left is rejected at once: no overflow, no huge loop.
  uint64_t pending = 1;
  size_t pos = 0;
  while (pending > 0) {
    if (pos >= bytes.size()) return false;
    char type = bytes[pos++];
    std::string_view line;
    if (!ReadLine(bytes, &pos, &line)) return false;
    pending--;
    int64_t length = 0;
    uint64_t more = 0;
    switch (type) {
      case '+':
      case '-':
      case '(':  // Big number: digits, checked loosely like Redis clients do.
        break;
      case ':':
        if (!ValidSignedInteger(line)) return false;
        break;
      case ',':
        if (line.empty()) return false;
        break;
      case '#':
        if (line != "t" && line != "f") return false;
        break;
      case '_':
        if (!line.empty()) return false;
        break;
      case '$':
      case '=':
      case '!':
        if (!ParseLength(line, type == '$', &length)) return false;
        if (length < 0) break;  // RESP2 null bulk.
        if (static_cast<uint64_t>(length) > bytes.size() - pos ||
            bytes.size() - pos - static_cast<uint64_t>(length) < 2) {
          return false;
        }
        pos += static_cast<size_t>(length);
        if (bytes.compare(pos, 2, "\r\n") != 0) return false;
        pos += 2;
        break;
      case '*':
      case '~':
      case '>':
      case '%':
      case '|':
        if (!ParseLength(line, type == '*', &length)) return false;
        if (length < 0) break;  // RESP2 null array.
        more = static_cast<uint64_t>(length);
        if (more > bytes.size()) return false;
        if (type == '%') more *= 2;
        if (type == '|') more = 2 * more + 1;  // An attribute precedes its value.
        break;
      default:
        return false;
    }
    pending += more;
    if (pending > (bytes.size() - pos) / 3) return false;
  }
  return pos == bytes.size();
}

// ---- Handshake --------------------------------------------------------------

void AppendHex(std::span<const unsigned char> bytes, std::string* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  size_t start = out->size();
  out->resize(start + 2 * bytes.size());
  char* p = out->data() + start;
  for (unsigned char byte : bytes) {
    *p++ = kDigits[byte >> 4];
    *p++ = kDigits[byte & 0xf];
  }
}

void EncodeHello(const PeerHello& hello, std::string* out) {
  assert(!hello.server_name.empty() && hello.server_name.size() <= kPeerNameBytesMax);
  AppendHeader('*', 4, out);
  AppendBulk(kHello, out);
  AppendBulkNumber(static_cast<uint64_t>(hello.version), out);
  AppendBulk(hello.server_name, out);
  AppendBulkHex(hello.server_nonce, out);
}

void EncodeAuth(const PeerAuth& auth, std::string* out) {
  assert(!auth.client_name.empty() && auth.client_name.size() <= kPeerNameBytesMax);
  AppendHeader('*', 4, out);
  AppendBulk(kAuth, out);
  AppendBulk(auth.client_name, out);
  AppendBulkHex(auth.client_nonce, out);
  AppendBulkHex(auth.mac, out);
}

void EncodeWelcome(const PeerWelcome& welcome, std::string* out) {
  AppendHeader('*', 2, out);
  AppendBulk(kWelcome, out);
  AppendBulkHex(welcome.mac, out);
}

void EncodeDenied(const PeerDenied& denied, std::string* out) {
  AppendHeader('*', 2, out);
  AppendBulk(kDenied, out);
  AppendBulk(std::string_view(denied.reason).substr(0, kPeerReasonBytesMax), out);
}

bool DecodeHello(std::span<const std::string> args, PeerHello* out, std::string* error) {
  if (!CheckShape(args, kHello, 4, 4, error)) return false;
  uint64_t version = 0;
  if (!ParseDecimal(args[1], &version) || version < 1 || version > 1000000) {
    return Fail(error, "bad protocol version");
  }
  if (!CheckName(args[2], error)) return false;
  if (!ParseHex(args[3], &out->server_nonce)) return Fail(error, "bad server nonce");
  out->version = static_cast<int>(version);
  out->server_name = args[2];
  return true;
}

bool DecodeAuth(std::span<const std::string> args, PeerAuth* out, std::string* error) {
  if (!CheckShape(args, kAuth, 4, 4, error)) return false;
  if (!CheckName(args[1], error)) return false;
  if (!ParseHex(args[2], &out->client_nonce)) return Fail(error, "bad client nonce");
  if (!ParseHex(args[3], &out->mac)) return Fail(error, "bad mac");
  out->client_name = args[1];
  return true;
}

bool DecodeWelcome(std::span<const std::string> args, PeerWelcome* out, std::string* error) {
  if (!CheckShape(args, kWelcome, 2, 2, error)) return false;
  if (!ParseHex(args[1], &out->mac)) return Fail(error, "bad mac");
  return true;
}

bool DecodeDenied(std::span<const std::string> args, PeerDenied* out, std::string* error) {
  if (!CheckShape(args, kDenied, 2, 2, error)) return false;
  if (args[1].size() > kPeerReasonBytesMax) return Fail(error, "reason too long");
  out->reason = args[1];
  return true;
}

// ---- Gossip -----------------------------------------------------------------

void EncodeGossip(const GossipMessage& message, std::string* out) {
  assert(!message.sender.empty() && message.sender.size() <= kPeerNameBytesMax);
  assert(std::any_of(message.table.begin(), message.table.end(),
                     [&](const MemberRecord& record) { return record.name == message.sender; }));
  std::string table;
  EncodeMembers(message.table, &table);
  AppendHeader('*', 3, out);
  AppendBulk(kGossip, out);
  AppendBulk(message.sender, out);
  AppendBulk(table, out);
}

bool DecodeGossip(std::span<const std::string> args, GossipMessage* out, std::string* error) {
  if (!CheckShape(args, kGossip, 3, 3, error)) return false;
  if (!CheckName(args[1], error)) return false;
  std::vector<MemberRecord> table;
  if (!DecodeMembers(args[2], &table, error)) return false;
  bool has_sender = std::any_of(table.begin(), table.end(),
                                [&](const MemberRecord& record) { return record.name == args[1]; });
  if (!has_sender) return Fail(error, "gossip table lacks the sender");
  out->sender = args[1];
  out->table = std::move(table);
  return true;
}

}  // namespace ringkv::cluster
