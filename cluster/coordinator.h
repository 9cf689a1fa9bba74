// cluster/coordinator.h: quorum writes and reads with a sloppy quorum and
// hinted handoff, and the replica side of the peer protocol, as a pure
// (sans-I/O) state machine. One per node.
//
// Inputs are calls that carry `now_ms`: Write, Read, OnMessage (a peer's
// message arrived) and OnTick (time passed), plus SetDown (the failure
// detector's view). Outputs are messages in an outbox (TakeOutbox) and
// completion callbacks. The Coordinator never touches a socket, a timer or
// the clock: an adapter binds it to libuv, and the deterministic simulator
// (tests/unit/cluster/simulation_test.cc) to a fake network and clock.
// docs/coordination.md describes the protocol.
//
// A key's n *slots* are the first n members of its preference list (its
// owners). A slot whose owner is down (SetDown), has failed, or has not
// answered a write within hint_after_ms gets a *stand-in*: the next healthy
// member past the first n in preference order (distinct per request), which
// holds the write as a hint naming the owner (PutRequest::hint_for) and
// answers reads with what it holds. Quorums count slots: a slot counts once,
// whether its owner or its stand-in answered. (Only with
// CoordinatorOptions::sloppy_quorum; without it a down owner's slot fails at
// once and nothing stands in.)
//
// Writes: the coordinator must be one of the key's first n members
// (IsReplica); stand-ins never coordinate (docs/coordination.md, "Who
// coordinates", says why). It applies the write to its own record with a
// fresh dot of its actor (the caller's context, or its own record's clock,
// decides which siblings the write supersedes), merges the result locally
// (its slot's ack) and sends the new sibling set to the other slots. done()
// fires once: at the w-th acked slot (ok), or with ok=false as soon as w
// has become impossible or at the deadline. settled() fires once, when no
// slot is waiting any more or at the deadline, with the acked slots (for
// Redis's WAIT).
//
// Reads: any node coordinates. It asks r slots' owners (all n for a fraction
// read_repair_chance of reads; see CoordinatorOptions), or their stand-ins,
// reading its own store directly when it is one of them, and asks a spare
// slot when one fails or is slow; done() fires
// once: at the r-th answered slot with the merge of the replies so far, or
// with ok=false as soon as r has become impossible or at the deadline. The
// read stays alive until every request was answered or the deadline, then
// repairs every *owner* whose copy differs from the merge of all replies
// (read repair; stand-ins are never repaired).
//
// Hinted handoff: hints held here are delivered (as plain PutRequests) to
// every target that is not down, from OnTick, in bounded batches, and
// deleted once the target acknowledged them and only if they did not change
// meanwhile; failed deliveries are retried with backoff. OnTick also
// expires old hints at a bounded rate.
//
// Driving it from an event loop: after every call (Write, Read, OnMessage,
// OnTick, SetDown), send what TakeOutbox() returns and re-arm one timer at
// NextDeadlineMs(); when it fires, call OnTick(now). OnMessage's `from` must
// be the authenticated name of the peer the message came on. An adapter that
// cannot send a request (peer down, queue full) may drop it, and the request
// waits for its deadline; or it may answer it at once with a failed reply
// from that peer (PutReply/GetReply with the request's id and ok = false),
// which moves the slot to a stand-in at once. Call SetDown(member, true)
// when the failure detector suspects a member and SetDown(member, false)
// when it is alive again (that starts hint delivery to it).
//
// Ownership: the ReplicaStore is not owned and must outlive the Coordinator.
// Callbacks run inside the call that completes them (Write, Read, OnMessage
// or OnTick). REQUIRES: a callback may call Write, Read, TakeOutbox and the
// accessors, but not OnMessage, OnTick, SetRing or SetDown.
//
// Thread safety: none; the loop thread only.
#ifndef RINGKV_CLUSTER_COORDINATOR_H_
#define RINGKV_CLUSTER_COORDINATOR_H_

#include <absl/container/inlined_vector.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cluster/messages.h"
#include "cluster/replica_store.h"
#include "cluster/ring.h"
#include "cluster/timer_queue.h"
#include "storage/sibling_set.h"
#include "storage/version_vector.h"

