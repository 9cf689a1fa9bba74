// resp/parser.cc: the request parser, a transcription of Redis 7.0's
// processMultibulkBuffer / processInlineBuffer into an incremental state
// machine that keeps its own partial request instead of a query buffer.
#include "resp/parser.h"

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <utility>

namespace ringkv::resp {
namespace {

// Redis's LONG_STR_SIZE: string2ll rejects 21 bytes or more outright.
constexpr size_t kNumberBytesMax = 20;

// Redis's unauthenticated limits (processMultibulkBuffer).
constexpr int64_t kUnauthenticatedMultibulkMax = 10;
constexpr int64_t kUnauthenticatedBulkBytesMax = 16384;

// An argument string whose capacity grew past this is released before being
// reused, so one huge request does not pin its memory for the connection's
// lifetime. Smaller strings keep their capacity: steady state allocates
// nothing.
constexpr size_t kRetainedArgBytesMax = 64 * 1024;
// Likewise for the argument vector after a request with many arguments.
constexpr size_t kRetainedArgsMax = 1024;

// Redis's string2ll: optional '-', no '+', no leading zeros (except "0"
// itself), no "-0", nothing but digits, fits in int64_t. Any other spelling
// is not a number, so a header like "*01" is rejected exactly as Redis does.
bool ParseRedisInt64(std::string_view text, int64_t* value) {
  if (text.empty() || text.size() > kNumberBytesMax) return false;
  if (text == "0") {
    *value = 0;
    return true;
  }
  size_t i = 0;
  bool negative = text[0] == '-';
  if (negative) i++;
  if (i == text.size() || text[i] < '1' || text[i] > '9') return false;
  uint64_t magnitude = 0;
  for (; i < text.size(); i++) {
    char c = text[i];
    if (c < '0' || c > '9') return false;
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (magnitude > (UINT64_MAX - digit) / 10) return false;
    magnitude = magnitude * 10 + digit;
  }
  if (negative) {
    if (magnitude > static_cast<uint64_t>(INT64_MAX) + 1) return false;
    *value = static_cast<int64_t>(0 - magnitude);
  } else {
    if (magnitude > static_cast<uint64_t>(INT64_MAX)) return false;
    *value = static_cast<int64_t>(magnitude);
  }
  return true;
}

// The plain spelling of a non-negative number ("0", or 1-9 then digits, at
// most 18 of them so no overflow check is needed), ending at a '\r' inside
// [p, end). Returns the position of that '\r', or nullptr for any other
// spelling (which the state machine then parses, or refuses, as Redis does).
const char* PlainNumber(const char* p, const char* end, int64_t* value) {
  if (p == end) return nullptr;
  if (*p == '0') {
    *value = 0;
    ++p;
  } else {
    const char* start = p;
    int64_t number = 0;
    while (p != end && *p >= '0' && *p <= '9' && p - start < 18) {
      number = number * 10 + (*p - '0');
      ++p;
    }
    if (p == start || *start == '0') return nullptr;
    *value = number;
  }
  return p != end && *p == '\r' ? p : nullptr;
}

}  // namespace

RequestParser::RequestParser(const ParserLimits& limits) : limits_(limits) {}

size_t RequestParser::buffered_bytes() const { return line_.size() + args_bytes_; }

RequestParser::Step RequestParser::Fail(std::string reason) {
  error_ = std::move(reason);
  state_ = State::kFailed;
  return Step::kError;
}

void RequestParser::StartRequest() {
  // The previous request's arguments stay readable until the next Feed; a
  // new request reuses them from the start.
  argc_ = 0;
  args_bytes_ = 0;
  if (args_.size() > kRetainedArgsMax) args_.resize(kRetainedArgsMax);
}

std::string& RequestParser::NextArg() {
  if (argc_ == args_.size()) args_.emplace_back();
  std::string& arg = args_[argc_++];
  if (arg.capacity() > kRetainedArgBytesMax) {
    std::string().swap(arg);
  } else {
    arg.clear();
  }
  return arg;
}

// Reads one line that ends at `terminator`. A header line (terminator '\r')
// also needs one more byte, which Redis skips without looking at it. Bytes
// before the terminator may number at most inline_bytes_max, whatever the
// split of the input, so the outcome never depends on how bytes arrived.
RequestParser::LineStatus RequestParser::ReadLine(std::string_view input, size_t* pos,
                                                  char terminator, std::string_view* line) {
  const bool header = terminator == '\r';
  if (header && !line_.empty() && line_.back() == '\r') {
    // The terminator came at the end of an earlier input; skip its partner.
    if (*pos == input.size()) return LineStatus::kPartial;
    (*pos)++;
    line_.pop_back();
    *line = line_;
    return LineStatus::kComplete;
  }
  std::string_view rest = input.substr(*pos);
  size_t end = rest.find(terminator);
  size_t content_bytes = line_.size() + std::min(end, rest.size());
  if (content_bytes > limits_.inline_bytes_max) return LineStatus::kTooLong;
  if (end == std::string_view::npos) {
    line_.append(rest);
    *pos = input.size();
    return LineStatus::kPartial;
  }
  size_t skip = header ? 1 : 0;
  if (end + 1 + skip > rest.size()) {
    // Keep the '\r' so the next input knows to skip one byte.
    line_.append(rest);
    *pos = input.size();
    return LineStatus::kPartial;
  }
  *pos += end + 1 + skip;
  if (line_.empty()) {
    *line = rest.substr(0, end);  // Whole line in the input: no copy.
  } else {
    line_.append(rest.substr(0, end));
    *line = line_;
  }
  return LineStatus::kComplete;
}

ParseStatus RequestParser::Feed(std::string_view input, size_t* consumed) {
  *consumed = 0;
  if (state_ == State::kFailed) return ParseStatus::kError;
  if (state_ == State::kStart) {
    StartRequest();
    if (ParseWholeRequest(input, consumed)) return ParseStatus::kComplete;
  }
  size_t pos = 0;
  // Every step consumes input or changes state, so the loop is bounded by
  // the input size (times the few states a byte can pass through).
  while (pos < input.size()) {
    Step step = Dispatch(input, &pos);
    *consumed = pos;
    if (step == Step::kError) return ParseStatus::kError;
    if (step == Step::kComplete) return ParseStatus::kComplete;
  }
  return ParseStatus::kNeedMore;
}

// The usual case in one pass: a multibulk request that is whole in
// `input`, with plain numbers and within every limit. Anything else (a
// request cut by the read, an empty or negative array, an odd spelling, an
// error) returns false having consumed nothing, and the state machine
// parses the same bytes step by step, so both paths give the same result.
bool RequestParser::ParseWholeRequest(std::string_view input, size_t* consumed) {
  const char* const begin = input.data();
  const char* const end = begin + input.size();
  if (input.empty() || *begin != '*' || !line_.empty()) return false;
  int64_t count = 0;
  const char* cr = PlainNumber(begin + 1, end, &count);
  // A header line needs the byte after its '\r' too (skipped unchecked).
  if (cr == nullptr || end - cr < 2 || static_cast<size_t>(cr - begin) > limits_.inline_bytes_max ||
      count <= 0 || count > limits_.multibulk_length_max ||
      (count > kUnauthenticatedMultibulkMax && unauthenticated_)) {
    return false;
  }
  const char* p = cr + 2;
  for (int64_t i = 0; i < count; ++i) {
    int64_t length = 0;
    cr = p != end && *p == '$' ? PlainNumber(p + 1, end, &length) : nullptr;
    if (cr == nullptr || end - cr < 2 || static_cast<size_t>(cr - p) > limits_.inline_bytes_max ||
        length > limits_.bulk_bytes_max ||
        (length > kUnauthenticatedBulkBytesMax && unauthenticated_) ||
        end - (cr + 2) < length + 2) {
      argc_ = 0;
      args_bytes_ = 0;
      return false;
    }
    p = cr + 2;
    NextArg().assign(p, static_cast<size_t>(length));
    args_bytes_ += static_cast<size_t>(length);
    p += length + 2;  // The two bytes after the data are skipped unchecked.
  }
  *consumed = static_cast<size_t>(p - begin);
  last_inline_ = false;
  return true;
}

RequestParser::Step RequestParser::Dispatch(std::string_view input, size_t* pos) {
  switch (state_) {
    case State::kStart:
      state_ = input[*pos] == '*' ? State::kMultibulkLength : State::kInline;
      return Step::kContinue;
    case State::kMultibulkLength:
      return ParseMultibulkLength(input, pos);
    case State::kBulkLength:
      return ParseBulkLength(input, pos);
    case State::kBulkData:
      return ParseBulkData(input, pos);
    case State::kBulkTrailer:
      return SkipBulkTrailer(input, pos);
    case State::kInline:
      return ParseInline(input, pos);
    case State::kFailed:
      break;
  }
  return Step::kError;
}

RequestParser::Step RequestParser::ParseMultibulkLength(std::string_view input, size_t* pos) {
  std::string_view line;
  switch (ReadLine(input, pos, '\r', &line)) {
    case LineStatus::kPartial:
      return Step::kContinue;
    case LineStatus::kTooLong:
      return Fail("too big mbulk count string");
    case LineStatus::kComplete:
      break;
  }
  int64_t count = 0;
  if (!ParseRedisInt64(line.substr(1), &count) || count > limits_.multibulk_length_max) {
    return Fail("invalid multibulk length");
  }
  if (count > kUnauthenticatedMultibulkMax && unauthenticated_) {
    return Fail("unauthenticated multibulk length");
  }
  line_.clear();
  if (count <= 0) {
    state_ = State::kStart;  // Redis skips empty and negative arrays.
    return Step::kContinue;
  }
  multibulk_remaining_ = count;
  state_ = State::kBulkLength;
  return Step::kContinue;
}

RequestParser::Step RequestParser::ParseBulkLength(std::string_view input, size_t* pos) {
  std::string_view line;
  switch (ReadLine(input, pos, '\r', &line)) {
    case LineStatus::kPartial:
      return Step::kContinue;
    case LineStatus::kTooLong:
      return Fail("too big bulk count string");
    case LineStatus::kComplete:
      break;
  }
  // An empty line means the '$' position held the '\r' itself.
  char type = line.empty() ? '\r' : line[0];
  if (type != '$') {
    return Fail(std::string("expected '$', got '") + type + "'");
  }
  int64_t length = 0;
  if (!ParseRedisInt64(line.substr(1), &length) || length < 0 || length > limits_.bulk_bytes_max) {
    return Fail("invalid bulk length");
  }
  if (length > kUnauthenticatedBulkBytesMax && unauthenticated_) {
    return Fail("unauthenticated bulk length");
  }
  line_.clear();
  bulk_length_ = length;
  NextArg();
  state_ = State::kBulkData;
  return Step::kContinue;
}

RequestParser::Step RequestParser::ParseBulkData(std::string_view input, size_t* pos) {
  assert(argc_ > 0 && argc_ <= args_.size());
  std::string& arg = args_[argc_ - 1];
  const size_t length = static_cast<size_t>(bulk_length_);
  assert(arg.size() <= length);
  const size_t available = input.size() - *pos;
  if (arg.empty() && available >= length + 2) {
    // Hot path: the whole argument and its CRLF are here; copy once.
    arg.assign(input.data() + *pos, length);
    args_bytes_ += length;
    *pos += length + 2;
    return FinishArg();
  }
  // Append only what arrived: the declared length is a claim, not memory.
  size_t take = std::min(length - arg.size(), available);
  arg.append(input.data() + *pos, take);
  args_bytes_ += take;
  *pos += take;
  if (arg.size() < length) return Step::kContinue;
  trailer_remaining_ = 2;
  state_ = State::kBulkTrailer;
  return Step::kContinue;
}

RequestParser::Step RequestParser::SkipBulkTrailer(std::string_view input, size_t* pos) {
  // Like Redis, the two bytes after the data are skipped unchecked.
  size_t take = std::min(trailer_remaining_, input.size() - *pos);
  *pos += take;
  trailer_remaining_ -= take;
  if (trailer_remaining_ > 0) return Step::kContinue;
  return FinishArg();
}

RequestParser::Step RequestParser::FinishArg() {
  assert(multibulk_remaining_ > 0);
  if (--multibulk_remaining_ > 0) {
    state_ = State::kBulkLength;
    return Step::kContinue;
  }
  state_ = State::kStart;
  last_inline_ = false;
  return Step::kComplete;
}

RequestParser::Step RequestParser::ParseInline(std::string_view input, size_t* pos) {
  std::string_view line;
  switch (ReadLine(input, pos, '\n', &line)) {
    case LineStatus::kPartial:
      return Step::kContinue;
    case LineStatus::kTooLong:
      return Fail("too big inline request");
    case LineStatus::kComplete:
      break;
  }
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  bool balanced = SplitInlineArgs(line, &args_, &argc_);
  line_.clear();
  if (!balanced) {
    argc_ = 0;
    return Fail("unbalanced quotes in request");
  }
  state_ = State::kStart;
  if (argc_ == 0) return Step::kContinue;  // Blank lines are skipped.
  for (size_t i = 0; i < argc_; i++) args_bytes_ += args_[i].size();
  last_inline_ = true;
  return Step::kComplete;
}

}  // namespace ringkv::resp
