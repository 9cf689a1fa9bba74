// cluster/coordinator.h: quorum writes and reads, and the replica side of
// the peer protocol, as a pure (sans-I/O) state machine. One per node.
//
// Inputs are calls that carry `now_ms`: Write, Read, OnMessage (a peer's
// message arrived) and OnTick (time passed). Outputs are messages in an
// outbox (TakeOutbox) and completion callbacks. The Coordinator never
// touches a socket, a timer or the clock: an adapter binds it to libuv, and
// the deterministic simulator (tests/unit/cluster/simulation_test.cc) to a
// fake network and clock. docs/coordination.md describes the protocol.
//
// Writes: the coordinator must be one of the key's first n replicas. It
// applies the write to its own record with a fresh dot of its actor (the
// caller's context, or its own record's clock, decides which siblings the
// write supersedes), merges the result locally (the first ack) and sends the
// new sibling set to the other n-1 replicas. done() fires once: at the w-th
// ack (ok), or with ok=false as soon as w acks have become impossible or at
// the deadline. settled() fires once, when all n replicas replied or at the
// deadline, with the total number of acks (for Redis's WAIT).
//
// Reads: any node coordinates. It asks the first n replicas (reading its own
// store directly when it is one of them) and done() fires once: at the r-th
// reply with the merge of the replies so far, or with ok=false as soon as r
// replies have become impossible or at the deadline. The read stays alive
// until all n replied or the deadline, then repairs every replica whose copy
// differs from the merge of all replies (read repair).
//
// Driving it from an event loop: after every call (Write, Read, OnMessage,
// OnTick), send what TakeOutbox() returns and re-arm one timer at
// NextDeadlineMs(); when it fires, call OnTick(now). OnMessage's `from` must
// be the authenticated name of the peer the message came on. An adapter that
// cannot send a request (peer down, queue full) may drop it, and the request
// waits for its deadline; or it may answer it at once with a failed reply
// from that peer (PutReply/GetReply with the request's id and ok = false),
// which fails the request early when its quorum becomes impossible.
//
// Ownership: the ReplicaStore is not owned and must outlive the Coordinator.
// Callbacks run inside the call that completes them (Write, Read, OnMessage
// or OnTick). REQUIRES: a callback may call Write, Read, TakeOutbox and the
// accessors, but not OnMessage, OnTick or SetRing.
//
// Thread safety: none; the loop thread only.
#ifndef RINGKV_CLUSTER_COORDINATOR_H_
#define RINGKV_CLUSTER_COORDINATOR_H_

#include <cstdint>
#include <functional>
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
#include "storage/sibling_set.h"
#include "storage/version_vector.h"

namespace ringkv::cluster {

// Replication factor and quorums of one request. REQUIRES (validated by the
// caller, e.g. the config or CONSISTENCY): 1 <= r, w <= n <= ring members.
struct Consistency {
  uint32_t n = 3;
  uint32_t w = 2;
  uint32_t r = 2;
};

struct CoordinatorOptions {
  // How long a request waits for its quorum (and its stragglers) before it
  // gives up. REQUIRES: > 0.
  int64_t request_timeout_ms = 1000;
};

struct WriteResult {
  bool ok = false;          // At least `required` replicas acknowledged.
  uint32_t acks = 0;        // Replicas that acknowledged when done() fired.
  uint32_t required = 0;    // w.
  storage::SiblingSet set;  // The sibling set the write produced and replicated.
  storage::Dot dot;         // The new version's dot.
  std::string error;        // Set only when the local store failed (no dot then).
};

struct ReadResult {
  bool ok = false;          // At least `required` replicas replied.
  bool found = false;       // Some replica that replied holds a record.
  uint32_t replies = 0;     // Successful replies merged into `set`.
  uint32_t required = 0;    // r.
  storage::SiblingSet set;  // Merge of the replies; its clock is the context.
};

struct CoordinatorStats {
  uint64_t writes = 0;  // Writes coordinated (started).
  uint64_t reads = 0;   // Reads coordinated (started).
  uint64_t write_quorum_failures = 0;
  uint64_t read_quorum_failures = 0;
  uint64_t read_repairs = 0;  // Stale replicas repaired (remote puts + local merges).
  uint64_t puts_served = 0;   // PutRequests handled as a replica.
  uint64_t gets_served = 0;   // GetRequests handled as a replica.
  uint64_t store_errors = 0;  // Local store failures, on any path.
};

class Coordinator {
 public:
  using WriteCallback = std::function<void(WriteResult)>;
  using SettledCallback = std::function<void(uint32_t total_acks)>;
  using ReadCallback = std::function<void(ReadResult)>;

  // `store` is not owned and must outlive this object.
  Coordinator(std::string self, ReplicaStore* store, CoordinatorOptions options = {});

  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Replaces the ring (copied). Requests in flight keep the replicas they
  // started with.
  void SetRing(const Ring& ring);
  const Ring& ring() const { return ring_; }
  const std::string& self() const { return self_; }

