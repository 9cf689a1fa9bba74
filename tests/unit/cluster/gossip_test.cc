// Tests for cluster/gossip.cc: the state machine's rules one by one, the
// member-list encoding, and simulated clusters (in-process nodes, seeded
// delays and loss) that measure bootstrap, detection and recovery times and
// check for false suspicion. docs/gossip.md quotes the measurements.
#include "cluster/gossip.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "cluster/peer_protocol.h"
#include "resp/parser.h"
#include "sim_random.h"

namespace ringkv::cluster {
namespace {

using Kind = GossipEvent::Kind;

MemberRecord MakeRecord(const std::string& name, uint64_t heartbeat = 0, uint64_t incarnation = 1) {
  MemberRecord record;
  record.name = name;
  record.host = "10.0.0." + std::to_string(name.size());
  record.port = 6379;
  record.peer_port = static_cast<uint16_t>(7000 + name.back());
  record.weight = 1;
  record.incarnation = incarnation;
  record.created_ms = 1700000000000 + incarnation;
  record.heartbeat = heartbeat;
  return record;
}

// ---- Simulated cluster -------------------------------------------------------

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
  // Round-trips one table in `encode_every` through RK.GOSSIP bytes, so the
  // simulation also exercises the codec without paying for it everywhere.
  uint64_t encode_every = 50;
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
        int64_t at = std::max(now_ms_, nodes_[i].gossip->NextDeadlineMs());
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
      REQUIRE(to != i);
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
    REQUIRE_MESSAGE(DecodeGossip(std::span<const std::string>(args.data(), args.size()), &decoded,
                                 &error),
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
int64_t TimeUntilAllSee(const SimCluster& cluster, size_t nodes, size_t member, Kind kind,
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

size_t CountEvents(const SimCluster& cluster, Kind kind) {
  return static_cast<size_t>(std::count_if(cluster.events().begin(), cluster.events().end(),
                                           [kind](const SimEvent& e) { return e.event.kind == kind; }));
}

TEST_CASE("gossip sim: six nodes bootstrapped from one seed learn every member") {
  Distribution converge;
  for (uint64_t seed = 1; seed <= 100; seed++) {
    SimCluster cluster(SimOptions{}, seed);
    int64_t step = 10;
    while (!cluster.AllKnowAll() && cluster.now_ms() < 20000) cluster.RunUntil(cluster.now_ms() + step);
    REQUIRE(cluster.AllKnowAll());
    converge.Add(cluster.now_ms());
  }
  MESSAGE("bootstrap to full membership (ms): " << converge.Summary());
  // Round 1 reaches the seed, the seed's next round reaches everyone.
  CHECK(converge.Percentile(1) <= 3000);
}

TEST_CASE("gossip sim: a stopped node is suspect everywhere within 3 intervals, alive again within 2") {
  Distribution detection, per_node, recovery;
  for (uint64_t seed = 1; seed <= 200; seed++) {
    SimCluster cluster(SimOptions{}, seed);
    SimRandom random(seed * 7919);
    cluster.RunUntil(10000 + random.Between(0, 999));
    REQUIRE(cluster.AllKnowAll());
    size_t victim = seed % 6;
    cluster.Stop(victim);
    int64_t last_heartbeat_ms = cluster.last_round_ms(victim);
    cluster.RunUntil(cluster.now_ms() + 6000);
    std::vector<int64_t> observed;
    int64_t detected = TimeUntilAllSee(cluster, 6, victim, Kind::kSuspect, last_heartbeat_ms, &observed);
    REQUIRE(detected >= 0);
    detection.Add(detected);
    for (int64_t one : observed) per_node.Add(one);
    CHECK(cluster.gossip((victim + 1) % 6).AliveCount() == 5);

    int64_t resumed_ms = cluster.now_ms();
    cluster.Resume(victim);
    cluster.RunUntil(resumed_ms + 4000);
    int64_t back = TimeUntilAllSee(cluster, 6, victim, Kind::kAlive, resumed_ms);
    REQUIRE(back >= 0);
    recovery.Add(back);
    // The resumed node noticed its own pause and suspects nobody for it.
    CHECK(cluster.gossip(victim).stats().local_pauses == 1);
    CHECK(cluster.gossip(victim).AliveCount() == 6);
    CHECK(CountEvents(cluster, Kind::kSuspect) == 5);
  }
  MESSAGE("detection, last heartbeat -> suspect on the last node (ms): " << detection.Summary());
  MESSAGE("detection per observer (ms): " << per_node.Summary());
  MESSAGE("recovery, resume -> alive on every node (ms): " << recovery.Summary());
  CHECK(detection.Percentile(1) <= 3 * 1000);
  CHECK(recovery.Percentile(1) <= 2 * 1000 + 100);
}

TEST_CASE("gossip sim: no false suspicion over 300 healthy intervals with delays and 1% loss") {
  Distribution rounds;
  for (uint64_t seed = 1; seed <= 100; seed++) {
    SimOptions options;
    options.loss = 0.01;
    SimCluster cluster(options, seed);
    cluster.RunUntil(300 * 1000);
    CHECK(cluster.AllKnowAll());
    CHECK(CountEvents(cluster, Kind::kSuspect) == 0);
    CHECK(CountEvents(cluster, Kind::kAlive) == 0);
    rounds.Add(static_cast<int64_t>(cluster.gossip(seed % 6).stats().rounds));
  }
  CHECK(rounds.Percentile(0) >= 299);
}

// ---- Rules, one by one --------------------------------------------------------
// (More in the second half of this file.)

}  // namespace
}  // namespace ringkv::cluster
