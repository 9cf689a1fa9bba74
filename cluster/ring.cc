// cluster/ring.cc: the claim algorithm. docs/ring.md explains it and records
// the balance, movement and spacing it reaches.
#include "cluster/ring.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <tuple>
#include <utility>

namespace ringkv::cluster {
namespace {

constexpr uint32_t kNoOwner = std::numeric_limits<uint32_t>::max();
// Passes of the crowding repair (see Layout::Repair).
constexpr uint32_t kRepairPassesMax = 4;

// The claim works on a ring of owners where some entries may still be
// unassigned (kNoOwner). "Crowding" counts pairs of partitions closer than the
// spacing target that share an owner, each weighted by the windows it spoils:
// a perfect ring has none.
class Layout {
 public:
  Layout(std::vector<uint32_t> owners, uint32_t target_spacing)
      : owners_(std::move(owners)),
        size_(static_cast<uint32_t>(owners_.size())),
        // On a tiny ring a longer reach would compare a partition with itself.
        reach_(std::min(target_spacing - 1, size_ - 1)) {}

  uint32_t size() const { return size_; }
  uint32_t owner(uint32_t partition) const { return owners_[partition]; }
  void set_owner(uint32_t partition, uint32_t member) { owners_[partition] = member; }
  std::vector<uint32_t> TakeOwners() { return std::move(owners_); }

  // How crowded `member` would be at `partition`: for each partition of
  // `member` within the reach on either side, the number of windows of the
  // target spacing that hold both, so a neighbour right next door costs more
  // than one at the edge of the window.
  uint32_t Crowding(uint32_t partition, uint32_t member) const {
    if (member == kNoOwner) return 0;
    uint32_t count = 0;
    for (uint32_t step = 1; step <= reach_; ++step) {
      uint32_t windows = reach_ + 1 - step;
      count += windows * (owners_[(partition + step) % size_] == member);
      count += windows * (owners_[(partition + size_ - step) % size_] == member);
    }
    return count;
  }
  uint32_t Crowding(uint32_t partition) const { return Crowding(partition, owners_[partition]); }

  // Cyclic distance between two partitions.
  uint32_t Distance(uint32_t a, uint32_t b) const {
    uint32_t forward = (b + size_ - a) % size_;
    return std::min(forward, size_ - forward);
  }

  // Change of total crowding if the owners of `a` and `b` were swapped. The
  // pairs that join a and b are counted twice but do not change, so the
  // difference is exact.
  int SwapDelta(uint32_t a, uint32_t b) {
    int before = static_cast<int>(Crowding(a) + Crowding(b));
    std::swap(owners_[a], owners_[b]);
    int after = static_cast<int>(Crowding(a) + Crowding(b));
    std::swap(owners_[a], owners_[b]);
    return after - before;
  }

  // Local search: swap the owners of two `movable` partitions while that
  // strictly lowers the total crowding. Swaps keep every member's count, and
  // Reclaim passes only partitions that move anyway, so neither balance nor
  // movement changes. A pass costs O(crowded * movable); in the sweep of the
  // tests more passes than kRepairPassesMax never helped, and the cap keeps
  // hopeless cases (a member owning more than Q / spacing) from spending
  // many quadratic passes for nothing.
  void Repair(const std::vector<uint32_t>& movable) {
    bool improved = true;
    for (uint32_t pass = 0; improved && pass < kRepairPassesMax; ++pass) {
      improved = false;
      for (uint32_t a : movable) {
        if (Crowding(a) == 0) continue;
        int best_delta = 0;
        uint32_t best_b = kNoOwner;
        for (uint32_t b : movable) {
          if (owners_[b] == owners_[a]) continue;
          int delta = SwapDelta(a, b);
          if (delta < best_delta) {
            best_delta = delta;
            best_b = b;
          }
        }
        if (best_b != kNoOwner) {
          std::swap(owners_[a], owners_[best_b]);
          improved = true;
        }
      }
    }
  }

