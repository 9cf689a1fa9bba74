// storage/sibling_set_codec.cc: the binary encoding of sibling sets
// (docs/storage_format.md) and its validating, zero-copy reader.
#include <xxhash.h>

#include <cassert>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "storage/coding.h"
#include "storage/sibling_set.h"

namespace ringkv::storage {

namespace {

constexpr uint8_t kFormatVersion = 1;
constexpr uint8_t kFlagTombstone = 0x01;
constexpr uint8_t kFlagHasExpiry = 0x02;
constexpr uint8_t kKnownFlags = kFlagTombstone | kFlagHasExpiry;
constexpr size_t kChecksumBytes = 4;
// The smallest possible clock entry (u64 actor, 1-byte counter) and sibling
// (actor, counter, timestamp, flags, value length): counts are checked
// against these before anything is reserved, so a forged count cannot make
// the reader allocate.
constexpr size_t kClockEntryBytesMin = 8 + 1;
constexpr size_t kSiblingBytesMin = 8 + 1 + 1 + 1 + 1;

uint32_t Checksum(std::string_view bytes) {
  return static_cast<uint32_t>(XXH3_64bits(bytes.data(), bytes.size()));
}

Status Corrupt(const char* what, size_t index) {
  char message[160];
  std::snprintf(message, sizeof(message), "sibling set: %s (item %zu)", what, index);
  return Status::Corruption(message);
}

Status ParseClock(std::string_view* input, VersionVector* clock) {
  uint64_t count = 0;
  if (!coding::GetVarint64(input, &count))
    return Status::Corruption("sibling set: bad clock entry count");
  if (count > input->size() / kClockEntryBytesMin) {
    return Status::Corruption("sibling set: clock entry count exceeds the record");
  }
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t actor = 0;
    uint64_t counter = 0;
    if (!coding::GetFixed64(input, &actor) || !coding::GetVarint64(input, &counter)) {
      return Corrupt("truncated or malformed clock entry", i);
    }
    if (!clock->AppendSorted(actor, counter)) {
      return Corrupt("clock entries not sorted by actor, duplicated, or zero", i);
    }
  }
  return Status::Ok();
}

Status ParseSibling(std::string_view* input, size_t index, SiblingRef* sibling) {
  uint64_t timestamp = 0;
  if (!coding::GetFixed64(input, &sibling->dot.actor) ||
      !coding::GetVarint64(input, &sibling->dot.counter) ||
      !coding::GetVarint64(input, &timestamp) || input->empty()) {
    return Corrupt("truncated or malformed sibling header", index);
  }
  if (sibling->dot.counter == 0) return Corrupt("dot counter is zero", index);
  sibling->timestamp_ms = coding::ZigZagDecode(timestamp);
  const uint8_t flags = static_cast<uint8_t>(input->front());
  input->remove_prefix(1);
  if ((flags & ~kKnownFlags) != 0) return Corrupt("unknown flag bits", index);
  sibling->tombstone = (flags & kFlagTombstone) != 0;
  sibling->expire_at_ms = 0;
  if ((flags & kFlagHasExpiry) != 0) {
    uint64_t expire = 0;
    if (!coding::GetVarint64(input, &expire)) return Corrupt("malformed expiry", index);
    sibling->expire_at_ms = coding::ZigZagDecode(expire);
    if (sibling->expire_at_ms == 0) return Corrupt("expiry flag set with a zero expiry", index);
  }
  uint64_t length = 0;
  if (!coding::GetVarint64(input, &length)) return Corrupt("malformed value length", index);
  if (length > input->size()) return Corrupt("value length exceeds the record", index);
  if (sibling->tombstone && length != 0) return Corrupt("tombstone with a value", index);
  sibling->value = input->substr(0, length);
  input->remove_prefix(length);
  return Status::Ok();
}

// The checks that come first, on the whole record: its length, its
// checksum and its format version. A plain result, so that the decoders'
// hot path builds no Status; RecordError explains a failure.
enum class RecordCheck { kOk, kTooShort, kChecksumMismatch, kUnknownVersion };

RecordCheck CheckRecord(std::string_view bytes) {
  if (bytes.size() < 1 + 1 + 1 + kChecksumBytes) return RecordCheck::kTooShort;
  const size_t body_size = bytes.size() - kChecksumBytes;
  if (coding::DecodeFixed32(bytes.data() + body_size) != Checksum(bytes.substr(0, body_size))) {
    return RecordCheck::kChecksumMismatch;
  }
  if (static_cast<uint8_t>(bytes.front()) != kFormatVersion) return RecordCheck::kUnknownVersion;
  return RecordCheck::kOk;
}

// REQUIRES: `check` is what CheckRecord(bytes) returned, not kOk.
Status RecordError(std::string_view bytes, RecordCheck check) {
  switch (check) {
    case RecordCheck::kTooShort:
      return Status::Corruption("sibling set: record too short");
    case RecordCheck::kChecksumMismatch: {
      const size_t body_size = bytes.size() - kChecksumBytes;
      char message[96];
      std::snprintf(message, sizeof(message),
                    "sibling set: checksum mismatch (stored %08" PRIx32 ", computed %08" PRIx32 ")",
                    coding::DecodeFixed32(bytes.data() + body_size),
                    Checksum(bytes.substr(0, body_size)));
      return Status::Corruption(message);
    }
    case RecordCheck::kUnknownVersion:
      return Status::Corruption("sibling set: unknown format version");
    case RecordCheck::kOk:
      break;
  }
  assert(false && "RecordError of a record that passed");
  return Status::Ok();
}

// The record's body (`bytes` less its checksum) up to its siblings: the
// format version, the clock into *clock and the sibling count, bounded by
// what the rest could hold. *input is left at the first sibling. Behind
// both ParseSiblingSet and AppendSiblingSetVersionBytes.
Status ParseHeader(std::string_view bytes, std::string_view body, std::string_view* input,
                   VersionVector* clock, uint64_t* count) {
  if (static_cast<uint8_t>(body.front()) != kFormatVersion) {
    return RecordError(bytes, RecordCheck::kUnknownVersion);
  }
  *input = body.substr(1);
  if (Status status = ParseClock(input, clock); !status.ok()) return status;
  if (!coding::GetVarint64(input, count))
    return Status::Corruption("sibling set: bad sibling count");
  if (*count > input->size() / kSiblingBytesMin) {
    return Status::Corruption("sibling set: sibling count exceeds the record");
  }
  return Status::Ok();
}

// The one validating parser behind DecodeSiblingSet and SiblingSetView.
// Fills *clock and *siblings (cleared first); values view `bytes`.
Status ParseSiblingSet(std::string_view bytes, VersionVector* clock,
                       std::vector<SiblingRef>* siblings) {
  clock->Clear();
  siblings->clear();
  // CheckRecord's checks, written out again: as a call they cost every
  // decode some 25 instructions more (callgrind). The tests hold the two to
  // the same results and messages.
  if (bytes.size() < 1 + 1 + 1 + kChecksumBytes) return RecordError(bytes, RecordCheck::kTooShort);
  const size_t body_size = bytes.size() - kChecksumBytes;
  if (coding::DecodeFixed32(bytes.data() + body_size) != Checksum(bytes.substr(0, body_size))) {
    return RecordError(bytes, RecordCheck::kChecksumMismatch);
  }
  std::string_view input;
  uint64_t count = 0;
  if (Status status = ParseHeader(bytes, bytes.substr(0, body_size), &input, clock, &count);
      !status.ok()) {
    return status;
  }
  siblings->resize(count);
  for (size_t i = 0; i < count; ++i) {
    SiblingRef& sibling = (*siblings)[i];
    if (Status status = ParseSibling(&input, i, &sibling); !status.ok()) return status;
    if (i > 0 && !((*siblings)[i - 1].dot < sibling.dot)) {
      return Corrupt("siblings not sorted by dot, or a dot repeated", i);
    }
    if (!clock->Covers(sibling.dot)) return Corrupt("dot not covered by the clock", i);
  }
  if (!input.empty()) return Status::Corruption("sibling set: trailing bytes");
  return Status::Ok();
}

}  // namespace

