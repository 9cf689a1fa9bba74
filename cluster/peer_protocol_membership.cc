// cluster/peer_protocol_membership.cc: encoding and validation of the peer
// messages about who the peers are (docs/peer_protocol.md): the handshake
// that admits a peer (RK.HELLO, RK.AUTH, RK.WELCOME, RK.DENIED) and gossip
// of the member table (RK.GOSSIP).
#include <algorithm>
#include <array>
#include <cassert>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cluster/peer_protocol.h"
#include "cluster/peer_protocol_internal.h"

namespace ringkv::cluster {

using internal::AppendBulk;
using internal::AppendBulkNumber;
using internal::AppendHeader;
using internal::CheckName;
using internal::CheckShape;
using internal::Fail;
using internal::kAuth;
using internal::kDenied;
using internal::kGossip;
using internal::kHello;
using internal::kWelcome;
using internal::ParseDecimal;

namespace {

// ---- Encoding ---------------------------------------------------------------

template <size_t kBytes>
void AppendBulkHex(const std::array<unsigned char, kBytes>& bytes, std::string* out) {
  AppendHeader('$', 2 * kBytes, out);
  AppendHex(bytes, out);
  out->append("\r\n", 2);
}

// ---- Decoding helpers -------------------------------------------------------

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

}  // namespace

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
