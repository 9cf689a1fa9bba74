#include "server/write_context.h"

#include "storage/sibling_set.h"

namespace ringkv::server {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string EncodeContext(const storage::VersionVector& clock) {
  if (clock.empty()) return "";
  storage::SiblingSet set;
  set.clock = clock;
  std::string bytes;
  storage::EncodeSiblingSet(set, &bytes);
  static const char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    hex.push_back(kDigits[c >> 4]);
    hex.push_back(kDigits[c & 15]);
  }
  return hex;
}

bool DecodeContext(std::string_view text, storage::VersionVector* clock) {
  clock->Clear();
  if (text.empty()) return true;
  if (text.size() % 2 != 0) return false;
  std::string bytes;
  bytes.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    int high = HexValue(text[i]);
    int low = HexValue(text[i + 1]);
    if (high < 0 || low < 0) return false;
    bytes.push_back(static_cast<char>(high * 16 + low));
  }
  storage::SiblingSet set;
  if (!storage::DecodeSiblingSet(bytes, &set).ok() || !set.siblings.empty()) return false;
  *clock = std::move(set.clock);
  return true;
}

}  // namespace ringkv::server
