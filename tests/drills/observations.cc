// What the monitor saw, kept and judged; see observations.h.
#include "drills/observations.h"

#include <algorithm>
#include <tuple>

namespace ringkv::drills {
namespace {

// While a node holds hints, how often the timeline repeats its count.
constexpr int64_t kHintsReportIntervalMs = 1000;

}  // namespace

Observations::Observations(std::vector<std::string> names, Timeline* timeline)
    : names_(std::move(names)), timeline_(timeline) {
  reporters_.resize(names_.size());
  samples_.resize(names_.size());
}

void Observations::Add(int index, Sample sample) {
  Report(index, sample, &reporters_.at(index));
  std::lock_guard<std::mutex> lock(mutex_);
  samples_[index].push_back(std::move(sample));
}

void Observations::Report(int index, const Sample& sample, Reporter* reporter) {
  std::string observer = names_[index];
  if (sample.answered != reporter->answering) {
    reporter->answering = sample.answered;
    timeline_->AddAt(sample.at_ms, "node",
                     observer + (sample.answered ? " answers again on its loopback"
                                                 : " does not answer on its loopback"));
  }
  if (!sample.answered) return;
  if (sample.has_members) ReportMembers(index, sample, *reporter);
  if (sample.has_hints) ReportHints(index, sample, reporter);
  reporter->previous = sample;
}

void Observations::ReportMembers(int index, const Sample& sample, const Reporter& reporter) {
  const std::string& observer = names_[index];
  const Sample* previous =
      reporter.previous && reporter.previous->has_members ? &*reporter.previous : nullptr;
  for (const auto& [member, state] : sample.states) {
    std::string before;
    if (previous) {
      auto found = previous->states.find(member);
      before = found == previous->states.end() ? "unlisted" : found->second;
    } else {
      before = "alive";  // Report only what differs from a healthy start.
    }
    if (state != before)
      timeline_->AddAt(sample.at_ms, "member", observer + " sees " + member + " " + state);
  }
  if (previous) {
    for (const auto& [member, state] : previous->states) {
      if (sample.states.count(member) == 0) {
        timeline_->AddAt(sample.at_ms, "member", observer + " no longer lists " + member);
      }
    }
  }
}

void Observations::ReportHints(int index, const Sample& sample, Reporter* reporter) {
  std::string holder = names_[index];
  const Sample* previous =
      reporter->previous && reporter->previous->has_hints ? &*reporter->previous : nullptr;
  auto value_in = [](const Sample* s, const std::string& target) {
    if (s == nullptr) return HintTargetView{};
    auto found = s->hints.find(target);
    return found == s->hints.end() ? HintTargetView{} : found->second;
  };
  std::vector<std::string> targets;
  for (const auto& [target, view] : sample.hints) targets.push_back(target);
  if (previous) {
    for (const auto& [target, view] : previous->hints) {
      if (sample.hints.count(target) == 0) targets.push_back(target);
    }
  }
  for (const std::string& target : targets) {
    HintTargetView before = value_in(previous, target);
    HintTargetView now = value_in(&sample, target);
    auto counts = [](const HintTargetView& view) {
      return std::to_string(view.count) + " hint" + (view.count == 1 ? "" : "s") + " (" +
             std::to_string(view.bytes) + " bytes)";
    };
    if (before.count == 0 && now.count > 0) {
      reporter->delivered_at_first[target] = now.delivered;
      reporter->hints_reported_ms[target] = sample.at_ms;
      timeline_->AddAt(sample.at_ms, "hints", holder + " holds " + counts(now) + " for " + target);
    } else if (now.count > 0 && now.count != before.count &&
               sample.at_ms - reporter->hints_reported_ms[target] >= kHintsReportIntervalMs) {
      reporter->hints_reported_ms[target] = sample.at_ms;
      timeline_->AddAt(sample.at_ms, "hints",
                       holder + " holds " + counts(now) + " for " + target +
                           (now.delivering ? ", delivering" : ""));
    } else if (before.count > 0 && now.count == 0) {
      int64_t delivered =
          std::max(now.delivered, before.delivered) - reporter->delivered_at_first[target];
      timeline_->AddAt(sample.at_ms, "hints",
                       holder + " holds no more hints for " + target + " (" +
                           std::to_string(delivered) + " delivered since it began holding)");
    }
    if (now.dropped > before.dropped && previous != nullptr) {
      timeline_->AddAt(sample.at_ms, "hints",
                       holder + " dropped " + std::to_string(now.dropped - before.dropped) +
                           " hints for " + target + " (limits or age)");
    }
  }
}

std::optional<Sample> Observations::Latest(int observer) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::vector<Sample>& samples = samples_.at(observer);
  for (auto it = samples.rbegin(); it != samples.rend(); ++it) {
    if (it->answered) return *it;
  }
  return std::nullopt;
}