namespace ringkv::cluster {

// Replication factor and quorums of one request. REQUIRES (validated by the
// caller, e.g. the config or CONSISTENCY): 1 <= r, w <= n <= ring members.
struct Consistency {
  uint32_t n = 3;
  uint32_t w = 2;
  uint32_t r = 2;
  // 1 <= r, w <= n <= members.
  bool ValidFor(size_t members) const {
    return r >= 1 && w >= 1 && r <= n && w <= n && n <= members;
  }
};

struct CoordinatorOptions {
  // How long a request waits for its quorum (and its stragglers) before it
  // gives up. REQUIRES: > 0.
  int64_t request_timeout_ms = 1000;
  // Stand-ins (sloppy quorum). Off, a slot's owner is its only target: a
  // down owner's slot fails at once, a failed or silent one stays failed
  // (strict quorums, as before hinted handoff). Hints received as a stand-in
  // are stored and delivered either way. The node sets it from the config
  // key cluster.sloppy_quorum (default true) and drives SetDown from gossip.
  bool sloppy_quorum = false;
  // A write's slot whose owner has not answered this long after the write
  // started gets a stand-in (the owner's late ack still counts). 0 means
  // request_timeout_ms / 2; a value >= request_timeout_ms turns it off.
  int64_t hint_after_ms = 0;
  // Read fan-out. A read with r < n asks r slots: this node's own first
  // (a local read) when it is an owner, then owners that are not down, in
  // preference order; the other slots are spares. A spare is asked when an
  // asked slot fails, and when fewer than r slots answered within
  // read_retry_after_ms (a speculative retry; 0 or >= request_timeout_ms:
  // only on failure). A fraction read_repair_chance of reads (and every
  // read with r = n) asks all n slots instead, so that read repair reaches
  // every owner. 1 restores "always ask all n". REQUIRES: 0 <= chance <= 1.
  double read_repair_chance = 1.0;
  int64_t read_retry_after_ms = 100;
  // Conditional reads: once this node has read its own copy, it asks the
  // other replicas for theirs only if it differs (RK.GET with the copy's
  // digest); a replica whose copy has the digest answers SAME, without the
  // record. Off, every replica sends its copy.
  bool read_digests = true;
  // Hint delivery, per target: hints in flight at once (a batch), and their
  // bytes (key and values; a batch holds at least one hint, so it may pass
  // this by one hint). REQUIRES: count > 0.
  uint32_t hint_delivery_count_max = 64;
  uint64_t hint_delivery_bytes_max = 1 << 20;
  // After a failed batch, or a pass that delivered nothing, the target waits
  // before the next attempt: hint_retry_min_ms, doubling up to
  // hint_retry_max_ms, back to the minimum after a success. Also the pause
  // between two passes over a target that still holds hints.
  // REQUIRES: 0 < min <= max.
  int64_t hint_retry_min_ms = 100;
  int64_t hint_retry_max_ms = 10000;
  // Hint expiry (age maximum: the store's HintLimits): every interval,
  // examine at most this many hints. REQUIRES: interval > 0.
  int64_t hint_expiry_interval_ms = 1000;
  uint32_t hint_expiry_batch = 1000;
};

struct WriteResult {
  bool ok = false;           // At least `required` slots acknowledged.
  uint32_t acks = 0;         // Slots acknowledged when done() fired.
  uint32_t hinted_acks = 0;  // Of those, slots held only as a stand-in's hint.
  uint32_t required = 0;     // w.
  storage::Dot dot;          // The new version's dot (in this node's store).
  std::string error;         // Set only when the local store failed (no dot then).
};

struct ReadResult {
  bool ok = false;                // At least `required` slots replied.
  bool found = false;             // Some replica that replied holds a record.
  uint32_t replies = 0;           // Slots whose successful replies are merged into `set`.
  uint32_t stand_in_replies = 0;  // Of those, slots only a stand-in answered.
  uint32_t required = 0;          // r.
  storage::SiblingSet set;        // Merge of the replies; its clock is the context.
};

struct CoordinatorStats {
  uint64_t writes = 0;  // Writes coordinated (started).
  uint64_t reads = 0;   // Reads coordinated (started).
  uint64_t write_quorum_failures = 0;
  uint64_t read_quorum_failures = 0;
  uint64_t read_repairs = 0;  // Stale owners repaired (remote puts + local merges).
  uint64_t puts_served = 0;   // PutRequests handled (as an owner or a stand-in).
  uint64_t gets_served = 0;   // GetRequests handled.
  uint64_t store_errors = 0;  // Local store failures, on any path.
  // Sloppy quorum, as a coordinator: stand-ins sent a write (hinted puts),
  // and asked to answer a read.
  uint64_t write_stand_ins = 0;
  uint64_t read_stand_ins = 0;
  // Reads that asked all n slots (r = n, or read_repair_chance), and spare
  // slots asked by reads that asked r (after a failure or the retry delay).
  uint64_t reads_all_slots = 0;
  uint64_t read_spares_asked = 0;
  // Conditional reads: replicas asked with this node's digest that answered
  // SAME, and that sent their copy because it differed.
  uint64_t read_digests_same = 0;
  uint64_t read_digests_differ = 0;
  // Hinted handoff, as a stand-in: hints stored, refused by the hint limits,
  // delivered (acked by the target and deleted), deliveries that failed or
  // timed out, and hints expired.
  uint64_t hints_stored = 0;
  uint64_t hints_refused = 0;
  uint64_t hints_delivered = 0;
  uint64_t hint_delivery_failures = 0;
  uint64_t hints_expired = 0;
};

// What the HINTS command and INFO show, per target and in total.
struct HintTargetStatus {
  std::string target;
  uint64_t count = 0;  // Hints held for it now.
  uint64_t bytes = 0;
  bool down = false;            // SetDown(target, true) is in force.
  bool delivering = false;      // A delivery pass is under way.
  uint32_t in_flight = 0;       // Hints sent to it and not answered yet.
  int64_t next_attempt_ms = 0;  // When the next pass may start (if not down).
  // Since this Coordinator was created:
  uint64_t stored = 0;
  uint64_t refused = 0;
  uint64_t delivered = 0;
  uint64_t delivery_failures = 0;
};

struct HintsStatus {
  // Targets holding hints, being delivered to, or that had hints refused,
  // by name.
  std::vector<HintTargetStatus> targets;
  uint64_t count = 0;  // Hints held, all targets.
  uint64_t bytes = 0;
  // Kept by the store across restarts.
  uint64_t delivered = 0;
  uint64_t dropped_count_limit = 0;
  uint64_t dropped_bytes_limit = 0;
  uint64_t expired = 0;
};

class Coordinator {
 public:
  using WriteCallback = std::function<void(WriteResult)>;
  using SettledCallback = std::function<void(uint32_t total_acks)>;
  using ReadCallback = std::function<void(ReadResult)>;

