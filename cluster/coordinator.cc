// cluster/coordinator.cc: the quorum state machines with their sloppy
// quorum (see coordinator.h and docs/coordination.md). Hinted handoff (the
// hints this node holds, their delivery and expiry) is in
// coordinator_hints.cc.
//
// Every request lives in writes_ or reads_ under its id, with its deadline in
// deadlines_ (a write's hint-after time in hint_after_, a read's retry time
// in read_retry_), until no slot waits for an answer any more or the
// deadline passed. Whatever ends a request first takes it out of its map
// (its queue entries are then stale, skipped and pruned), then runs its
// callbacks, so a callback that starts new requests never sees a
// half-finished one.
#include "cluster/coordinator.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "storage/engine.h"

namespace ringkv::cluster {

namespace {

[[maybe_unused]] bool ValidConsistency(const Consistency& consistency, size_t members) {
  return consistency.r >= 1 && consistency.w >= 1 && consistency.r <= consistency.n &&
         consistency.w <= consistency.n && consistency.n <= members;
}

// A delay within a request: `after_ms` if it ends before the request's
// deadline, else 0 (off).
int64_t WithinTimeout(int64_t after_ms, const CoordinatorOptions& options) {
  return after_ms > 0 && after_ms < options.request_timeout_ms ? after_ms : 0;
}

int64_t ResolveHintAfter(const CoordinatorOptions& options) {
  return WithinTimeout(
      options.hint_after_ms == 0 ? options.request_timeout_ms / 2 : options.hint_after_ms, options);
}

}  // namespace

Coordinator::Coordinator(std::string self, ReplicaStore* store, CoordinatorOptions options)
    : self_(std::move(self)),
      store_(store),
      options_(options),
      hint_after_ms_(ResolveHintAfter(options)),
      read_retry_after_ms_(WithinTimeout(options.read_retry_after_ms, options)),
      read_random_state_(std::hash<std::string>()(self_)) {
  assert(store_ != nullptr);
  assert(options_.read_repair_chance >= 0 && options_.read_repair_chance <= 1);
  assert(options_.request_timeout_ms > 0);
  assert(options_.hint_delivery_count_max > 0);
  assert(options_.hint_retry_min_ms > 0 &&
         options_.hint_retry_min_ms <= options_.hint_retry_max_ms);
  assert(options_.hint_expiry_interval_ms > 0);
  RefreshHintTargets();
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

void Coordinator::NoteTime(int64_t now_ms) { last_now_ms_ = std::max(last_now_ms_, now_ms); }

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

std::vector<std::string> Coordinator::HealthyReplicaNames(std::string_view key, uint32_t n) const {
  std::vector<std::string> names = PreferenceNames(key, n);
  std::erase_if(names, [this](const std::string& name) { return IsDown(name); });
  return names;
}

void Coordinator::SlotsOf(std::string_view key, uint32_t n, std::vector<Slot>* slots,
                          StandInCandidates* candidates) const {
  std::span<const uint32_t> indexes = PreferenceIndexes(key);
  slots->resize(n);
  for (uint32_t i = 0; i < n; ++i) (*slots)[i].owner = ring_.members()[indexes[i]].name;
  candidates->names.clear();
  candidates->next = 0;
  for (size_t i = n; i < indexes.size(); ++i) {
    candidates->names.push_back(ring_.members()[indexes[i]].name);
  }
}

const std::string* Coordinator::NextStandIn(StandInCandidates* candidates) const {
  if (!options_.sloppy_quorum) return nullptr;
  while (candidates->next < candidates->names.size()) {
    const std::string& name = candidates->names[candidates->next++];
    if (!IsDown(name)) return &name;
  }
  return nullptr;
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

void Coordinator::TakeOutbox(std::vector<Envelope>* taken) {
  taken->clear();
  taken->swap(outbox_);
}

bool Coordinator::DeadlineLive(const TimerQueue::Entry& entry) const {
  if (auto write = writes_.find(entry.id); write != writes_.end()) {
    return write->second.deadline_ms == entry.time_ms;
  }
  if (auto read = reads_.find(entry.id); read != reads_.end()) {
    return read->second.deadline_ms == entry.time_ms;
  }
  auto put = hint_puts_.find(entry.id);
  return put != hint_puts_.end() && put->second.deadline_ms == entry.time_ms;
}

bool Coordinator::HintAfterLive(const TimerQueue::Entry& entry) const {
  auto write = writes_.find(entry.id);
  return write != writes_.end() && write->second.hint_after_ms == entry.time_ms;
}

bool Coordinator::ReadRetryLive(const TimerQueue::Entry& entry) const {
  auto read = reads_.find(entry.id);
  return read != reads_.end() && read->second.retry_at_ms == entry.time_ms;
}

void Coordinator::PruneTimers() {
  deadlines_.PopWhile([this](const TimerQueue::Entry& entry) { return !DeadlineLive(entry); });
  hint_after_.PopWhile([this](const TimerQueue::Entry& entry) { return !HintAfterLive(entry); });
  read_retry_.PopWhile([this](const TimerQueue::Entry& entry) { return !ReadRetryLive(entry); });
}

std::optional<int64_t> Coordinator::NextDeadlineMs() const {
  std::optional<int64_t> next = NextHintWorkMs();
  auto consider = [&next](int64_t time_ms) {
    if (!next || time_ms < *next) next = time_ms;
  };
  // Fronts are live (PruneTimers runs whenever a request ends), or at worst
  // an early wake-up that OnTick skips.
  if (!deadlines_.empty()) consider(deadlines_.front().time_ms);
  if (!hint_after_.empty()) consider(hint_after_.front().time_ms);
  if (!read_retry_.empty()) consider(read_retry_.front().time_ms);
  return next;
}

// ---------------------------------------------------------------------------
// Write path.

void Coordinator::Write(std::string_view key, storage::Sibling version,
                        const storage::VersionVector* context, Consistency consistency,
                        int64_t now_ms, WriteCallback done, SettledCallback settled) {
  assert(ValidConsistency(consistency, ring_.members().size()));
  assert(IsReplica(key, consistency.n));
  assert(done);
  NoteTime(now_ms);
  ++stats_.writes;

  // The new version supersedes what the client's context covers, or
  // without one everything this node has seen (its own record's clock, a
  // copy, since ApplyWrite changes the set). The local store must succeed
  // before anything leaves this node: if it failed after replicating, the
  // next write here would reuse the dot.
  storage::SiblingSet set;
  std::string encoded;  // The record's bytes as stored, when the store has them.
  storage::Dot dot;
  struct Apply {
    const storage::VersionVector* context;
    storage::ActorId actor;
    storage::Sibling* version;
    storage::Dot* dot;
  } apply{context, store_->actor(), &version, &dot};
  storage::Status status = store_->Update(
      key,
      [&apply](storage::SiblingSet* record) {
        const storage::VersionVector local_context =
            apply.context ? storage::VersionVector() : record->clock;
        *apply.dot = storage::ApplyWrite(record, apply.context ? *apply.context : local_context,
                                         apply.actor, std::move(*apply.version));
      },
      &set, store_->encoded_records() ? &encoded : nullptr);
  if (!status.ok()) return FailWriteNow(status, consistency.w, std::move(done), std::move(settled));

  const uint64_t id = NextRequestId();
  WriteOp& op = writes_[id];
  op.id = id;
  op.key.assign(key);
  op.consistency = consistency;
  op.deadline_ms = now_ms + options_.request_timeout_ms;
  op.dot = dot;
  op.set = std::move(set);
  op.encoded_set = std::move(encoded);
  op.done = std::move(done);
  op.settled = std::move(settled);
  SlotsOf(key, consistency.n, &op.slots, &op.candidates);
  op.targets.reserve(consistency.n + 1);  // Room for a stand-in without moving.
  // Slots in preference order, so that down owners get stand-ins in ring
  // order.
  for (uint32_t i = 0; i < consistency.n; ++i) {
    Slot& slot = op.slots[i];
    if (slot.owner == self_) {
      op.targets.push_back(WriteTarget{self_, i, false, ReplyState::kOk});
      slot.answered = slot.by_owner = true;
      ++op.acks;
    } else if (options_.sloppy_quorum && IsDown(slot.owner)) {
      // Strict quorums have no stand-in: a suspect owner is still asked, so
      // that it has the write if it is back (or was never gone); a down link
      // fails its slot at once anyway.
      AssignWriteStandIn(&op, i);
    } else {
      SendWriteTo(&op, i, slot.owner, /*stand_in=*/false);
    }
  }
  assert(op.acks == 1);
  deadlines_.Push(op.deadline_ms, id);
  if (options_.sloppy_quorum && hint_after_ms_ > 0 && !op.candidates.names.empty()) {
    op.hint_after_ms = now_ms + hint_after_ms_;
    hint_after_.Push(op.hint_after_ms, id);
  }
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

void Coordinator::SendWriteTo(WriteOp* op, uint32_t slot, const std::string& name, bool stand_in) {
  assert(name != self_);
  op->targets.push_back(WriteTarget{name, slot, stand_in, ReplyState::kPending});
  ++op->slots[slot].pending;
  std::string hint_for;
  if (stand_in) {
    op->slots[slot].stand_in_used = true;
    hint_for = op->slots[slot].owner;
    ++stats_.write_stand_ins;
  }
  // The bytes the local store wrote stand in for the set: no copy of the
  // set per replica, and no second encoding.
  if (!op->encoded_set.empty()) {
    Send(name, PutRequest{op->id, op->key, {}, std::move(hint_for), op->encoded_set});
  } else {
    Send(name, PutRequest{op->id, op->key, op->set, std::move(hint_for), {}});
  }
}

// Sends the write to the next healthy candidate as a hint for `slot`'s
// owner; false if none is left. The coordinator is one of the first n, so it
// is never a candidate.
bool Coordinator::AssignWriteStandIn(WriteOp* op, uint32_t slot) {
  const std::string* name = NextStandIn(&op->candidates);
  if (name == nullptr) return false;
  SendWriteTo(op, slot, *name, /*stand_in=*/true);
  return true;
}

void Coordinator::HandlePutReply(const std::string& from, const PutReply& reply, int64_t now_ms) {
  if (hint_puts_.count(reply.id) > 0) {
    if (hint_puts_[reply.id].target == from) FinishHintPut(reply.id, reply.ok, now_ms);
    return;
  }
  auto it = writes_.find(reply.id);
  if (it == writes_.end()) return;  // Finished, expired, or a read repair's reply.
  WriteOp& op = it->second;
  for (WriteTarget& target : op.targets) {
    if (target.name != from) continue;
    if (target.state != ReplyState::kPending) return;  // A duplicate.
    target.state = reply.ok ? ReplyState::kOk : ReplyState::kFailed;
    Slot& slot = op.slots[target.slot];
    --slot.pending;
    if (reply.ok) {
      if (!slot.answered) ++op.acks;
      slot.answered = true;
      if (!target.stand_in) slot.by_owner = true;
    } else if (!slot.answered && slot.pending == 0) {
      AssignWriteStandIn(&op, target.slot);  // May add targets: `target` is stale now.
    }
    AdvanceWrite(reply.id);
    return;
  }
}

// A slow owner gets a stand-in (once per slot), while its own ack still
// counts if it comes.
void Coordinator::OnHintAfter(uint64_t id) {
  auto it = writes_.find(id);
  if (it == writes_.end()) return;
  WriteOp& op = it->second;
  op.hint_after_ms = 0;
  for (uint32_t i = 0; i < op.slots.size(); ++i) {
    const Slot& slot = op.slots[i];
    if (slot.answered || slot.stand_in_used || slot.pending == 0) continue;
    if (!AssignWriteStandIn(&op, i)) break;  // No candidate left for any slot.
  }
  AdvanceWrite(id);
}

// Fires what the replies so far decide: the end of the request once no slot
// waits (each is acked, or failed with no stand-in left), otherwise done()
// once w acked slots are reached or impossible.
void Coordinator::AdvanceWrite(uint64_t id) {
  auto it = writes_.find(id);
  assert(it != writes_.end());
  WriteOp& op = it->second;
  uint32_t waiting = 0;  // Slots not acked yet that may still be.
  for (const Slot& slot : op.slots) {
    if (!slot.answered && slot.pending > 0) ++waiting;
  }
  assert(op.acks <= op.slots.size());
  if (waiting == 0) {
    WriteOp finished = std::move(op);
    writes_.erase(it);
    PruneTimers();
    FinishWrite(std::move(finished));
    return;
  }
  if (op.done_fired) return;
  if (op.acks >= op.consistency.w || op.acks + waiting < op.consistency.w) {
    FireWriteDone(&op);
  }
}

void Coordinator::FireWriteDone(WriteOp* op) {
  assert(!op->done_fired);
  op->done_fired = true;
  WriteResult result;
  result.ok = op->acks >= op->consistency.w;
  result.acks = op->acks;
  for (const Slot& slot : op->slots) {
    if (slot.answered && !slot.by_owner) ++result.hinted_acks;
  }
  result.required = op->consistency.w;
  result.dot = op->dot;
  if (!result.ok) ++stats_.write_quorum_failures;
  WriteCallback done = std::move(op->done);
  done(std::move(result));
}

// `op` has left writes_, deadlines_ and hint_after_: no slot waits or time
// is up.
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
  if (consistency.r >= consistency.n || AskAllSlots()) {
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
    std::vector<std::pair<int, uint32_t>> ranked;  // (rank, slot); slots in preference order.
    ranked.reserve(consistency.n);
    for (uint32_t i = 0; i < consistency.n; ++i) {
      const std::string& owner = op.slots[i].owner;
      ranked.emplace_back(owner == self_ ? 0 : IsDown(owner) ? 2 : 1, i);
    }
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<uint32_t> order;
    order.reserve(consistency.n);
    for (const auto& [rank, slot] : ranked) order.push_back(slot);
    op.spares.assign(order.begin() + consistency.r, order.end());
    if (read_retry_after_ms_ > 0) {
      op.retry_at_ms = now_ms + read_retry_after_ms_;
      read_retry_.Push(op.retry_at_ms, id);
    }
    for (uint32_t k = 0; k < consistency.r; ++k) AskReadSlot(&op, order[k]);
  }
  AdvanceRead(id);
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
    Send(name, std::move(request));
    return;
  }
  storage::SiblingSet set;
  bool found = false;
  std::optional<ReadDigest> digest;
  storage::Status status = ReadWithHints(op->key, &set, &found, nullptr,
                                         options_.read_digests ? &digest : nullptr);
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
    if (!local.found) {
      op->local_digest = DigestOf({});
    } else {
      std::string bytes;
      storage::EncodeSiblingSet(local.set, &bytes);
      op->local_digest = DigestOf(bytes);
    }
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
  op->found = true;
  if (same_as_local) return;  // The local copy is merged already.
  storage::Merge(&op->merged, set);
  target.set = std::move(set);
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
      const bool local_found =
          answered && op.targets[static_cast<size_t>(op.local_target)].found;
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
  for (ReadTarget& target : op->targets) {
    if (target.stand_in || target.state != ReplyState::kOk) continue;
    const storage::SiblingSet& copy =
        target.same_as_local ? op->targets[static_cast<size_t>(op->local_target)].set
                             : target.set;
    if (target.found && copy == op->merged) continue;
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

storage::Status Coordinator::ReadWithHints(std::string_view key, storage::SiblingSet* set,
                                           bool* found, std::string* encoded,
                                           std::optional<ReadDigest>* digest) {
  storage::SiblingSet hinted;
  bool hinted_found = false;
  storage::Status status = store_->ReadHints(key, &hinted, &hinted_found);
  if (!status.ok()) return status;
  // The common case, no hint held here for the key: the record as stored,
  // neither decoded nor re-encoded.
  if (encoded != nullptr && !hinted_found) return store_->ReadEncoded(key, encoded, found);
  if (digest != nullptr && !hinted_found) {
    ReadDigest value;
    status = store_->ReadDigested(key, set, found, &value);
    if (status.ok()) *digest = value;
    return status;
  }
  status = store_->Read(key, set, found);
  if (!status.ok()) return status;
  if (hinted_found) {
    storage::Merge(set, hinted);
    *found = true;
  }
  return storage::Status::Ok();
}

void Coordinator::ServePut(const std::string& from, const PutRequest& request, int64_t now_ms) {
  ++stats_.puts_served;
  PutReply reply;
  reply.id = request.id;
  // A hint for this node itself (another node's stale view) is its own copy.
  if (!request.hint_for.empty() && request.hint_for != self_) {
    StoreHint(request, now_ms, &reply);
  } else {
    storage::Status status =
        store_->MergeEncoded(request.key, request.set, request.encoded_set, nullptr);
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
  storage::Status status =
      ReadWithHints(request.key, &reply.set, &reply.found,
                    store_->encoded_records() ? &reply.encoded_set : nullptr);
  reply.ok = status.ok();
  if (!status.ok()) {
    ++stats_.store_errors;
    reply.found = false;
    reply.set = {};
    reply.encoded_set.clear();
    reply.error = status.ToString();
  } else if (request.digest) {
    std::string encoded;
    std::string_view copy;
    if (reply.found && !reply.encoded_set.empty()) {
      copy = reply.encoded_set;
    } else if (reply.found) {
      storage::EncodeSiblingSet(reply.set, &encoded);
      copy = encoded;
    }
    if (DigestOf(copy) == *request.digest) {
      reply.same = true;
      reply.found = false;
      reply.set = {};
      reply.encoded_set.clear();
    }
  }
  Send(from, std::move(reply));
}

void Coordinator::OnMessage(const std::string& from, Message message, int64_t now_ms) {
  assert(from != self_);
  NoteTime(now_ms);
  if (auto* put = std::get_if<PutRequest>(&message)) {
    ServePut(from, *put, now_ms);
  } else if (auto* get = std::get_if<GetRequest>(&message)) {
    ServeGet(from, *get);
  } else if (auto* put_reply = std::get_if<PutReply>(&message)) {
    HandlePutReply(from, *put_reply, now_ms);
  } else if (auto* get_reply = std::get_if<GetReply>(&message)) {
    HandleGetReply(from, std::move(*get_reply));
  }
}

void Coordinator::OnTick(int64_t now_ms) {
  NoteTime(now_ms);
  // Each expired request leaves the maps before its callbacks run; requests
  // those callbacks start expire later (the timeout is positive).
  while (!deadlines_.empty() && deadlines_.front().time_ms <= now_ms) {
    const TimerQueue::Entry entry = deadlines_.front();
    deadlines_.pop_front();
    if (!DeadlineLive(entry)) continue;  // Ended before its deadline.
    const uint64_t id = entry.id;
    if (auto write = writes_.find(id); write != writes_.end()) {
      WriteOp op = std::move(write->second);
      writes_.erase(write);
      PruneTimers();
      FinishWrite(std::move(op));
    } else if (auto read = reads_.find(id); read != reads_.end()) {
      ReadOp op = std::move(read->second);
      reads_.erase(read);
      PruneTimers();
      FinishRead(std::move(op));
    } else {
      FinishHintPut(id, /*acked=*/false, now_ms);
    }
  }
  while (!hint_after_.empty() && hint_after_.front().time_ms <= now_ms) {
    const TimerQueue::Entry entry = hint_after_.front();
    hint_after_.pop_front();
    if (HintAfterLive(entry)) OnHintAfter(entry.id);
  }
  while (!read_retry_.empty() && read_retry_.front().time_ms <= now_ms) {
    const TimerQueue::Entry entry = read_retry_.front();
    read_retry_.pop_front();
    if (ReadRetryLive(entry)) OnReadRetry(entry.id);
  }
  ExpireHints(now_ms);
  StartDeliveries(now_ms);
}

}  // namespace ringkv::cluster
