// tests/unit/cluster/sim_random.h: the simulation's seeded generator.
// splitmix64, so a seed gives the same run on every standard library (unlike
// the <random> distributions).
#ifndef RINGKV_TESTS_UNIT_CLUSTER_SIM_RANDOM_H_
#define RINGKV_TESTS_UNIT_CLUSTER_SIM_RANDOM_H_

#include <cassert>
#include <cstdint>

namespace ringkv::cluster {

class SimRandom {
 public:
  explicit SimRandom(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound). REQUIRES: bound > 0. The modulo bias is
  // negligible for the small bounds used here.
  uint64_t Below(uint64_t bound) {
    assert(bound > 0);
    return Next() % bound;
  }
  // Uniform in [low, high].
  int64_t Between(int64_t low, int64_t high) {
    return low + static_cast<int64_t>(Below(static_cast<uint64_t>(high - low) + 1));
  }
  // True with probability `p`.
  bool Chance(double p) { return static_cast<double>(Next() >> 11) * 0x1.0p-53 < p; }

 private:
  uint64_t state_;
};

}  // namespace ringkv::cluster

#endif  // RINGKV_TESTS_UNIT_CLUSTER_SIM_RANDOM_H_
