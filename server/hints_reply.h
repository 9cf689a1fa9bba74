// server/hints_reply.h: the reply of HINTS, built from the coordinator's
// hinted-handoff status (cluster::Coordinator::GetHintsStatus).
//
// One entry per target member, by name: members this node holds hints for,
// is delivering to, or has stored, delivered or refused hints for since it
// started. Each entry is a map (a flat array of field/value pairs under
// RESP2) with exactly the fields of kHintFields, in that order:
//
//   target      the member the hints are for
//   count       hints held for it now (durable, survive a restart)
//   bytes       their size as stored (keys plus records)
//   delivered   hints it acknowledged and that were deleted, since start
//   dropped     hints refused for it by the hint limits, since start
//   delivering  1 while a delivery pass to it is under way, else 0
//   down        1 while gossip holds it suspect (no delivery), else 0
//   in_flight   deliveries sent and not answered yet
//   stored      hints stored for it (as a stand-in), since start
//   failed      deliveries that failed or timed out, since start
//   retry_in_ms how long until the next delivery pass may start (0: due)
//
// The names and the order are a contract: failure drills parse them
// (docs/commands.md, tests/drills/drill_replies.h).
#ifndef RINGKV_SERVER_HINTS_REPLY_H_
#define RINGKV_SERVER_HINTS_REPLY_H_

#include <array>
#include <cstdint>

#include "cluster/coordinator.h"
#include "resp/reply_writer.h"

namespace ringkv::server {

inline constexpr std::array<const char*, 11> kHintFields = {
    "target", "count",     "bytes",  "delivered", "dropped",     "delivering",
    "down",   "in_flight", "stored", "failed",    "retry_in_ms",
};

// Writes the HINTS reply for `status` as of `now_ms` (the clock the
// coordinator is driven with).
void WriteHintsReply(const cluster::HintsStatus& status, int64_t now_ms, resp::ReplyWriter& reply);

}  // namespace ringkv::server

#endif  // RINGKV_SERVER_HINTS_REPLY_H_
