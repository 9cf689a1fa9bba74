// tests/unit/cluster/sim_config.h: what one run of the deterministic
// simulation (simulation.h) is told and what it reports. A seed picks the
// configuration (SimConfigForSeed): the cluster's shape, the clients' load
// and every fault; SimSummary counts what happened, per run and, added up,
// over many.
#ifndef RINGKV_TESTS_UNIT_CLUSTER_SIM_CONFIG_H_
#define RINGKV_TESTS_UNIT_CLUSTER_SIM_CONFIG_H_

#include <stdio.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "cluster/coordinator.h"
#include "unit/cluster/sim_memory_store.h"
#include "unit/cluster/sim_network.h"
#include "unit/cluster/sim_random.h"

namespace ringkv::cluster::simulation_testing {

struct SimConfig {
  uint32_t members = 5;
  uint32_t partitions = 16;
  Consistency consistency{3, 2, 2};  // The clients' default; some requests vary w and r.
  uint32_t keys = 5;
  uint32_t operations = 60;    // Client operations, spread over the fault phase.
  int64_t duration_ms = 2000;  // The fault phase; then the network heals.
  int64_t request_timeout_ms = 400;
  // Read fan-out (CoordinatorOptions): 1 asks all n slots on every read.
  double read_repair_chance = 1;
  int64_t read_retry_after_ms = 100;
  SimFaults faults;
  MemoryStore::Sabotage sabotage = MemoryStore::Sabotage::kNone;  // Tests of the checks.

  std::string Describe() const;
};

struct SimSummary {
  uint64_t writes = 0;
  uint64_t writes_acked = 0;
  uint64_t writes_acked_with_hints = 0;  // Acked with a stand-in's ack counted.
  uint64_t hints_stored = 0;
  uint64_t hints_delivered = 0;
  uint64_t view_changes = 0;  // SetDown calls from the down windows.
  uint64_t reads = 0;
  uint64_t reads_ok = 0;
  uint64_t read_repairs = 0;
  uint64_t read_spares_asked = 0;  // Reads asking r slots that asked a spare too.
  uint64_t store_errors = 0;
  uint64_t superseded = 0;
  uint64_t final_siblings = 0;
  SimNetworkStats network;
  void Add(const SimSummary& other);
};

inline std::string SimConfig::Describe() const {
  std::string down;
  for (const SimDownWindow& window : faults.down) {
    down += (down.empty() ? "" : ",") + window.node + "[" + std::to_string(window.from_ms) + "," +
            std::to_string(window.until_ms) + ")";
  }
  char text[512];
  snprintf(text, sizeof(text),
           "members=%u Q=%u N=%u W=%u R=%u keys=%u ops=%u timeout=%lldms drop=%.2f dup=%.2f "
           "slow=%.2f reported=%.2f isolated=%s[%lld,%lld) down=%s failing_store=%s[%lld,%lld) "
           "read_repair_chance=%g read_retry=%lldms%s",
           members, partitions, consistency.n, consistency.w, consistency.r, keys, operations,
           static_cast<long long>(request_timeout_ms), faults.drop, faults.duplicate, faults.slow,
           faults.reported, faults.isolated.empty() ? "-" : faults.isolated.c_str(),
           static_cast<long long>(faults.isolated_from_ms),
           static_cast<long long>(faults.isolated_until_ms), down.empty() ? "-" : down.c_str(),
           faults.failing_store.empty() ? "-" : faults.failing_store.c_str(),
           static_cast<long long>(faults.failing_from_ms),
           static_cast<long long>(faults.failing_until_ms), read_repair_chance,
           static_cast<long long>(read_retry_after_ms),
           sabotage == MemoryStore::Sabotage::kNone ? "" : " SABOTAGED");
  return text;
}

// The configuration a seed runs: even seeds the seeds' usual shape (5 nodes,
// Q = 16, N = 3, W = 2, R = 2), odd seeds a random shape; faults always
// random.
inline SimConfig SimConfigForSeed(uint64_t seed) {
  SimRandom random(seed ^ 0x5eed5eed5eed5eedULL);
  SimConfig config;
  if (seed % 2 == 1) {
    config.members = static_cast<uint32_t>(random.Between(3, 6));
    const uint32_t partition_counts[] = {8, 16, 24};
    config.partitions = partition_counts[random.Below(3)];
    config.consistency.n = static_cast<uint32_t>(random.Between(1, std::min(config.members, 4u)));
    config.consistency.w = static_cast<uint32_t>(random.Between(1, config.consistency.n));
    config.consistency.r = static_cast<uint32_t>(random.Between(1, config.consistency.n));
  }
  config.keys = static_cast<uint32_t>(random.Between(1, 8));
  config.operations = static_cast<uint32_t>(random.Between(30, 200));
  const int64_t timeouts_ms[] = {150, 400, 1000};
  config.request_timeout_ms = timeouts_ms[random.Below(3)];
  config.faults.drop = 0.05 + 0.15 * static_cast<double>(random.Below(1001)) / 1000;
  config.faults.duplicate = 0.05;
  config.faults.slow = 0.02;
  if (random.Chance(0.5)) {
    config.faults.isolated = "n" + std::to_string(random.Below(config.members));
    config.faults.isolated_from_ms = random.Between(0, config.duration_ms / 2);
    config.faults.isolated_until_ms = config.faults.isolated_from_ms + random.Between(200, 800);
  }
  config.faults.reported = random.Chance(0.5) ? 0.3 : 0;
  if (random.Chance(0.3)) {
    config.faults.failing_store = "n" + std::to_string(random.Below(config.members));
    config.faults.failing_from_ms = random.Between(0, config.duration_ms / 2);
    config.faults.failing_until_ms = config.faults.failing_from_ms + random.Between(100, 500);
  }
  // Drawn last, so the other choices of a seed stay what they were.
  if (random.Chance(0.5)) {
    const uint64_t count = random.Between(1, std::min<uint64_t>(2, config.members - 1));
    const uint64_t first = random.Below(config.members);
    for (uint64_t i = 0; i < count; ++i) {
      SimDownWindow window;
      window.node = "n" + std::to_string((first + i) % config.members);
      window.from_ms = random.Between(0, config.duration_ms / 2);
      window.until_ms = window.from_ms + random.Between(200, 1000);
      config.faults.down.push_back(std::move(window));
    }
  }
  // Drawn after the rest for the same reason.
  const double chances[] = {0, 0.1, 1};
  config.read_repair_chance = chances[random.Below(3)];
  const int64_t retries_ms[] = {0, 20, 100};
  config.read_retry_after_ms = retries_ms[random.Below(3)];
  return config;
}

inline void SimSummary::Add(const SimSummary& other) {
  writes += other.writes;
  writes_acked += other.writes_acked;
  writes_acked_with_hints += other.writes_acked_with_hints;
  hints_stored += other.hints_stored;
  hints_delivered += other.hints_delivered;
  view_changes += other.view_changes;
  reads += other.reads;
  reads_ok += other.reads_ok;
  read_repairs += other.read_repairs;
  read_spares_asked += other.read_spares_asked;
  store_errors += other.store_errors;
  superseded += other.superseded;
  final_siblings += other.final_siblings;
  network.sent += other.network.sent;
  network.dropped += other.network.dropped;
  network.duplicated += other.network.duplicated;
  network.delivered += other.network.delivered;
}

}  // namespace ringkv::cluster::simulation_testing

#endif  // RINGKV_TESTS_UNIT_CLUSTER_SIM_CONFIG_H_