size_t EncodedSiblingSetBytes(const SiblingSet& set) {
  size_t bytes = 1 + coding::Varint64Length(set.clock.size()) +
                 coding::Varint64Length(set.siblings.size()) + kChecksumBytes;
  for (const auto& [actor, counter] : set.clock.entries()) {
    bytes += 8 + coding::Varint64Length(counter);
  }
  for (const Sibling& sibling : set.siblings) {
    bytes += 8 + coding::Varint64Length(sibling.dot.counter) +
             coding::Varint64Length(coding::ZigZagEncode(sibling.timestamp_ms)) + 1 +
             coding::Varint64Length(sibling.value.size()) + sibling.value.size();
    if (sibling.expire_at_ms != 0) {
      bytes += coding::Varint64Length(coding::ZigZagEncode(sibling.expire_at_ms));
    }
  }
  return bytes;
}

// Sized once and written through a pointer: this runs for every stored
// record and every replicated message.
void EncodeSiblingSet(const SiblingSet& set, std::string* out) {
  const size_t start = out->size();
  const size_t bytes = EncodedSiblingSetBytes(set);
  out->resize(start + bytes);
  char* const begin = out->data() + start;
  char* p = begin;
  *p++ = static_cast<char>(kFormatVersion);
  p = coding::EncodeVarint64(p, set.clock.size());
  for (const auto& [actor, counter] : set.clock.entries()) {
    p = coding::EncodeFixed64(p, actor);
    p = coding::EncodeVarint64(p, counter);
  }
  p = coding::EncodeVarint64(p, set.siblings.size());
  for (const Sibling& sibling : set.siblings) {
    assert(set.clock.Covers(sibling.dot) && sibling.dot.counter > 0);
    assert(!sibling.tombstone || sibling.value.empty());
    p = coding::EncodeFixed64(p, sibling.dot.actor);
    p = coding::EncodeVarint64(p, sibling.dot.counter);
    p = coding::EncodeVarint64(p, coding::ZigZagEncode(sibling.timestamp_ms));
    uint8_t flags = 0;
    if (sibling.tombstone) flags |= kFlagTombstone;
    if (sibling.expire_at_ms != 0) flags |= kFlagHasExpiry;
    *p++ = static_cast<char>(flags);
    if (sibling.expire_at_ms != 0) {
      p = coding::EncodeVarint64(p, coding::ZigZagEncode(sibling.expire_at_ms));
    }
    p = coding::EncodeVarint64(p, sibling.value.size());
    if (!sibling.value.empty()) std::memcpy(p, sibling.value.data(), sibling.value.size());
    p += sibling.value.size();
  }
  const uint32_t checksum = Checksum(std::string_view(begin, static_cast<size_t>(p - begin)));
  for (int i = 0; i < 4; ++i) *p++ = static_cast<char>(checksum >> (8 * i));
  assert(static_cast<size_t>(p - begin) == bytes);
}

