// storage/version_vector.cc
#include "storage/version_vector.h"

#include <algorithm>

namespace ringkv::storage {

namespace {

// The first entry whose actor is not less than `actor`.
template <typename Entries>
auto LowerBound(Entries& entries, ActorId actor) {
  return std::lower_bound(
      entries.begin(), entries.end(), actor,
      [](const VersionVector::Entry& entry, ActorId a) { return entry.first < a; });
}

}  // namespace

uint64_t VersionVector::Get(ActorId actor) const {
  auto it = LowerBound(entries_, actor);
  return (it != entries_.end() && it->first == actor) ? it->second : 0;
}

void VersionVector::Set(ActorId actor, uint64_t counter) {
  auto it = LowerBound(entries_, actor);
  const bool present = it != entries_.end() && it->first == actor;
  if (counter == 0) {
    if (present) entries_.erase(it);
  } else if (present) {
    it->second = counter;
  } else {
    entries_.insert(it, {actor, counter});
  }
}

void VersionVector::Join(const VersionVector& other) {
  if (other.entries_.empty()) return;
  if (entries_.empty()) {
    entries_ = other.entries_;
    return;
  }
  // Both sides are sorted, so one linear pass merges them.
  std::vector<Entry> joined;
  joined.reserve(entries_.size() + other.entries_.size());
  auto a = entries_.begin();
  auto b = other.entries_.begin();
  while (a != entries_.end() || b != other.entries_.end()) {
    if (b == other.entries_.end() || (a != entries_.end() && a->first < b->first)) {
      joined.push_back(*a++);
    } else if (a == entries_.end() || b->first < a->first) {
      joined.push_back(*b++);
    } else {
      joined.push_back({a->first, std::max(a->second, b->second)});
      ++a;
      ++b;
    }
  }
  entries_ = std::move(joined);
}

bool VersionVector::Descends(const VersionVector& other) const {
  auto a = entries_.begin();
  for (const Entry& entry : other.entries_) {
    while (a != entries_.end() && a->first < entry.first) ++a;
    if (a == entries_.end() || a->first != entry.first || a->second < entry.second) return false;
  }
  return true;
}

bool VersionVector::AppendSorted(ActorId actor, uint64_t counter) {
  if (counter == 0) return false;
  if (!entries_.empty() && entries_.back().first >= actor) return false;
  entries_.push_back({actor, counter});
  return true;
}

std::string ActorToHex(ActorId actor) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(16, '0');
  for (int i = 15; i >= 0; --i) {
    hex[i] = kDigits[actor & 0xf];
    actor >>= 4;
  }
  return hex;
}

}  // namespace ringkv::storage
