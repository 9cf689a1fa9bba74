// cluster/gossip.h: membership and failure detection by gossip, as a pure
// (sans-I/O) state machine. One per node.
//
// Every interval the node increments its own heartbeat and sends its
// membership table (Table()) to a few peers; a receiver keeps the highest
// heartbeat per member (OnGossip) and notes, on its own clock, when each
// member's heartbeat last advanced. A member whose heartbeat has not
// advanced for `suspect_after_ms` is suspect (temporary failure); when it
// advances again the member is alive. docs/gossip.md explains the choices
// (target selection, timings, measured detection time, incarnations).
//
// Inputs carry `now_ms` from a monotonic clock: Start, Tick (time passed)
// and OnGossip (a peer's table arrived). Outputs are the targets of this
// round's table and events (joined, suspect, alive, incarnation changed).
// The object never touches a socket, a timer or the clock; randomness comes
// from the seed given to the constructor, so a simulation is reproducible.
//
// Driving it from an event loop: AddKnown (the persisted member list) and
// AddSeed (config), then Start(now). Re-arm one timer at NextDeadlineMs()
// after every call; when it fires, call Tick(now) and send Table(), encoded
// with cluster/peer_protocol.h's EncodeGossip, to every target. Feed every
// RK.GOSSIP that arrives to OnGossip. Persist EncodeMembers(Table()) now and
// then (say on every event) so the member list survives a restart.
//
// Thread safety: none; the loop thread only.
#ifndef RINGKV_CLUSTER_GOSSIP_H_
#define RINGKV_CLUSTER_GOSSIP_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringkv::cluster {

// Largest member table a node keeps, sends or accepts: far above any real
// cluster, low enough that a forged count cannot make a node allocate much.
inline constexpr size_t kGossipMembersMax = 4096;
// Longest host name (DNS allows 253) and largest weight a record may carry.
inline constexpr size_t kGossipHostBytesMax = 255;
inline constexpr uint32_t kGossipWeightMax = 65535;

// The gossiped part of a member: who it is, where to reach it, and its
// liveness counter.
struct MemberRecord {
  std::string name;        // Unique in the cluster, 1..kPeerNameBytesMax bytes.
  std::string host;        // 1..kGossipHostBytesMax bytes.
  uint16_t port = 0;       // Client port, 1..65535.
  uint16_t peer_port = 0;  // Peer port, 1..65535.
  uint32_t weight = 1;     // Ring weight, 1..kGossipWeightMax.
  // The node's actor id: random and nonzero, new whenever its data
  // directory is created (so a wiped node comes back as a new incarnation).
  uint64_t incarnation = 0;
  // Unix ms when that data directory was created. Actor ids are random, so
  // they cannot say which incarnation is newer: (created_ms, incarnation)
  // orders them.
  uint64_t created_ms = 0;
  // Incremented by the member itself once per gossip interval.
  uint64_t heartbeat = 0;

  bool operator==(const MemberRecord&) const = default;
};

// True if `record` may be gossiped or persisted (the limits above, and a
// nonzero incarnation); otherwise false with a reason.
bool ValidateMemberRecord(const MemberRecord& record, std::string* error);

// True if `a` is a newer incarnation of a member than `b`.
bool IsNewerIncarnation(const MemberRecord& a, const MemberRecord& b);

// "host:peer_port", the address seeds are configured with.
std::string PeerAddress(const MemberRecord& record);

// Splits a seed address "host:peer_port" (IPv6 as "[::1]:7379"): host 1 to
// kGossipHostBytesMax bytes, port canonical decimal 1..65535. *host is
// returned without the brackets, ready for a resolver. False (outputs
// unchanged) for a malformed address. Either output may be null.
[[nodiscard]] bool ParsePeerAddress(std::string_view address, std::string* host, uint16_t* port);

