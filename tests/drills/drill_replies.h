// The one place that knows the replies of the failure-handling commands the
// drills observe, MEMBERS and HINTS, and the config keys that switch them on.
// Written against the agreed contract before the server has them:
//
//   MEMBERS  array, one entry per member, self first; each entry a flat array
//            of field/value pairs: name, host, port, peer_port, state
//            ("alive" | "suspect"), self (1/0), heartbeat, age_ms,
//            incarnation, weight, partitions.
//   HINTS    array, one entry per target node; each entry a flat array of
//            field/value pairs: target, count, bytes, delivered, dropped,
//            delivering (1/0), then more the drills do not read (down,
//            in_flight, stored, failed, retry_in_ms; server/hints_reply.h).
//            The first contract also had oldest_age_ms; the server does not
//            keep a per-target oldest hint (it would need a scan), so the
//            field was dropped and is not read.
//   [cluster] gossip_interval_ms, gossip_fanout, suspect_after_ms,
//            seeds = ["host:peer_port"], sloppy_quorum, hint_after_ms,
//            hints_count_max, hints_bytes_max, hints_age_max_ms.
//
// Fields are looked up by name, so a reordering does not break the drills;
// a field the drills rely on that is missing is a parse error. Integers may
// come as integer replies or as decimal strings.
//
// The parsers never throw or REQUIRE: they run on the monitor's threads,
// where a doctest exception could not unwind to the test. They return
// nullopt and describe the problem in *error.
#ifndef RINGKV_TESTS_DRILLS_DRILL_REPLIES_H_
#define RINGKV_TESTS_DRILLS_DRILL_REPLIES_H_

#include <hiredis/hiredis.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ringkv::drills {

struct MemberView {
  std::string name;
  std::string host;
  int64_t port = 0;
  int64_t peer_port = 0;
  std::string state;  // "alive" or "suspect".
  bool self = false;
  int64_t heartbeat = 0;
  int64_t age_ms = 0;
  std::string incarnation;
  int64_t weight = 0;
  int64_t partitions = 0;
};

struct HintTargetView {
  std::string target;
  int64_t count = 0;
  int64_t bytes = 0;
  int64_t delivered = 0;
  int64_t dropped = 0;
  bool delivering = false;
};

std::optional<std::vector<MemberView>> ParseMembers(const redisReply* reply, std::string* error);
std::optional<std::vector<HintTargetView>> ParseHints(const redisReply* reply, std::string* error);

// True for the reply a server gives a command it does not have
// ("-ERR unknown command ...").
bool IsUnknownCommand(const redisReply* reply);

// The [cluster] lines that configure gossip for a drill (the keys above).
// `suspect_after_ms` 0 leaves that key to the server's default. Empty when
// `enabled` is false: the switch for a server that does not know the keys
// yet (it refuses unknown keys). `seed` is "host:peer_port".
std::string FailureHandlingConfig(bool enabled, int gossip_interval_ms, int suspect_after_ms,
                                  const std::string& seed);

}  // namespace ringkv::drills

#endif  // RINGKV_TESTS_DRILLS_DRILL_REPLIES_H_
