// resp/reply_writer.cc: RESP2/RESP3 reply encoding.
//
// Numbers are formatted with std::to_chars into a stack buffer: replies are
// the hot path and snprintf's locale and format parsing cost more than the
// rest of a small reply.
#include "resp/reply_writer.h"

#include <cassert>
#include <charconv>
#include <cmath>

namespace ringkv::resp {
namespace {

// Room for a type byte, a 20-digit number with its sign, and CRLF.
constexpr size_t kHeaderBytesMax = 32;

// Appends `text` with CR and LF turned into spaces, so that a status or an
// error can never be split into two replies by its content.
void AppendLineSafe(std::string* out, std::string_view text) {
  size_t start = out->size();
  out->append(text);
  for (size_t i = start; i < out->size(); i++) {
    char& c = (*out)[i];
    if (c == '\r' || c == '\n') c = ' ';
  }
}

// Formats `value` as Redis prints doubles, but with the shortest text that
// reads back to the same value. Returns the number of bytes written.
size_t FormatDouble(double value, char* buffer, size_t size) {
  if (std::isnan(value)) {
    buffer[0] = 'n', buffer[1] = 'a', buffer[2] = 'n';  // Never "-nan".
    return 3;
  }
  // to_chars prints "inf" and "-inf", the spelling Redis uses.
  auto result = std::to_chars(buffer, buffer + size, value);
  assert(result.ec == std::errc());
  return static_cast<size_t>(result.ptr - buffer);
}

}  // namespace

void ReplyWriter::Header(char type, uint64_t count) {
  char buffer[kHeaderBytesMax];
  buffer[0] = type;
  auto result = std::to_chars(buffer + 1, buffer + sizeof(buffer) - 2, count);
  char* end = result.ptr;
  *end++ = '\r';
  *end++ = '\n';
  out_->append(buffer, static_cast<size_t>(end - buffer));
}

void ReplyWriter::SimpleString(std::string_view text) {
  out_->push_back('+');
  AppendLineSafe(out_, text);
  out_->append("\r\n", 2);
}

void ReplyWriter::Error(std::string_view message) {
  out_->push_back('-');
  AppendLineSafe(out_, message);
  out_->append("\r\n", 2);
}

void ReplyWriter::Integer(int64_t value) {
  char buffer[kHeaderBytesMax];
  buffer[0] = ':';
  auto result = std::to_chars(buffer + 1, buffer + sizeof(buffer) - 2, value);
  char* end = result.ptr;
  *end++ = '\r';
  *end++ = '\n';
  out_->append(buffer, static_cast<size_t>(end - buffer));
}

void ReplyWriter::Bulk(std::string_view bytes) {
  // Room for the whole reply first: appended in three parts, a reply of its
  // own (a value of 1 KB) would otherwise grow, and copy, twice.
  out_->reserve(out_->size() + kHeaderBytesMax + bytes.size() + 2);
  Header('$', bytes.size());
  out_->append(bytes);
  out_->append("\r\n", 2);
}

void ReplyWriter::Null() {
  if (protocol_ >= 3) {
    out_->append("_\r\n", 3);
  } else {
    out_->append("$-1\r\n", 5);
  }
}

void ReplyWriter::NullArray() {
  if (protocol_ >= 3) {
    out_->append("_\r\n", 3);
  } else {
    out_->append("*-1\r\n", 5);
  }
}

void ReplyWriter::ArrayHeader(size_t count) { Header('*', count); }

void ReplyWriter::MapHeader(size_t pairs) {
  if (protocol_ >= 3) {
    Header('%', pairs);
  } else {
    Header('*', 2 * static_cast<uint64_t>(pairs));  // Flattened key, value, ...
  }
}

void ReplyWriter::SetHeader(size_t count) { Header(protocol_ >= 3 ? '~' : '*', count); }

void ReplyWriter::PushHeader(size_t count) { Header(protocol_ >= 3 ? '>' : '*', count); }

void ReplyWriter::Double(double value) {
  char buffer[64];
  size_t length = FormatDouble(value, buffer, sizeof(buffer));
  std::string_view text(buffer, length);
  if (protocol_ < 3) {
    Bulk(text);
    return;
  }
  out_->push_back(',');
  out_->append(text);
  out_->append("\r\n", 2);
}

void ReplyWriter::Boolean(bool value) {
  if (protocol_ >= 3) {
    out_->append(value ? "#t\r\n" : "#f\r\n", 4);
  } else {
    out_->append(value ? ":1\r\n" : ":0\r\n", 4);
  }
}

void ReplyWriter::Verbatim(std::string_view format, std::string_view text) {
  assert(format.size() == 3);
  if (protocol_ < 3) {
    Bulk(text);
    return;
  }
  // A wrong-sized format would make the declared length lie; "txt" keeps
  // the reply well formed if the assertion is compiled out.
  std::string_view checked_format = format.size() == 3 ? format : "txt";
  Header('=', 4 + text.size());
  out_->append(checked_format);
  out_->push_back(':');
  out_->append(text);
  out_->append("\r\n", 2);
}

void ReplyWriter::BigNumber(std::string_view digits) {
  if (protocol_ < 3) {
    Bulk(digits);
    return;
  }
  out_->push_back('(');
  AppendLineSafe(out_, digits);
  out_->append("\r\n", 2);
}

}  // namespace ringkv::resp