// The member-list encoding shared by persistence and the RK.GOSSIP message
// (docs/gossip.md has the bytes). Decoding validates every record, refuses
// duplicate names, more than kGossipMembersMax records, trailing bytes and a
// checksum mismatch, and leaves *out unchanged on failure.
// REQUIRES (encode): every record valid, at most kGossipMembersMax.
void EncodeMembers(std::span<const MemberRecord> records, std::string* out);
[[nodiscard]] bool DecodeMembers(std::string_view bytes, std::vector<MemberRecord>* out,
                                 std::string* error);

struct GossipOptions {
  // One round per interval: heartbeat += 1 and the table goes to targets.
  // REQUIRES: > 0.
  int64_t interval_ms = 1000;
  // Targets per round in a cluster larger than full_mesh_members_max.
  // REQUIRES: >= 1.
  uint32_t fanout = 2;
  // Up to this many members (self included), every round goes to every
  // peer. With a fanout of 2, healthy members of a 6-node cluster go 4-5
  // intervals without an advance reaching a given node, so it could not
  // suspect within 3 intervals without false suspicions (docs/gossip.md
  // has the measurements); 7 small messages a second per node is cheap.
  // 0 disables.
  uint32_t full_mesh_members_max = 8;
  // A member whose heartbeat has not advanced for this long is suspect.
  // 2.5 intervals: a healthy member advances every interval plus the
  // network delay, and one lost message costs at most another interval
  // before the same heartbeat arrives through a third node. That holds for
  // the full mesh only: in fanout mode news travels through relays, and
  // this must grow with the cluster (8 intervals for 16 nodes at fanout 2,
  // measured in docs/gossip.md). REQUIRES: > interval_ms.
  int64_t suspect_after_ms = 2500;
  // A gap this long between two Ticks means this node itself was not
  // running (SIGSTOP, a blocked loop, a suspended VM): it saw nothing in
  // that time, so its silence proves nothing about the others, and every
  // member gets a fresh suspect_after_ms instead of being suspected at
  // once. REQUIRES: > interval_ms.
  int64_t local_pause_ms = 2000;

  // The defaults above scaled to another interval (e.g. the 5 s profile).
  static GossipOptions ForInterval(int64_t interval_ms);
};

enum class MemberState { kAlive, kSuspect };

struct GossipEvent {
  enum class Kind {
    // A member not known before, or the first record of a configured
    // placeholder (AddConfigured). Alive.
    kJoined,
    kSuspect,             // Its heartbeat stopped advancing.
    kAlive,               // A suspect member's heartbeat advanced again.
    kIncarnationChanged,  // Came back with a new data directory (alive).
    // A peer gossiped our own name with a newer incarnation: two nodes use
    // one name, or an old copy of this node's data directory was restored.
    // Our own record stays authoritative here; worth a loud log line.
    kSelfConflict,
  };
  Kind kind = Kind::kJoined;
  std::string member;

  bool operator==(const GossipEvent&) const = default;
};

struct GossipTarget {
  enum class Kind {
    kMember,  // `to` is a member name.
    kSeed,    // `to` is a seed address "host:peer_port" not yet known as a member.
  };
  Kind kind = Kind::kMember;
  std::string to;

  bool operator==(const GossipTarget&) const = default;
};

struct GossipTickResult {
  std::vector<GossipTarget> targets;  // Empty between rounds.
  std::vector<GossipEvent> events;
};

// One member as MEMBERS shows it.
struct MemberStatus {
  MemberRecord record;
  MemberState state = MemberState::kAlive;
  bool self = false;
  int64_t last_advance_ms = 0;  // Local clock; for self, now.
  int64_t age_ms = 0;           // now - last_advance_ms.
};

struct GossipStats {
  uint64_t rounds = 0;
  uint64_t tables_received = 0;
  uint64_t records_stale = 0;    // Lower or equal heartbeat, or an older incarnation.
  uint64_t records_invalid = 0;  // Failed ValidateMemberRecord (a direct caller's bug).
  uint64_t records_dropped = 0;  // New members past kGossipMembersMax.
  uint64_t self_conflicts = 0;
  uint64_t local_pauses = 0;
};

class Gossip {
 public:
  // REQUIRES: ValidateMemberRecord(self), options as documented.
  Gossip(MemberRecord self, GossipOptions options, uint64_t rng_seed);

