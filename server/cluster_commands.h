// server/cluster_commands.h: the cluster-mode halves of the string commands
// (commands_string.cc dispatches to them when the cluster has other
// members), and the WAIT bookkeeping.
#ifndef RINGKV_SERVER_CLUSTER_COMMANDS_H_
#define RINGKV_SERVER_CLUSTER_COMMANDS_H_

#include <cstdint>
#include <string_view>

#include "resp/reply_writer.h"
#include "server/command.h"

namespace ringkv::server {

class Server;

void ClusterGet(CommandContext& ctx);
void ClusterStrlen(CommandContext& ctx);
void ClusterMgetOrExists(CommandContext& ctx, bool exists);
void ClusterVclock(CommandContext& ctx);
void ClusterSet(CommandContext& ctx, bool nx, bool xx, bool get);
// SET's rules, for both halves (commands_string.cc): whether the write
// happens, given NX / XX and whether the key holds a live value, and the
// reply once it happened (`written`) or did not: with GET the old value (or
// nil), otherwise OK, or nil when the condition stopped it.
inline bool SetConditionMet(bool nx, bool xx, bool live) {
  return !(nx && live) && !(xx && !live);
}
void ReplySet(resp::ReplyWriter& writer, bool get, bool live, std::string_view old_value,
              bool written);
enum class RmwKind { kSetnx, kGetdel, kAppend };
void ClusterReadModifyWrite(CommandContext& ctx, RmwKind kind);
void ClusterMset(CommandContext& ctx, bool only_if_none_exist);
void ClusterDel(CommandContext& ctx);

// A WAIT waiting for the connection's last write to reach `replicas` acks.
struct Waiter {
  ReplyToken token;
  uint64_t client_id;
  uint64_t write;  // Client::last_write when WAIT ran.
  int64_t replicas;
  int64_t deadline_ms;
};
void AddWaiter(Server& server, Waiter waiter);
// Answers every WAIT whose write settled, reached its count, or timed out.
void CheckWaiters(Server& server);

}  // namespace ringkv::server

#endif  // RINGKV_SERVER_CLUSTER_COMMANDS_H_