 private:
  std::vector<uint32_t> owners_;
  uint32_t size_;
  uint32_t reach_;
};

std::vector<RingMember> SortedByName(std::vector<RingMember> members) {
  std::sort(members.begin(), members.end(),
            [](const RingMember& a, const RingMember& b) { return a.name < b.name; });
  for (size_t i = 0; i + 1 < members.size(); ++i) assert(members[i].name != members[i + 1].name);
  return members;
}

// Partitions each member should own: floor of its exact weighted share, plus
// one for the members with the largest remainders until the counts sum to
// partition_count (ties go to the smaller name, i.e. the smaller index).
std::vector<uint32_t> TargetCounts(uint32_t partition_count,
                                   const std::vector<RingMember>& members) {
  uint64_t total_weight = 0;
  for (const RingMember& member : members) {
    assert(member.weight > 0);
    total_weight += member.weight;
  }
  std::vector<uint32_t> targets(members.size());
  std::vector<uint64_t> remainders(members.size());
  uint32_t assigned = 0;
  for (size_t i = 0; i < members.size(); ++i) {
    uint64_t scaled = uint64_t{partition_count} * members[i].weight;
    targets[i] = static_cast<uint32_t>(scaled / total_weight);
    remainders[i] = scaled % total_weight;
    assigned += targets[i];
  }
  std::vector<uint32_t> order(members.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return remainders[a] > remainders[b]; });
  // Fewer than members.size() partitions are left over: each remainder is
  // below one partition.
  for (uint32_t k = 0; assigned < partition_count; ++k, ++assigned) ++targets[order[k]];
  return targets;
}

// Fresh layout: member i's j-th partition has the ideal position
// (j + i / members) * Q / target_i on a circle of circumference Q, so each
// member's partitions are evenly spaced and the members are staggered; the
// partitions are dealt in the order of those positions. With equal counts
// this is plain round robin (the seeds' 6 x 4 ring is ABCDEF ABCDEF ...);
// with unequal counts the larger members drift ahead smoothly instead of
// bunching their extra partitions at the end of the ring. Between two
// partitions of a member lie about Q / target_i - 1 others, so windows of N
// come out distinct wherever target_i <= Q / N, up to rounding that Repair
// then fixes.
void DealByIdealPosition(const std::vector<uint32_t>& targets, Layout* layout) {
  // Positions in units of Q, which every position shares.
  struct Slot {
    uint64_t numerator;    // j * members + i
    uint64_t denominator;  // target_i * members
    uint32_t member;
  };
  const uint64_t member_count = targets.size();
  std::vector<Slot> slots;
  slots.reserve(layout->size());
  for (uint32_t member = 0; member < targets.size(); ++member) {
    for (uint32_t j = 0; j < targets[member]; ++j) {
      slots.push_back({j * member_count + member, targets[member] * member_count, member});
    }
  }
  // Exact comparison of the rational positions: both factors stay below
  // Q * members <= Q^2, so the products fit while Q <= kPartitionCountMax.
  std::sort(slots.begin(), slots.end(), [](const Slot& a, const Slot& b) {
    uint64_t left = a.numerator * b.denominator, right = b.numerator * a.denominator;
    return left != right ? left < right : a.member < b.member;
  });
  assert(slots.size() == layout->size());
  for (uint32_t partition = 0; partition < slots.size(); ++partition) {
    layout->set_owner(partition, slots[partition].member);
  }
}

// Frees `excess[m]` partitions of every member m over its target. Which ones:
// first those crowded by their own owner, then those where some taker (a
// member under target) would fit without crowding, then those farthest from
// partitions already freed, so that one new member's partitions end up
// spread out; the lowest partition breaks the remaining ties.
void ReleaseSurplus(std::vector<uint32_t> excess, const std::vector<uint32_t>& deficits,
                    Layout* layout) {
  const uint32_t size = layout->size();
  std::vector<uint32_t> distance_to_freed(size, size);
  auto note_freed = [&](uint32_t freed) {
    for (uint32_t p = 0; p < size; ++p) {
      distance_to_freed[p] = std::min(distance_to_freed[p], layout->Distance(p, freed));
    }
  };
  for (uint32_t p = 0; p < size; ++p) {
    if (layout->owner(p) == kNoOwner) note_freed(p);
  }
  auto fits_a_taker = [&](uint32_t partition) {
    for (uint32_t member = 0; member < deficits.size(); ++member) {
      if (deficits[member] > 0 && layout->Crowding(partition, member) == 0) return true;
    }
    return false;
  };
  uint32_t to_free = 0;
  for (uint32_t count : excess) to_free += count;
  for (; to_free > 0; --to_free) {
    uint32_t best = kNoOwner;
    std::tuple<uint32_t, bool, uint32_t> best_key;
    for (uint32_t p = 0; p < size; ++p) {
      uint32_t owner = layout->owner(p);
      if (owner == kNoOwner || excess[owner] == 0) continue;
      std::tuple<uint32_t, bool, uint32_t> key{layout->Crowding(p), fits_a_taker(p),
                                               distance_to_freed[p]};
      if (best == kNoOwner || key > best_key) {
        best = p;
        best_key = key;
      }
    }
    assert(best != kNoOwner);
    --excess[layout->owner(best)];
    layout->set_owner(best, kNoOwner);
    note_freed(best);
  }
}

// Gives every unowned partition to a member under target. Like greedy graph
// colouring (DSatur): the partition with the fewest takers that fit without
// crowding goes first; it goes to the least crowded taker, then to the one
// furthest below target, then to the smaller index.
void AssignFreed(const std::vector<uint32_t>& freed, std::vector<uint32_t> deficits,
                 Layout* layout) {
  std::vector<uint32_t> open = freed;
  while (!open.empty()) {
    size_t pick = 0;
    uint32_t pick_fitting = kNoOwner;
    for (size_t i = 0; i < open.size(); ++i) {
      uint32_t fitting = 0;
      for (uint32_t member = 0; member < deficits.size(); ++member) {
        fitting += deficits[member] > 0 && layout->Crowding(open[i], member) == 0;
      }
      if (fitting < pick_fitting) {
        pick = i;
        pick_fitting = fitting;
      }
    }
    uint32_t partition = open[pick];
    uint32_t best = kNoOwner;
    uint32_t best_crowding = 0;
    for (uint32_t member = 0; member < deficits.size(); ++member) {
      if (deficits[member] == 0) continue;
      uint32_t crowding = layout->Crowding(partition, member);
      if (best == kNoOwner || crowding < best_crowding ||
          (crowding == best_crowding && deficits[member] > deficits[best])) {
        best = member;
        best_crowding = crowding;
      }
    }
    assert(best != kNoOwner);  // Deficits sum to the number of open partitions.
    --deficits[best];
    layout->set_owner(partition, best);
    open.erase(open.begin() + static_cast<std::ptrdiff_t>(pick));
  }
}

}  // namespace

