// cluster/peer_protocol_batch.cc: encoding and validation of the batched
// replies (docs/peer_protocol.md): RK.PUTRS, the replies to several puts,
// and RK.SAMES, the SAME answers to several conditional gets, each from
// one peer in one message.
#include <cassert>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "cluster/peer_protocol.h"
#include "cluster/peer_protocol_internal.h"

namespace ringkv::cluster {

using internal::AppendBulk;
using internal::AppendHeader;
using internal::CheckShape;
using internal::DecimalBytes;
using internal::Fail;
using internal::kErrorPrefix;
using internal::kPutReplies;
using internal::kSameReplies;
using internal::ParseId;
using internal::WriteDecimal;

namespace {

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

}  // namespace

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

}  // namespace ringkv::cluster
