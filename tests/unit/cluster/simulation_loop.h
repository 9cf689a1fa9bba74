// tests/unit/cluster/simulation_loop.h: the Simulation's event loop
// (simulation.h). The constructor builds the nodes on one ring and plans
// the clients' times and the failure detector's verdicts; Run drives the
// fault phase, heals the network and runs the hand-off and the heal reads;
// RunUntilQuiet advances the fake clock event by event, carrying each
// message through the peer codec as a node's adapter would.
#ifndef RINGKV_TESTS_UNIT_CLUSTER_SIMULATION_LOOP_H_
#define RINGKV_TESTS_UNIT_CLUSTER_SIMULATION_LOOP_H_

#include <doctest/doctest.h>
#include <stdarg.h>
#include <stdio.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "cluster/coordinator.h"
#include "cluster/peer_protocol.h"
#include "cluster/ring.h"
#include "resp/parser.h"
#include "unit/cluster/sim_memory_store.h"
#include "unit/cluster/sim_network.h"
#include "unit/cluster/simulation.h"

namespace ringkv::cluster::simulation_testing {

// What a node's adapter hands its coordinator: the message after the peer
// codec and the RESP parser, as on a real connection. Among other things
// this turns a replica's GetReply::encoded_set back into a set.
inline bool ThroughWire(Message* message, std::string* error) {
  std::string bytes;
  EncodeMessage(*message, &bytes);
  resp::RequestParser parser{resp::ParserLimits{}};
  size_t consumed = 0;
  if (parser.Feed(bytes, &consumed) != resp::ParseStatus::kComplete || consumed != bytes.size()) {
    *error = "an encoded message is not one RESP request";
    return false;
  }
  return DecodeMessage(parser.args(), message, error);
}

inline std::string MessageString(const Message& message) {
  if (auto* put = std::get_if<PutRequest>(&message)) {
    return "PUT#" + std::to_string(put->id) + " " + put->key + " " + SetString(put->set) +
           (put->hint_for.empty() ? "" : " hint for " + put->hint_for);
  }
  if (auto* get = std::get_if<GetRequest>(&message)) {
    return "GET#" + std::to_string(get->id) + " " + get->key;
  }
  if (auto* put_reply = std::get_if<PutReply>(&message)) {
    return "PUT-REPLY#" + std::to_string(put_reply->id) + (put_reply->ok ? " ok" : " error");
  }
  const GetReply& get_reply = std::get<GetReply>(message);
  return "GET-REPLY#" + std::to_string(get_reply.id) +
         (!get_reply.ok     ? " error"
          : get_reply.found ? " " + SetString(get_reply.set)
                            : " none");
}

inline Simulation::Simulation(uint64_t seed, const SimConfig& config, bool verbose)
    : seed_(seed), config_(config), verbose_(verbose), random_(seed), network_(&random_) {
  std::vector<RingMember> members;
  std::set<storage::ActorId> actors;
  for (uint32_t i = 0; i < config_.members; ++i) {
    Node node;
    node.name = "n" + std::to_string(i);
    storage::ActorId actor = 0;
    while (actor == 0 || actors.count(actor) > 0) actor = random_.Next();
    actors.insert(actor);
    node.store = std::make_unique<MemoryStore>(actor);
    node.store->set_sabotage(config_.sabotage);
    // Deliveries go through the wire codec (ThroughWire), so replicas may
    // answer reads with their records' bytes, as EngineStore does.
    node.store->set_encoded_records(true);
    CoordinatorOptions options{config_.request_timeout_ms};
    options.sloppy_quorum = true;
    options.read_repair_chance = config_.read_repair_chance;
    options.read_retry_after_ms = config_.read_retry_after_ms;
    node.coordinator = std::make_unique<Coordinator>(node.name, node.store.get(), options);
    members.push_back({node.name});
    nodes_.push_back(std::move(node));
  }
  const Ring ring = Ring::Claim(config_.partitions, members);
  for (Node& node : nodes_) node.coordinator->SetRing(ring);
  for (uint32_t i = 0; i < config_.keys; ++i) keys_.push_back("key" + std::to_string(i));
  for (uint32_t i = 0; i < config_.operations; ++i) {
    client_times_ms_.push_back(random_.Between(0, config_.duration_ms - 1));
  }
  std::sort(client_times_ms_.begin(), client_times_ms_.end());
  network_.set_faults(config_.faults, config_.duration_ms);
  PlanViewChanges();
}

// Each down window is noticed by every other node 0..100 ms after it starts
// (a failure detector's delay, different per node) and its end 0..100 ms
// after it ends; the down node, cut off, sees everyone else go down and
// come back the same way.
inline void Simulation::PlanViewChanges() {
  for (const SimDownWindow& window : config_.faults.down) {
    for (size_t observer = 0; observer < nodes_.size(); ++observer) {
      std::vector<std::string> members;
      if (nodes_[observer].name != window.node) {
        members.push_back(window.node);
      } else {
        for (const Node& node : nodes_) {
          if (node.name != window.node) members.push_back(node.name);
        }
      }
      for (const std::string& member : members) {
        view_changes_.push_back({window.from_ms + random_.Between(0, 100), observer, member, true});
        view_changes_.push_back(
            {window.until_ms + random_.Between(0, 100), observer, member, false});
      }
    }
  }
  std::stable_sort(view_changes_.begin(), view_changes_.end(),
                   [](const ViewChange& a, const ViewChange& b) { return a.at_ms < b.at_ms; });
}

inline void Simulation::ApplyViewChanges() {
  while (next_view_change_ < view_changes_.size() &&
         view_changes_[next_view_change_].at_ms <= now_ms_) {
    const ViewChange& change = view_changes_[next_view_change_++];
    Node& observer = nodes_[change.observer];
    Log("%s sees %s %s", observer.name.c_str(), change.member.c_str(), change.down ? "down" : "up");
    observer.coordinator->SetDown(change.member, change.down);
    ++summary_.view_changes;
  }
}

inline void Simulation::Log(const char* format, ...) {
  if (!verbose_) return;
  char text[2048];
  va_list args;
  va_start(args, format);
  vsnprintf(text, sizeof(text), format, args);
  va_end(args);
  fprintf(stderr, "[seed %llu t=%lld] %s\n", static_cast<unsigned long long>(seed_),
          static_cast<long long>(now_ms_), text);
}

inline void Simulation::Fail(const std::string& what) {
  Log("CHECK FAILED: %s", what.c_str());
  if (failure_.empty()) failure_ = what;
}

inline Simulation::Node& Simulation::NodeNamed(const std::string& name) {
  for (Node& node : nodes_) {
    if (node.name == name) return node;
  }
  REQUIRE_MESSAGE(false, "no node named " << name);
  return nodes_[0];
}

inline std::string Simulation::Run() {
  Log("config: %s", config_.Describe().c_str());
  RunUntilQuiet();  // The fault phase, then the traffic it left behind.
  // The network is perfect from duration_ms on (even if things went quiet
  // earlier).
  now_ms_ = std::max(now_ms_, config_.duration_ms);
  UpdateStoreFaults();
  Log("healed: every node is up in every view; hints are handed off");
  for (Node& observer : nodes_) {
    for (const Node& member : nodes_) observer.coordinator->SetDown(member.name, false);
  }
  RunUntilQuiet();
  CheckHandoff();
  Log("healed: every key is read at R = N");
  Consistency heal = config_.consistency;
  heal.r = heal.n;
  for (const std::string& key : keys_) StartRead(key, random_.Below(nodes_.size()), heal, true);
  FlushOutboxes();
  RunUntilQuiet();
  CheckFinal();
  summary_.network = network_.stats();
  for (const Node& node : nodes_) {
    summary_.read_repairs += node.coordinator->stats().read_repairs;
    summary_.read_spares_asked += node.coordinator->stats().read_spares_asked;
    summary_.store_errors += node.coordinator->stats().store_errors;
    summary_.hints_stored += node.coordinator->stats().hints_stored;
    summary_.hints_delivered += node.coordinator->stats().hints_delivered;
  }
  return failure_;
}

// Advances the clock event by event (client operations, deliveries,
// deadlines) until nothing is left to happen.
inline void Simulation::RunUntilQuiet() {
  for (uint64_t iteration = 0;; ++iteration) {
    if (iteration == kLoopIterationsMax) return Fail("the run did not quiesce");
    std::optional<int64_t> next = network_.NextDeliveryMs();
    auto consider = [&next](std::optional<int64_t> time_ms) {
      if (time_ms && (!next || *time_ms < *next)) next = time_ms;
    };
    for (const Node& node : nodes_) consider(node.coordinator->NextDeadlineMs());
    if (next_client_ < client_times_ms_.size()) consider(client_times_ms_[next_client_]);
    if (next_view_change_ < view_changes_.size()) {
      consider(view_changes_[next_view_change_].at_ms);
    }
    if (!next) return;
    REQUIRE(*next >= now_ms_);
    now_ms_ = *next;
    UpdateStoreFaults();
    ApplyViewChanges();
    for (Node& node : nodes_) node.coordinator->OnTick(now_ms_);
    FlushOutboxes();
    while (next_client_ < client_times_ms_.size() && client_times_ms_[next_client_] <= now_ms_) {
      ++next_client_;
      ClientOperation();
      FlushOutboxes();
    }
    SimDelivery delivery;
    while (network_.Pop(now_ms_, &delivery)) {
      std::string error;
      if (!ThroughWire(&delivery.message, &error)) return Fail("peer codec: " + error);
      Log("%s -> %s %s", delivery.from.c_str(), delivery.to.c_str(),
          MessageString(delivery.message).c_str());
      NodeNamed(delivery.to)
          .coordinator->OnMessage(delivery.from, std::move(delivery.message), now_ms_);
      FlushOutboxes();
    }
  }
}

// The failed reply an adapter makes up for a request it could not send.
inline std::optional<Message> RefusalOf(const Message& message) {
  if (auto* put = std::get_if<PutRequest>(&message)) {
    return PutReply{put->id, false, "peer unreachable"};
  }
  if (auto* get = std::get_if<GetRequest>(&message)) {
    return GetReply{get->id, false, false, {}, "peer unreachable"};
  }
  return std::nullopt;
}

// A node's store fails during its window of the fault phase.
inline void Simulation::UpdateStoreFaults() {
  const SimFaults& faults = config_.faults;
  const bool window = now_ms_ >= faults.failing_from_ms && now_ms_ < faults.failing_until_ms &&
                      now_ms_ < config_.duration_ms;
  for (Node& node : nodes_) node.store->set_fail(window && node.name == faults.failing_store);
}

inline void Simulation::FlushOutboxes() {
  for (Node& node : nodes_) {
    for (Envelope& envelope : node.coordinator->TakeOutbox()) {
      if (envelope.to == node.name) Fail(node.name + " sent a message to itself");
      std::string to = envelope.to;
      std::string text = verbose_ ? MessageString(envelope.message) : std::string();
      const std::optional<Message> refusal = RefusalOf(envelope.message);
      if (network_.Send(now_ms_, node.name, std::move(envelope))) continue;
      Log("dropped %s -> %s %s", node.name.c_str(), to.c_str(), text.c_str());
      if (refusal && random_.Chance(config_.faults.reported)) {
        // The sender's adapter noticed: it answers the request itself.
        network_.Inject(now_ms_ + random_.Between(1, 5), {to, node.name, *refusal});
      }
    }
  }
}

}  // namespace ringkv::cluster::simulation_testing

#endif  // RINGKV_TESTS_UNIT_CLUSTER_SIMULATION_LOOP_H_
