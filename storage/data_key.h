// storage/data_key.h: the LMDB keys of the "data" database (internal to
// storage/; docs/storage_format.md has the bytes).
//
// A data key is the 2-byte big-endian partition, a kind byte, then either
// the user key itself (kInline) or, for keys too long for LMDB's key limit,
// the 16-byte XXH3-128 of the user key (kHashed). A hashed key's record
// starts with the full user key (varint length, bytes) so it can be checked
// on read and returned by scans. Pure functions, no LMDB.
#ifndef RINGKV_STORAGE_DATA_KEY_H_
#define RINGKV_STORAGE_DATA_KEY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringkv::storage {

enum class DataKeyKind : uint8_t { kInline = 0, kHashed = 1 };

inline constexpr size_t kDataKeyPrefixBytes = 3;  // Partition (2) + kind (1).
inline constexpr size_t kKeyHashBytes = 16;
inline constexpr uint32_t kPartitionCountMax = 1u << 16;

// Writes the data key of (partition, key) to *out (replacing its contents):
// inline if it fits in `max_key_bytes` (LMDB's key limit), else hashed.
// REQUIRES: partition < kPartitionCountMax.
DataKeyKind EncodeDataKey(uint32_t partition, std::string_view key, size_t max_key_bytes,
                          std::string* out);

// The 2-byte prefix every key of `partition` starts with.
std::string PartitionPrefix(uint32_t partition);

// Splits a stored data key. Returns false if it is malformed (too short,
// unknown kind, hashed key of the wrong length). *rest is the user key
// (kInline) or the hash (kHashed), a view into `stored`.
bool ParseDataKey(std::string_view stored, uint32_t* partition, DataKeyKind* kind,
                  std::string_view* rest);

// The record stored under a hashed key: varint key length, key, payload.
void AppendHashedRecordPrefix(std::string_view key, std::string* out);
size_t HashedRecordPrefixBytes(std::string_view key);
// Returns false if the record does not start with a well-formed key.
bool SplitHashedRecord(std::string_view record, std::string_view* key, std::string_view* payload);

}  // namespace ringkv::storage

#endif  // RINGKV_STORAGE_DATA_KEY_H_
