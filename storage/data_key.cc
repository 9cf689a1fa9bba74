// storage/data_key.cc
#include "storage/data_key.h"

#include <xxhash.h>

#include <cassert>

#include "storage/coding.h"

namespace ringkv::storage {

std::string PartitionPrefix(uint32_t partition) {
  assert(partition < kPartitionCountMax);
  return std::string{static_cast<char>(partition >> 8), static_cast<char>(partition & 0xff)};
}

DataKeyKind EncodeDataKey(uint32_t partition, std::string_view key, size_t max_key_bytes,
                          std::string* out) {
  assert(partition < kPartitionCountMax);
  out->clear();
  out->push_back(static_cast<char>(partition >> 8));
  out->push_back(static_cast<char>(partition & 0xff));
  if (kDataKeyPrefixBytes + key.size() <= max_key_bytes) {
    out->push_back(static_cast<char>(DataKeyKind::kInline));
    out->append(key);
    return DataKeyKind::kInline;
  }
  out->push_back(static_cast<char>(DataKeyKind::kHashed));
  const XXH128_hash_t hash = XXH3_128bits(key.data(), key.size());
  char bytes[kKeyHashBytes];
  coding::EncodeBigEndian64(hash.high64, bytes);
  coding::EncodeBigEndian64(hash.low64, bytes + 8);
  out->append(bytes, kKeyHashBytes);
  return DataKeyKind::kHashed;
}

bool ParseDataKey(std::string_view stored, uint32_t* partition, DataKeyKind* kind,
                  std::string_view* rest) {
  if (stored.size() < kDataKeyPrefixBytes) return false;
  *partition = (static_cast<uint32_t>(static_cast<uint8_t>(stored[0])) << 8) |
               static_cast<uint8_t>(stored[1]);
  const uint8_t kind_byte = static_cast<uint8_t>(stored[2]);
  *rest = stored.substr(kDataKeyPrefixBytes);
  if (kind_byte == static_cast<uint8_t>(DataKeyKind::kInline)) {
    *kind = DataKeyKind::kInline;
    return true;
  }
  if (kind_byte == static_cast<uint8_t>(DataKeyKind::kHashed) && rest->size() == kKeyHashBytes) {
    *kind = DataKeyKind::kHashed;
    return true;
  }
  return false;
}

void AppendHashedRecordPrefix(std::string_view key, std::string* out) {
  coding::PutVarint64(out, key.size());
  out->append(key);
}

size_t HashedRecordPrefixBytes(std::string_view key) {
  return coding::Varint64Length(key.size()) + key.size();
}

bool SplitHashedRecord(std::string_view record, std::string_view* key, std::string_view* payload) {
  uint64_t length = 0;
  if (!coding::GetVarint64(&record, &length) || length > record.size()) return false;
  *key = record.substr(0, length);
  *payload = record.substr(length);
  return true;
}

}  // namespace ringkv::storage
