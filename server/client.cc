#include "server/client.h"

#include <cassert>
#include <cinttypes>
#include <cstdio>

#include "server/cluster_node.h"
#include "server/command.h"
#include "server/log.h"
#include "server/server.h"
#include "storage/engine.h"

namespace ringkv::server {
namespace {

// Every read lands in this one buffer: the parser copies what it keeps, so
// no connection holds a read buffer of its own between reads.
constexpr size_t kReadBufferBytes = 64 * 1024;
char g_read_buffer[kReadBufferBytes];
// A client held for the command budget keeps reading until its backlog
// reaches this; then reading stops until the backlog is taken in.
constexpr size_t kHeldBacklogBytes = 64 * 1024;

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

Client::Client(Server* server, uint64_t id)
    : server_(server),
      id_(id),
      parser_(LimitsFrom(server->config())),
      output_(reinterpret_cast<uv_stream_t*>(&handle_), [this] { Close(); },
              [this] { OnDrained(); }, &server->stats().net_output_bytes),
      out_(output_.buffer()),
      writer_(&out_, 2) {
  uv_tcp_init(server->loop(), &handle_);
  handle_.data = this;
  created_ms_ = server->now_ms();
  last_interaction_ms_ = created_ms_;
  set_authenticated(server->config().requirepass.empty());
  consistency = server->cluster().default_consistency();
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
  output_.Stop();
  StopReading();
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_), OnClosed);
}

