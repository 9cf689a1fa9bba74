// cluster/peer_protocol_forward.cc: encoding and validation of the
// forwarding messages (RK.FWD, RK.FWDR; docs/peer_protocol.md), and the
// check that a forwarded reply is exactly one well-formed RESP reply, so
// that relaying it can never desynchronize the client's connection.
#include <cassert>
#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "cluster/peer_protocol.h"
#include "cluster/peer_protocol_internal.h"

namespace ringkv::cluster {

using internal::AppendBulk;
using internal::AppendBulkNumber;
using internal::AppendHeader;
using internal::CheckShape;
using internal::Fail;
using internal::kForward;
using internal::kForwardReply;
using internal::ParseDecimal;
using internal::ParseId;

namespace {

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

}  // namespace ringkv::cluster
