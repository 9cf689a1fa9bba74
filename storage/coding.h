// storage/coding.h: little helpers for the on-disk encodings (internal to
// storage/).
//
// Varints are LEB128 (7 bits per byte, low bits first) and must be minimal:
// the decoder rejects an overlong encoding (a last byte of zero after the
// first) and anything past 64 bits, so every value has exactly one
// encoding and equal records are equal bytes. Fixed-width integers are
// little-endian unless a name says otherwise.
//
// Decoders take a std::string_view they consume from the front and return
// false, leaving the input unspecified, when the bytes do not decode.
#ifndef RINGKV_STORAGE_CODING_H_
#define RINGKV_STORAGE_CODING_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace ringkv::storage::coding {

inline constexpr size_t kVarint64BytesMax = 10;

inline void PutVarint64(std::string* out, uint64_t value) {
  char buffer[kVarint64BytesMax];
  size_t length = 0;
  while (value >= 0x80) {
    buffer[length++] = static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  buffer[length++] = static_cast<char>(value);
  out->append(buffer, length);
}

// Writes `value` at `out`, which must have room for kVarint64BytesMax
// bytes; returns the end of what was written.
inline char* EncodeVarint64(char* out, uint64_t value) {
  while (value >= 0x80) {
    *out++ = static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  *out++ = static_cast<char>(value);
  return out;
}

inline size_t Varint64Length(uint64_t value) {
  size_t length = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++length;
  }
  return length;
}

inline bool GetVarint64(std::string_view* input, uint64_t* value) {
  uint64_t result = 0;
  for (size_t i = 0; i < input->size() && i < kVarint64BytesMax; ++i) {
    const uint8_t byte = static_cast<uint8_t>((*input)[i]);
    // The tenth byte may only carry the 64th bit.
    if (i == kVarint64BytesMax - 1 && byte > 1) return false;
    result |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      if (i > 0 && byte == 0) return false;  // Overlong: not minimal.
      *value = result;
      input->remove_prefix(i + 1);
      return true;
    }
  }
  return false;  // Truncated or more than ten bytes.
}

inline uint64_t ZigZagEncode(int64_t value) {
  return (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
}

inline int64_t ZigZagDecode(uint64_t value) {
  return static_cast<int64_t>((value >> 1) ^ (~(value & 1) + 1));
}

inline void PutFixed64(std::string* out, uint64_t value) {
  char buffer[8];
  for (int i = 0; i < 8; ++i) buffer[i] = static_cast<char>(value >> (8 * i));
  out->append(buffer, 8);
}

// Writes `value` little-endian at `out` (8 bytes); returns the end.
inline char* EncodeFixed64(char* out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(value >> (8 * i));
  return out + 8;
}

inline uint64_t DecodeFixed64(const char* bytes) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i)
    value |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  return value;
}

inline bool GetFixed64(std::string_view* input, uint64_t* value) {
  if (input->size() < 8) return false;
  *value = DecodeFixed64(input->data());
  input->remove_prefix(8);
  return true;
}

inline void PutFixed32(std::string* out, uint32_t value) {
  char buffer[4];
  for (int i = 0; i < 4; ++i) buffer[i] = static_cast<char>(value >> (8 * i));
  out->append(buffer, 4);
}

inline uint32_t DecodeFixed32(const char* bytes) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i)
    value |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  return value;
}

// Big-endian, for key prefixes that must sort numerically.
inline void EncodeBigEndian64(uint64_t value, char* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(value >> (56 - 8 * i));
}

}  // namespace ringkv::storage::coding

#endif  // RINGKV_STORAGE_CODING_H_
