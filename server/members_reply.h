// server/members_reply.h: the reply of MEMBERS, built from gossip's view of
// the members and the current ring.
//
// One entry per member, this node first, then by name. Each entry is a map
// (a flat array of field/value pairs under RESP2) with exactly the fields of
// kMemberFields, in that order. The names and the order are a contract:
// failure drills parse them (docs/commands.md).
#ifndef RINGKV_SERVER_MEMBERS_REPLY_H_
#define RINGKV_SERVER_MEMBERS_REPLY_H_

#include <array>
#include <span>

#include "cluster/gossip.h"
#include "cluster/ring.h"
#include "resp/reply_writer.h"

namespace ringkv::server {

inline constexpr std::array<const char*, 11> kMemberFields = {
    "name",      "host",   "port",        "peer_port", "state",      "self",
    "heartbeat", "age_ms", "incarnation", "weight",    "partitions",
};

// Writes the MEMBERS reply for `members` (in Gossip::Members order) with
// each member's partitions counted on `ring` (0 for a member not in it).
void WriteMembersReply(std::span<const cluster::MemberStatus> members, const cluster::Ring& ring,
                       resp::ReplyWriter& reply);

}  // namespace ringkv::server

#endif  // RINGKV_SERVER_MEMBERS_REPLY_H_
