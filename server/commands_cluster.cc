// Commands in cluster mode: the string commands through quorum reads and
// writes, and ringkv's own: VGET VSET VDEL VCLOCK LOCALGET RING CONSISTENCY
// WAIT. Handlers defer their reply (CommandContext::Defer) and complete it
// from the quorum's callback, which may run before the handler returns.
//
// Every callback copies what it needs from the arguments: the parser reuses
// their storage as soon as the handler returns.
#include <algorithm>
#include <memory>

#include "server/arguments.h"
#include "server/client.h"
#include "server/cluster_commands.h"
#include "server/cluster_node.h"
#include "server/handlers.h"
#include "server/server.h"
#include "server/write_context.h"
#include "storage/engine.h"

namespace ringkv::server {
namespace {

using cluster::Consistency;
using cluster::ReadResult;

// Builds one reply in the token's protocol and hands it to the client.
class AsyncReply {
 public:
  AsyncReply(Server* server, const ReplyToken& token)
      : server_(server), token_(token), writer_(&bytes_, token.protocol) {}
  resp::ReplyWriter& writer() { return writer_; }
  // Once: the bytes move to the client.
  void Send() { server_->CompleteReply(token_, std::move(bytes_)); }

 private:
  Server* server_;
  ReplyToken token_;
  std::string bytes_;
  resp::ReplyWriter writer_;
};

std::string ReadUnavailable(const ReadResult& result) {
  return "UNAVAILABLE read got " + std::to_string(result.replies) + " of " +
         std::to_string(result.required) + " required replies";
}

std::string WriteFailure(const WriteOutcome& outcome) {
  if (!outcome.error.empty()) return "ERR write failed: " + outcome.error;
  return "UNAVAILABLE write reached " + std::to_string(outcome.acks) + " of " +
         std::to_string(outcome.required) + " required replicas";
}

// The value GET answers from a merged set, or nullptr.
const storage::Sibling* Winner(const storage::SiblingSet& set) {
  if (set.siblings.empty()) return nullptr;
  const storage::Sibling& winner = set.siblings[storage::PickWinner(set.siblings)];
  return winner.tombstone ? nullptr : &winner;
}

storage::Sibling NewVersion(Server* server, std::string value, bool tombstone) {
  storage::Sibling version;
  version.timestamp_ms = server->now_ms();
  version.tombstone = tombstone;
  if (!tombstone) version.value = std::move(value);
  return version;
}

// Starts a write for the client behind `token`, recording it as the
// connection's last write for WAIT.
void TrackedWrite(Server* server, Client& client, const std::string& key,
                  storage::Sibling version, const storage::VersionVector* context,
                  ClusterNode::WriteDone done) {
  uint64_t id = ++client.last_write;
  client.last_write_acks = 0;
  client.last_write_settled = false;
  uint64_t client_id = client.id();
  auto note = [server, client_id, id](uint32_t acks, bool settled) {
    auto it = server->clients().find(client_id);
    if (it == server->clients().end() || it->second->last_write != id) return;
    Client& owner = *it->second;
    owner.last_write_acks = std::max(owner.last_write_acks, acks);
    owner.last_write_settled |= settled;
    if (settled) CheckWaiters(*server);
  };
  server->cluster().Write(
      key, std::move(version), context, client.consistency,
      [note, done = std::move(done)](const WriteOutcome& outcome) {
        note(outcome.acks, false);
        done(outcome);
      },
      [note](uint32_t total_acks) { note(total_acks, true); });
}

// Reads `key`, then calls `then` with the result when the quorum answered;
// replies UNAVAILABLE itself otherwise.
void ReadThen(Server* server, const ReplyToken& token, Consistency consistency,
              const std::string& key, std::function<void(ReadResult)> then) {
  server->cluster().Read(key, consistency,
                         [server, token, then = std::move(then)](ReadResult result) {
                           if (!result.ok) {
                             AsyncReply reply(server, token);
                             reply.writer().Error(ReadUnavailable(result));
                             reply.Send();
                             return;
                           }
                           then(std::move(result));
                         });
}

// Fans reads of several keys out in parallel and calls `finish` with every
// result, in key order, once all are in.
void ReadAll(Server* server, Consistency consistency, std::vector<std::string> keys,
             std::function<void(std::vector<ReadResult>&)> finish) {
  struct State {
    std::vector<ReadResult> results;
    size_t remaining;
    std::function<void(std::vector<ReadResult>&)> finish;
  };
  auto state = std::make_shared<State>();
  state->results.resize(keys.size());
  state->remaining = keys.size();
  state->finish = std::move(finish);
  for (size_t i = 0; i < keys.size(); ++i) {
    server->cluster().Read(keys[i], consistency, [state, i](ReadResult result) {
      state->results[i] = std::move(result);
      if (--state->remaining == 0) state->finish(state->results);
    });
  }
}

// Counts outcomes of several writes; calls `finish` when all are done.
struct WriteJoin {
  size_t remaining = 0;
  size_t succeeded = 0;
  std::string first_failure;
  std::function<void(WriteJoin&)> finish;
  void Done(const WriteOutcome& outcome) {
    if (outcome.ok) {
      ++succeeded;
    } else if (first_failure.empty()) {
      first_failure = WriteFailure(outcome);
    }
    if (--remaining == 0) finish(*this);
  }
};

void ReplySiblings(resp::ReplyWriter& writer, const storage::SiblingSet& set) {
  writer.ArrayHeader(2);
  writer.ArrayHeader(set.siblings.size());
  for (const storage::Sibling& sibling : set.siblings) {
    writer.ArrayHeader(4);
    if (sibling.tombstone) {
      writer.Null();
    } else {
      writer.Bulk(sibling.value);
    }
    writer.Integer(sibling.timestamp_ms);
    writer.Bulk(storage::ActorToHex(sibling.dot.actor));
    writer.Integer(static_cast<int64_t>(sibling.dot.counter));
  }
  writer.Bulk(EncodeContext(set.clock));
}

void ReplyClock(resp::ReplyWriter& writer, const storage::SiblingSet& set) {
  writer.ArrayHeader(2);
  writer.ArrayHeader(set.clock.size());
  for (const auto& [actor, counter] : set.clock.entries()) {
    writer.ArrayHeader(2);
    writer.Bulk(storage::ActorToHex(actor));
    writer.Integer(static_cast<int64_t>(counter));
  }
  writer.ArrayHeader(set.siblings.size());
  for (const storage::Sibling& sibling : set.siblings) {
    writer.ArrayHeader(4);
    writer.Bulk(storage::ActorToHex(sibling.dot.actor));
    writer.Integer(static_cast<int64_t>(sibling.dot.counter));
    writer.Integer(sibling.timestamp_ms);
    writer.Bulk(sibling.tombstone ? "tombstone" : "value");
  }
}

std::vector<std::string> ArgsFrom(const CommandContext& ctx, size_t first, size_t step) {
  std::vector<std::string> out;
  for (size_t i = first; i < ctx.args.size(); i += step) out.push_back(ctx.args[i]);
  return out;
}

}  // namespace

// ---- Reads ------------------------------------------------------------------

namespace {

// GET's answer from a merged set: the chosen value, or nil.
void ReplyValue(resp::ReplyWriter& writer, const storage::SiblingSet& set) {
  const storage::Sibling* winner = Winner(set);
  if (winner) {
    writer.Bulk(winner->value);
  } else {
    writer.Null();
  }
}

// Reads the command's key (args[1]) at the connection's R and answers with
// `answer` once the quorum replied (UNAVAILABLE otherwise).
// (One callback, not ReadThen's two: GET comes here for every request.)
void ReadAndReply(CommandContext& ctx,
                  std::function<void(resp::ReplyWriter&, const ReadResult&)> answer) {
  Server* server = &ctx.server;
  ReplyToken token = ctx.Defer();
  server->cluster().Read(ctx.args[1], ctx.client.consistency,
                         [server, token, answer = std::move(answer)](ReadResult result) {
                           AsyncReply reply(server, token);
                           if (result.ok) {
                             answer(reply.writer(), result);
                           } else {
                             reply.writer().Error(ReadUnavailable(result));
                           }
                           reply.Send();
                         });
}

}  // namespace

void ClusterGet(CommandContext& ctx) {
  Server* server = &ctx.server;
  ReadAndReply(ctx, [server](resp::ReplyWriter& writer, const ReadResult& result) {
    bool hit = Winner(result.set) != nullptr;
    ++(hit ? server->stats().keyspace_hits : server->stats().keyspace_misses);
    ReplyValue(writer, result.set);
  });
}

void ClusterStrlen(CommandContext& ctx) {
  ReadAndReply(ctx, [](resp::ReplyWriter& writer, const ReadResult& result) {
    const storage::Sibling* winner = Winner(result.set);
    writer.Integer(winner ? static_cast<int64_t>(winner->value.size()) : 0);
  });
}

void ClusterMgetOrExists(CommandContext& ctx, bool exists) {
  Server* server = &ctx.server;
  ReplyToken token = ctx.Defer();
  ReadAll(server, ctx.client.consistency, ArgsFrom(ctx, 1, 1),
          [server, token, exists](std::vector<ReadResult>& results) {
            AsyncReply reply(server, token);
            for (const ReadResult& result : results) {
              if (!result.ok) {
                reply.writer().Error(ReadUnavailable(result));
                reply.Send();
                return;
              }
            }
            if (exists) {
              int64_t count = 0;
              for (const ReadResult& result : results) count += Winner(result.set) != nullptr;
              reply.writer().Integer(count);
            } else {
              reply.writer().ArrayHeader(results.size());
              for (const ReadResult& result : results) ReplyValue(reply.writer(), result.set);
            }
            reply.Send();
          });
}

void VgetCommand(CommandContext& ctx) {
  ReadAndReply(ctx, [](resp::ReplyWriter& writer, const ReadResult& result) {
    ReplySiblings(writer, result.set);
  });
}

void ClusterVclock(CommandContext& ctx) {
  ReadAndReply(ctx, [](resp::ReplyWriter& writer, const ReadResult& result) {
    if (result.found) {
      ReplyClock(writer, result.set);
    } else {
      writer.NullArray();
    }
  });
}

void LocalgetCommand(CommandContext& ctx) {
  storage::Engine& engine = ctx.server.engine();
  cluster::EngineStore store(&engine);
  storage::SiblingSet set;
  bool found = false;
  storage::Status status = store.Read(ctx.args[1], &set, &found);
  if (!status.ok()) {
    ctx.reply.Error("ERR storage error: " + status.ToString());
  } else if (!found) {
    ctx.reply.NullArray();
  } else {
    ReplySiblings(ctx.reply, set);
  }
}

// ---- Writes -----------------------------------------------------------------

void ClusterSet(CommandContext& ctx, bool nx, bool xx, bool get) {
  Server* server = &ctx.server;
  Client* client = &ctx.client;
  ReplyToken token = ctx.Defer();
  // Taken from the parsed request (Defer above has read its keys; nothing
  // reads the arguments after the handler): a value is not copied.
  std::string key = std::move(ctx.args[1]);
  std::string value = std::move(ctx.args[2]);
  if (!nx && !xx && !get) {
    // A plain SET supersedes what the coordinating replica has seen.
    TrackedWrite(server, *client, key, NewVersion(server, std::move(value), false), nullptr,
                 [server, token](const WriteOutcome& outcome) {
                   AsyncReply reply(server, token);
                   if (outcome.ok) {
                     reply.writer().SimpleString("OK");
                   } else {
                     reply.writer().Error(WriteFailure(outcome));
                   }
                   reply.Send();
                 });
    return;
  }
  uint64_t client_id = client->id();
  ReadThen(server, token, client->consistency, key,
           [=, value = std::move(value)](ReadResult r) mutable {
             const storage::Sibling* winner = Winner(r.set);
             bool live = winner != nullptr;
             std::string old_value = live ? winner->value : "";
             auto finish = [server, token, get, live, old_value](bool written) {
               AsyncReply reply(server, token);
               ReplySet(reply.writer(), get, live, old_value, written);
               reply.Send();
             };
             if (!SetConditionMet(nx, xx, live)) return finish(false);
             auto it = server->clients().find(client_id);
             if (it == server->clients().end()) return;
             TrackedWrite(server, *it->second, key, NewVersion(server, std::move(value), false),
                          &r.set.clock, [server, token, finish](const WriteOutcome& outcome) {
                            if (!outcome.ok) {
                              AsyncReply reply(server, token);
                              reply.writer().Error(WriteFailure(outcome));
                              reply.Send();
                              return;
                            }
                            finish(true);
                          });
           });
}

// SETNX, GETDEL and APPEND: read, decide, write with the read's context.
void ClusterReadModifyWrite(CommandContext& ctx, RmwKind kind) {
  Server* server = &ctx.server;
  ReplyToken token = ctx.Defer();
  uint64_t client_id = ctx.client.id();
  std::string key = ctx.args[1];
  std::string argument = ctx.args.size() > 2 ? ctx.args[2] : "";
  ReadThen(server, token, ctx.client.consistency, key, [=](ReadResult r) {
    const storage::Sibling* winner = Winner(r.set);
    AsyncReply early(server, token);
    std::string value;
    bool tombstone = false;
    std::string answer;  // The reply once the write succeeded.
    resp::ReplyWriter answer_writer(&answer, token.protocol);
    switch (kind) {
      case RmwKind::kSetnx:
        if (winner) {
          early.writer().Integer(0);
          return early.Send();
        }
        value = argument;
        answer_writer.Integer(1);
        break;
      case RmwKind::kGetdel:
        if (!winner) {
          early.writer().Null();
          return early.Send();
        }
        tombstone = true;
        answer_writer.Bulk(winner->value);
        break;
      case RmwKind::kAppend:
        value = winner ? winner->value : "";
        if (value.size() + argument.size() >
            static_cast<size_t>(server->config().proto_max_bulk_len)) {
          early.writer().Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
          return early.Send();
        }
        value += argument;
        answer_writer.Integer(static_cast<int64_t>(value.size()));
        break;
    }
    auto it = server->clients().find(client_id);
    if (it == server->clients().end()) return;
    TrackedWrite(server, *it->second, key, NewVersion(server, std::move(value), tombstone),
                 &r.set.clock, [server, token, answer](const WriteOutcome& outcome) {
                   AsyncReply reply(server, token);
                   if (outcome.ok) {
                     reply.writer().Raw(answer);
                   } else {
                     reply.writer().Error(WriteFailure(outcome));
                   }
                   reply.Send();
                 });
  });
}

void ClusterMset(CommandContext& ctx, bool only_if_none_exist) {
  Server* server = &ctx.server;
  ReplyToken token = ctx.Defer();
  uint64_t client_id = ctx.client.id();
  std::vector<std::string> keys = ArgsFrom(ctx, 1, 2);
  std::vector<std::string> values = ArgsFrom(ctx, 2, 2);
  auto write_all = [server, token, client_id, keys, values,
                    only_if_none_exist](std::vector<ReadResult>* reads) {
    auto it = server->clients().find(client_id);
    if (it == server->clients().end()) return;
    auto join = std::make_shared<WriteJoin>();
    join->remaining = keys.size();
    join->finish = [server, token, only_if_none_exist](WriteJoin& result) {
      AsyncReply reply(server, token);
      if (!result.first_failure.empty()) {
        reply.writer().Error(result.first_failure);
      } else if (only_if_none_exist) {
        reply.writer().Integer(1);
      } else {
        reply.writer().SimpleString("OK");
      }
      reply.Send();
    };
    for (size_t i = 0; i < keys.size(); ++i) {
      const storage::VersionVector* context = reads ? &(*reads)[i].set.clock : nullptr;
      TrackedWrite(server, *it->second, keys[i], NewVersion(server, values[i], false), context,
                   [join](const WriteOutcome& outcome) { join->Done(outcome); });
    }
  };
  if (!only_if_none_exist) {
    write_all(nullptr);
    return;
  }
  ReadAll(server, ctx.client.consistency, keys,
          [server, token, write_all](std::vector<ReadResult>& results) {
            for (const ReadResult& result : results) {
              if (!result.ok || Winner(result.set)) {
                AsyncReply reply(server, token);
                if (!result.ok) {
                  reply.writer().Error(ReadUnavailable(result));
                } else {
                  reply.writer().Integer(0);
                }
                return reply.Send();
              }
            }
            write_all(&results);
          });
}

void ClusterDel(CommandContext& ctx) {
  Server* server = &ctx.server;
  ReplyToken token = ctx.Defer();
  uint64_t client_id = ctx.client.id();
  std::vector<std::string> keys = ArgsFrom(ctx, 1, 1);
  ReadAll(server, ctx.client.consistency, keys,
          [server, token, client_id, keys](std::vector<ReadResult>& results) {
            auto join = std::make_shared<WriteJoin>();
            join->finish = [server, token](WriteJoin& result) {
              AsyncReply reply(server, token);
              if (!result.first_failure.empty()) {
                reply.writer().Error(result.first_failure);
              } else {
                reply.writer().Integer(static_cast<int64_t>(result.succeeded));
              }
              reply.Send();
            };
            std::vector<size_t> live;
            for (size_t i = 0; i < results.size(); ++i) {
              if (!results[i].ok) {
                AsyncReply reply(server, token);
                reply.writer().Error(ReadUnavailable(results[i]));
                return reply.Send();
              }
              if (Winner(results[i].set)) live.push_back(i);
            }
            auto it = server->clients().find(client_id);
            if (live.empty() || it == server->clients().end()) {
              AsyncReply reply(server, token);
              reply.writer().Integer(0);
              return reply.Send();
            }
            join->remaining = live.size();
            for (size_t i : live) {
              TrackedWrite(server, *it->second, keys[i], NewVersion(server, "", true),
                           &results[i].set.clock,
                           [join](const WriteOutcome& outcome) { join->Done(outcome); });
            }
          });
}

// VSET key context value / VDEL key context.
void VwriteCommand(CommandContext& ctx, bool tombstone) {
  storage::VersionVector context;
  if (!DecodeContext(ctx.args[2], &context)) {
    ctx.reply.Error("ERR invalid context: pass back the context VGET returned");
    return;
  }
  Server* server = &ctx.server;
  ReplyToken token = ctx.Defer();
  std::string value = tombstone ? "" : ctx.args[3];
  TrackedWrite(server, ctx.client, ctx.args[1], NewVersion(server, std::move(value), tombstone),
               &context, [server, token](const WriteOutcome& outcome) {
                 AsyncReply reply(server, token);
                 if (outcome.ok) {
                   reply.writer().SimpleString("OK");
                 } else {
                   reply.writer().Error(WriteFailure(outcome));
                 }
                 reply.Send();
               });
}

void VsetCommand(CommandContext& ctx) { VwriteCommand(ctx, false); }
void VdelCommand(CommandContext& ctx) { VwriteCommand(ctx, true); }

// ---- Ring, consistency, WAIT ---------------------------------------------------

void RingCommand(CommandContext& ctx) {
  const cluster::Ring& ring = ctx.server.cluster().ring();
  // A node still learning its members may know fewer than N of them.
  uint32_t n = std::min<uint32_t>(ctx.server.cluster().default_consistency().n,
                                  static_cast<uint32_t>(ring.members().size()));
  cluster::Coordinator& coordinator = ctx.server.cluster().coordinator();
  if (ctx.args.size() == 1) {
    ctx.reply.ArrayHeader(ring.partition_count());
    for (uint32_t partition = 0; partition < ring.partition_count(); ++partition) {
      std::vector<uint32_t> preference = ring.PreferenceList(partition);
      ctx.reply.ArrayHeader(3);
      ctx.reply.Integer(partition);
      ctx.reply.Bulk(ring.owner_name(partition));
      ctx.reply.ArrayHeader(n);
      for (uint32_t i = 0; i < n; ++i) ctx.reply.Bulk(ring.members()[preference[i]].name);
    }
    return;
  }
  if (ctx.args.size() != 3 || !EqualsIgnoreCase(ctx.args[1], "key")) {
    ctx.reply.Error("ERR syntax error: RING or RING KEY <key>");
    return;
  }
  const std::string& key = ctx.args[2];
  std::vector<std::string> names = coordinator.PreferenceNames(key, ring.members().size());
  char hash[17];
  snprintf(hash, sizeof(hash), "%016llx", static_cast<unsigned long long>(storage::KeyHash(key)));
  ctx.reply.ArrayHeader(4);
  ctx.reply.Integer(storage::PartitionOf(key, ring.partition_count()));
  ctx.reply.Bulk(hash);
  ctx.reply.ArrayHeader(n);
  for (uint32_t i = 0; i < n; ++i) ctx.reply.Bulk(names[i]);
  ctx.reply.ArrayHeader(names.size() - n);
  for (size_t i = n; i < names.size(); ++i) ctx.reply.Bulk(names[i]);
}

namespace {

bool ParseLevel(std::string_view text, uint32_t n, uint32_t* level) {
  int64_t number = 0;
  if (EqualsIgnoreCase(text, "one")) {
    *level = 1;
  } else if (EqualsIgnoreCase(text, "quorum")) {
    *level = n / 2 + 1;
  } else if (EqualsIgnoreCase(text, "all")) {
    *level = n;
  } else if (ParseInt64(text, &number) && number >= 1 && number <= n) {
    *level = static_cast<uint32_t>(number);
  } else {
    return false;
  }
  return true;
}

}  // namespace

void ConsistencyCommand(CommandContext& ctx) {
  Consistency& consistency = ctx.client.consistency;
  uint32_t n = consistency.n;
  std::string bad = "ERR consistency level must be ONE, QUORUM, ALL or a number from 1 to " +
                    std::to_string(n);
  if (ctx.args.size() == 2) {
    uint32_t level = 0;
    if (!ParseLevel(ctx.args[1], n, &level)) return ctx.reply.Error(bad);
    consistency.r = consistency.w = level;
  } else if (ctx.args.size() == 3 || ctx.args.size() == 5) {
    Consistency next = consistency;
    for (size_t i = 1; i + 1 < ctx.args.size(); i += 2) {
      uint32_t level = 0;
      bool is_r = EqualsIgnoreCase(ctx.args[i], "r");
      if (!is_r && !EqualsIgnoreCase(ctx.args[i], "w")) return ctx.reply.Error("ERR syntax error");
      if (!ParseLevel(ctx.args[i + 1], n, &level)) return ctx.reply.Error(bad);
      (is_r ? next.r : next.w) = level;
    }
    consistency = next;
  } else if (ctx.args.size() != 1) {
    return ctx.reply.Error("ERR syntax error");
  }
  if (ctx.args.size() > 1) return ctx.reply.SimpleString("OK");
  ctx.reply.MapHeader(3);
  ctx.reply.Bulk("n");
  ctx.reply.Integer(consistency.n);
  ctx.reply.Bulk("w");
  ctx.reply.Integer(consistency.w);
  ctx.reply.Bulk("r");
  ctx.reply.Integer(consistency.r);
}

void WaitCommand(CommandContext& ctx) {
  int64_t replicas = 0, timeout_ms = 0;
  if (!ParseInt64(ctx.args[1], &replicas) || !ParseInt64(ctx.args[2], &timeout_ms)) {
    return ctx.reply.Error("ERR value is not an integer or out of range");
  }
  if (timeout_ms < 0) return ctx.reply.Error("ERR timeout is negative");
  Client& client = ctx.client;
  if (client.last_write_settled || client.last_write_acks >= replicas) {
    return ctx.reply.Integer(client.last_write_acks);
  }
  ReplyToken token = ctx.Defer();
  // WAIT 0 blocks until the write settles, which its request timeout bounds.
  int64_t deadline = timeout_ms == 0 ? INT64_MAX : ctx.server.now_ms() + timeout_ms;
  AddWaiter(ctx.server, {token, client.id(), client.last_write, replicas, deadline});
}

}  // namespace ringkv::server

namespace ringkv::server {
namespace {
// Pending WAITs. Few at a time (one per waiting connection at most).
std::vector<Waiter>& Waiters() {
  static std::vector<Waiter> waiters;
  return waiters;
}
}  // namespace

void AddWaiter(Server& server, Waiter waiter) {
  Waiters().push_back(waiter);
  CheckWaiters(server);
}

void CheckWaiters(Server& server) {
  std::vector<Waiter>& waiters = Waiters();
  int64_t now = server.now_ms();
  for (size_t i = 0; i < waiters.size();) {
    const Waiter& waiter = waiters[i];
    auto it = server.clients().find(waiter.client_id);
    bool gone = it == server.clients().end();
    uint32_t acks = gone ? 0 : it->second->last_write_acks;
    bool settled = gone || it->second->last_write != waiter.write ||
                   it->second->last_write_settled;
    if (gone || settled || acks >= waiter.replicas || now >= waiter.deadline_ms) {
      std::string bytes = ":" + std::to_string(acks) + "\r\n";
      ReplyToken token = waiter.token;
      waiters[i] = waiters.back();
      waiters.pop_back();
      if (!gone) server.CompleteReply(token, std::move(bytes));
      continue;
    }
    ++i;
  }
}

}  // namespace ringkv::server