  // The first `count` member names of the preference list of `key`.
  // REQUIRES: a ring is set and count <= ring().members().size().
  std::vector<std::string> PreferenceNames(std::string_view key, uint32_t count) const;
  // True if this node is among the first n of the preference list of `key`,
  // i.e. may coordinate a write to it.
  bool IsReplica(std::string_view key, uint32_t n) const;

  // Writes `version` (its dot is ignored) to `key`. `context` is the version
  // vector the client read (VSET, VDEL); nullptr means this node's own record
  // clock, so the write supersedes every sibling this node has seen (SET,
  // DEL). `settled` may be empty. REQUIRES: IsReplica(key, consistency.n).
  void Write(std::string_view key, storage::Sibling version, const storage::VersionVector* context,
             Consistency consistency, int64_t now_ms, WriteCallback done,
             SettledCallback settled = {});

  // Reads `key` from its first n replicas (see the file comment).
  void Read(std::string_view key, Consistency consistency, int64_t now_ms, ReadCallback done);

  // A message from peer `from`: a request served as a replica (the reply
  // goes to the outbox) or a reply to one of our requests. Replies with an
  // unknown id, of the wrong kind, from a node the request was not sent to,
  // or from a node that already replied are ignored.
  void OnMessage(const std::string& from, Message message, int64_t now_ms);

  // Ends the requests whose deadline is at or before `now_ms`.
  void OnTick(int64_t now_ms);

  // The earliest deadline of a request in flight; nullopt if none.
  std::optional<int64_t> NextDeadlineMs() const;

  // The messages produced since the last call, in order. Never addressed to
  // this node.
  std::vector<Envelope> TakeOutbox();

  const CoordinatorStats& stats() const { return stats_; }
  size_t writes_in_flight() const { return writes_.size(); }
  size_t reads_in_flight() const { return reads_.size(); }

 private:
  enum class ReplyState : uint8_t { kPending, kOk, kFailed };

  struct WriteTarget {
    std::string name;
    ReplyState state = ReplyState::kPending;
  };
  struct WriteOp {
    Consistency consistency;
    int64_t deadline_ms = 0;
    std::vector<WriteTarget> targets;  // The first n replicas, self included.
    uint32_t acks = 0;
    uint32_t replies = 0;  // Acks and failures.
    bool done_fired = false;
    storage::SiblingSet set;  // Moved into the result when done() fires.
    storage::Dot dot;
    WriteCallback done;
    SettledCallback settled;
  };

  struct ReadTarget {
    std::string name;
    ReplyState state = ReplyState::kPending;
    bool found = false;
    storage::SiblingSet set;  // The replica's copy, kept to decide repairs.
  };
  struct ReadOp {
    std::string key;
    Consistency consistency;
    int64_t deadline_ms = 0;
    std::vector<ReadTarget> targets;  // The first n replicas.
    uint32_t ok_replies = 0;
    uint32_t replies = 0;  // Successes and failures.
    bool found = false;
    bool done_fired = false;
    storage::SiblingSet merged;  // Merge of the successful replies so far.
    ReadCallback done;
  };

  uint64_t NextRequestId() { return next_request_id_++; }
  // Member indexes of the whole preference list of `key`, from the cache.
  std::span<const uint32_t> PreferenceIndexes(std::string_view key) const;
  void Send(const std::string& to, Message message);
  void FailWriteNow(const storage::Status& status, uint32_t required, WriteCallback done,
                    SettledCallback settled);

  // Write path (coordinator side).
  void HandlePutReply(const std::string& from, const PutReply& reply);
  void AdvanceWrite(uint64_t id);
  void FireWriteDone(WriteOp* op);
  void FinishWrite(WriteOp op);

  // Read path (coordinator side).
  void ReadLocal(std::string_view key, ReadTarget* target, ReadOp* op);
  void RecordReadReply(ReadOp* op, ReadTarget* target, bool ok, bool found,
                       storage::SiblingSet set);
  void HandleGetReply(const std::string& from, GetReply reply);
  void AdvanceRead(uint64_t id);
  void FireReadDone(ReadOp* op, bool move_set);
  void FinishRead(ReadOp op);
  void RepairReplicas(ReadOp* op);

  // Replica side.
  void ServePut(const std::string& from, const PutRequest& request);
  void ServeGet(const std::string& from, const GetRequest& request);

  const std::string self_;
  ReplicaStore* const store_;  // Not owned.
  const CoordinatorOptions options_;
  Ring ring_;
  // Every partition's preference list, computed once per ring so requests
  // do not allocate for it: partition p's list starts at p * members.
  std::vector<uint32_t> preference_lists_;
  uint64_t next_request_id_ = 1;
  // Node-based maps: an op's address stays valid while others come and go.
  std::unordered_map<uint64_t, WriteOp> writes_;
  std::unordered_map<uint64_t, ReadOp> reads_;
  std::set<std::pair<int64_t, uint64_t>> deadlines_;  // (deadline_ms, request id).
  std::vector<Envelope> outbox_;
  CoordinatorStats stats_;
};

}  // namespace ringkv::cluster

#endif  // RINGKV_CLUSTER_COORDINATOR_H_
