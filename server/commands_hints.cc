// HINTS: the hints this node holds for other members and their delivery
// (hints_reply.h).
#include <algorithm>

#include "server/cluster_node.h"
#include "server/handlers.h"
#include "server/hints_reply.h"
#include "server/server.h"

namespace ringkv::server {

void WriteHintsReply(const cluster::HintsStatus& status, int64_t now_ms, resp::ReplyWriter& reply) {
  reply.ArrayHeader(status.targets.size());
  for (const cluster::HintTargetStatus& target : status.targets) {
    reply.MapHeader(kHintFields.size());
    // Counters stay far below 2^63.
    auto integer = [&reply](size_t field, uint64_t value) {
      reply.Bulk(kHintFields[field]);
      reply.Integer(static_cast<int64_t>(value));
    };
    reply.Bulk(kHintFields[0]);
    reply.Bulk(target.target);
    integer(1, target.count);
    integer(2, target.bytes);
    integer(3, target.delivered);
    integer(4, target.refused);
    integer(5, target.delivering ? 1 : 0);
    integer(6, target.down ? 1 : 0);
    integer(7, target.in_flight);
    integer(8, target.stored);
    integer(9, target.delivery_failures);
    reply.Bulk(kHintFields[10]);
    reply.Integer(target.delivering ? 0 : std::max<int64_t>(0, target.next_attempt_ms - now_ms));
  }
}

void HintsCommand(CommandContext& ctx) {
  ClusterNode& cluster = ctx.server.cluster();
  WriteHintsReply(cluster.coordinator().GetHintsStatus(), ctx.server.now_ms(), ctx.reply);
}

}  // namespace ringkv::server