  // `store` is not owned and must outlive this object. Learns which targets
  // the store already holds hints for (after a restart), so that delivery
  // resumes.
  Coordinator(std::string self, ReplicaStore* store, CoordinatorOptions options = {});

  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Replaces the ring (copied). Requests in flight keep the slots and
  // stand-in candidates they started with.
  void SetRing(const Ring& ring);
  const Ring& ring() const { return ring_; }
  const std::string& self() const { return self_; }

  // The failure detector's view of `member` (gossip: suspect -> true, alive
  // -> false). A down member gets no new requests: its slots go to stand-ins
  // at once, and no hints are delivered to it. Coming back up starts the
  // delivery of its hints at the next OnTick. Requests already in flight
  // keep their targets. This node is never down in its own view: SetDown of
  // self is ignored.
  void SetDown(std::string_view member, bool down);
  bool IsDown(std::string_view member) const;

  // The first `count` member names of the preference list of `key`.
  // REQUIRES: a ring is set and count <= ring().members().size().
  std::vector<std::string> PreferenceNames(std::string_view key, uint32_t count) const;
  // True if this node is among the first n of the preference list of `key`,
  // i.e. may coordinate a write to it. A node that is not forwards the write
  // to one of HealthyReplicaNames.
  bool IsReplica(std::string_view key, uint32_t n) const;
  // The members among the first n of the preference list of `key` that are
  // not down, in preference order: where a node that is not a replica
  // forwards a write. Empty when all n are down (the write is unavailable).
  std::vector<std::string> HealthyReplicaNames(std::string_view key, uint32_t n) const;