std::optional<int64_t> Observations::FirstSeen(int observer, const std::string& member,
                                               const std::string& state, int64_t since_ms) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const Sample& sample : samples_.at(observer)) {
    if (sample.at_ms < since_ms || !sample.has_members) continue;
    auto found = sample.states.find(member);
    if (found != sample.states.end() && found->second == state) return sample.at_ms;
  }
  return std::nullopt;
}

std::vector<Observations::Sighting> Observations::SuspectSightings(int64_t from_ms,
                                                                   int64_t to_ms) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Sighting> sightings;
  for (size_t observer = 0; observer < samples_.size(); ++observer) {
    std::map<std::string, bool> suspected;  // Suspect in the previous sample.
    for (const Sample& sample : samples_[observer]) {
      if (sample.at_ms < from_ms || sample.at_ms > to_ms || !sample.has_members) continue;
      for (const auto& [member, state] : sample.states) {
        bool suspect = state == "suspect";
        if (suspect && !suspected[member]) {
          sightings.push_back(Sighting{sample.at_ms, static_cast<int>(observer), member});
        }
        suspected[member] = suspect;
      }
    }
  }
  std::sort(sightings.begin(), sightings.end(),
            [](const Sighting& a, const Sighting& b) { return a.at_ms < b.at_ms; });
  return sightings;
}

int64_t Observations::PeakHints(const std::string& target, int64_t from_ms, int64_t to_ms) const {
  std::lock_guard<std::mutex> lock(mutex_);
  // (time, holder, count) of every hints sample, replayed in time order.
  std::vector<std::tuple<int64_t, size_t, int64_t>> changes;
  for (size_t holder = 0; holder < samples_.size(); ++holder) {
    for (const Sample& sample : samples_[holder]) {
      if (!sample.has_hints || sample.at_ms > to_ms) continue;
      auto found = sample.hints.find(target);
      changes.emplace_back(sample.at_ms, holder,
                           found == sample.hints.end() ? 0 : found->second.count);
    }
  }
  std::sort(changes.begin(), changes.end());
  std::vector<int64_t> held(samples_.size(), 0);
  int64_t total = 0;
  int64_t peak = -1;
  for (const auto& [at_ms, holder, count] : changes) {
    total += count - held[holder];
    held[holder] = count;
    if (at_ms >= from_ms) peak = std::max(peak, total);
  }
  return peak;
}

std::optional<int64_t> Observations::HintsHeld(const std::string& target) const {
  int64_t total = 0;
  for (size_t i = 0; i < names_.size(); ++i) {
    std::optional<Sample> latest = Latest(static_cast<int>(i));
    if (!latest) continue;  // Never answered: holds nothing we could see.
    if (!latest->has_hints) return std::nullopt;
    auto found = latest->hints.find(target);
    if (found != latest->hints.end()) total += found->second.count;
  }
  return total;
}

int64_t Observations::GrowthSince(const std::string& target, int64_t since_ms,
                                  bool delivered) const {
  std::lock_guard<std::mutex> lock(mutex_);
  int64_t growth = 0;
  for (const std::vector<Sample>& samples : samples_) {
    std::optional<int64_t> first;
    int64_t most = 0;
    for (const Sample& sample : samples) {
      if (sample.at_ms < since_ms || !sample.has_hints) continue;
      auto found = sample.hints.find(target);
      int64_t value = found == sample.hints.end()
                          ? 0
                          : (delivered ? found->second.delivered : found->second.dropped);
      if (!first) first = value;
      most = std::max(most, value);
    }
    if (first) growth += most - *first;
  }
  return growth;
}

int64_t Observations::DeliveredSince(const std::string& target, int64_t since_ms) const {
  return GrowthSince(target, since_ms, true);
}

int64_t Observations::DroppedSince(const std::string& target, int64_t since_ms) const {
  return GrowthSince(target, since_ms, false);
}

}  // namespace ringkv::drills
