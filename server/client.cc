#include "server/client.h"

#include <cinttypes>
#include <cstdio>

#include "server/command.h"
#include "server/log.h"
#include "server/server.h"

namespace ringkv::server {
namespace {

// Every read lands in this one buffer: the parser copies what it keeps, so
// no connection holds a read buffer of its own between reads.
constexpr size_t kReadBufferBytes = 64 * 1024;
char g_read_buffer[kReadBufferBytes];

resp::ParserLimits LimitsFrom(const Config& config) {
  resp::ParserLimits limits;
  limits.bulk_bytes_max = config.proto_max_bulk_len;
  limits.multibulk_length_max = config.proto_max_multibulk_len;
  limits.inline_bytes_max = static_cast<size_t>(config.proto_inline_max_size);
  return limits;
}

std::string AddressString(const sockaddr_storage& address) {
  char host[64] = "?";
  int port = 0;
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    uv_ip4_name(v4, host, sizeof(host));
    port = ntohs(v4->sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    uv_ip6_name(v6, host, sizeof(host));
    port = ntohs(v6->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

}  // namespace

struct Client::WriteRequest {
  uv_write_t request;
  Client* client;
  std::string data;
  size_t bytes;  // Bytes handed to libuv (data minus what try_write sent).
};

Client::Client(Server* server, uint64_t id)
    : server_(server),
      id_(id),
      parser_(LimitsFrom(server->config())),
      writer_(&out_, 2) {
  uv_tcp_init(server->loop(), &handle_);
  handle_.data = this;
  created_ms_ = server->now_ms();
  last_interaction_ms_ = created_ms_;
  set_authenticated(server->config().requirepass.empty());
}

Client::~Client() = default;

int Client::Accept(uv_stream_t* listener) {
  int rc = uv_accept(listener, reinterpret_cast<uv_stream_t*>(&handle_));
  if (rc != 0) return rc;
  uv_tcp_nodelay(&handle_, 1);
  sockaddr_storage address;
  int length = sizeof(address);
  if (uv_tcp_getpeername(&handle_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    peer_address_ = AddressString(address);
  }
  length = sizeof(address);
  if (uv_tcp_getsockname(&handle_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    local_address_ = AddressString(address);
  }
  rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), OnAlloc, OnRead);
  reading_ = rc == 0;
  return rc;
}

void Client::set_protocol(int protocol) {
  protocol_ = protocol;
  writer_ = resp::ReplyWriter(&out_, protocol);
}

void Client::set_authenticated(bool authenticated) {
  authenticated_ = authenticated;
  parser_.set_unauthenticated_limits(!authenticated && !server_->config().requirepass.empty());
}

void Client::Close() {
  if (closing_) return;
  closing_ = true;
  if (reading_) uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
  reading_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_), OnClosed);
}

void Client::CloseAfterReply() {
  close_after_reply_ = true;
  if (reading_) uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
  reading_ = false;
  server_->ScheduleFlush(this);
}

void Client::OnClosed(uv_handle_t* handle) {
  Client* client = static_cast<Client*>(handle->data);
  client->server_->DestroyClient(client);  // Deletes client.
}

void Client::OnAlloc(uv_handle_t*, size_t, uv_buf_t* buffer) {
  *buffer = uv_buf_init(g_read_buffer, kReadBufferBytes);
}

void Client::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buffer) {
  Client* client = static_cast<Client*>(stream->data);
  if (nread < 0) {
    client->Close();
    return;
  }
  if (nread == 0 || client->closing_) return;
  client->server_->stats().net_input_bytes += static_cast<uint64_t>(nread);
  client->ProcessInput(std::string_view(buffer->base, static_cast<size_t>(nread)));
}

void Client::ProcessInput(std::string_view input) {
  while (!input.empty() && !closing_ && !close_after_reply_) {
    size_t consumed = 0;
    resp::ParseStatus status = parser_.Feed(input, &consumed);
    input.remove_prefix(consumed);
    if (status == resp::ParseStatus::kComplete) {
      Execute();
      // Checked per command: one read may hold thousands of requests, each
      // with a large reply.
      CheckOutputLimit();
    } else if (status == resp::ParseStatus::kError) {
      ProtocolError();
    } else {
      break;
    }
  }
  if (!closing_ && parser_.buffered_bytes() >
                       static_cast<size_t>(server_->config().client_query_buffer_limit)) {
    ++server_->stats().query_limit_disconnections;
    Log(LogLevel::kWarning, "Closing client that reached max query buffer length: id=%" PRIu64
        " addr=%s (qbuf initial bytes: %zu)", id_, peer_address_.c_str(), parser_.buffered_bytes());
    Close();
    return;
  }
  if (!out_.empty() && !closing_) server_->ScheduleFlush(this);
}

void Client::ProtocolError() {
  ++server_->stats().protocol_errors;
  Log(LogLevel::kVerbose, "Protocol error (%s) from client: id=%" PRIu64 " addr=%s",
      parser_.error().c_str(), id_, peer_address_.c_str());
  writer_.Error("ERR Protocol error: " + parser_.error());
  CloseAfterReply();
}

void Client::Execute() {
  std::span<std::string> args = parser_.args();
  ServerStats& stats = server_->stats();
  ++stats.commands_processed;
  last_interaction_ms_ = server_->now_ms();
  size_t reply_start = out_.size();

  const CommandSpec* spec = LookupCommand(args[0]);
  if (spec == nullptr) {
    // Redis quotes the first arguments, up to about 128 bytes of them.
    std::string quoted;
    for (size_t i = 1; i < args.size() && quoted.size() < 128; ++i) {
      quoted += "'" + args[i].substr(0, 128 - quoted.size()) + "' ";
    }
    writer_.Error("ERR unknown command '" + args[0].substr(0, 128) +
                  "', with args beginning with: " + quoted);
  } else if ((spec->arity > 0 && static_cast<int>(args.size()) != spec->arity) ||
             static_cast<int>(args.size()) < -spec->arity) {
    ReplyWrongArity(writer_, spec->name);
  } else if (!authenticated_ && !(spec->flags & kCommandNoAuth)) {
    writer_.Error("NOAUTH Authentication required.");
  } else {
    last_command_ = spec->name;
    CommandContext context{*server_, *this, args, writer_};
    spec->handler(context);
  }
  if (out_.size() > reply_start && out_[reply_start] == '-') ++stats.error_replies;
}

size_t Client::PendingOutputBytes() const { return out_.size() + held_bytes_ + in_flight_bytes_; }

void Client::CheckOutputLimit() {
  if (closing_) return;
  if (PendingOutputBytes() > static_cast<size_t>(server_->config().client_output_buffer_limit)) {
    ++server_->stats().output_limit_disconnections;
    Log(LogLevel::kWarning, "Client id=%" PRIu64 " addr=%s closed for overcoming of output "
        "buffer limits (%zu bytes).", id_, peer_address_.c_str(), PendingOutputBytes());
    Close();
  }
}

void Client::Seal(uint64_t required_sequence) {
  if (out_.empty()) return;
  if (held_.empty() && required_sequence <= server_->durable_sequence()) {
    Write(std::move(out_));
    out_.clear();
    return;
  }
  held_bytes_ += out_.size();
  held_.push_back({std::move(out_), required_sequence});
  out_.clear();
}

void Client::FlushReady(uint64_t durable_sequence) {
  while (!closing_ && !held_.empty() && held_.front().required_sequence <= durable_sequence) {
    held_bytes_ -= held_.front().data.size();
    Write(std::move(held_.front().data));
    held_.pop_front();
  }
  if (close_after_reply_ && !closing_ && held_.empty() && out_.empty() &&
      writes_in_flight_ == 0) {
    Close();
  }
}

// Sends `data` after everything sent before. Whatever the socket does not
// take at once goes to a libuv write request, which keeps order.
void Client::Write(std::string data) {
  if (closing_ || data.empty()) return;
  size_t sent = 0;
  if (writes_in_flight_ == 0) {
    uv_buf_t buffer = uv_buf_init(data.data(), static_cast<unsigned>(data.size()));
    int rc = uv_try_write(reinterpret_cast<uv_stream_t*>(&handle_), &buffer, 1);
    if (rc > 0) {
      sent = static_cast<size_t>(rc);
    } else if (rc < 0 && rc != UV_EAGAIN) {
      Close();
      return;
    }
  }
  server_->stats().net_output_bytes += data.size();
  if (sent == data.size()) {
    // Keep the capacity for the next iteration's replies.
    if (out_.capacity() < data.capacity() && data.capacity() <= 64 * 1024) {
      out_.swap(data);
      out_.clear();
    }
    return;
  }
  auto* request = new WriteRequest{{}, this, std::move(data), 0};
  request->request.data = request;
  request->bytes = request->data.size() - sent;
  uv_buf_t buffer = uv_buf_init(request->data.data() + sent, static_cast<unsigned>(request->bytes));
  int rc = uv_write(&request->request, reinterpret_cast<uv_stream_t*>(&handle_), &buffer, 1,
                    OnWritten);
  if (rc != 0) {
    delete request;  // libuv never calls back for a failed uv_write.
    Close();
    return;
  }
  ++writes_in_flight_;
  in_flight_bytes_ += request->bytes;
}

void Client::OnWritten(uv_write_t* uv_request, int status) {
  auto* request = static_cast<WriteRequest*>(uv_request->data);
  Client* client = request->client;
  --client->writes_in_flight_;
  client->in_flight_bytes_ -= request->bytes;
  delete request;
  if (status < 0) {
    client->Close();
    return;
  }
  if (client->close_after_reply_ && !client->closing_ && client->writes_in_flight_ == 0 &&
      client->held_.empty() && client->out_.empty()) {
    client->Close();
  }
}

std::string Client::Describe(int64_t now_ms) const {
  uv_os_fd_t fd = -1;
  uv_fileno(reinterpret_cast<const uv_handle_t*>(&handle_), &fd);
  char line[1024];
  snprintf(line, sizeof(line),
           "id=%" PRIu64 " addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld flags=N db=0 "
           "sub=0 psub=0 ssub=0 multi=-1 qbuf=%zu qbuf-free=0 argv-mem=0 multi-mem=0 "
           "rbs=%zu rbp=0 obl=%zu oll=%zu omem=%zu tot-mem=%zu events=r cmd=%s user=default "
           "redir=-1 resp=%d lib-name=%s lib-ver=%s",
           id_, peer_address_.c_str(), local_address_.c_str(), static_cast<int>(fd),
           name_.c_str(), static_cast<long long>((now_ms - created_ms_) / 1000),
           static_cast<long long>((now_ms - last_interaction_ms_) / 1000),
           parser_.buffered_bytes(), kReadBufferBytes, out_.size(), held_.size(),
           held_bytes_ + in_flight_bytes_, parser_.buffered_bytes() + PendingOutputBytes(),
           last_command_.empty() ? "NULL" : last_command_.c_str(), protocol_, lib_name.c_str(),
           lib_version.c_str());
  return line;
}

}  // namespace ringkv::server
