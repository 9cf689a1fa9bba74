// server/client.h: one client connection.
//
// Reads bytes, parses requests, runs commands and buffers their replies. The
// replies of one loop iteration are written together once the iteration's
// writes are committed (group commit): the Server calls Seal() then
// FlushReady() from its before-poll hook. Under fsync = always, replies also
// wait until the commit they depend on is on disk.
//
// Lifetime (libuv's rule): the Client owns its uv_tcp_t; Close() starts
// uv_close and the Client is destroyed by the Server in the close callback,
// never earlier. handle_.data points back to the Client.
//
// Thread safety: loop thread only.
#ifndef RINGKV_SERVER_CLIENT_H_
#define RINGKV_SERVER_CLIENT_H_

#include <absl/container/flat_hash_map.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "resp/parser.h"
#include "cluster/coordinator.h"
#include "resp/reply_writer.h"
#include "server/command.h"
#include "server/output_queue.h"

namespace ringkv::server {

class Server;

class Client {
 public:
  Client(Server* server, uint64_t id);
  ~Client();

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Accepts a pending connection from `listener` and starts reading.
  // Returns a libuv error code (0 on success).
  int Accept(uv_stream_t* listener);

  // Stops reading and closes the connection; pending replies are dropped.
  void Close();
  // Closes once the replies produced so far are written (QUIT, protocol
  // errors).
  void CloseAfterReply();
  bool closing() const { return closing_; }

  // Moves this iteration's replies into the held queue, tagged with the
  // commit sequence that must be durable before they are sent.
  void Seal(uint64_t required_sequence);
  // Writes every held reply whose sequence is durable.
  void FlushReady(uint64_t durable_sequence);
  bool has_held_replies() const { return output_.has_held(); }

  // Deferred replies (CommandContext::Defer): the reply of the command being
  // run will be given later by CompleteReply. Until then later replies wait
  // behind it, and later commands that touch its keys (or touch no key at
  // all, like WAIT) wait to run.
  ReplyToken DeferReply(const CommandSpec& spec, std::span<const std::string> args);
  void CompleteReply(uint64_t slot, std::string bytes);
  size_t deferred_count() const { return deferred_; }

  // Connection state used by commands.
  uint64_t id() const { return id_; }
  int protocol() const { return protocol_; }
  void set_protocol(int protocol);
  bool authenticated() const { return authenticated_; }
  void set_authenticated(bool authenticated);
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }
  std::string lib_name;
  std::string lib_version;

  // This connection's quorums (CONSISTENCY); N is the cluster's.
  cluster::Consistency consistency;
  // The connection's last write, for WAIT: acks so far, and whether every
  // replica has answered (or the request ended).
  uint64_t last_write = 0;
  uint32_t last_write_acks = 0;
  bool last_write_settled = true;
  resp::ReplyWriter& reply() { return writer_; }

  // One line of CLIENT LIST / CLIENT INFO.
  std::string Describe(int64_t now_ms) const;

  // For the scheduled-flush list kept by the Server.
  bool flush_scheduled = false;

  // Runs the input held back when the iteration's command budget ran out
  // (Server::ResumeHeldInput).
  void ResumeHeldInput();

 private:
  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buffer);
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buffer);
  static void OnClosed(uv_handle_t* handle);

  void ProcessInput(std::string_view input);
  void Execute(std::span<std::string> args);
  void RunCommand(const CommandSpec* spec, std::span<std::string> args,
                  resp::ReplyWriter& reply);
  bool MustWait(const CommandSpec* spec, std::span<const std::string> args) const;
  void ResumeInput();
  void ProcessBacklog();
  void StopReading();
  void DrainSlots();
  void ProtocolError();
  size_t PendingOutputBytes() const;
  void OnDrained();
  void CheckOutputLimit();

  Server* server_;  // Not owned; outlives every Client.
  uint64_t id_;
  uv_tcp_t handle_;
  resp::RequestParser parser_;
  OutputQueue output_;
  std::string& out_;  // output_.buffer(): replies of the current iteration.
  resp::ReplyWriter writer_;

  // Replies in command order once a reply was deferred; empty otherwise (the
  // fast path writes straight into out_).
  struct Slot {
    uint64_t id;
    std::string data;
    bool ready;
    // Hashes of the keys held busy until ready: the first inline (most
    // commands have one key), the others in `more_keys`.
    uint32_t key_count = 0;
    uint64_t first_key = 0;
    std::vector<uint64_t> more_keys;
  };
  std::deque<Slot> slots_;
  uint64_t next_slot_ = 1;
  uint64_t executing_slot_ = 0;  // Slot of the command being run, or 0.
  bool executing_deferred_ = false;
  size_t deferred_ = 0;
  // Keys of the deferred commands, by 64-bit hash (storage::KeyHash), with
  // how many hold each. Two keys sharing a hash only make a command wait
  // when it need not: never the other way round.
  // Open addressing: a deferred command inserts and erases here without an
  // allocation of its own.
  absl::flat_hash_map<uint64_t, uint32_t> busy_keys_;
  void ReleaseKey(uint64_t key_hash);
  // A parsed command waiting for earlier deferred ones, and the input after it.
  bool parked_ = false;
  std::vector<std::string> parked_args_;
  std::string backlog_;
  // Input waiting in backlog_ for the next iteration's command budget.
  bool held_ = false;

  int protocol_ = 2;
  bool authenticated_ = false;
  bool closing_ = false;
  bool close_after_reply_ = false;
  bool reading_ = false;
  std::string name_;
  std::string peer_address_;
  std::string local_address_;
  std::string last_command_;
  int64_t created_ms_ = 0;
  int64_t last_interaction_ms_ = 0;
};

}  // namespace ringkv::server

#endif  // RINGKV_SERVER_CLIENT_H_