void Client::CloseAfterReply() {
  close_after_reply_ = true;
  StopReading();
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
    if (!parked_ && !held_ && !server_->TakeCommandBudget()) {
      held_ = true;
      server_->HoldInput(this);
    }
    if (parked_ || held_) {
      // Reading is stopped while parked, so that holds at most one read. A
      // held client is taken in again at the next iteration: it goes on
      // reading (stopping and starting to read costs two epoll_ctl calls,
      // 6% of a coordinator's CPU under 3-byte GETs at -P 16) up to a
      // bound.
      backlog_.append(input);
      if (held_ && backlog_.size() >= kHeldBacklogBytes) StopReading();
      break;
    }
    size_t consumed = 0;
    resp::ParseStatus status = parser_.Feed(input, &consumed);
    input.remove_prefix(consumed);
    if (status == resp::ParseStatus::kComplete) {
      std::span<std::string> args = parser_.args();
      if (deferred_ > 0 && MustWait(LookupCommand(args[0]), args)) {
        parked_ = true;
        parked_args_.assign(args.begin(), args.end());
        StopReading();
        continue;
      }
      Execute(args);
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

// A command waits for the deferred ones before it when it shares a key with
// them, touches no key (WAIT, HELLO, ...: they see the connection as a
// whole), or when the pipeline is as deep as the limit allows.
bool Client::MustWait(const CommandSpec* spec, std::span<const std::string> args) const {
  if (deferred_ >= static_cast<size_t>(server_->config().client_pipeline_depth)) return true;
  if (spec == nullptr) return false;
  bool any_key = false;
  bool busy = false;
  ForEachCommandKey(*spec, args, [&](std::string_view key) {
    any_key = true;
    busy = busy || busy_keys_.count(storage::KeyHash(key)) > 0;
  });
  return busy || !any_key;
}

void Client::ReleaseKey(uint64_t key_hash) {
  auto it = busy_keys_.find(key_hash);
  if (it != busy_keys_.end() && --it->second == 0) busy_keys_.erase(it);
}

void Client::ResumeInput() {
  if (!parked_ || closing_) return;
  std::span<const std::string> parked(parked_args_);
  if (MustWait(LookupCommand(parked_args_[0]), parked)) return;
  parked_ = false;
  std::vector<std::string> args = std::move(parked_args_);
  parked_args_.clear();
  Execute(args);
  ProcessBacklog();
}

void Client::ResumeHeldInput() {
  if (!held_ || closing_) return;
  held_ = false;
  ProcessBacklog();
}

// The input kept while parked or held, then reading again unless it parked
// the connection anew, or held it with a full backlog.
void Client::ProcessBacklog() {
  std::string backlog = std::move(backlog_);
  backlog_.clear();
  ProcessInput(backlog);
  const bool may_read = !parked_ && !closing_ && !close_after_reply_ &&
                        (!held_ || backlog_.size() < kHeldBacklogBytes);
  if (may_read && !reading_) {
    reading_ = uv_read_start(reinterpret_cast<uv_stream_t*>(&handle_), OnAlloc, OnRead) == 0;
  }
}

void Client::StopReading() {
  if (reading_) uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
  reading_ = false;
}

ReplyToken Client::DeferReply(const CommandSpec& spec, std::span<const std::string> args) {
  assert(executing_slot_ != 0 || slots_.empty());
  if (executing_slot_ == 0) {
    slots_.push_back({next_slot_++, {}, false});
    executing_slot_ = slots_.back().id;
  }
  Slot& slot = slots_.back();
  assert(slot.id == executing_slot_);
  ForEachCommandKey(spec, args, [&](std::string_view key) {
    const uint64_t key_hash = storage::KeyHash(key);
    if (slot.key_count++ == 0) {
      slot.first_key = key_hash;
    } else {
      slot.more_keys.push_back(key_hash);
    }
    ++busy_keys_[key_hash];
  });
  executing_deferred_ = true;
  ++deferred_;
  return {id_, slot.id, protocol_};
}

void Client::CompleteReply(uint64_t slot_id, std::string bytes) {
  if (slots_.empty() || slot_id < slots_.front().id) return;
  size_t index = slot_id - slots_.front().id;
  if (index >= slots_.size() || slots_[index].ready) return;
  Slot& slot = slots_[index];
  slot.data = std::move(bytes);
  slot.ready = true;
  --deferred_;
  if (slot.key_count > 0) ReleaseKey(slot.first_key);
  for (uint64_t key_hash : slot.more_keys) ReleaseKey(key_hash);
  slot.key_count = 0;
  slot.more_keys.clear();
  if (!slot.data.empty() && slot.data[0] == '-') ++server_->stats().error_replies;
  if (slot_id == executing_slot_) return;  // Execute drains when the handler returns.
  DrainSlots();
  if (!out_.empty() && !closing_) server_->ScheduleFlush(this);
  ResumeInput();
  CheckOutputLimit();
}

void Client::DrainSlots() {
  while (!slots_.empty() && slots_.front().ready) {
    out_.append(slots_.front().data);
    slots_.pop_front();
  }
}

void Client::ProtocolError() {
  ++server_->stats().protocol_errors;
  Log(LogLevel::kVerbose, "Protocol error (%s) from client: id=%" PRIu64 " addr=%s",
      parser_.error().c_str(), id_, peer_address_.c_str());
  writer_.Error("ERR Protocol error: " + parser_.error());
  CloseAfterReply();
}

void Client::Execute(std::span<std::string> args) {
  ++server_->stats().commands_processed;
  last_interaction_ms_ = server_->now_ms();
  if (slots_.empty()) {
    // The fast path: no reply is pending, so this one goes straight out.
    size_t reply_start = out_.size();
    RunCommand(LookupCommand(args[0]), args, writer_);
    if (out_.size() > reply_start && out_[reply_start] == '-') ++server_->stats().error_replies;
  } else {
    // Behind a deferred reply: this reply takes its place in line.
    slots_.push_back({next_slot_++, {}, false});
    uint64_t slot_id = slots_.back().id;
    std::string reply_bytes;
    resp::ReplyWriter writer(&reply_bytes, protocol_);
    executing_slot_ = slot_id;
    RunCommand(LookupCommand(args[0]), args, writer);
    if (!executing_deferred_) {
      Slot& slot = slots_[slot_id - slots_.front().id];
      slot.data = std::move(reply_bytes);
      slot.ready = true;
      if (!slot.data.empty() && slot.data[0] == '-') ++server_->stats().error_replies;
    }
  }
  executing_slot_ = 0;
  executing_deferred_ = false;
  DrainSlots();
}

// Checks the command and runs its handler; every reply goes to `reply`.
void Client::RunCommand(const CommandSpec* spec, std::span<std::string> args,
                        resp::ReplyWriter& reply) {
  if (spec == nullptr) {
    // Redis quotes the first arguments, up to about 128 bytes of them.
    std::string quoted;
    for (size_t i = 1; i < args.size() && quoted.size() < 128; ++i) {
      quoted += "'" + args[i].substr(0, 128 - quoted.size()) + "' ";
    }
    reply.Error("ERR unknown command '" + args[0].substr(0, 128) +
                "', with args beginning with: " + quoted);
  } else if ((spec->arity > 0 && static_cast<int>(args.size()) != spec->arity) ||
             static_cast<int>(args.size()) < -spec->arity) {
    ReplyWrongArity(reply, spec->name);
  } else if (!authenticated_ && !(spec->flags & kCommandNoAuth)) {
    reply.Error("NOAUTH Authentication required.");
  } else if (std::string refusal; spec->first_key > 0 && !(spec->flags & kCommandLocal) &&
                                  !server_->cluster().CanCoordinate(&refusal)) {
    // A key's replicas are not known yet (a node still joining its cluster).
    reply.Error(refusal);
  } else {
    last_command_ = spec->name;
    CommandContext context{*server_, *this, args, reply, spec};
    spec->handler(context);
  }
}

ReplyToken CommandContext::Defer() { return client.DeferReply(*spec, args); }

size_t Client::PendingOutputBytes() const { return output_.pending_bytes(); }

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
  output_.Seal(required_sequence, server_->durable_sequence());
  OnDrained();
}

void Client::FlushReady(uint64_t durable_sequence) {
  output_.FlushReady(durable_sequence);
  OnDrained();
}

// Finishes a QUIT or a protocol error once every reply before it is out.
void Client::OnDrained() {
  if (close_after_reply_ && !closing_ && output_.idle()) Close();
}

std::string Client::Describe(int64_t now_ms) const {
  uv_os_fd_t fd = -1;
  uv_fileno(reinterpret_cast<const uv_handle_t*>(&handle_), &fd);
  // What was read and not yet run: the parser's buffer and a held backlog.
  const size_t query_bytes = parser_.buffered_bytes() + backlog_.size();
  char line[1024];
  snprintf(line, sizeof(line),
           "id=%" PRIu64
           " addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld flags=N db=0 "
           "sub=0 psub=0 ssub=0 multi=-1 qbuf=%zu qbuf-free=0 argv-mem=0 multi-mem=0 "
           "rbs=%zu rbp=0 obl=%zu oll=%zu omem=%zu tot-mem=%zu events=r cmd=%s user=default "
           "redir=-1 resp=%d lib-name=%s lib-ver=%s",
           id_, peer_address_.c_str(), local_address_.c_str(), static_cast<int>(fd), name_.c_str(),
           static_cast<long long>((now_ms - created_ms_) / 1000),
           static_cast<long long>((now_ms - last_interaction_ms_) / 1000), query_bytes,
           kReadBufferBytes, out_.size(), output_.held_chunks(),
           output_.held_bytes() + output_.in_flight_bytes(), query_bytes + PendingOutputBytes(),
           last_command_.empty() ? "NULL" : last_command_.c_str(), protocol_, lib_name.c_str(),
           lib_version.c_str());
  return line;
}

}  // namespace ringkv::server
