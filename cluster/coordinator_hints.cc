// cluster/coordinator_hints.cc: hinted handoff in the Coordinator (see
// coordinator.h and docs/coordination.md, "Hinted handoff"): storing the
// hints this node is sent as a stand-in, delivering them to their targets,
// expiring old ones, and the failure detector's view that drives it.
//
// Delivery to a target is a *pass* over its hints in store order, in
// batches of at most hint_delivery_count_max hints (and about
// hint_delivery_bytes_max bytes) in flight; the next batch is sent when the
// last answer of the previous one arrived. A hint is deleted on its ack only
// if it did not change since it was scanned, so a write hinted during the
// pass stays for the next one. A failed or timed-out delivery ends the pass
// with a backoff; the next pass starts from the first hint again (what was
// delivered is gone, what failed is still there).
#include <algorithm>
#include <cassert>
#include <utility>

#include "cluster/coordinator.h"

namespace ringkv::cluster {

namespace {

// What a hint costs against hint_delivery_bytes_max: its key and values.
uint64_t HintBytes(std::string_view key, const storage::SiblingSet& set) {
  uint64_t bytes = key.size();
  for (const storage::Sibling& sibling : set.siblings) bytes += sibling.value.size();
  return bytes;
}

}  // namespace

void Coordinator::SetDown(std::string_view member, bool down) {
  if (member == self_) return;
  if (down) {
    down_.emplace(member);
    return;
  }
  auto it = down_.find(member);
  if (it == down_.end()) return;
  down_.erase(it);
  // Back: its hints go at the next OnTick, without waiting out a backoff
  // earned while it was away.
  auto delivery = deliveries_.find(member);
  if (delivery != deliveries_.end()) {
    delivery->second.next_attempt_ms = last_now_ms_;
    delivery->second.backoff_ms = 0;
  }
}

bool Coordinator::IsDown(std::string_view member) const { return down_.count(member) > 0; }

// As a stand-in: merge the set into the hint for its owner. A refusal by
// the hint limits is a failed reply, so the coordinator does not count
// this copy (it may try another stand-in).
void Coordinator::StoreHint(const PutRequest& request, int64_t now_ms, PutReply* reply) {
  bool dropped = false;
  storage::Status status =
      store_->PutHint(request.hint_for, request.key, request.set, now_ms, &dropped);
  if (!status.ok()) {
    ++stats_.store_errors;
    reply->error = status.ToString();
  } else if (dropped) {
    ++stats_.hints_refused;
    reply->error = "hint store full";
    // Per target only for members (or targets already tracked), so that
    // refusals for made-up names cannot grow deliveries_.
    auto it = deliveries_.find(request.hint_for);
    if (it != deliveries_.end()) {
      ++it->second.refused;
    } else if (ring_.MemberIndex(request.hint_for) >= 0) {
      ++deliveries_[request.hint_for].refused;
    }
  } else {
    HintDelivery& delivery = deliveries_[request.hint_for];
    ++stats_.hints_stored;
    ++delivery.stored;
    delivery.has_hints = true;
    reply->ok = true;
  }
}

// Learns from the store which targets it holds hints for.
void Coordinator::RefreshHintTargets() {
  storage::HintStats stats;
  store_->GetHintStats(&stats);
  for (auto& [target, delivery] : deliveries_) delivery.has_hints = false;
  for (const storage::HintTargetStats& target : stats.targets) {
    if (target.count > 0) deliveries_[target.target].has_hints = true;
  }
}

bool Coordinator::DeliveryDue(const std::string& target, const HintDelivery& delivery) const {
  return delivery.has_hints && !delivery.active && target != self_ && !IsDown(target) &&
         ring_.MemberIndex(target) >= 0;
}

std::optional<int64_t> Coordinator::NextHintWorkMs() const {
  std::optional<int64_t> next;
  bool holds_hints = false;
  for (const auto& [target, delivery] : deliveries_) {
    holds_hints = holds_hints || delivery.has_hints;
    if (!DeliveryDue(target, delivery)) continue;
    if (!next || delivery.next_attempt_ms < *next) next = delivery.next_attempt_ms;
  }
  // Expiry matters only while there is something to expire.
  if (holds_hints && (!next || next_expiry_ms_ < *next)) next = next_expiry_ms_;
  if (next) next = std::max(*next, last_now_ms_);
  return next;
}

void Coordinator::StartDeliveries(int64_t now_ms) {
  for (auto& [target, delivery] : deliveries_) {
    if (!DeliveryDue(target, delivery) || delivery.next_attempt_ms > now_ms) continue;
    delivery.active = true;
    delivery.pass_progress = false;
    delivery.cursor = storage::HintScanCursor();
    SendHintBatch(target, now_ms);
  }
}

// Scans the next batch of the pass and sends it; a pass that has nothing
// left to send ends here.
void Coordinator::SendHintBatch(const std::string& target, int64_t now_ms) {
  HintDelivery& delivery = deliveries_.at(target);
  assert(delivery.active && delivery.in_flight == 0);
  struct Scanned {
    std::string key;
    storage::SiblingSet set;
    uint64_t version;
  };
  std::vector<Scanned> batch;
  uint64_t bytes = 0;
  const uint32_t count_max = options_.hint_delivery_count_max;
  // A hint that does not decode is skipped (the cursor is past it; expiry
  // removes it in time). Each scan makes progress, so this loop is bounded.
  for (uint32_t scans = 0; scans <= count_max && batch.size() < count_max &&
                           bytes < options_.hint_delivery_bytes_max && !delivery.cursor.done;
       ++scans) {
    storage::Status status = store_->ScanHints(
        target, &delivery.cursor, count_max - batch.size(),
        [&](std::string_view key, const storage::SiblingSet& set, uint64_t version) {
          batch.push_back({std::string(key), set, version});
          bytes += HintBytes(key, set);
          return bytes < options_.hint_delivery_bytes_max;
        });
    if (status.IsCorruption()) {
      ++stats_.store_errors;
      continue;
    }
    if (!status.ok()) {
      ++stats_.store_errors;
      delivery.batch_failed = true;
    }
    break;
  }
  for (Scanned& hint : batch) {
    const uint64_t id = NextRequestId();
    const int64_t deadline_ms = now_ms + options_.request_timeout_ms;
    Send(target, PutRequest{id, hint.key, std::move(hint.set), {}});
    hint_puts_.emplace(id, HintPut{target, std::move(hint.key), hint.version, deadline_ms});
    deadlines_.Push(deadline_ms, id);
    ++delivery.in_flight;
  }
  if (delivery.in_flight == 0) EndHintBatch(target, now_ms);
}

// The target answered a delivery (or it timed out: !acked).
void Coordinator::FinishHintPut(uint64_t id, bool acked, int64_t now_ms) {
  auto it = hint_puts_.find(id);
  assert(it != hint_puts_.end());
  HintPut put = std::move(it->second);
  hint_puts_.erase(it);
  PruneTimers();
  HintDelivery& delivery = deliveries_.at(put.target);
  assert(delivery.in_flight > 0);
  --delivery.in_flight;
  if (acked) {
    delivery.pass_progress = true;
    bool deleted = false;
    storage::Status status =
        store_->DeleteHintIfUnchanged(put.target, put.key, put.version, &deleted);
    if (!status.ok()) {
      // The target has it; the hint stays and goes again (a merge).
      ++stats_.store_errors;
      delivery.batch_failed = true;
    } else if (deleted) {
      ++stats_.hints_delivered;
      ++delivery.delivered;
    }
    // Not deleted: a write changed it meanwhile; the next pass sends it.
  } else {
    ++stats_.hint_delivery_failures;
    ++delivery.failures;
    delivery.batch_failed = true;
  }
  if (delivery.in_flight == 0) EndHintBatch(put.target, now_ms);
}

// Every hint of the batch is answered: go on with the pass, or end it.
void Coordinator::EndHintBatch(const std::string& target, int64_t now_ms) {
  HintDelivery& delivery = deliveries_.at(target);
  if (!delivery.batch_failed && !delivery.cursor.done && !IsDown(target)) {
    SendHintBatch(target, now_ms);
    return;
  }
  delivery.active = false;
  delivery.cursor = storage::HintScanCursor();
  const bool failed = delivery.batch_failed;
  delivery.batch_failed = false;
  RefreshHintTargets();
  if (failed || (delivery.has_hints && !delivery.pass_progress)) {
    BackOff(&delivery, now_ms);
  } else {
    // Hints left after a good pass were written (or changed) during it.
    delivery.backoff_ms = 0;
    delivery.next_attempt_ms = now_ms + options_.hint_retry_min_ms;
  }
}

void Coordinator::BackOff(HintDelivery* delivery, int64_t now_ms) {
  delivery->backoff_ms = delivery->backoff_ms == 0
                             ? options_.hint_retry_min_ms
                             : std::min(2 * delivery->backoff_ms, options_.hint_retry_max_ms);
  delivery->next_attempt_ms = now_ms + delivery->backoff_ms;
}

void Coordinator::ExpireHints(int64_t now_ms) {
  if (now_ms < next_expiry_ms_) return;
  next_expiry_ms_ = now_ms + options_.hint_expiry_interval_ms;
  uint64_t expired = 0;
  storage::Status status = store_->ExpireHints(now_ms, options_.hint_expiry_batch, &expired);
  if (!status.ok()) ++stats_.store_errors;
  if (expired == 0) return;
  stats_.hints_expired += expired;
  RefreshHintTargets();
}

HintsStatus Coordinator::GetHintsStatus() const {
  storage::HintStats stats;
  store_->GetHintStats(&stats);
  HintsStatus status;
  status.count = stats.count;
  status.bytes = stats.bytes;
  status.delivered = stats.delivered;
  status.dropped_count_limit = stats.dropped_count_limit;
  status.dropped_bytes_limit = stats.dropped_bytes_limit;
  status.expired = stats.expired;
  std::map<std::string, HintTargetStatus, std::less<>> targets;
  for (const storage::HintTargetStats& held : stats.targets) {
    HintTargetStatus& target = targets[held.target];
    target.count = held.count;
    target.bytes = held.bytes;
  }
  for (const auto& [name, delivery] : deliveries_) {
    const bool known = targets.count(name) > 0;
    if (!known && !delivery.active &&
        delivery.stored + delivery.refused + delivery.delivered == 0) {
      continue;
    }
    HintTargetStatus& target = targets[name];
    target.delivering = delivery.active;
    target.in_flight = delivery.in_flight;
    target.next_attempt_ms = delivery.next_attempt_ms;
    target.stored = delivery.stored;
    target.refused = delivery.refused;
    target.delivered = delivery.delivered;
    target.delivery_failures = delivery.failures;
  }
  for (auto& [name, target] : targets) {
    target.target = name;
    target.down = IsDown(name);
    status.targets.push_back(std::move(target));
  }
  return status;
}

}  // namespace ringkv::cluster