Ring::Ring(std::vector<RingMember> members, std::vector<uint32_t> owners)
    : members_(std::move(members)), owners_(std::move(owners)), owned_counts_(members_.size(), 0) {
  for (uint32_t owner : owners_) {
    assert(owner < members_.size());
    ++owned_counts_[owner];
  }
}

Ring Ring::Claim(uint32_t partition_count, std::vector<RingMember> members,
                 uint32_t target_spacing) {
  assert(!members.empty() && partition_count >= members.size() && target_spacing >= 1);
  assert(partition_count <= kPartitionCountMax);
  members = SortedByName(std::move(members));
  std::vector<uint32_t> targets = TargetCounts(partition_count, members);
  Layout layout(std::vector<uint32_t>(partition_count, kNoOwner), target_spacing);
  DealByIdealPosition(targets, &layout);
  std::vector<uint32_t> all(partition_count);
  for (uint32_t p = 0; p < partition_count; ++p) all[p] = p;
  layout.Repair(all);
  return Ring(std::move(members), layout.TakeOwners());
}

Ring Ring::Reclaim(const Ring& previous, std::vector<RingMember> members, uint32_t target_spacing) {
  const uint32_t partition_count = previous.partition_count();
  assert(!members.empty() && partition_count >= members.size() && target_spacing >= 1);
  members = SortedByName(std::move(members));
  std::vector<uint32_t> targets = TargetCounts(partition_count, members);

  // Keep every partition whose owner is still a member; departed members'
  // partitions start out unowned.
  Ring renamed(members, {});
  std::vector<uint32_t> new_index(previous.members_.size(), kNoOwner);
  for (uint32_t i = 0; i < previous.members_.size(); ++i) {
    int index = renamed.MemberIndex(previous.members_[i].name);
    if (index >= 0) new_index[i] = static_cast<uint32_t>(index);
  }
  std::vector<uint32_t> owners(partition_count);
  std::vector<uint32_t> kept(members.size(), 0);
  for (uint32_t p = 0; p < partition_count; ++p) {
    owners[p] = new_index[previous.owners_[p]];
    if (owners[p] != kNoOwner) ++kept[owners[p]];
  }

  std::vector<uint32_t> excess(members.size(), 0);
  std::vector<uint32_t> deficits(members.size(), 0);
  for (uint32_t i = 0; i < members.size(); ++i) {
    if (kept[i] > targets[i]) excess[i] = kept[i] - targets[i];
    if (kept[i] < targets[i]) deficits[i] = targets[i] - kept[i];
  }
  Layout layout(std::move(owners), target_spacing);
  ReleaseSurplus(std::move(excess), deficits, &layout);
  std::vector<uint32_t> freed;
  for (uint32_t p = 0; p < partition_count; ++p) {
    if (layout.owner(p) == kNoOwner) freed.push_back(p);
  }
  AssignFreed(freed, std::move(deficits), &layout);
  // Only partitions that move anyway are swapped: their old owners left or
  // are at target, and the new ones are all below it, so a swap never hands
  // a partition back and the moved count stays at the minimum.
  layout.Repair(freed);
  return Ring(std::move(members), layout.TakeOwners());
}

std::vector<uint32_t> Ring::PreferenceList(uint32_t partition) const {
  assert(partition < owners_.size());
  const uint32_t size = partition_count();
  std::vector<uint32_t> list;
  list.reserve(members_.size());
  std::vector<bool> listed(members_.size(), false);
  for (uint32_t step = 0; step < size && list.size() < members_.size(); ++step) {
    uint32_t owner = owners_[(partition + step) % size];
    if (!listed[owner]) {
      listed[owner] = true;
      list.push_back(owner);
    }
  }
  for (uint32_t member = 0; member < members_.size(); ++member) {
    if (!listed[member]) list.push_back(member);
  }
  return list;
}

int Ring::MemberIndex(const std::string& name) const {
  auto it = std::lower_bound(
      members_.begin(), members_.end(), name,
      [](const RingMember& member, const std::string& key) { return member.name < key; });
  if (it == members_.end() || it->name != name) return -1;
  return static_cast<int>(it - members_.begin());
}

}  // namespace ringkv::cluster
