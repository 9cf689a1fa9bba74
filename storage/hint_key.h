// storage/hint_key.h: the LMDB keys and record header of the "hints"
// database (internal to storage/; docs/storage_format.md has the bytes).
//
// A hint key is the target (the member the write was meant for) with a
// one-byte length in front, then the data key of the user key
// (storage/data_key.h). So one target's hints are one contiguous range,
// ordered like data keys within it, and a long user key is hashed exactly as
// in "data", with the full key at the front of the record. The record is the
// (optional) long-key prefix, then a 16-byte header, then the encoded
// sibling set. Pure functions, no LMDB.
#ifndef RINGKV_STORAGE_HINT_KEY_H_
#define RINGKV_STORAGE_HINT_KEY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/data_key.h"

namespace ringkv::storage {

// A target name is 1 to this many bytes (its length is one byte).
inline constexpr size_t kHintTargetBytesMax = 255;
inline constexpr size_t kHintHeaderBytes = 16;  // created_ms, updated_ms.

// The bytes every hint key of `target` starts with.
// REQUIRES: 1 <= target.size() <= kHintTargetBytesMax.
std::string HintTargetPrefix(std::string_view target);

// Writes the hint key of (target, partition, key) to *out, replacing its
// contents: inline if the whole key fits in `max_key_bytes`, else hashed.
// REQUIRES: as HintTargetPrefix, and partition < kPartitionCountMax.
DataKeyKind EncodeHintKey(std::string_view target, uint32_t partition, std::string_view key,
                          size_t max_key_bytes, std::string* out);

// Splits a stored hint key. Returns false if malformed (empty target, target
// running past the end, or a malformed data key after it). Views point into
// `stored`.
bool ParseHintKey(std::string_view stored, std::string_view* target, uint32_t* partition,
                  DataKeyKind* kind, std::string_view* rest);

struct HintHeader {
  int64_t created_ms = 0;  // When the first write of this hint was stored.
  int64_t updated_ms = 0;  // When a write last changed it.
};

// Appends the header to *out.
void AppendHintHeader(const HintHeader& header, std::string* out);
// Splits the payload of a hint record (after any long-key prefix) into its
// header and the encoded sibling set. False if it is too short.
bool SplitHintPayload(std::string_view payload, HintHeader* header, std::string_view* set_bytes);

// Identifies a hint's state for DeleteHintIfUnchanged: the 64-bit XXH3 of
// the encoded sibling set. Equal sets encode to equal bytes, so a merge that
// changes nothing keeps the version.
uint64_t HintVersion(std::string_view set_bytes);

}  // namespace ringkv::storage

#endif  // RINGKV_STORAGE_HINT_KEY_H_
