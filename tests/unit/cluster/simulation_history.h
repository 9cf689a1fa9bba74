// tests/unit/cluster/simulation_history.h: the clients of a Simulation
// (simulation.h) and the checks on the history they leave. Each client
// operation is a read or a write (with or without a read's context) through
// a random node; the write and read records, the dot each write got and the
// versions each write superseded are what the checks compare with every
// read and, once the network healed, with every replica.
#ifndef RINGKV_TESTS_UNIT_CLUSTER_SIMULATION_HISTORY_H_
#define RINGKV_TESTS_UNIT_CLUSTER_SIMULATION_HISTORY_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cluster/coordinator.h"
#include "unit/cluster/simulation.h"

namespace ringkv::cluster::simulation_testing {

inline void Simulation::ClientOperation() {
  const std::string& key = keys_[random_.Below(keys_.size())];
  Consistency consistency = config_.consistency;
  if (random_.Chance(0.25)) {
    consistency.w = static_cast<uint32_t>(random_.Between(1, consistency.n));
    consistency.r = static_cast<uint32_t>(random_.Between(1, consistency.n));
  }
  const uint64_t roll = random_.Below(100);
  const bool tombstone = random_.Chance(0.1);
  std::deque<SeenContext>& seen = contexts_[key];
  if (roll < 35) {
    StartRead(key, random_.Below(nodes_.size()), consistency, false);
  } else if (roll < 60 && !seen.empty()) {
    // A copy: a read finishing inside Write may push to (and pop from) `seen`.
    SeenContext context = seen[random_.Below(seen.size())];
    StartWrite(key, consistency, tombstone, &context);
  } else {
    StartWrite(key, consistency, tombstone, nullptr);
  }
}

// Records what the write supersedes before starting it: the coordinator's
// local siblings its context covers (all of them without a context) and,
// for a context from a read, the siblings that read returned.
inline void Simulation::StartWrite(const std::string& key, Consistency consistency, bool tombstone,
                                   const SeenContext* context) {
  const std::vector<std::string> replicas =
      nodes_[0].coordinator->PreferenceNames(key, consistency.n);
  Node& node = NodeNamed(replicas[random_.Below(replicas.size())]);
  std::vector<KeyDot> supersedes;
  if (const storage::SiblingSet* local = node.store->Find(key)) {
    const storage::VersionVector& covering = context ? context->clock : local->clock;
    for (const storage::Sibling& sibling : local->siblings) {
      if (covering.Covers(sibling.dot)) supersedes.push_back({key, sibling.dot});
    }
  }
  if (context) {
    for (const storage::Dot& dot : context->dots) supersedes.push_back({key, dot});
  }

  const size_t index = writes_.size();
  WriteRecord& record = writes_.emplace_back();
  record.key = key;
  record.value = tombstone ? std::string() : "v" + std::to_string(index);
  record.tombstone = tombstone;
  record.consistency = consistency;
  storage::Sibling version;
  version.value = record.value;
  version.tombstone = tombstone;
  version.timestamp_ms = now_ms_;
  Log("client: %s %s %s via %s (w=%u)%s", context ? "VSET" : "SET", key.c_str(),
      tombstone ? "<del>" : record.value.c_str(), node.name.c_str(), consistency.w,
      context ? " with a read's context" : "");
  ++summary_.writes;
  node.coordinator->Write(
      key, std::move(version), context ? &context->clock : nullptr, consistency, now_ms_,
      [this, index](WriteResult result) { OnWriteDone(index, std::move(result)); },
      [this, index](uint32_t) { ++writes_[index].settled_calls; });
  if (!writes_[index].result.error.empty()) {
    // The local store failed: the write did not happen anywhere.
    writes_[index].failed_locally = true;
    return;
  }
  superseded_.insert(supersedes.begin(), supersedes.end());
  // The local merge happened inside Write, before anyone could see the
  // version: its dot is now the actor's entry in the local clock.
  const storage::SiblingSet* local = node.store->Find(key);
  if (local == nullptr) return Fail(node.name + " does not hold its own write to " + key);
  const storage::Dot dot{node.store->actor(), local->clock.Get(node.store->actor())};
  writes_[index].dot = dot;
  if (!write_of_dot_.emplace(KeyDot{key, dot}, index).second) {
    Fail("two writes to " + key + " got the dot " + DotString(dot));
  }
}

inline void Simulation::StartRead(const std::string& key, size_t node, Consistency consistency,
                                  bool heal) {
  const size_t index = reads_.size();
  reads_.push_back({key, consistency, ++step_, heal, 0});
  Log("client: %sGET %s via %s (r=%u)", heal ? "heal " : "", key.c_str(), nodes_[node].name.c_str(),
      consistency.r);
  ++summary_.reads;
  nodes_[node].coordinator->Read(key, consistency, now_ms_, [this, index](ReadResult result) {
    OnReadDone(index, std::move(result));
  });
}

inline void Simulation::OnWriteDone(size_t index, WriteResult result) {
  WriteRecord& record = writes_[index];
  ++record.done_calls;
  Log("write v%zu of %s: %s with %u/%u acks", index, record.key.c_str(),
      result.ok ? "ok" : "FAILED", result.acks, result.required);
  if (result.ok) {
    record.acked = true;
    record.acked_step = ++step_;
    ++summary_.writes_acked;
    if (result.hinted_acks > 0) ++summary_.writes_acked_with_hints;
  }
  record.result = std::move(result);
}

inline void Simulation::OnReadDone(size_t index, ReadResult result) {
  ReadRecord& read = reads_[index];
  ++read.done_calls;
  Log("read of %s: %s with %u/%u replies %s", read.key.c_str(), result.ok ? "ok" : "FAILED",
      result.replies, result.required, SetString(result.set).c_str());
  if (!result.ok) {
    if (read.heal) Fail("the heal read of " + read.key + " failed on a healed network");
    return;
  }
  ++summary_.reads_ok;
  CheckKnownValues(read.key, result.set, "a read");
  CheckReadYourWrites(read, result);
  SeenContext seen{result.set.clock, {}};
  for (const storage::Sibling& sibling : result.set.siblings) seen.dots.push_back(sibling.dot);
  std::deque<SeenContext>& contexts = contexts_[read.key];
  contexts.push_back(std::move(seen));
  if (contexts.size() > kContextsPerKeyMax) contexts.pop_front();
}

// Every sibling must be a version some client wrote, to this key, with this
// value.
inline void Simulation::CheckKnownValues(const std::string& key, const storage::SiblingSet& set,
                                         const char* where) {
  for (const storage::Sibling& sibling : set.siblings) {
    auto it = write_of_dot_.find(KeyDot{key, sibling.dot});
    if (it == write_of_dot_.end()) {
      Fail(std::string(where) + " of " + key +
           " returned a version never written: " + SetString(set));
      continue;
    }
    const WriteRecord& write = writes_[it->second];
    if (write.key != key || write.value != sibling.value || write.tombstone != sibling.tombstone) {
      Fail(std::string(where) + " of " + key + " holds " + DotString(sibling.dot) +
           " with the wrong content: " + SetString(set));
    }
  }
}

// With strict quorums a read that starts after a write was acked reaches at
// least one owner that stored it, and stores never forget, so the read's
// clock covers the write. Under a sloppy quorum this holds only when owners
// themselves make the quorums overlap: the owners that acked the write plus
// those that answered the read (stand-ins do not count) exceed n.
inline void Simulation::CheckReadYourWrites(const ReadRecord& read, const ReadResult& result) {
  const uint32_t read_owners = result.replies - result.stand_in_replies;
  for (const WriteRecord& write : writes_) {
    if (write.key != read.key || !write.acked || write.acked_step > read.start_step) continue;
    const uint32_t write_owners = write.result.acks - write.result.hinted_acks;
    if (write_owners + read_owners <= read.consistency.n) continue;
    if (!result.set.clock.Covers(write.dot)) {
      Fail("a read of " + read.key + " (r=" + std::to_string(read.consistency.r) + ") missed " +
           DotString(write.dot) + ", acked earlier by " + std::to_string(write_owners) + " owners");
    }
  }
}

// Once every node is up and hints went quiet: no hint is left, and each
// write is held by at least as many of its owners as it had acked slots
// when done() fired (an owner that acked stored it; a stand-in that acked
// kept it as a hint, and delivery brought it to that owner). A hint lost
// or deleted too early is a write that W counted but no owner has.
inline void Simulation::CheckHandoff() {
  for (const Node& node : nodes_) {
    if (node.store->hint_count() != 0 || node.coordinator->hint_deliveries_in_flight() != 0) {
      Fail(node.name + " still holds " + std::to_string(node.store->hint_count()) +
           " hints after every node is up");
    }
  }
  const uint32_t n = config_.consistency.n;
  for (const WriteRecord& write : writes_) {
    if (write.failed_locally || write.done_calls != 1) continue;
    uint32_t holders = 0;
    for (const std::string& owner : nodes_[0].coordinator->PreferenceNames(write.key, n)) {
      const storage::SiblingSet* copy = NodeNamed(owner).store->Find(write.key);
      if (copy != nullptr && copy->clock.Covers(write.dot)) ++holders;
    }
    if (holders < write.result.acks) {
      Fail("handoff: " + DotString(write.dot) + " of " + write.key + " had " +
           std::to_string(write.result.acks) + " acked slots (" +
           std::to_string(write.result.hinted_acks) + " by stand-ins) but only " +
           std::to_string(holders) + " owners hold it after hand-off");
    }
  }
}

inline void Simulation::CheckFinal() {
  for (const Node& node : nodes_) {
    if (node.coordinator->writes_in_flight() != 0 || node.coordinator->reads_in_flight() != 0) {
      Fail(node.name + " still has requests in flight after quiescence");
    }
    if (node.store->hint_count() != 0) Fail(node.name + " holds hints at the end");
  }
  for (const WriteRecord& write : writes_) {
    if (write.done_calls != 1 || write.settled_calls != 1) {
      Fail("write " + write.value + " of " + write.key + ": done fired " +
           std::to_string(write.done_calls) + " times, settled " +
           std::to_string(write.settled_calls));
    }
    if (write.failed_locally) continue;
    if (write.result.dot != write.dot || !write.result.error.empty()) {
      Fail("write of " + write.key + " reported " + DotString(write.result.dot) + " for " +
           DotString(write.dot) + " " + write.result.error);
    }
  }
  for (const ReadRecord& read : reads_) {
    if (read.done_calls != 1) Fail("a read of " + read.key + " did not complete exactly once");
  }
  for (const std::string& key : keys_) CheckFinalKey(key);
  summary_.superseded = superseded_.size();
}

// After healing and read repair: every replica holds the same set, no other
// node holds any, every version written is covered by the clock, and every
// acknowledged version is a sibling or was superseded by a later write.
inline void Simulation::CheckFinalKey(const std::string& key) {
  const uint32_t n = config_.consistency.n;
  const std::vector<std::string> replicas = nodes_[0].coordinator->PreferenceNames(key, n);
  const storage::SiblingSet* first = NodeNamed(replicas[0]).store->Find(key);
  for (const Node& node : nodes_) {
    const storage::SiblingSet* copy = node.store->Find(key);
    const bool replica = std::find(replicas.begin(), replicas.end(), node.name) != replicas.end();
    if (!replica && copy != nullptr) Fail(node.name + " holds " + key + " but is no replica");
    if (!replica) continue;
    if ((copy == nullptr) != (first == nullptr) || (copy && *copy != *first)) {
      Fail("replicas disagree on " + key + ": " + replicas[0] + " " +
           (first ? SetString(*first) : "none") + ", " + node.name + " " +
           (copy ? SetString(*copy) : "none"));
    }
  }
  const storage::SiblingSet final_set = first ? *first : storage::SiblingSet();
  CheckKnownValues(key, final_set, "the final set");
  summary_.final_siblings += final_set.siblings.size();
  std::set<storage::Dot> present;
  for (const storage::Sibling& sibling : final_set.siblings) present.insert(sibling.dot);
  for (const WriteRecord& write : writes_) {
    if (write.key != key || write.failed_locally) continue;
    if (!final_set.clock.Covers(write.dot)) {
      Fail("the final clock of " + key + " lost track of " + DotString(write.dot));
    }
    if (write.acked && present.count(write.dot) == 0 &&
        superseded_.count(KeyDot{key, write.dot}) == 0) {
      Fail("LOST: the acknowledged write " + (write.tombstone ? "<del>" : write.value) + "@" +
           DotString(write.dot) + " of " + key + " is gone and nothing superseded it; final " +
           SetString(final_set));
    }
  }
}

}  // namespace ringkv::cluster::simulation_testing

#endif  // RINGKV_TESTS_UNIT_CLUSTER_SIMULATION_HISTORY_H_