  // Writes `version` (its dot is ignored) to `key`. `context` is the version
  // vector the client read (VSET, VDEL); nullptr means this node's own record
  // clock, so the write supersedes every sibling this node has seen (SET,
  // DEL). `settled` may be empty. REQUIRES: IsReplica(key, consistency.n).
  void Write(std::string_view key, storage::Sibling version, const storage::VersionVector* context,
             Consistency consistency, int64_t now_ms, WriteCallback done,
             SettledCallback settled = {});

  // Reads `key` from its n slots (see the file comment).
  void Read(std::string_view key, Consistency consistency, int64_t now_ms, ReadCallback done);

  // A message from peer `from`: a request served as a replica or stand-in
  // (the reply goes to the outbox) or a reply to one of our requests.
  // Replies with an unknown id, of the wrong kind, from a node the request
  // was not sent to, or from a node that already replied are ignored.
  void OnMessage(const std::string& from, Message message, int64_t now_ms);
  // As OnMessage with GetReply{id, ok, same}: one SAME answer of a batch
  // (RK.SAMES, docs/peer_protocol.md), without building a message for it.
  void OnSameReply(const std::string& from, uint64_t id, int64_t now_ms);

  // Ends the requests whose deadline is at or before `now_ms`, gives
  // stand-ins to slow write slots, expires old hints (every
  // hint_expiry_interval_ms) and starts hint deliveries that are due.
  void OnTick(int64_t now_ms);

  // The earliest time OnTick has work: a request's deadline, a write's
  // hint-after time, a hint delivery or expiry that is due (never earlier
  // than the latest now_ms this object was given, so possibly that: fire at
  // once). nullopt if none.
  std::optional<int64_t> NextDeadlineMs() const;

  // The messages produced since the last call, in order. Never addressed to
  // this node.
  std::vector<Envelope> TakeOutbox();
  // The same into `*taken` (cleared first), whose capacity the outbox keeps
  // for the next messages: for an adapter that drains it after every call.
  void TakeOutbox(std::vector<Envelope>* taken);

  const CoordinatorStats& stats() const { return stats_; }
  size_t writes_in_flight() const { return writes_.size(); }
  size_t reads_in_flight() const { return reads_.size(); }
  // Hint deliveries sent and not answered yet, all targets.
  size_t hint_deliveries_in_flight() const { return hint_puts_.size(); }
  // Hints held here per target, and the delivery state (HINTS, INFO).
  HintsStatus GetHintsStatus() const;

 private:
  enum class ReplyState : uint8_t { kPending, kOk, kFailed };

  // One of the n first members of the preference list of a request's key.
  struct Slot {
    std::string owner;
    bool answered = false;       // Acked (write) or replied successfully (read).
    bool by_owner = false;       // The owner itself did.
    uint32_t pending = 0;        // Requests to the owner or stand-ins not answered yet.
    bool stand_in_used = false;  // A stand-in was asked for this slot.
  };
  // A request's slots, targets and spares are held in the request itself
  // up to these counts (n = 3, and one stand-in), so that starting a
  // request allocates none of them (docs/benchmarks.md, twenty-fourth pass).
  static constexpr size_t kInlineSlots = 3;
  using SlotList = absl::InlinedVector<Slot, kInlineSlots>;
  // Where stand-ins come from: the preference list past the first n, as it
  // was when the request started, consumed in order.
  struct StandInCandidates {
    std::vector<std::string> names;
    size_t next = 0;
  };

  struct WriteTarget {
    std::string name;
    uint32_t slot = 0;
    bool stand_in = false;  // Holds the write as a hint for the slot's owner.
    ReplyState state = ReplyState::kPending;
  };
  struct WriteOp {
    uint64_t id = 0;
    std::string key;
    Consistency consistency;
    int64_t deadline_ms = 0;
    int64_t hint_after_ms = 0;  // 0: no hint-after timer armed.
    SlotList slots;
    absl::InlinedVector<WriteTarget, kInlineSlots + 1> targets;  // Self included.
    StandInCandidates candidates;
    uint32_t acks = 0;  // Slots acked.
    bool done_fired = false;
    storage::SiblingSet set;  // Kept for stand-ins until the request ends.
    SharedBytes encoded_set;  // Its bytes as stored here, or empty.
    storage::Dot dot;
    WriteCallback done;
    SettledCallback settled;
  };

