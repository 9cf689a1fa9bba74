// MEMBERS: the cluster's members as gossip knows them (members_reply.h).
#include "server/cluster_node.h"
#include "server/handlers.h"
#include "server/members_reply.h"
#include "server/server.h"
#include "storage/version_vector.h"

namespace ringkv::server {

void WriteMembersReply(std::span<const cluster::MemberStatus> members, const cluster::Ring& ring,
                       resp::ReplyWriter& reply) {
  reply.ArrayHeader(members.size());
  for (const cluster::MemberStatus& member : members) {
    const cluster::MemberRecord& record = member.record;
    int index = ring.MemberIndex(record.name);
    uint32_t partitions = index >= 0 ? ring.OwnedCount(static_cast<uint32_t>(index)) : 0;
    reply.MapHeader(kMemberFields.size());
    reply.Bulk(kMemberFields[0]);
    reply.Bulk(record.name);
    reply.Bulk(kMemberFields[1]);
    reply.Bulk(record.host);
    reply.Bulk(kMemberFields[2]);
    reply.Integer(record.port);
    reply.Bulk(kMemberFields[3]);
    reply.Integer(record.peer_port);
    reply.Bulk(kMemberFields[4]);
    reply.Bulk(member.state == cluster::MemberState::kAlive ? "alive" : "suspect");
    reply.Bulk(kMemberFields[5]);
    reply.Integer(member.self ? 1 : 0);
    reply.Bulk(kMemberFields[6]);
    // Heartbeats count intervals: far below 2^63 for any real uptime.
    reply.Integer(static_cast<int64_t>(record.heartbeat));
    reply.Bulk(kMemberFields[7]);
    reply.Integer(member.age_ms);
    reply.Bulk(kMemberFields[8]);
    // 64 random bits: hex, as INFO's node_actor and VGET's actors.
    reply.Bulk(storage::ActorToHex(record.incarnation));
    reply.Bulk(kMemberFields[9]);
    reply.Integer(record.weight);
    reply.Bulk(kMemberFields[10]);
    reply.Integer(partitions);
  }
}

void MembersCommand(CommandContext& ctx) {
  ClusterNode& cluster = ctx.server.cluster();
  WriteMembersReply(cluster.Members(), cluster.ring(), ctx.reply);
}

}  // namespace ringkv::server
