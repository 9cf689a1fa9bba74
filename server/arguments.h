// server/arguments.h: small helpers handlers use to read their arguments.
#ifndef RINGKV_SERVER_ARGUMENTS_H_
#define RINGKV_SERVER_ARGUMENTS_H_

#include <charconv>
#include <cstdint>
#include <string_view>

namespace ringkv::server {

// ASCII case-insensitive equality ("nx" == "NX").
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Parses a whole decimal int64 as Redis's string2ll does (no spaces, no
// '+', no leading zeros other than "0"). Returns false otherwise.
inline bool ParseInt64(std::string_view text, int64_t* value) {
  if (text.empty() || text.size() > 20) return false;
  if (text.size() > 1 && (text[0] == '0' || (text[0] == '-' && text[1] == '0'))) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace ringkv::server

#endif  // RINGKV_SERVER_ARGUMENTS_H_