  struct ReadTarget {
    std::string name;
    uint32_t slot = 0;
    bool stand_in = false;
    ReplyState state = ReplyState::kPending;
    bool found = false;
    // The replica's copy, kept to decide repairs; empty while the read's
    // merge is this copy itself (ReadOp::merged_from; TargetSet).
    storage::SiblingSet set;
    // Asked with the local copy's digest; then with same_as_local (a SAME
    // answer) `set` stays empty: the copy is the local target's.
    bool digest_sent = false;
    bool same_as_local = false;
  };
  struct ReadOp {
    uint64_t id = 0;
    std::string key;
    Consistency consistency;
    int64_t deadline_ms = 0;
    SlotList slots;
    absl::InlinedVector<ReadTarget, kInlineSlots + 1> targets;
    StandInCandidates candidates;
    uint32_t ok_slots = 0;
    bool found = false;
    bool done_fired = false;
    storage::SiblingSet merged;  // Merge of the successful replies so far.
    // The target whose set `merged` still is, exactly: the first reply
    // that held a record, moved in as it came (its own `set` is then
    // empty), while no other has been merged in (read repair then needs
    // no comparison with it). -1: none.
    int merged_from = -1;
    ReadCallback done;
    // Slots not asked yet, in the order they are to be asked.
    absl::InlinedVector<uint32_t, kInlineSlots> spares;
    size_t next_spare = 0;
    int64_t retry_at_ms = 0;  // 0: no retry timer armed.
    // This node's own read, once it succeeded: its target and its copy's
    // digest (set by the read, or when a replica is first asked with it).
    int local_target = -1;
    std::optional<ReadDigest> local_digest;
    bool digest_with_read = false;  // Take the digest with the local read.
  };

  // Hinted handoff to one target (coordinator_hints.cc).
  struct HintDelivery {
    bool has_hints = false;  // The store holds hints for it (as of the last look).
    bool active = false;     // A pass (batches back to back) is under way.
    storage::HintScanCursor cursor;
    uint32_t in_flight = 0;
    bool batch_failed = false;
    bool pass_progress = false;  // The pass got an ack for some hint.
    int64_t next_attempt_ms = 0;
    int64_t backoff_ms = 0;  // 0: the last attempt succeeded.
    uint64_t stored = 0;
    uint64_t refused = 0;
    uint64_t delivered = 0;
    uint64_t failures = 0;
  };
  struct HintPut {
    std::string target;
    std::string key;
    uint64_t version = 0;
    int64_t deadline_ms = 0;
  };

  uint64_t NextRequestId() { return next_request_id_++; }
  bool DeadlineLive(const TimerQueue::Entry& entry) const;
  bool HintAfterLive(const TimerQueue::Entry& entry) const;
  bool ReadRetryLive(const TimerQueue::Entry& entry) const;
  // Pops ended requests' entries off the front of every queue.
  void PruneTimers();
  void NoteTime(int64_t now_ms);
  // Member indexes of the whole preference list of `key`, from the cache.
  std::span<const uint32_t> PreferenceIndexes(std::string_view key) const;
  // Slots (first n, owners) and stand-in candidates (the rest) of `key`.
  void SlotsOf(std::string_view key, uint32_t n, SlotList* slots,
               StandInCandidates* candidates) const;
  // The next candidate that is not down, or nullptr.
  const std::string* NextStandIn(StandInCandidates* candidates) const;
  void Send(const std::string& to, Message message);
  void FailWriteNow(const storage::Status& status, uint32_t required, WriteCallback done,
                    SettledCallback settled);

  // Write path (coordinator side).
  void SendWriteTo(WriteOp* op, uint32_t slot, const std::string& name, bool stand_in);
  bool AssignWriteStandIn(WriteOp* op, uint32_t slot);
  void HandlePutReply(const std::string& from, const PutReply& reply, int64_t now_ms);
  void OnHintAfter(uint64_t id);
  void AdvanceWrite(uint64_t id);
  void FireWriteDone(WriteOp* op);
  void FinishWrite(WriteOp op);

