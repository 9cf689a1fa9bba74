// cluster/coordinator_read.cc: the Coordinator's read path (see
// coordinator.h and docs/coordination.md, "Read path" and "Read repair"):
// which slots a read asks, spares and the speculative retry, conditional
// reads (the local copy's digest), the merge of the replies and read repair.
// The requests' bookkeeping (reads_, deadlines_, read_retry_) is shared with
// coordinator.cc, whose header comment describes it.
#include <algorithm>
#include <cassert>
#include <utility>

#include "cluster/coordinator.h"

namespace ringkv::cluster {

void Coordinator::Read(std::string_view key, Consistency consistency, int64_t now_ms,
                       ReadCallback done) {
  assert(consistency.ValidFor(ring_.members().size()));
  assert(done);
  NoteTime(now_ms);
  ++stats_.reads;
  const uint64_t id = NextRequestId();
  ReadOp& op = reads_[id];
  op.id = id;
  op.key.assign(key);
  op.consistency = consistency;
  op.deadline_ms = now_ms + options_.request_timeout_ms;
  op.done = std::move(done);
  SlotsOf(key, consistency.n, &op.slots, &op.candidates);
  op.targets.reserve(consistency.n + 1);  // Room for a stand-in without moving.
  deadlines_.Push(op.deadline_ms, id);
  const bool all_slots = consistency.r >= consistency.n || AskAllSlots();
  // Other replicas are asked right after the local read when more than one
  // slot is: its digest is then taken from the stored bytes as they are read
  // (a spare asked later gets it by LocalDigest).
  op.digest_with_read = options_.read_digests && (all_slots ? consistency.n : consistency.r) > 1;
  if (all_slots) {
    ++stats_.reads_all_slots;
    // This node's own slot first: its copy's digest then goes with the
    // requests to the others.
    for (uint32_t i = 0; i < consistency.n; ++i) {
      if (op.slots[i].owner == self_) AskReadSlot(&op, i);
    }
    for (uint32_t i = 0; i < consistency.n; ++i) {
      if (op.slots[i].owner != self_) AskReadSlot(&op, i);
    }
  } else {
    // Ask r slots, cheapest and likeliest first: this node's own, then
    // owners not down, then down ones (their stand-ins); the rest are
    // spares, set before anything is asked (a failed local read takes one).
    // A stable sort by rank, one pass per rank, without the allocations
    // of a sort (this runs for every read).
    absl::InlinedVector<uint32_t, 2 * kInlineSlots> order;
    order.reserve(consistency.n);
    for (uint32_t i = 0; i < consistency.n; ++i) {
      if (op.slots[i].owner == self_) order.push_back(i);
    }
    for (const bool down : {false, true}) {
      const size_t first = order.size();
      for (uint32_t i = 0; i < consistency.n; ++i) {
        const std::string& owner = op.slots[i].owner;
        if (owner != self_ && IsDown(owner) == down) order.push_back(i);
      }
      if (down) continue;
      // Owners that are up, by reads in flight to them, fewest first (ties
      // in preference-list order): a replica that is slow to answer, or
      // paused, gets fewer of the next reads; the rest become spares.
      // An insertion sort: there are n - 1 at most.
      for (size_t k = first + 1; k < order.size(); ++k) {
        const uint32_t slot = order[k];
        const uint32_t in_flight = ReadsInFlightTo(op.slots[slot].owner);
        size_t j = k;
        for (; j > first && ReadsInFlightTo(op.slots[order[j - 1]].owner) > in_flight; --j) {
          order[j] = order[j - 1];
        }
        order[j] = slot;
      }
    }
    op.spares.assign(order.begin() + consistency.r, order.end());
    if (read_retry_after_ms_ > 0) {
      op.retry_at_ms = now_ms + read_retry_after_ms_;
      read_retry_.Push(op.retry_at_ms, id);
    }
    for (uint32_t k = 0; k < consistency.r; ++k) AskReadSlot(&op, order[k]);
  }
  AdvanceRead(id);
}

uint32_t Coordinator::ReadsInFlightTo(const std::string& member) const {
  auto it = reads_sent_to_.find(member);
  return it == reads_sent_to_.end() ? 0 : it->second;
}

// A remote target's request is over: answered, failed, or given up on.
void Coordinator::EndReadSent(const ReadTarget& target) {
  if (target.name == self_) return;
  auto it = reads_sent_to_.find(target.name);
  assert(it != reads_sent_to_.end() && it->second > 0);
  --it->second;  // Kept at 0: members are few, and they come back.
}

// read_repair_chance's draw for one read.
bool Coordinator::AskAllSlots() {
  if (options_.read_repair_chance >= 1) return true;
  if (options_.read_repair_chance <= 0) return false;
  // splitmix64: deterministic per node name, so simulations replay.
  uint64_t z = (read_random_state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53 < options_.read_repair_chance;
}

// Asks `slot`'s owner, or its stand-in when the owner is down (sloppy
// quorum); this node reads its own store at once.
void Coordinator::AskReadSlot(ReadOp* op, uint32_t slot) {
  const std::string& owner = op->slots[slot].owner;
  if (owner != self_ && options_.sloppy_quorum && IsDown(owner)) {
    AssignReadStandIn(op, slot);
  } else {
    AddReadTarget(op, slot, owner, /*stand_in=*/false);
  }
}

// Asks the next spare slot that can be asked; false if none is left.
bool Coordinator::AskSpare(ReadOp* op) {
  while (op->next_spare < op->spares.size()) {
    const uint32_t slot = op->spares[op->next_spare++];
    ++stats_.read_spares_asked;
    const size_t before = op->targets.size();
    AskReadSlot(op, slot);
    if (op->targets.size() > before) return true;
  }
  return false;
}

void Coordinator::AskSpares(ReadOp* op, uint32_t count) {
  for (; count > 0; --count) {
    if (!AskSpare(op)) return;
  }
}

// The speculative retry: a read still short of r answered slots asks as
// many spares as answers are missing.
void Coordinator::OnReadRetry(uint64_t id) {
  auto it = reads_.find(id);
  if (it == reads_.end()) return;
  ReadOp& op = it->second;
  op.retry_at_ms = 0;
  if (op.done_fired) return;
  AskSpares(&op, op.consistency.r - op.ok_slots);
  AdvanceRead(id);
}

// Asks `name` for the key on behalf of `slot`; this node reads its own
// store at once.
void Coordinator::AddReadTarget(ReadOp* op, uint32_t slot, const std::string& name, bool stand_in) {
  ReadTarget target;
  target.name = name;
  target.slot = slot;
  target.stand_in = stand_in;
  op->targets.push_back(std::move(target));
  ++op->slots[slot].pending;
  if (stand_in) {
    op->slots[slot].stand_in_used = true;
    ++stats_.read_stand_ins;
  }
  if (name != self_) {
    GetRequest request{op->id, op->key, std::nullopt};
    if (options_.read_digests && op->local_target >= 0) {
      request.digest = LocalDigest(op);
      op->targets.back().digest_sent = true;
    }
    ++reads_sent_to_[name];
    Send(name, std::move(request));
    return;
  }
  storage::SiblingSet set;
  bool found = false;
  std::optional<ReadDigest> digest;
  storage::Status status =
      ReadWithHints(op->key, &set, &found, nullptr, op->digest_with_read ? &digest : nullptr);
  if (!status.ok()) ++stats_.store_errors;
  if (status.ok() && op->local_target < 0) {
    op->local_target = static_cast<int>(op->targets.size() - 1);
    op->local_digest = digest;
  }
  RecordReadReply(op, op->targets.size() - 1, status.ok(), found, std::move(set));
}

// The digest of this node's copy as a replica would send it: the stored
// bytes' (from the read), or the set encoded when hints were merged into
// it; no bytes for no record.
const ReadDigest& Coordinator::LocalDigest(ReadOp* op) {
  if (!op->local_digest) {
    const ReadTarget& local = op->targets[static_cast<size_t>(op->local_target)];
    std::string bytes;
    if (local.found) {
      storage::EncodeSiblingSet(TargetSet(*op, static_cast<size_t>(op->local_target)), &bytes);
    }
    op->local_digest = DigestOf(bytes);
    assert(op->local_digest);  // Our own encoding parses.
  }
  return *op->local_digest;
}

bool Coordinator::AssignReadStandIn(ReadOp* op, uint32_t slot) {
  const std::string* name = NextStandIn(&op->candidates);
  if (name == nullptr) return false;
  AddReadTarget(op, slot, *name, /*stand_in=*/true);
  return true;
}

void Coordinator::RecordReadReply(ReadOp* op, size_t target_index, bool ok, bool found,
                                  storage::SiblingSet set, bool same_as_local) {
  ReadTarget& target = op->targets[target_index];
  assert(target.state == ReplyState::kPending);
  EndReadSent(target);
  Slot& slot = op->slots[target.slot];
  --slot.pending;
  if (!ok) {
    target.state = ReplyState::kFailed;
    // An owner that was not asked yet beats a stand-in: AdvanceRead asks
    // a spare while there is one. May add targets (and read this node's
    // store at once).
    if (!slot.answered && slot.pending == 0 && op->next_spare >= op->spares.size()) {
      AssignReadStandIn(op, target.slot);
    }
    return;
  }
  target.state = ReplyState::kOk;
  if (!slot.answered) ++op->ok_slots;
  slot.answered = true;
  if (!target.stand_in) slot.by_owner = true;
  target.found = found;
  target.same_as_local = same_as_local;
  if (!found) return;
  const bool first = !op->found;
  op->found = true;
  if (same_as_local) return;  // The local copy is merged already.
  if (first) {
    // The merge of one set is that set: moved in as it is, the target's
    // own copy left empty while merged_from names it (TargetSet).
    op->merged = std::move(set);
    op->merged_from = static_cast<int>(target_index);
    return;
  }
  if (op->merged_from >= 0) {
    // Another set joins the merge: the first one's target gets its copy
    // back, for read repair's comparison.
    op->targets[static_cast<size_t>(op->merged_from)].set = op->merged;
    op->merged_from = -1;
  }
  storage::Merge(&op->merged, set);
  target.set = std::move(set);
}

const storage::SiblingSet& Coordinator::TargetSet(const ReadOp& op, size_t target_index) {
  return static_cast<int>(target_index) == op.merged_from ? op.merged
                                                          : op.targets[target_index].set;
}

void Coordinator::HandleGetReply(const std::string& from, GetReply reply) {
  auto it = reads_.find(reply.id);
  if (it == reads_.end()) return;  // Finished or expired.
  ReadOp& op = it->second;
  for (size_t i = 0; i < op.targets.size(); ++i) {
    if (op.targets[i].name != from) continue;
    if (op.targets[i].state != ReplyState::kPending) return;  // A duplicate.
    if (reply.ok && reply.same) {
      // SAME answers a digest; one to a request that sent none is a failure.
      const bool answered = op.targets[i].digest_sent;
      if (answered) ++stats_.read_digests_same;
      const bool local_found = answered && op.targets[static_cast<size_t>(op.local_target)].found;
      RecordReadReply(&op, i, answered, local_found, {}, /*same_as_local=*/answered);
    } else {
      if (reply.ok && op.targets[i].digest_sent) ++stats_.read_digests_differ;
      RecordReadReply(&op, i, reply.ok, reply.found, std::move(reply.set));
    }
    AdvanceRead(reply.id);
    return;
  }
}

// As AdvanceWrite, with r answered slots; a read ends only when every
// request it sent was answered (or at the deadline), for read repair.
void Coordinator::AdvanceRead(uint64_t id) {
  auto it = reads_.find(id);
  assert(it != reads_.end());
  ReadOp& op = it->second;
  uint32_t waiting = 0;
  uint32_t pending = 0;
  auto count = [&op, &waiting, &pending] {
    waiting = pending = 0;
    for (const Slot& slot : op.slots) {
      pending += slot.pending;
      if (!slot.answered && slot.pending > 0) ++waiting;
    }
  };
  count();
  if (!op.done_fired && op.ok_slots + waiting < op.consistency.r &&
      op.next_spare < op.spares.size()) {
    // Failed slots: ask spares in their place while r is short.
    AskSpares(&op, op.consistency.r - op.ok_slots - waiting);
    count();
  }
  if (pending == 0) {
    ReadOp finished = std::move(op);
    reads_.erase(it);
    PruneTimers();
    FinishRead(std::move(finished));
    return;
  }
  if (op.done_fired) return;
  if (op.ok_slots >= op.consistency.r || op.ok_slots + waiting < op.consistency.r) {
    FireReadDone(&op, /*move_set=*/false);
  }
}

// `move_set`: the request is over and its merge is no longer needed.
void Coordinator::FireReadDone(ReadOp* op, bool move_set) {
  assert(!op->done_fired);
  op->done_fired = true;
  ReadResult result;
  result.ok = op->ok_slots >= op->consistency.r;
  result.found = op->found;
  result.replies = op->ok_slots;
  for (const Slot& slot : op->slots) {
    if (slot.answered && !slot.by_owner) ++result.stand_in_replies;
  }
  result.required = op->consistency.r;
  result.set = move_set ? std::move(op->merged) : op->merged;
  if (!result.ok) ++stats_.read_quorum_failures;
  ReadCallback done = std::move(op->done);
  done(std::move(result));
}

// `op` has left reads_ and deadlines_: every request was answered or time
// is up.
void Coordinator::FinishRead(ReadOp op) {
  for (const ReadTarget& target : op.targets) {
    if (target.state == ReplyState::kPending) EndReadSent(target);
  }
  RepairReplicas(&op);
  if (!op.done_fired) FireReadDone(&op, /*move_set=*/true);
}

// Read repair: every owner that replied with something other than the merge
// of all replies gets the merge. Merging is idempotent, so an owner that
// caught up meanwhile loses nothing; owners that never replied are left to
// hinted handoff and anti-entropy. Stand-ins are never repaired: a record
// written on a node that does not own the key would never be handed back
// (and their hints reach the owners anyway, through the merge sent here and
// through delivery).
void Coordinator::RepairReplicas(ReadOp* op) {
  if (!op->found) return;  // Nobody holds a record: nothing to spread.
  for (size_t i = 0; i < op->targets.size(); ++i) {
    const ReadTarget& target = op->targets[i];
    if (target.stand_in || target.state != ReplyState::kOk) continue;
    // A replica that answered SAME holds the local copy.
    const int source = target.same_as_local ? op->local_target : static_cast<int>(i);
    if (target.found &&
        (source == op->merged_from || op->targets[static_cast<size_t>(source)].set == op->merged)) {
      continue;
    }
    ++stats_.read_repairs;
    if (target.name == self_) {
      storage::Status status = store_->Merge(op->key, op->merged, nullptr);
      if (!status.ok()) ++stats_.store_errors;
    } else {
      Send(target.name, PutRequest{NextRequestId(), op->key, op->merged, {}});
    }
  }
}

}  // namespace ringkv::cluster
