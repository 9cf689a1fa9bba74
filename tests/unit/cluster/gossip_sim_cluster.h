// tests/unit/cluster/gossip_sim_cluster.h: a simulated gossip cluster for
// gossip_sim_test.cc. In-process nodes, each a Gossip state machine, on a
// fake network (seeded delays and loss) and a fake clock with late timers;
// nodes can be stopped and resumed, and every event each node reports is
// kept with its time, for measuring detection and recovery. Also the
// measuring helpers: a distribution of samples and queries over the events.
#ifndef RINGKV_TESTS_UNIT_CLUSTER_GOSSIP_SIM_CLUSTER_H_
#define RINGKV_TESTS_UNIT_CLUSTER_GOSSIP_SIM_CLUSTER_H_

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <span>
#include <string>
#include <vector>

#include "cluster/gossip.h"
#include "cluster/peer_protocol.h"
#include "resp/parser.h"
#include "unit/cluster/gossip_test_util.h"
#include "unit/cluster/sim_random.h"

namespace ringkv::cluster::gossip_testing {

struct SimEvent {
  int64_t at_ms;
  size_t observer;
  GossipEvent event;
};

struct SimOptions {
  size_t nodes = 6;
  GossipOptions gossip;
  int64_t delay_max_ms = 100;
  double loss = 0.0;
  // Timers fire late: each tick comes 0..tick_late_max_ms after the
  // deadline the node asked for, as a busy event loop makes it.
  int64_t tick_late_max_ms = 10;
  // Round-trips one table in `encode_every` through RK.GOSSIP bytes, so the
  // simulation also exercises the codec without paying for it everywhere.
  uint64_t encode_every = 50;
  // How long a cluster runs before a node is stopped.
  int64_t warm_up_ms = 10000;
};

// Every node knows only node 0's address at first. Node i starts at a random
// phase within the first interval. Messages take 0..delay_max_ms and are
// lost with probability `loss`; a stopped node neither ticks nor receives.
class SimCluster {
 public:
  SimCluster(SimOptions options, uint64_t seed) : options_(options), random_(seed) {
    for (size_t i = 0; i < options_.nodes; i++) {
      MemberRecord self = MakeRecord("n" + std::to_string(i), 0, 100 + i);
      self.host = "10.0.0." + std::to_string(i);
      self.peer_port = 7379;
      addresses_[PeerAddress(self)] = i;
      Node node;
      node.gossip = std::make_unique<Gossip>(self, options_.gossip, random_.Next());
      if (i != 0) REQUIRE(node.gossip->AddSeed("10.0.0.0:7379"));
      node.gossip->Start(random_.Between(0, options_.gossip.interval_ms - 1));
      nodes_.push_back(std::move(node));
    }
  }

  // Runs every tick and delivery up to `end_ms`.
  void RunUntil(int64_t end_ms) {
    while (true) {
      int64_t next = end_ms + 1;
      size_t ticking = nodes_.size();
      for (size_t i = 0; i < nodes_.size(); i++) {
        if (!nodes_[i].running) continue;
        Node& node = nodes_[i];
        int64_t deadline = node.gossip->NextDeadlineMs();
        if (deadline != node.deadline_ms) {
          node.deadline_ms = deadline;
          node.late_ms = random_.Between(0, options_.tick_late_max_ms);
        }
        int64_t at = std::max(now_ms_, deadline + node.late_ms);
        if (at < next) next = at, ticking = i;
      }
      if (!deliveries_.empty() && deliveries_.top().at_ms <= next) {
        Delivery delivery = deliveries_.top();
        deliveries_.pop();
        now_ms_ = delivery.at_ms;
        Deliver(delivery);
        continue;
      }
      if (ticking == nodes_.size()) break;
      now_ms_ = next;
      TickNode(ticking);
    }
    now_ms_ = end_ms;
  }

  void Stop(size_t node) { nodes_[node].running = false; }
  void Resume(size_t node) { nodes_[node].running = true; }

  int64_t now_ms() const { return now_ms_; }
  Gossip& gossip(size_t node) { return *nodes_[node].gossip; }
  int64_t last_round_ms(size_t node) const { return nodes_[node].last_round_ms; }
  const std::vector<SimEvent>& events() const { return events_; }
  std::string name(size_t node) const { return "n" + std::to_string(node); }

  bool AllKnowAll() const {
    for (const Node& node : nodes_) {
      if (node.gossip->MemberCount() != nodes_.size()) return false;
    }
    return true;
  }

 private:
  struct Node {
    std::unique_ptr<Gossip> gossip;
    bool running = true;
    int64_t last_round_ms = -1;
    int64_t deadline_ms = -1;
    int64_t late_ms = 0;
  };
  struct Delivery {
    int64_t at_ms;
    uint64_t sequence;
    size_t to;
    std::vector<MemberRecord> table;
    bool operator>(const Delivery& other) const {
      return at_ms != other.at_ms ? at_ms > other.at_ms : sequence > other.sequence;
    }
  };