Status CheckSiblingSetChecksum(std::string_view bytes) {
  const RecordCheck check = CheckRecord(bytes);
  return check == RecordCheck::kOk ? Status::Ok() : RecordError(bytes, check);
}

Status AppendSiblingSetVersionBytes(std::string_view bytes, std::string* out) {
  if (bytes.size() < 1 + 1 + 1 + kChecksumBytes) return RecordError(bytes, RecordCheck::kTooShort);
  const std::string_view body = bytes.substr(0, bytes.size() - kChecksumBytes);
  thread_local VersionVector clock;
  clock.Clear();
  std::string_view input;
  uint64_t count = 0;
  if (Status status = ParseHeader(bytes, body, &input, &clock, &count); !status.ok()) {
    return status;
  }
  // Everything up to each value (its length included), then what follows
  // the last one.
  const char* next = body.data();
  for (size_t i = 0; i < count; ++i) {
    SiblingRef sibling;
    if (Status status = ParseSibling(&input, i, &sibling); !status.ok()) return status;
    out->append(next, static_cast<size_t>(sibling.value.data() - next));
    next = sibling.value.data() + sibling.value.size();
  }
  if (!input.empty()) return Status::Corruption("sibling set: trailing bytes");
  out->append(next, static_cast<size_t>(body.data() + body.size() - next));
  return Status::Ok();
}

Status DecodeSiblingSet(std::string_view bytes, SiblingSet* set) {
  // Scratch kept per thread, so a decode allocates only what the set holds.
  thread_local std::vector<SiblingRef> refs;
  set->clock.Clear();
  set->siblings.clear();
  if (Status status = ParseSiblingSet(bytes, &set->clock, &refs); !status.ok()) {
    set->clock.Clear();
    return status;
  }
  set->siblings.resize(refs.size());
  for (size_t i = 0; i < refs.size(); ++i) {
    Sibling& sibling = set->siblings[i];
    sibling.dot = refs[i].dot;
    sibling.timestamp_ms = refs[i].timestamp_ms;
    sibling.tombstone = refs[i].tombstone;
    sibling.expire_at_ms = refs[i].expire_at_ms;
    sibling.value.assign(refs[i].value);
  }
  return Status::Ok();
}

Status SiblingSetView::Parse(std::string_view bytes) {
  winner_ = 0;
  Status status = ParseSiblingSet(bytes, &clock_, &siblings_);
  if (!status.ok()) {
    clock_.Clear();
    siblings_.clear();
    return status;
  }
  if (!siblings_.empty()) winner_ = PickWinner(siblings_);
  return status;
}

}  // namespace ringkv::storage
