// storage/sibling_set.cc: causality of sibling sets (ApplyWrite, Merge) and
// the deterministic winner. The encoding lives in sibling_set_codec.cc.
#include "storage/sibling_set.h"

#include <algorithm>
#include <cassert>
#include <tuple>
#include <utility>

namespace ringkv::storage {

namespace {

template <typename SiblingType>
size_t PickWinnerOf(const std::vector<SiblingType>& siblings) {
  assert(!siblings.empty());
  size_t winner = 0;
  for (size_t i = 1; i < siblings.size(); ++i) {
    const SiblingType& candidate = siblings[i];
    const SiblingType& best = siblings[winner];
    if (std::tie(candidate.timestamp_ms, candidate.dot.actor, candidate.dot.counter) >
        std::tie(best.timestamp_ms, best.dot.actor, best.dot.counter)) {
      winner = i;
    }
  }
  return winner;
}

// Two replicas never hold different versions under one dot unless something
// upstream is broken; if they do, both sides must still keep the same one so
// that Merge stays commutative, hence a total order over the content.
const Sibling& PreferForSameDot(const Sibling& a, const Sibling& b) {
  auto key = [](const Sibling& s) {
    return std::tie(s.timestamp_ms, s.tombstone, s.expire_at_ms, s.value);
  };
  return key(a) >= key(b) ? a : b;
}

bool DotLess(const Sibling& a, const Sibling& b) { return a.dot < b.dot; }

}  // namespace

size_t PickWinner(const std::vector<Sibling>& siblings) { return PickWinnerOf(siblings); }

size_t PickWinner(const std::vector<SiblingRef>& siblings) { return PickWinnerOf(siblings); }

bool IsLive(const SiblingSet& set) {
  return !set.siblings.empty() && !set.siblings[PickWinner(set.siblings)].tombstone;
}

Dot ApplyWrite(SiblingSet* set, const VersionVector& context, ActorId actor, Sibling version) {
  const Dot dot{actor, std::max(set->clock.Get(actor), context.Get(actor)) + 1};
  // Whatever the writer saw is superseded; everything else is concurrent
  // with this write and stays as a sibling.
  std::erase_if(set->siblings, [&](const Sibling& s) { return context.Covers(s.dot); });
  version.dot = dot;
  auto position = std::lower_bound(set->siblings.begin(), set->siblings.end(), version, DotLess);
  set->siblings.insert(position, std::move(version));
  set->clock.Join(context);
  set->clock.Set(actor, dot.counter);
  return dot;
}

void Merge(SiblingSet* set, const SiblingSet& other) {
  // A sibling survives if both sides hold it, or if the side that lacks it
  // has not seen its dot (it is new there, not deleted or superseded).
  std::vector<Sibling> merged;
  merged.reserve(set->siblings.size() + other.siblings.size());
  auto a = set->siblings.begin();
  auto b = other.siblings.begin();
  while (a != set->siblings.end() || b != other.siblings.end()) {
    if (b == other.siblings.end() || (a != set->siblings.end() && a->dot < b->dot)) {
      if (!other.clock.Covers(a->dot)) merged.push_back(std::move(*a));
      ++a;
    } else if (a == set->siblings.end() || b->dot < a->dot) {
      if (!set->clock.Covers(b->dot)) merged.push_back(*b);
      ++b;
    } else {
      const Sibling& kept = PreferForSameDot(*a, *b);
      merged.push_back(&kept == &*a ? std::move(*a) : *b);
      ++a;
      ++b;
    }
  }
  set->siblings = std::move(merged);
  set->clock.Join(other.clock);
}

bool MergeYieldsIncoming(const SiblingSetView& current, const SiblingSet& incoming) {
  // Descending covers every dot of current: its siblings that incoming
  // lacks are dropped, and the joined clock is incoming's.
  if (!incoming.clock.Descends(current.clock())) return false;
  size_t i = 0;
  for (const Sibling& sibling : incoming.siblings) {
    while (i < current.sibling_count() && current.sibling(i).dot < sibling.dot) ++i;
    if (i < current.sibling_count() && current.sibling(i).dot == sibling.dot) {
      // Both hold it: Merge keeps one of two equal versions.
      const SiblingRef& held = current.sibling(i);
      if (held.timestamp_ms != sibling.timestamp_ms || held.tombstone != sibling.tombstone ||
          held.expire_at_ms != sibling.expire_at_ms || held.value != sibling.value) {
        return false;
      }
    } else if (current.clock().Covers(sibling.dot)) {
      return false;  // Current has seen it and let it go: Merge drops it.
    }
  }
  return true;
}

}  // namespace ringkv::storage
