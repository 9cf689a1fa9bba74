// cluster/coordinator.cc: the quorum state machines (see coordinator.h and
// docs/coordination.md).
//
// Every request lives in writes_ or reads_ under its id, with its deadline in
// deadlines_, until all its replicas replied or the deadline passed. Whatever
// ends a request first takes it out of both, then runs its callbacks, so a
// callback that starts new requests never sees a half-finished one.
#include "cluster/coordinator.h"

#include <cassert>
#include <utility>

#include "storage/engine.h"

namespace ringkv::cluster {

namespace {

[[maybe_unused]] bool ValidConsistency(const Consistency& consistency, size_t members) {
  return consistency.r >= 1 && consistency.w >= 1 && consistency.r <= consistency.n &&
         consistency.w <= consistency.n && consistency.n <= members;
}

}  // namespace

Coordinator::Coordinator(std::string self, ReplicaStore* store, CoordinatorOptions options)
    : self_(std::move(self)), store_(store), options_(options) {
  assert(store_ != nullptr);
  assert(options_.request_timeout_ms > 0);
}

void Coordinator::SetRing(const Ring& ring) {
  ring_ = ring;
  preference_lists_.clear();
  preference_lists_.reserve(size_t{ring_.partition_count()} * ring_.members().size());
  for (uint32_t partition = 0; partition < ring_.partition_count(); ++partition) {
    std::vector<uint32_t> list = ring_.PreferenceList(partition);
    assert(list.size() == ring_.members().size());
    preference_lists_.insert(preference_lists_.end(), list.begin(), list.end());
  }
}

std::span<const uint32_t> Coordinator::PreferenceIndexes(std::string_view key) const {
  assert(ring_.partition_count() > 0);
  const size_t members = ring_.members().size();
  const uint32_t partition = storage::PartitionOf(key, ring_.partition_count());
  return std::span<const uint32_t>(preference_lists_).subspan(partition * members, members);
}

std::vector<std::string> Coordinator::PreferenceNames(std::string_view key, uint32_t count) const {
  assert(count <= ring_.members().size());
  std::span<const uint32_t> indexes = PreferenceIndexes(key);
  std::vector<std::string> names;
  names.reserve(count);
  for (uint32_t i = 0; i < count; ++i) names.push_back(ring_.members()[indexes[i]].name);
  return names;
}

bool Coordinator::IsReplica(std::string_view key, uint32_t n) const {
  assert(n <= ring_.members().size());
  std::span<const uint32_t> indexes = PreferenceIndexes(key);
  for (uint32_t i = 0; i < n; ++i) {
    if (ring_.members()[indexes[i]].name == self_) return true;
  }
  return false;
}

void Coordinator::Send(const std::string& to, Message message) {
  assert(to != self_);
  outbox_.push_back(Envelope{to, std::move(message)});
}

std::vector<Envelope> Coordinator::TakeOutbox() {
  std::vector<Envelope> taken;
  taken.swap(outbox_);
  return taken;
}

std::optional<int64_t> Coordinator::NextDeadlineMs() const {
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
}

// ---------------------------------------------------------------------------
// Write path.

void Coordinator::Write(std::string_view key, storage::Sibling version,
                        const storage::VersionVector* context, Consistency consistency,
                        int64_t now_ms, WriteCallback done, SettledCallback settled) {
  assert(ValidConsistency(consistency, ring_.members().size()));
  assert(IsReplica(key, consistency.n));
  assert(done);
  ++stats_.writes;

  storage::SiblingSet set;
  bool found = false;
  storage::Status status = store_->Read(key, &set, &found);
  if (!status.ok()) return FailWriteNow(status, consistency.w, std::move(done), std::move(settled));
  // Without a client context the write supersedes everything this node has
  // seen: its own record's clock (a copy, since ApplyWrite changes the set).
  const storage::VersionVector local_context = context ? storage::VersionVector() : set.clock;
  const storage::Dot dot = storage::ApplyWrite(&set, context ? *context : local_context,
                                               store_->actor(), std::move(version));
  // The local merge must succeed before anything leaves this node: if it
  // failed after replicating, the next write here would reuse the dot.
  status = store_->Merge(key, set, nullptr);
  if (!status.ok()) return FailWriteNow(status, consistency.w, std::move(done), std::move(settled));

  const uint64_t id = NextRequestId();
  WriteOp op;
  op.consistency = consistency;
  op.deadline_ms = now_ms + options_.request_timeout_ms;
  op.dot = dot;
  op.done = std::move(done);
  op.settled = std::move(settled);
  std::span<const uint32_t> indexes = PreferenceIndexes(key);
  for (uint32_t i = 0; i < consistency.n; ++i) {
    WriteTarget target{ring_.members()[indexes[i]].name};
    if (target.name == self_) {
      target.state = ReplyState::kOk;
      ++op.acks;
      ++op.replies;
    } else {
      Send(target.name, PutRequest{id, std::string(key), set, {}});
    }
    op.targets.push_back(std::move(target));
  }
  assert(op.acks == 1);
  op.set = std::move(set);
  deadlines_.emplace(op.deadline_ms, id);
  writes_.emplace(id, std::move(op));
  AdvanceWrite(id);
}

void Coordinator::FailWriteNow(const storage::Status& status, uint32_t required, WriteCallback done,
                               SettledCallback settled) {
  ++stats_.store_errors;
  ++stats_.write_quorum_failures;
  WriteResult result;
  result.required = required;
  result.error = status.ToString();
  done(std::move(result));
  if (settled) settled(0);
}

void Coordinator::HandlePutReply(const std::string& from, const PutReply& reply) {
  auto it = writes_.find(reply.id);
  if (it == writes_.end()) return;  // Finished, expired, or a read repair's reply.
  WriteOp& op = it->second;
  for (WriteTarget& target : op.targets) {
    if (target.name != from) continue;
    if (target.state != ReplyState::kPending) return;  // A duplicate.
    target.state = reply.ok ? ReplyState::kOk : ReplyState::kFailed;
    ++op.replies;
    if (reply.ok) ++op.acks;
    AdvanceWrite(reply.id);
    return;
  }
}

// Fires what the replies so far decide: the end of the request once every
// replica replied, otherwise done() once w acks are reached or impossible.
void Coordinator::AdvanceWrite(uint64_t id) {
  auto it = writes_.find(id);
  assert(it != writes_.end());
  WriteOp& op = it->second;
  const uint32_t n = static_cast<uint32_t>(op.targets.size());
  assert(op.replies <= n && op.acks <= op.replies);
  if (op.replies == n) {
    WriteOp finished = std::move(op);
    deadlines_.erase({finished.deadline_ms, id});
    writes_.erase(it);
    FinishWrite(std::move(finished));
    return;
  }
  if (op.done_fired) return;
  const uint32_t pending = n - op.replies;
  if (op.acks >= op.consistency.w || op.acks + pending < op.consistency.w) FireWriteDone(&op);
}

void Coordinator::FireWriteDone(WriteOp* op) {
  assert(!op->done_fired);
  op->done_fired = true;
  WriteResult result;
  result.ok = op->acks >= op->consistency.w;
  result.acks = op->acks;
  result.required = op->consistency.w;
  result.set = std::move(op->set);
  result.dot = op->dot;
  if (!result.ok) ++stats_.write_quorum_failures;
  WriteCallback done = std::move(op->done);
  done(std::move(result));
}

// `op` has left writes_ and deadlines_: every replica replied or time is up.
void Coordinator::FinishWrite(WriteOp op) {
  if (!op.done_fired) FireWriteDone(&op);
  if (op.settled) op.settled(op.acks);
}

// ---------------------------------------------------------------------------
// Read path.

void Coordinator::Read(std::string_view key, Consistency consistency, int64_t now_ms,
                       ReadCallback done) {
  assert(ValidConsistency(consistency, ring_.members().size()));
  assert(done);
  ++stats_.reads;
  const uint64_t id = NextRequestId();
  ReadOp& op = reads_[id];
  op.key.assign(key);
  op.consistency = consistency;
  op.deadline_ms = now_ms + options_.request_timeout_ms;
  op.done = std::move(done);
  std::span<const uint32_t> indexes = PreferenceIndexes(key);
  op.targets.resize(consistency.n);
  for (uint32_t i = 0; i < consistency.n; ++i) {
    ReadTarget& target = op.targets[i];
    target.name = ring_.members()[indexes[i]].name;
    if (target.name == self_) {
      ReadLocal(key, &target, &op);
    } else {
      Send(target.name, GetRequest{id, std::string(key)});
    }
  }
  deadlines_.emplace(op.deadline_ms, id);
  AdvanceRead(id);
}

void Coordinator::ReadLocal(std::string_view key, ReadTarget* target, ReadOp* op) {
  storage::SiblingSet set;
  bool found = false;
  storage::Status status = store_->Read(key, &set, &found);
  if (!status.ok()) ++stats_.store_errors;
  RecordReadReply(op, target, status.ok(), found, std::move(set));
}

void Coordinator::RecordReadReply(ReadOp* op, ReadTarget* target, bool ok, bool found,
                                  storage::SiblingSet set) {
  assert(target->state == ReplyState::kPending);
  ++op->replies;
  if (!ok) {
    target->state = ReplyState::kFailed;
    return;
  }
  target->state = ReplyState::kOk;
  ++op->ok_replies;
  target->found = found;
  if (!found) return;
  op->found = true;
  storage::Merge(&op->merged, set);
  target->set = std::move(set);
}

void Coordinator::HandleGetReply(const std::string& from, GetReply reply) {
  auto it = reads_.find(reply.id);
  if (it == reads_.end()) return;  // Finished or expired.
  ReadOp& op = it->second;
  for (ReadTarget& target : op.targets) {
    if (target.name != from) continue;
    if (target.state != ReplyState::kPending) return;  // A duplicate.
    RecordReadReply(&op, &target, reply.ok, reply.found, std::move(reply.set));
    AdvanceRead(reply.id);
    return;
  }
}

// As AdvanceWrite, with r successful replies.
void Coordinator::AdvanceRead(uint64_t id) {
  auto it = reads_.find(id);
  assert(it != reads_.end());
  ReadOp& op = it->second;
  const uint32_t n = static_cast<uint32_t>(op.targets.size());
  assert(op.replies <= n && op.ok_replies <= op.replies);
  if (op.replies == n) {
    ReadOp finished = std::move(op);
    deadlines_.erase({finished.deadline_ms, id});
    reads_.erase(it);
    FinishRead(std::move(finished));
    return;
  }
  if (op.done_fired) return;
  const uint32_t pending = n - op.replies;
  if (op.ok_replies >= op.consistency.r || op.ok_replies + pending < op.consistency.r) {
    FireReadDone(&op, /*move_set=*/false);
  }
}

// `move_set`: the request is over and its merge is no longer needed.
void Coordinator::FireReadDone(ReadOp* op, bool move_set) {
  assert(!op->done_fired);
  op->done_fired = true;
  ReadResult result;
  result.ok = op->ok_replies >= op->consistency.r;
  result.found = op->found;
  result.replies = op->ok_replies;
  result.required = op->consistency.r;
  result.set = move_set ? std::move(op->merged) : op->merged;
  if (!result.ok) ++stats_.read_quorum_failures;
  ReadCallback done = std::move(op->done);
  done(std::move(result));
}

// `op` has left reads_ and deadlines_: every replica replied or time is up.
void Coordinator::FinishRead(ReadOp op) {
  RepairReplicas(&op);
  if (!op.done_fired) FireReadDone(&op, /*move_set=*/true);
}

// Read repair: every replica that replied with something other than the
// merge of all replies gets the merge. Merging is idempotent, so a replica
// that caught up meanwhile loses nothing; replicas that never replied are
// left to anti-entropy.
void Coordinator::RepairReplicas(ReadOp* op) {
  if (!op->found) return;  // Nobody holds a record: nothing to spread.
  for (ReadTarget& target : op->targets) {
    if (target.state != ReplyState::kOk) continue;
    if (target.found && target.set == op->merged) continue;
    ++stats_.read_repairs;
    if (target.name == self_) {
      storage::Status status = store_->Merge(op->key, op->merged, nullptr);
      if (!status.ok()) ++stats_.store_errors;
    } else {
      Send(target.name, PutRequest{NextRequestId(), op->key, op->merged, {}});
    }
  }
}

// ---------------------------------------------------------------------------
// Replica side, dispatch and time.

void Coordinator::ServePut(const std::string& from, const PutRequest& request) {
  ++stats_.puts_served;
  PutReply reply;
  reply.id = request.id;
  if (!request.hint_for.empty()) {
    // Hinted handoff (sloppy quorum) comes with its own store; a hint merged
    // here as if this node were a replica would never be handed back.
    reply.error = "hinted handoff is not supported";
  } else {
    storage::Status status = store_->Merge(request.key, request.set, nullptr);
    reply.ok = status.ok();
    if (!status.ok()) {
      ++stats_.store_errors;
      reply.error = status.ToString();
    }
  }
  Send(from, std::move(reply));
}

void Coordinator::ServeGet(const std::string& from, const GetRequest& request) {
  ++stats_.gets_served;
  GetReply reply;
  reply.id = request.id;
  storage::Status status = store_->Read(request.key, &reply.set, &reply.found);
  reply.ok = status.ok();
  if (!status.ok()) {
    ++stats_.store_errors;
    reply.found = false;
    reply.set = {};
    reply.error = status.ToString();
  }
  Send(from, std::move(reply));
}

void Coordinator::OnMessage(const std::string& from, Message message,
                            [[maybe_unused]] int64_t now_ms) {
  assert(from != self_);
  if (auto* put = std::get_if<PutRequest>(&message)) {
    ServePut(from, *put);
  } else if (auto* get = std::get_if<GetRequest>(&message)) {
    ServeGet(from, *get);
  } else if (auto* put_reply = std::get_if<PutReply>(&message)) {
    HandlePutReply(from, *put_reply);
  } else if (auto* get_reply = std::get_if<GetReply>(&message)) {
    HandleGetReply(from, std::move(*get_reply));
  }
}

void Coordinator::OnTick(int64_t now_ms) {
  // Each expired request leaves the maps before its callbacks run; requests
  // those callbacks start expire later (the timeout is positive).
  while (!deadlines_.empty() && deadlines_.begin()->first <= now_ms) {
    const uint64_t id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    if (auto write = writes_.find(id); write != writes_.end()) {
      WriteOp op = std::move(write->second);
      writes_.erase(write);
      FinishWrite(std::move(op));
    } else if (auto read = reads_.find(id); read != reads_.end()) {
      ReadOp op = std::move(read->second);
      reads_.erase(read);
      FinishRead(std::move(op));
    } else {
      assert(false && "a deadline without its request");
    }
  }
}

}  // namespace ringkv::cluster
