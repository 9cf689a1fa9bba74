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
// half-finished one. The read path is in coordinator_read.cc.
#include "cluster/coordinator.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "storage/engine.h"

namespace ringkv::cluster {

namespace {

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

void Coordinator::SlotsOf(std::string_view key, uint32_t n, SlotList* slots,
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
  assert(consistency.ValidFor(ring_.members().size()));
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
  // The bytes the local store wrote stand in for the set: no second
  // encoding, and one buffer for every replica.
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

// The conditional read's common case, without copying the record or
// reading its values: no hint held here for `key`, and the stored record's
// versions are those `digest` stands for. False in every other case (also
// on an error), which the full read then decides and reports.
bool Coordinator::SameVersions(std::string_view key, const ReadDigest& digest) {
  storage::SiblingSet hinted;
  bool hinted_found = false;
  if (!store_->ReadHints(key, &hinted, &hinted_found).ok() || hinted_found) return false;
  ReadDigest stored;
  return store_->ReadVersionDigest(key, &stored).ok() && stored == digest;
}

void Coordinator::ServeGet(const std::string& from, const GetRequest& request) {
  ++stats_.gets_served;
  GetReply reply;
  reply.id = request.id;
  if (request.digest && SameVersions(request.key, *request.digest)) {
    reply.ok = true;
    reply.same = true;
    Send(from, std::move(reply));
    return;
  }
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

void Coordinator::OnSameReply(const std::string& from, uint64_t id, int64_t now_ms) {
  assert(from != self_);
  NoteTime(now_ms);
  GetReply reply;
  reply.id = id;
  reply.ok = true;
  reply.same = true;
  HandleGetReply(from, std::move(reply));
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
