// Clients for the black-box tests: hiredis wrappers and raw sockets.
// See harness.h.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "blackbox/harness.h"

namespace ringkv::blackbox {
namespace {

constexpr int kClientTimeoutMs = 10000;
// Nesting deeper than this in a reply is a server bug, not a real reply.
constexpr int kReplyDepthMax = 32;

// A server killed mid-write (the kill -9 test) or a child that exits before
// reading all its input must fail a read or write, not kill the test binary.
[[maybe_unused]] const bool kSigpipeIgnored = [] {
  signal(SIGPIPE, SIG_IGN);
  return true;
}();

using Clock = std::chrono::steady_clock;

int RemainingMs(Clock::time_point deadline) {
  auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return remaining.count() > 0 ? static_cast<int>(remaining.count()) : 0;
}

// Index just past the RESP value that starts at `position`, or npos if the
// value is incomplete (or nested absurdly deep).
size_t ValueEnd(std::string_view bytes, size_t position, int depth) {
  if (depth > kReplyDepthMax || position >= bytes.size()) {
    return std::string_view::npos;
  }
  size_t line_end = bytes.find("\r\n", position);
  if (line_end == std::string_view::npos) return std::string_view::npos;
  char type = bytes[position];
  std::string header(bytes.substr(position + 1, line_end - position - 1));
  size_t next = line_end + 2;
  switch (type) {
    case '$':
    case '!':
    case '=': {
      long long length = std::atoll(header.c_str());
      if (length < 0) return next;
      size_t end = next + static_cast<size_t>(length) + 2;
      return end <= bytes.size() ? end : std::string_view::npos;
    }
    case '*':
    case '~':
    case '>':
    case '%':
    case '|': {
      long long count = std::atoll(header.c_str());
      if (count < 0) return next;
      if (type == '%' || type == '|') count *= 2;
      if (type == '|') count += 1;  // An attribute precedes the real value.
      for (long long i = 0; i < count; ++i) {
        next = ValueEnd(bytes, next, depth + 1);
        if (next == std::string_view::npos) return next;
      }
      return next;
    }
    default:  // + - : , _ # ( are one line each.
      return next;
  }
}

int ConnectSocket(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in address = LoopbackAddress(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

RedisContext Connect(uint16_t port) {
  timeval timeout{kClientTimeoutMs / 1000, 0};
  RedisContext context(redisConnectWithTimeout("127.0.0.1", port, timeout));
  REQUIRE(context != nullptr);
  REQUIRE_MESSAGE(context->err == 0, "connect: " << context->errstr);
  REQUIRE(redisSetTimeout(context.get(), timeout) == REDIS_OK);
  return context;
}

Reply Command(redisContext* context, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const std::string& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  return Reply(static_cast<redisReply*>(
      redisCommandArgv(context, static_cast<int>(args.size()), argv.data(), lengths.data())));
}

std::string Render(const redisReply* reply, const redisContext* context) {
  if (reply == nullptr) {
    return std::string("<io error: ") + (context != nullptr ? context->errstr : "") + ">";
  }
  std::string text(reply->str != nullptr ? reply->str : "", reply->str != nullptr ? reply->len : 0);
  switch (reply->type) {
    case REDIS_REPLY_STATUS:
      return "+" + text;
    case REDIS_REPLY_ERROR:
      return "-" + text;
    case REDIS_REPLY_INTEGER:
      return ":" + std::to_string(reply->integer);
    case REDIS_REPLY_NIL:
      return "nil";
    case REDIS_REPLY_STRING:
      return "$" + text;
    case REDIS_REPLY_ARRAY: {
      std::string out = "*[";
      for (size_t i = 0; i < reply->elements; ++i) {
        if (i > 0) out += ", ";
        out += Render(reply->element[i], context);
      }
      return out + "]";
    }
    default:
      return "<type " + std::to_string(reply->type) + ">";
  }
}

std::string Do(redisContext* context, const std::vector<std::string>& args) {
  Reply reply = Command(context, args);
  return Render(reply.get(), context);
}

size_t CompleteReplyLength(std::string_view bytes) {
  size_t end = ValueEnd(bytes, 0, 0);
  return end == std::string_view::npos ? 0 : end;
}

RawConnection::RawConnection(uint16_t port) : fd_(ConnectSocket(port)) {
  REQUIRE_MESSAGE(fd_ >= 0, "raw connect to port " << port << " failed");
}

RawConnection::RawConnection(Adopt socket) : fd_(socket.fd) { REQUIRE(fd_ >= 0); }

RawConnection::~RawConnection() {
  if (fd_ >= 0) close(fd_);
}

LoopbackListener::LoopbackListener() {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd_ >= 0);
  sockaddr_in address = LoopbackAddress(0);
  REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(listen(fd_, 16) == 0);
  socklen_t length = sizeof address;
  REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  port_ = ntohs(address.sin_port);
}

LoopbackListener::~LoopbackListener() {
  if (fd_ >= 0) close(fd_);
}

std::unique_ptr<RawConnection> LoopbackListener::Accept(int timeout_ms) {
  pollfd poll_fd{fd_, POLLIN, 0};
  if (poll(&poll_fd, 1, timeout_ms) <= 0) return nullptr;
  int connection = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (connection < 0) return nullptr;
  return std::make_unique<RawConnection>(RawConnection::Adopt{connection});
}

void RawConnection::Reset() {
  if (fd_ < 0) return;
  linger reset{1, 0};
  REQUIRE(setsockopt(fd_, SOL_SOCKET, SO_LINGER, &reset, sizeof reset) == 0);
  close(fd_);
  fd_ = -1;
}

bool RawConnection::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t written = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  return true;
}

bool RawConnection::ReadSome(int timeout_ms) {
  pollfd poll_fd{fd_, POLLIN, 0};
  if (poll(&poll_fd, 1, timeout_ms) <= 0) return false;
  char chunk[64 * 1024];
  ssize_t received = recv(fd_, chunk, sizeof chunk, 0);
  if (received <= 0) return false;
  buffer_.append(chunk, static_cast<size_t>(received));
  return true;
}

std::string RawConnection::ReadReply(int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    size_t length = CompleteReplyLength(buffer_);
    if (length > 0) {
      std::string reply = buffer_.substr(0, length);
      buffer_.erase(0, length);
      return reply;
    }
    int remaining_ms = RemainingMs(deadline);
    if (remaining_ms == 0 || !ReadSome(remaining_ms)) return "";
  }
}

std::string RawConnection::ReadUntilClose(int timeout_ms, bool* closed) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  *closed = false;
  while (true) {
    int remaining_ms = RemainingMs(deadline);
    if (remaining_ms == 0) break;
    pollfd poll_fd{fd_, POLLIN, 0};
    if (poll(&poll_fd, 1, remaining_ms) <= 0) break;
    char chunk[64 * 1024];
    ssize_t received = recv(fd_, chunk, sizeof chunk, 0);
    if (received < 0 && errno == EINTR) continue;
    if (received <= 0) {
      // A reset after unread input counts as closed, as an orderly FIN does.
      *closed = true;
      break;
    }
    buffer_.append(chunk, static_cast<size_t>(received));
  }
  std::string all = std::move(buffer_);
  buffer_.clear();
  return all;
}