  Gossip(const Gossip&) = delete;
  Gossip& operator=(const Gossip&) = delete;

  // Loads a persisted member list. Members start alive; their silence is
  // counted from Start. Our own record in it only lifts our heartbeat (same
  // incarnation), so a restarted node advances past what peers remember.
  // Invalid records are skipped and counted. REQUIRES: before Start.
  void AddKnown(std::span<const MemberRecord> records);

  // A member the configuration names, whose incarnation is not known yet
  // (`record.incarnation` and `heartbeat` are ignored). Until a record from
  // it arrives it is a placeholder with incarnation 0: known (Members(),
  // IsKnown, a target of rounds, alive from Start and suspect after
  // suspect_after_ms of silence, like a loaded member), but left out of
  // Table(), since a member is never spread by hearsay without its
  // incarnation. The first record with that name replaces it (kJoined). A
  // name already known, or our own, is left as it is. Returns false (and
  // adds nothing) if the record is invalid apart from its incarnation.
  // REQUIRES: before Start.
  [[nodiscard]] bool AddConfigured(const MemberRecord& record);

  // A bootstrap address "host:peer_port". Until a member (or self) with
  // that address is known, every round's table goes there too. Returns
  // false (and adds nothing) for a malformed address. REQUIRES: before
  // Start.
  [[nodiscard]] bool AddSeed(std::string_view address);

  // The first round is due at `now_ms`. REQUIRES: called once.
  void Start(int64_t now_ms);

  // Time passed: runs the round when one is due and checks every member
  // for suspicion. REQUIRES: started.
  GossipTickResult Tick(int64_t now_ms);

  // A peer's table arrived. Returns what changed. REQUIRES: started.
  std::vector<GossipEvent> OnGossip(std::span<const MemberRecord> table, int64_t now_ms);

  // What to send: self first, then every known member (suspect ones too,
  // with the last heartbeat seen, so news about them spreads), except
  // configured placeholders not heard from yet.
  std::vector<MemberRecord> Table() const;

  // Self first, then members in name order.
  std::vector<MemberStatus> Members(int64_t now_ms) const;

  bool IsKnown(std::string_view name) const;
  // The record of member `name` (our own for our name), or nullptr. Valid
  // until the next non-const call.
  const MemberRecord* Find(std::string_view name) const;
  bool IsSuspect(std::string_view name) const;
  // Alive members, self included.
  size_t AliveCount() const;
  size_t MemberCount() const { return members_.size() + 1; }

  // When Tick must run next: the next round, or the earliest moment an
  // alive member turns suspect.
  int64_t NextDeadlineMs() const;

  const MemberRecord& self() const { return self_; }
  const GossipOptions& options() const { return options_; }
  const GossipStats& stats() const { return stats_; }

 private:
  struct Member {
    MemberRecord record;
    MemberState state = MemberState::kAlive;
    int64_t last_advance_ms = 0;
  };

  void OnRecord(const MemberRecord& record, int64_t now_ms, std::vector<GossipEvent>* events);
  void OnSelfRecord(const MemberRecord& record, std::vector<GossipEvent>* events);
  void PickTargets(std::vector<GossipTarget>* targets);
  void AddSeedTargets(std::vector<GossipTarget>* targets) const;
  void CheckSuspects(int64_t now_ms, std::vector<GossipEvent>* events);
  uint64_t NextRandom();

  MemberRecord self_;
  GossipOptions options_;
  uint64_t rng_state_;
  std::map<std::string, Member, std::less<>> members_;
  std::vector<std::string> seeds_;
  // The shuffled round-robin walk over peers (fanout mode); rebuilt when it
  // runs out, so every peer gets the table once per pass.
  std::vector<std::string> rotation_;
  size_t rotation_position_ = 0;
  bool started_ = false;
  int64_t next_round_ms_ = 0;
  int64_t last_tick_ms_ = 0;
  GossipStats stats_;
};

}  // namespace ringkv::cluster

#endif  // RINGKV_CLUSTER_GOSSIP_H_
