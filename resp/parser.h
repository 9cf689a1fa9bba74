// resp/parser.h: incremental parser for client requests.
//
// Parses what a Redis 7 server accepts from a client: RESP multibulk requests
// (arrays of bulk strings, `*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline
// commands (`GET k\r\n`, with Redis's quoting rules: double quotes with
// escapes \n \r \t \b \a \\ \" \xHH, single quotes with \' only).
//
// The parser never touches a socket. The caller feeds whatever bytes arrived;
// the parser consumes them and keeps the partial request itself, so the
// caller may drop consumed bytes at once. Limits come in through the
// constructor; a declared length never allocates more than what has arrived.
//
// Errors use Redis's reasons, so the server can answer
// `-ERR Protocol error: <reason>` and close the connection exactly as Redis
// does. Empty requests (`*0`, `*-10`, an empty inline line) are skipped, as
// Redis skips them. Quirks kept from Redis: a header line ends at its '\r'
// and the byte after it is skipped unchecked, as are the two bytes after
// bulk data. Where Redis's outcome depends on how reads were split (limits
// checked only when a read ends) or on C strings (a NUL stalls Redis's
// line search), this parser decides the same way for every split; see
// ParserLimits and docs/resp.md.
//
// Thread safety: none; one parser per connection.
#ifndef RINGKV_RESP_PARSER_H_
#define RINGKV_RESP_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringkv::resp {

struct ParserLimits {
  // proto-max-bulk-len: largest bulk string a request may declare.
  int64_t bulk_bytes_max = 512LL * 1024 * 1024;
  // Largest array length a request may declare (Redis: INT_MAX).
  int64_t multibulk_length_max = 2147483647;
  // PROTO_INLINE_MAX_SIZE: longest inline request line (the bytes before
  // its '\n', a '\r' included) and longest `*<count>` / `$<len>` header
  // line (the bytes before its '\r', the '*' or '$' included). Redis checks
  // this only when a read leaves no newline in its buffer; we check it on
  // every line, so the outcome never depends on how the bytes were split.
  size_t inline_bytes_max = 64 * 1024;
};

enum class ParseStatus {
  kComplete,  // One request is complete: see args().
  kNeedMore,  // All input was consumed and no request is complete yet.
  kError,     // Protocol error: see error(). Do not feed again.
};

class RequestParser {
 public:
  explicit RequestParser(const ParserLimits& limits);

  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Consumes bytes from `input` and parses at most one request.
  // *consumed is set to the number of bytes used (<= input.size()); the
  // caller must not feed those bytes again. On kComplete the request's
  // arguments are in args() until the next call to Feed. On kNeedMore every
  // byte was consumed. On kError, error() gives Redis's reason.
  ParseStatus Feed(std::string_view input, size_t* consumed);

  // The arguments of the last complete request (at least one). The strings
  // may be moved from by the caller; their capacity is reused otherwise.
  std::span<std::string> args() { return {args_.data(), argc_}; }

  // Redis's reason for the last kError, e.g. "invalid multibulk length".
  const std::string& error() const { return error_; }

  // While true (a password is set and the client has not authenticated),
  // Redis's stricter limits apply: "unauthenticated multibulk length" past 10
  // elements and "unauthenticated bulk length" past 16384 bytes.
  void set_unauthenticated_limits(bool on) { unauthenticated_ = on; }

  // Bytes held for the request being parsed (partial line and arguments),
  // for the client query buffer limit.
  size_t buffered_bytes() const;

  // True if the last complete request was an inline command.
  bool last_was_inline() const { return last_inline_; }

 private:
  enum class State {
    kStart,            // Between requests.
    kMultibulkLength,  // Reading "*<count>\r\n".
    kBulkLength,       // Reading "$<length>\r\n".
    kBulkData,         // Reading an argument's bytes.
    kBulkTrailer,      // Skipping the two bytes after an argument.
    kInline,           // Reading an inline line up to '\n'.
    kFailed,           // After a protocol error; terminal.
  };
  enum class Step { kContinue, kComplete, kError };
  enum class LineStatus { kComplete, kPartial, kTooLong };

  bool ParseWholeRequest(std::string_view input, size_t* consumed);
  Step Dispatch(std::string_view input, size_t* pos);
  Step ParseMultibulkLength(std::string_view input, size_t* pos);
  Step ParseBulkLength(std::string_view input, size_t* pos);
  Step ParseBulkData(std::string_view input, size_t* pos);
  Step SkipBulkTrailer(std::string_view input, size_t* pos);
  Step FinishArg();
  Step ParseInline(std::string_view input, size_t* pos);
  LineStatus ReadLine(std::string_view input, size_t* pos, char terminator, std::string_view* line);
  void StartRequest();
  Step Fail(std::string reason);
  std::string& NextArg();

  ParserLimits limits_;
  State state_ = State::kStart;
  bool unauthenticated_ = false;
  bool last_inline_ = false;
  std::string line_;               // Partial header or inline line.
  std::vector<std::string> args_;  // Capacity reused across requests.
  size_t argc_ = 0;                // Arguments filled in args_.
  size_t args_bytes_ = 0;          // Bytes in args_[0, argc_).
  int64_t multibulk_remaining_ = 0;
  int64_t bulk_length_ = 0;       // Declared length of the current bulk.
  size_t trailer_remaining_ = 0;  // Bytes of "\r\n" still to skip.
  std::string error_;
};

// Splits an inline request line into arguments with Redis's rules
// (sdssplitargs). Returns false on unbalanced quotes. The arguments go into
// (*args)[0, *argc): existing strings are overwritten, keeping their
// capacity, and the vector grows only when it has too few. A NUL byte is an
// ordinary character (Redis, working on C strings, never gets one here).
bool SplitInlineArgs(std::string_view line, std::vector<std::string>* args, size_t* argc);

}  // namespace ringkv::resp

#endif  // RINGKV_RESP_PARSER_H_
