// Tests for cluster/ring.cc: balance, determinism, preference lists, spacing
// and minimal movement, over many partition counts, member counts and weights.
#include "cluster/ring.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace ringkv::cluster {
namespace {

constexpr uint32_t kPartitionCounts[] = {8, 24, 64, 256, 1024};
constexpr uint32_t kMembersMax = 20;

// splitmix64: a seeded generator whose sequence is the same on every
// standard library, unlike std::uniform_int_distribution.
uint64_t NextRandom(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::string MemberName(uint32_t i) {
  char name[16];
  std::snprintf(name, sizeof(name), "node-%02u", i);
  return name;
}

// `count` members; seed 0 gives every member weight 1, another seed random
// weights 1..4.
std::vector<RingMember> MakeMembers(uint32_t count, uint64_t seed) {
  std::vector<RingMember> members;
  uint64_t state = seed;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t weight = seed == 0 ? 1 : static_cast<uint32_t>(NextRandom(&state) % 4) + 1;
    members.push_back({MemberName(i), weight});
  }
  return members;
}

// Every (Q, member count, weights) combination the sweeping tests use.
struct Combo {
  uint32_t partition_count;
  std::vector<RingMember> members;
};
std::vector<Combo> AllCombos() {
  std::vector<Combo> combos;
  for (uint32_t partition_count : kPartitionCounts) {
    for (uint32_t count = 1; count <= kMembersMax && count <= partition_count; ++count) {
      for (uint64_t seed : {0, 1, 2}) combos.push_back({partition_count, MakeMembers(count, seed)});
    }
  }
  return combos;
}

bool SameRing(const Ring& a, const Ring& b) {
  if (a.partition_count() != b.partition_count()) return false;
  for (uint32_t p = 0; p < a.partition_count(); ++p) {
    if (a.owner_name(p) != b.owner_name(p)) return false;
  }
  return true;
}

uint32_t MovedPartitions(const Ring& before, const Ring& after) {
  uint32_t moved = 0;
  for (uint32_t p = 0; p < before.partition_count(); ++p) {
    moved += before.owner_name(p) != after.owner_name(p);
  }
  return moved;
}

// Checks that each member owns floor or ceil of Q * weight / total_weight.
void CheckBalanced(const Ring& ring) {
  uint64_t total_weight = 0;
  for (const RingMember& member : ring.members()) total_weight += member.weight;
  uint32_t owned = 0;
  for (uint32_t i = 0; i < ring.members().size(); ++i) {
    uint64_t scaled = uint64_t{ring.partition_count()} * ring.members()[i].weight;
    uint64_t floor = scaled / total_weight;
    uint64_t ceil = floor + (scaled % total_weight != 0);
    CHECK(ring.OwnedCount(i) >= floor);
    CHECK(ring.OwnedCount(i) <= ceil);
    owned += ring.OwnedCount(i);
  }
  CHECK(owned == ring.partition_count());
}

// Windows of `window` consecutive partitions (cyclic) with a repeated owner.
uint32_t CrowdedWindows(const Ring& ring, uint32_t window) {
  uint32_t crowded = 0;
  for (uint32_t start = 0; start < ring.partition_count(); ++start) {
    std::set<uint32_t> owners;
    for (uint32_t step = 0; step < window; ++step) {
      owners.insert(ring.owner((start + step) % ring.partition_count()));
    }
    crowded += owners.size() < window;
  }
  return crowded;
}

// Whether a ring without crowded windows of `window` can exist: each member
// owns at most one partition per window.
bool SpacingPossible(const Ring& ring, uint32_t window) {
  if (ring.members().size() < window) return false;
  for (uint32_t i = 0; i < ring.members().size(); ++i) {
    if (ring.OwnedCount(i) > ring.partition_count() / window) return false;
  }
  return true;
}

// Minimum partitions a balanced reclaim must move from `previous` to a ring
// with `next`'s targets: departed members' partitions plus every surplus.
uint32_t MovementLowerBound(const Ring& previous, const Ring& next) {
  uint32_t bound = 0;
  for (uint32_t i = 0; i < previous.members().size(); ++i) {
    int index = next.MemberIndex(previous.members()[i].name);
    uint32_t old_count = previous.OwnedCount(i);
    if (index < 0) {
      bound += old_count;
    } else {
      uint32_t target = next.OwnedCount(static_cast<uint32_t>(index));
      bound += old_count > target ? old_count - target : 0;
    }
  }
  return bound;
}

// How many partitions name each member among the first `replicas` of their
// preference list, divided by the member's exact share of that load; returns
// max / min over the members with a nonzero share.
double ReplicaLoadRatio(const Ring& ring, uint32_t replicas) {
  std::vector<uint32_t> load(ring.members().size(), 0);
  for (uint32_t p = 0; p < ring.partition_count(); ++p) {
    std::vector<uint32_t> list = ring.PreferenceList(p);
    for (uint32_t k = 0; k < replicas && k < list.size(); ++k) ++load[list[k]];
  }
  double highest = 0, lowest = 1e18;
  for (uint32_t i = 0; i < load.size(); ++i) {
    if (ring.OwnedCount(i) == 0) continue;
    double per_owned = static_cast<double>(load[i]) / ring.OwnedCount(i);
    highest = std::max(highest, per_owned);
    lowest = std::min(lowest, per_owned);
  }
  return highest / lowest;
}

std::vector<RingMember> SeedTestSet() { return MakeMembers(6, 0); }

TEST_CASE("ring: the claim depends only on the member set, not its order") {
  for (uint32_t partition_count : kPartitionCounts) {
    std::vector<RingMember> members = MakeMembers(std::min(7u, partition_count), 3);
    Ring sorted = Ring::Claim(partition_count, members);
    std::reverse(members.begin(), members.end());
    Ring reversed = Ring::Claim(partition_count, members);
    std::rotate(members.begin(), members.begin() + 2, members.end());
    Ring rotated = Ring::Claim(partition_count, members);
    CHECK(SameRing(sorted, reversed));
    CHECK(SameRing(sorted, rotated));
    CHECK(std::is_sorted(reversed.members().begin(), reversed.members().end(),
                         [](const RingMember& a, const RingMember& b) { return a.name < b.name; }));
  }
}

TEST_CASE("ring: every member owns floor or ceil of its weighted share") {
  for (const Combo& combo : AllCombos()) {
    CAPTURE(combo.partition_count);
    CAPTURE(combo.members.size());
    CheckBalanced(Ring::Claim(combo.partition_count, combo.members));
  }
}

TEST_CASE("ring: the first N of every preference list are distinct, owner first") {
  for (const Combo& combo : AllCombos()) {
    Ring ring = Ring::Claim(combo.partition_count, combo.members);
    for (uint32_t p = 0; p < ring.partition_count(); ++p) {
      std::vector<uint32_t> list = ring.PreferenceList(p);
      REQUIRE(list.size() == ring.members().size());
      CHECK(list[0] == ring.owner(p));
      // The whole list is distinct, so every prefix N = 1..members is.
      CHECK(std::set<uint32_t>(list.begin(), list.end()).size() == list.size());
    }
  }
}

TEST_CASE("ring: a preference list walks the ring clockwise") {
  Ring ring = Ring::Claim(64, MakeMembers(5, 2));
  for (uint32_t p = 0; p < ring.partition_count(); ++p) {
    std::vector<uint32_t> expected;
    for (uint32_t step = 0; step < ring.partition_count(); ++step) {
      uint32_t owner = ring.owner((p + step) % ring.partition_count());
      if (std::find(expected.begin(), expected.end(), owner) == expected.end()) {
        expected.push_back(owner);
      }
    }
    CHECK(ring.PreferenceList(p) == expected);
  }
}

TEST_CASE("ring: the seeds' 6 x 4 claim has distinct owners in every window of 6") {
  Ring ring = Ring::Claim(24, SeedTestSet());
  for (uint32_t i = 0; i < 6; ++i) CHECK(ring.OwnedCount(i) == 4);
  CHECK(CrowdedWindows(ring, 3) == 0);
  CHECK(CrowdedWindows(ring, 6) == 0);
  // Each member is one of the 3 replicas of exactly 3 * 4 partitions.
  CHECK(ReplicaLoadRatio(ring, 3) == doctest::Approx(1.0));
}

TEST_CASE("ring: equal weights give distinct owners in every window of N when possible") {
  for (uint32_t partition_count : kPartitionCounts) {
    for (uint32_t count = 1; count <= kMembersMax && count <= partition_count; ++count) {
      for (uint32_t spacing = 2; spacing <= 5; ++spacing) {
        Ring ring = Ring::Claim(partition_count, MakeMembers(count, 0), spacing);
        if (!SpacingPossible(ring, spacing)) continue;
        CAPTURE(partition_count);
        CAPTURE(count);
        CAPTURE(spacing);
        CHECK(CrowdedWindows(ring, spacing) == 0);
      }
    }
  }
}

TEST_CASE("ring: weighted claims keep windows of 3 distinct almost everywhere") {
  uint32_t possible = 0, perfect = 0, crowded_windows = 0, windows = 0;
  double worst_load_ratio = 1;
  for (const Combo& combo : AllCombos()) {
    Ring ring = Ring::Claim(combo.partition_count, combo.members);
    if (!SpacingPossible(ring, 3)) continue;
    ++possible;
    uint32_t crowded = CrowdedWindows(ring, 3);
    perfect += crowded == 0;
    crowded_windows += crowded;
    windows += ring.partition_count();
    worst_load_ratio = std::max(worst_load_ratio, ReplicaLoadRatio(ring, 3));
  }
  MESSAGE("claims where spacing 3 is possible: ", possible, ", perfect: ", perfect,
          ", crowded windows: ", crowded_windows, " of ", windows,
          "; worst replica load max/min (per owned partition): ", worst_load_ratio);
  CHECK(crowded_windows * 1000 <= windows);  // At most 0.1% of windows crowded.
  CHECK(worst_load_ratio <= 1.05);
}

TEST_CASE("ring: adding a member moves exactly the lower bound") {
  uint64_t moved_total = 0, fresh_moved_total = 0;
  uint32_t fresh_worse = 0, reclaims = 0;
  for (const Combo& combo : AllCombos()) {
    if (combo.members.size() + 1 > combo.partition_count) continue;
    Ring previous = Ring::Claim(combo.partition_count, combo.members);
    std::vector<RingMember> members = combo.members;
    members.push_back({"node-05a", 2});  // Sorts into the middle.
    Ring next = Ring::Reclaim(previous, members);
    Ring fresh = Ring::Claim(combo.partition_count, members);
    CAPTURE(combo.partition_count);
    CAPTURE(combo.members.size());
    CheckBalanced(next);
    uint32_t moved = MovedPartitions(previous, next);
    CHECK(moved == MovementLowerBound(previous, next));
    ++reclaims;
    moved_total += moved;
    fresh_moved_total += MovedPartitions(previous, fresh);
    fresh_worse += MovedPartitions(previous, fresh) > moved;
  }
  MESSAGE("add one member: reclaim moved ", moved_total, " partitions in ", reclaims,
          " cases; a fresh claim would have moved ", fresh_moved_total, " (more in ", fresh_worse,
          " cases)");
}

TEST_CASE("ring: removing a member moves exactly the lower bound") {
  uint64_t moved_total = 0, fresh_moved_total = 0;
  uint32_t reclaims = 0;
  for (const Combo& combo : AllCombos()) {
    if (combo.members.size() < 2) continue;
    Ring previous = Ring::Claim(combo.partition_count, combo.members);
    for (size_t gone = 0; gone < combo.members.size(); gone += 1 + combo.members.size() / 6) {
      std::vector<RingMember> members = combo.members;
      members.erase(members.begin() + static_cast<std::ptrdiff_t>(gone));
      Ring next = Ring::Reclaim(previous, members);
      CAPTURE(combo.partition_count);
      CAPTURE(combo.members.size());
      CAPTURE(gone);
      CheckBalanced(next);
      uint32_t moved = MovedPartitions(previous, next);
      CHECK(moved == MovementLowerBound(previous, next));
      ++reclaims;
      moved_total += moved;
      fresh_moved_total += MovedPartitions(previous, Ring::Claim(combo.partition_count, members));
    }
  }
  MESSAGE("remove one member: reclaim moved ", moved_total, " partitions in ", reclaims,
          " cases; a fresh claim would have moved ", fresh_moved_total);
}

TEST_CASE("ring: reclaim after one join or leave keeps windows of 3 mostly distinct") {
  uint32_t possible = 0, perfect = 0, crowded_windows = 0, windows = 0;
  double worst_load_ratio = 1, worst_load_ratio_q64 = 1;  // All Q; Q >= 64.
  for (const Combo& combo : AllCombos()) {
    Ring previous = Ring::Claim(combo.partition_count, combo.members);
    std::vector<std::vector<RingMember>> changes;
    if (combo.members.size() + 1 <= combo.partition_count) {
      changes.push_back(combo.members);
      changes.back().push_back({"node-05a", 1});
    }
    if (combo.members.size() >= 2) {
      changes.push_back(combo.members);
      changes.back().erase(changes.back().begin());
    }
    for (const std::vector<RingMember>& members : changes) {
      Ring next = Ring::Reclaim(previous, members);
      if (!SpacingPossible(next, 3)) continue;
      ++possible;
      uint32_t crowded = CrowdedWindows(next, 3);
      perfect += crowded == 0;
      crowded_windows += crowded;
      windows += next.partition_count();
      worst_load_ratio = std::max(worst_load_ratio, ReplicaLoadRatio(next, 3));
      if (next.partition_count() >= 64) {
        worst_load_ratio_q64 = std::max(worst_load_ratio_q64, ReplicaLoadRatio(next, 3));
      }
    }
  }
  MESSAGE("reclaims where spacing 3 is possible: ", possible, ", perfect: ", perfect,
          ", crowded windows: ", crowded_windows, " of ", windows,
          "; worst replica load max/min (per owned partition): ", worst_load_ratio,
          ", with Q >= 64: ", worst_load_ratio_q64);
  CHECK(crowded_windows * 50 <= windows);  // At most 2% of windows crowded.
}

TEST_CASE("ring: the seeds' set gaining a 7th, losing it, or losing one of its own") {
  Ring six = Ring::Claim(24, SeedTestSet());
  std::vector<RingMember> seven_members = SeedTestSet();
  seven_members.push_back({"node-06", 1});
  Ring seven = Ring::Reclaim(six, seven_members);
  CHECK(MovedPartitions(six, seven) == 3);
  CHECK(CrowdedWindows(seven, 3) == 0);
  Ring back = Ring::Reclaim(seven, SeedTestSet());
  CHECK(MovedPartitions(seven, back) == 3);
  CHECK(CrowdedWindows(back, 3) == 0);
  std::vector<RingMember> five_members = SeedTestSet();
  five_members.erase(five_members.begin() + 2);
  Ring five = Ring::Reclaim(six, five_members);
  CHECK(MovedPartitions(six, five) == 4);
  // Each freed C sits in A B _ D E, where only F would fit, but F is the one
  // member whose target stays at 4. Giving the four slots to A, B, D and E
  // crowds 1 + 2 + 2 + 1 windows: the least any minimal-movement reclaim can.
  CHECK(CrowdedWindows(five, 3) == 6);
}

TEST_CASE("ring: reclaim is deterministic and keeps a ring whose members did not change") {
  Ring previous = Ring::Claim(256, MakeMembers(9, 1));
  std::vector<RingMember> members = MakeMembers(10, 1);
  Ring a = Ring::Reclaim(previous, members);
  std::reverse(members.begin(), members.end());
  Ring b = Ring::Reclaim(previous, members);
  CHECK(SameRing(a, b));
  CHECK(SameRing(Ring::Reclaim(a, members), a));
}

TEST_CASE("ring: a heavier weight keeps the member's partitions and adds more") {
  std::vector<RingMember> members = MakeMembers(4, 0);
  Ring previous = Ring::Claim(64, members);
  members[1].weight = 2;
  Ring next = Ring::Reclaim(previous, members);
  CheckBalanced(next);
  CHECK(next.OwnedCount(1) >= 25);
  for (uint32_t p = 0; p < 64; ++p) {
    if (previous.owner(p) == 1) CHECK(next.owner(p) == 1);
  }
  CHECK(MovedPartitions(previous, next) == MovementLowerBound(previous, next));
}

TEST_CASE("ring: a member whose share rounds to zero is listed last") {
  Ring ring = Ring::Claim(8, {{"big", 100}, {"tiny", 1}});
  CHECK(ring.OwnedCount(0) == 8);
  CHECK(ring.OwnedCount(1) == 0);
  CHECK(ring.PreferenceList(3) == std::vector<uint32_t>{0, 1});
}

TEST_CASE("ring: MemberIndex finds members by name") {
  Ring ring = Ring::Claim(24, {{"c", 1}, {"a", 1}, {"b", 1}});
  CHECK(ring.MemberIndex("a") == 0);
  CHECK(ring.MemberIndex("c") == 2);
  CHECK(ring.MemberIndex("d") == -1);
  CHECK(ring.MemberIndex("") == -1);
  CHECK(ring.owner_name(0) == "a");
  CHECK(Ring().partition_count() == 0);
}

}  // namespace
}  // namespace ringkv::cluster
