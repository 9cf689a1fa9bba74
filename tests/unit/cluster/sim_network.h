// tests/unit/cluster/sim_network.h: the simulation's fake network. Every
// message gets a delivery time (now + a seeded delay, so messages overtake
// each other); while faults are on it may be dropped, duplicated or delayed
// far past the request timeout, and nodes may be cut off for windows of
// time (their messages, both ways, are lost at sending and at delivery):
// one that nobody notices (`isolated`), and nodes that are down (`down`),
// which the simulation also reports to the coordinators (SetDown). The
// simulation may also inject local notices (a failed reply the sender's own
// adapter makes up for a request it could not send), which never cross the
// network and so are never lost.
#ifndef RINGKV_TESTS_UNIT_CLUSTER_SIM_NETWORK_H_
#define RINGKV_TESTS_UNIT_CLUSTER_SIM_NETWORK_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cluster/messages.h"
#include "unit/cluster/sim_random.h"

namespace ringkv::cluster {

// A node down during [from_ms, until_ms).
struct SimDownWindow {
  std::string node;
  int64_t from_ms = 0;
  int64_t until_ms = 0;
};

struct SimFaults {
  double drop = 0;       // Probability that a message is lost.
  double duplicate = 0;  // Probability that it is delivered twice.
  double slow = 0;       // Probability that it takes 100..600 ms.
  std::string isolated;  // A node cut off during [isolated_from_ms, isolated_until_ms).
  int64_t isolated_from_ms = 0;
  int64_t isolated_until_ms = 0;
  // Probability that a lost request is reported to its sender at once, as
  // an adapter that sees the peer down may do, instead of timing out.
  double reported = 0;
  std::vector<SimDownWindow> down;  // Nodes down for a while, one window each.
  std::string failing_store;        // A node whose store fails during [from, until).
  int64_t failing_from_ms = 0;
  int64_t failing_until_ms = 0;
};

struct SimDelivery {
  std::string from;
  std::string to;
  Message message;
  bool local = false;  // Injected by the sender's side: never lost.
};

struct SimNetworkStats {
  uint64_t sent = 0;
  uint64_t dropped = 0;
  uint64_t duplicated = 0;
  uint64_t delivered = 0;
};

class SimNetwork {
 public:
  // `random` is not owned.
  explicit SimNetwork(SimRandom* random) : random_(random) {}

  // Faults apply to messages sent before `heal_ms`; after it the network is
  // perfect (delays of 1..50 ms only).
  void set_faults(const SimFaults& faults, int64_t heal_ms) {
    faults_ = faults;
    heal_ms_ = heal_ms;
  }

  // Schedules `envelope` from `from`; returns false if it was dropped.
  bool Send(int64_t now_ms, const std::string& from, Envelope envelope) {
    ++stats_.sent;
    const bool faulty = now_ms < heal_ms_;
    if (faulty && (Cut(now_ms, from, envelope.to) || random_->Chance(faults_.drop))) {
      ++stats_.dropped;
      return false;
    }
    const int copies = faulty && random_->Chance(faults_.duplicate) ? 2 : 1;
    if (copies == 2) ++stats_.duplicated;
    for (int copy = 0; copy < copies; ++copy) {
      int64_t delay_ms = random_->Between(1, 50);
      if (faulty && random_->Chance(faults_.slow)) delay_ms = random_->Between(100, 600);
      SimDelivery delivery{from, envelope.to,
                           copy + 1 < copies ? envelope.message : std::move(envelope.message)};
      queue_.emplace(std::make_pair(now_ms + delay_ms, next_sequence_++), std::move(delivery));
    }
    return true;
  }

  // Delivers `delivery` at `at_ms`, whatever the faults.
  void Inject(int64_t at_ms, SimDelivery delivery) {
    delivery.local = true;
    queue_.emplace(std::make_pair(at_ms, next_sequence_++), std::move(delivery));
  }

  std::optional<int64_t> NextDeliveryMs() const {
    if (queue_.empty()) return std::nullopt;
    return queue_.begin()->first.first;
  }

  // Takes the earliest message due at or before `now_ms` into *delivery;
  // false if none. A message reaching a node cut off now is lost.
  bool Pop(int64_t now_ms, SimDelivery* delivery) {
    while (!queue_.empty() && queue_.begin()->first.first <= now_ms) {
      auto node = queue_.extract(queue_.begin());
      const SimDelivery& message = node.mapped();
      if (!message.local && now_ms < heal_ms_ && Cut(now_ms, message.from, message.to)) {
        ++stats_.dropped;
        continue;
      }
      ++stats_.delivered;
      *delivery = std::move(node.mapped());
      return true;
    }
    return false;
  }

  bool empty() const { return queue_.empty(); }
  const SimNetworkStats& stats() const { return stats_; }

 private:
  bool Cut(int64_t now_ms, const std::string& from, const std::string& to) const {
    for (const SimDownWindow& window : faults_.down) {
      if (now_ms >= window.from_ms && now_ms < window.until_ms &&
          (from == window.node || to == window.node)) {
        return true;
      }
    }
    if (faults_.isolated.empty()) return false;
    if (now_ms < faults_.isolated_from_ms || now_ms >= faults_.isolated_until_ms) return false;
    return from == faults_.isolated || to == faults_.isolated;
  }

  SimRandom* const random_;  // Not owned.
  SimFaults faults_;
  int64_t heal_ms_ = 0;
  // (delivery time, sequence): equal times keep their sending order.
  std::map<std::pair<int64_t, uint64_t>, SimDelivery> queue_;
  uint64_t next_sequence_ = 0;
  SimNetworkStats stats_;
};

}  // namespace ringkv::cluster

#endif  // RINGKV_TESTS_UNIT_CLUSTER_SIM_NETWORK_H_