  // Read path (coordinator side).
  bool AskAllSlots();
  uint32_t ReadsInFlightTo(const std::string& member) const;
  void EndReadSent(const ReadTarget& target);
  void AskReadSlot(ReadOp* op, uint32_t slot);
  bool AskSpare(ReadOp* op);
  // Asks up to `count` spares; stops when none is left.
  void AskSpares(ReadOp* op, uint32_t count);
  void OnReadRetry(uint64_t id);
  void AddReadTarget(ReadOp* op, uint32_t slot, const std::string& name, bool stand_in);
  bool AssignReadStandIn(ReadOp* op, uint32_t slot);
  void RecordReadReply(ReadOp* op, size_t target_index, bool ok, bool found,
                       storage::SiblingSet set, bool same_as_local = false);
  const ReadDigest& LocalDigest(ReadOp* op);
  // The copy target `target_index` answered with (empty if none).
  static const storage::SiblingSet& TargetSet(const ReadOp& op, size_t target_index);
  void HandleGetReply(const std::string& from, GetReply reply);
  void AdvanceRead(uint64_t id);
  void FireReadDone(ReadOp* op, bool move_set);
  void FinishRead(ReadOp op);
  void RepairReplicas(ReadOp* op);

  // Replica side.
  // This node's answer to a read of `key`: its record merged with every
  // hint it holds for the key. With `encoded` (only when encoded_records())
  // and no hint held for the key, the record's bytes go to *encoded instead
  // of being decoded into *set.
  // With `digest` and no hint held for the key, *digest is the record's
  // digest (ReplicaStore::ReadDigested); with hints it is left alone.
  storage::Status ReadWithHints(std::string_view key, storage::SiblingSet* set, bool* found,
                                std::string* encoded = nullptr,
                                std::optional<ReadDigest>* digest = nullptr);
  void ServePut(const std::string& from, const PutRequest& request, int64_t now_ms);
  void ServeGet(const std::string& from, const GetRequest& request);
  bool SameVersions(std::string_view key, const ReadDigest& digest);

  // Hinted handoff (coordinator_hints.cc).
  void StoreHint(const PutRequest& request, int64_t now_ms, PutReply* reply);
  void RefreshHintTargets();
  bool DeliveryDue(const std::string& target, const HintDelivery& delivery) const;
  void StartDeliveries(int64_t now_ms);
  void SendHintBatch(const std::string& target, int64_t now_ms);
  void FinishHintPut(uint64_t id, bool acked, int64_t now_ms);
  void EndHintBatch(const std::string& target, int64_t now_ms);
  void BackOff(HintDelivery* delivery, int64_t now_ms);
  void ExpireHints(int64_t now_ms);
  std::optional<int64_t> NextHintWorkMs() const;

  const std::string self_;
  ReplicaStore* const store_;  // Not owned.
  const CoordinatorOptions options_;
  const int64_t hint_after_ms_;  // Resolved from options_; 0: off.
  const int64_t read_retry_after_ms_;  // Resolved from options_; 0: off.
  uint64_t read_random_state_;         // read_repair_chance's draws (splitmix64).
  Ring ring_;
  // Every partition's preference list, computed once per ring so requests
  // do not allocate for it: partition p's list starts at p * members.
  std::vector<uint32_t> preference_lists_;
  std::set<std::string, std::less<>> down_;
  // Read requests sent to each member and not answered yet (AddReadTarget
  // counts up; RecordReadReply, or FinishRead for a request that ended
  // unanswered, counts down). A read that asks fewer than n slots asks
  // the members that are up with the fewest first.
  std::unordered_map<std::string, uint32_t> reads_sent_to_;
  uint64_t next_request_id_ = 1;
  int64_t last_now_ms_ = 0;
  // Node-based maps: an op's address stays valid while others come and go.
  std::unordered_map<uint64_t, WriteOp> writes_;
  std::unordered_map<uint64_t, ReadOp> reads_;
  std::unordered_map<uint64_t, HintPut> hint_puts_;
  // The deadline of every write, read and hint delivery; writes' hint-after
  // times; reads' retry times. An entry is live while its request is in
  // flight with that time (DeadlineLive, ...); others are skipped (see
  // timer_queue.h) and pruned off the front as requests end (PruneTimers).
  TimerQueue deadlines_;
  TimerQueue hint_after_;
  TimerQueue read_retry_;
  std::map<std::string, HintDelivery, std::less<>> deliveries_;  // By target.
  int64_t next_expiry_ms_ = 0;
  std::vector<Envelope> outbox_;
  CoordinatorStats stats_;
};

}  // namespace ringkv::cluster

#endif  // RINGKV_CLUSTER_COORDINATOR_H_
