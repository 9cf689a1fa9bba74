// cluster/peer_protocol_internal.h: the message names and the encoding and
// decoding helpers of the peer protocol (internal to cluster/, shared by
// peer_protocol.cc, peer_protocol_batch.cc, peer_protocol_forward.cc and
// peer_protocol_membership.cc).
//
// They are defined here, inline, so that every encoder and decoder can
// still inline them as it did when they were local to one file: the
// replica path runs them for every replica of every client request.
//
// Thread safety: pure functions, safe from any thread.
#ifndef RINGKV_CLUSTER_PEER_PROTOCOL_INTERNAL_H_
#define RINGKV_CLUSTER_PEER_PROTOCOL_INTERNAL_H_

#include <cassert>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "cluster/peer_protocol.h"

namespace ringkv::cluster::internal {

// Room for a type byte, 20 digits and CRLF.
inline constexpr size_t kHeaderBytesMax = 32;

inline constexpr std::string_view kPut = "RK.PUT";
inline constexpr std::string_view kPutReply = "RK.PUTR";
inline constexpr std::string_view kPutReplies = "RK.PUTRS";
inline constexpr std::string_view kSameReplies = "RK.SAMES";
inline constexpr std::string_view kErrorPrefix = "ERR ";
inline constexpr std::string_view kGet = "RK.GET";
inline constexpr std::string_view kGetReply = "RK.GETR";
inline constexpr std::string_view kForward = "RK.FWD";
inline constexpr std::string_view kForwardReply = "RK.FWDR";
inline constexpr std::string_view kHello = "RK.HELLO";
inline constexpr std::string_view kAuth = "RK.AUTH";
inline constexpr std::string_view kWelcome = "RK.WELCOME";
inline constexpr std::string_view kDenied = "RK.DENIED";
inline constexpr std::string_view kGossip = "RK.GOSSIP";

// ---- Encoding ---------------------------------------------------------------

inline void AppendHeader(char type, uint64_t count, std::string* out) {
  char buffer[kHeaderBytesMax];
  buffer[0] = type;
  auto result = std::to_chars(buffer + 1, buffer + sizeof(buffer) - 2, count);
  assert(result.ec == std::errc());
  char* end = result.ptr;
  *end++ = '\r';
  *end++ = '\n';
  out->append(buffer, static_cast<size_t>(end - buffer));
}

inline void AppendBulk(std::string_view bytes, std::string* out) {
  AppendHeader('$', bytes.size(), out);
  out->append(bytes);
  out->append("\r\n", 2);
}

inline void AppendBulkNumber(uint64_t value, std::string* out) {
  char digits[24];
  auto result = std::to_chars(digits, digits + sizeof(digits), value);
  assert(result.ec == std::errc());
  AppendBulk(std::string_view(digits, static_cast<size_t>(result.ptr - digits)), out);
}

inline size_t DecimalBytes(uint64_t value) {
  size_t digits = 1;
  while (value >= 10) {
    value /= 10;
    ++digits;
  }
  return digits;
}

// Writes `value` in decimal as exactly `digits` bytes at `p`; returns the end.
inline char* WriteDecimal(char* p, uint64_t value, size_t digits) {
  char* const end = p + digits;
  char* q = end;
  do {
    *--q = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  return end;
}

// ---- Decoding helpers -------------------------------------------------------

inline bool Fail(std::string* error, std::string_view reason) {
  error->assign(reason);
  return false;
}

inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
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
inline bool ParseDecimal(std::string_view text, uint64_t* value) {
  if (text.empty() || text.size() > 20) return false;
  if (text.size() > 1 && text[0] == '0') return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  auto result = std::from_chars(text.data(), text.data() + text.size(), *value);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

inline bool ParseId(std::string_view text, uint64_t* id, std::string* error) {
  if (!ParseDecimal(text, id)) return Fail(error, "bad request id");
  return true;
}

// Validates arity against [min, max] and the message name.
inline bool CheckShape(std::span<const std::string> args, std::string_view name, size_t min,
                       size_t max, std::string* error) {
  if (args.empty() || !EqualsIgnoreCase(args[0], name)) return Fail(error, "unexpected message");
  if (args.size() < min || args.size() > max) {
    error->assign("wrong number of arguments for '");
    error->append(name);
    error->append("'");
    return false;
  }
  return true;
}

inline bool CheckName(std::string_view name, std::string* error) {
  if (name.empty() || name.size() > kPeerNameBytesMax) return Fail(error, "bad member name");
  return true;
}

}  // namespace ringkv::cluster::internal

#endif  // RINGKV_CLUSTER_PEER_PROTOCOL_INTERNAL_H_