std::string RawExchange(uint16_t port, std::string_view bytes, int timeout_ms, bool* closed) {
  RawConnection connection(port);
  // The server may close before reading everything; what it answered is
  // still worth returning, so a failed send is not an error here.
  (void)connection.Send(bytes);
  return connection.ReadUntilClose(timeout_ms, closed);
}

std::string EncodeCommand(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& arg : args) {
    out += "$" + std::to_string(arg.size()) + "\r\n" + arg + "\r\n";
  }
  return out;
}

std::optional<std::string> InfoField(std::string_view info, std::string_view field) {
  std::string prefix = std::string(field) + ":";
  size_t position = 0;
  while (position < info.size()) {
    size_t end = info.find('\n', position);
    if (end == std::string_view::npos) end = info.size();
    std::string_view line = info.substr(position, end - position);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.substr(0, prefix.size()) == prefix) return std::string(line.substr(prefix.size()));
    position = end + 1;
  }
  return std::nullopt;
}

int64_t InfoInteger(redisContext* context, std::string_view field, std::string_view section) {
  Reply info = Command(context, {"INFO", std::string(section)});
  REQUIRE(info);
  std::optional<std::string> value = InfoField(std::string_view(info->str, info->len), field);
  REQUIRE_MESSAGE(value, "INFO " << section << " has no " << field);
  return std::atoll(value->c_str());
}

std::vector<Reply> Pipeline(redisContext* context,
                            const std::vector<std::vector<std::string>>& commands,
                            size_t batch_size) {
  REQUIRE(batch_size > 0);
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  for (size_t start = 0; start < commands.size(); start += batch_size) {
    size_t end = std::min(commands.size(), start + batch_size);
    for (size_t i = start; i < end; ++i) {
      std::vector<const char*> argv;
      std::vector<size_t> lengths;
      for (const std::string& arg : commands[i]) {
        argv.push_back(arg.data());
        lengths.push_back(arg.size());
      }
      REQUIRE(redisAppendCommandArgv(context, static_cast<int>(argv.size()), argv.data(),
                                     lengths.data()) == REDIS_OK);
    }
    for (size_t i = start; i < end; ++i) {
      void* reply = nullptr;
      if (redisGetReply(context, &reply) != REDIS_OK) {
        replies.resize(commands.size());  // The rest stay null: I/O error.
        return replies;
      }
      replies.emplace_back(static_cast<redisReply*>(reply));
    }
  }
  return replies;
}

}  // namespace ringkv::blackbox
