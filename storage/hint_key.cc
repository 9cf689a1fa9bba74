// storage/hint_key.cc
#include "storage/hint_key.h"

#include <xxhash.h>

#include <cassert>

#include "storage/coding.h"

namespace ringkv::storage {

std::string HintTargetPrefix(std::string_view target) {
  assert(!target.empty() && target.size() <= kHintTargetBytesMax);
  std::string prefix;
  prefix.reserve(1 + target.size());
  prefix.push_back(static_cast<char>(target.size()));
  prefix.append(target);
  return prefix;
}

DataKeyKind EncodeHintKey(std::string_view target, uint32_t partition, std::string_view key,
                          size_t max_key_bytes, std::string* out) {
  const size_t prefix_bytes = 1 + target.size();
  assert(max_key_bytes > prefix_bytes + kDataKeyPrefixBytes + kKeyHashBytes);
  std::string data_key;
  const DataKeyKind kind = EncodeDataKey(partition, key, max_key_bytes - prefix_bytes, &data_key);
  *out = HintTargetPrefix(target);
  out->append(data_key);
  return kind;
}

bool ParseHintKey(std::string_view stored, std::string_view* target, uint32_t* partition,
                  DataKeyKind* kind, std::string_view* rest) {
  if (stored.empty()) return false;
  const size_t target_bytes = static_cast<uint8_t>(stored[0]);
  if (target_bytes == 0 || 1 + target_bytes > stored.size()) return false;
  *target = stored.substr(1, target_bytes);
  return ParseDataKey(stored.substr(1 + target_bytes), partition, kind, rest);
}

void AppendHintHeader(const HintHeader& header, std::string* out) {
  coding::PutFixed64(out, static_cast<uint64_t>(header.created_ms));
  coding::PutFixed64(out, static_cast<uint64_t>(header.updated_ms));
}

bool SplitHintPayload(std::string_view payload, HintHeader* header, std::string_view* set_bytes) {
  if (payload.size() < kHintHeaderBytes) return false;
  header->created_ms = static_cast<int64_t>(coding::DecodeFixed64(payload.data()));
  header->updated_ms = static_cast<int64_t>(coding::DecodeFixed64(payload.data() + 8));
  *set_bytes = payload.substr(kHintHeaderBytes);
  return true;
}

uint64_t HintVersion(std::string_view set_bytes) {
  return XXH3_64bits(set_bytes.data(), set_bytes.size());
}

}  // namespace ringkv::storage