  void TickNode(size_t i) {
    Gossip& gossip = *nodes_[i].gossip;
    uint64_t heartbeat = gossip.self().heartbeat;
    GossipTickResult result = gossip.Tick(now_ms_);
    if (gossip.self().heartbeat != heartbeat) nodes_[i].last_round_ms = now_ms_;
    Note(i, result.events);
    for (const GossipTarget& target : result.targets) {
      size_t to = 0;
      if (target.kind == GossipTarget::Kind::kSeed) {
        to = addresses_.at(target.to);
      } else {
        to = std::stoul(target.to.substr(1));
      }
      if (to == i) FAIL("a node sent its table to itself");
      if (random_.Chance(options_.loss)) continue;
      int64_t at = now_ms_ + random_.Between(0, options_.delay_max_ms);
      deliveries_.push({at, sequence_++, to, Table(gossip)});
    }
  }

  std::vector<MemberRecord> Table(const Gossip& gossip) {
    if (options_.encode_every == 0 || sequence_ % options_.encode_every != 0) {
      return gossip.Table();
    }
    std::string bytes;
    EncodeGossip(GossipMessage{gossip.self().name, gossip.Table()}, &bytes);
    resp::RequestParser parser(resp::ParserLimits{});
    size_t consumed = 0;
    REQUIRE(parser.Feed(bytes, &consumed) == resp::ParseStatus::kComplete);
    auto args = parser.args();
    GossipMessage decoded;
    std::string error;
    REQUIRE_MESSAGE(
        DecodeGossip(std::span<const std::string>(args.data(), args.size()), &decoded, &error),
        error);
    return decoded.table;
  }

  void Deliver(const Delivery& delivery) {
    if (!nodes_[delivery.to].running) return;
    Note(delivery.to, nodes_[delivery.to].gossip->OnGossip(delivery.table, now_ms_));
  }

  void Note(size_t observer, const std::vector<GossipEvent>& events) {
    for (const GossipEvent& event : events) events_.push_back({now_ms_, observer, event});
  }

  SimOptions options_;
  SimRandom random_;
  std::vector<Node> nodes_;
  std::map<std::string, size_t> addresses_;
  std::priority_queue<Delivery, std::vector<Delivery>, std::greater<>> deliveries_;
  uint64_t sequence_ = 0;
  int64_t now_ms_ = 0;
  std::vector<SimEvent> events_;
};

// How many seeded runs a simulation test does: `quick` by default, more
// with RINGKV_GOSSIP_SEEDS=n for the long form docs/gossip.md quotes.
inline uint64_t SeedCount(uint64_t quick) {
  const char* text = std::getenv("RINGKV_GOSSIP_SEEDS");
  if (text == nullptr) return quick;
  uint64_t count = std::strtoull(text, nullptr, 10);
  return count > 0 ? count : quick;
}

struct Distribution {
  std::vector<int64_t> samples;
  void Add(int64_t sample) { samples.push_back(sample); }
  int64_t Percentile(double p) {
    std::sort(samples.begin(), samples.end());
    return samples[static_cast<size_t>(p * static_cast<double>(samples.size() - 1))];
  }
  std::string Summary() {
    return "n=" + std::to_string(samples.size()) + " min=" + std::to_string(Percentile(0)) +
           " p50=" + std::to_string(Percentile(0.5)) + " p99=" + std::to_string(Percentile(0.99)) +
           " max=" + std::to_string(Percentile(1));
  }
};

// Time from `since_ms` until every node except `member` has seen `kind`
// about it (each node's first such event after since_ms), or -1.
inline int64_t TimeUntilAllSee(const SimCluster& cluster, size_t nodes, size_t member, Kind kind,
                               int64_t since_ms, std::vector<int64_t>* per_observer = nullptr) {
  int64_t latest = 0;
  for (size_t observer = 0; observer < nodes; observer++) {
    if (observer == member) continue;
    int64_t seen = -1;
    for (const SimEvent& event : cluster.events()) {
      if (event.observer == observer && event.at_ms >= since_ms && event.event.kind == kind &&
          event.event.member == cluster.name(member)) {
        seen = event.at_ms;
        break;
      }
    }
    if (seen < 0) return -1;
    if (per_observer != nullptr) per_observer->push_back(seen - since_ms);
    latest = std::max(latest, seen - since_ms);
  }
  return latest;
}

inline size_t CountEvents(const SimCluster& cluster, Kind kind) {
  return static_cast<size_t>(
      std::count_if(cluster.events().begin(), cluster.events().end(),
                    [kind](const SimEvent& e) { return e.event.kind == kind; }));
}

}  // namespace ringkv::cluster::gossip_testing

#endif  // RINGKV_TESTS_UNIT_CLUSTER_GOSSIP_SIM_CLUSTER_H_
