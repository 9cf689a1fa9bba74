// A drill's readable timeline; see timeline.h.
#include "drills/timeline.h"

#include <algorithm>
#include <cstdio>

#include "cluster/cluster_replies.h"

namespace ringkv::drills {

Timeline::Timeline(std::string title)
    : title_(std::move(title)), start_ms_(cluster_test::NowMs()) {}

int64_t Timeline::Add(std::string_view kind, std::string text) {
  int64_t now_ms = cluster_test::NowMs();
  AddAt(now_ms, kind, std::move(text));
  return now_ms;
}

void Timeline::AddAt(int64_t at_ms, std::string_view kind, std::string text) {
  std::lock_guard<std::mutex> lock(mutex_);
  events_.push_back(Event{at_ms, std::string(kind), std::move(text)});
}

void Timeline::AddSection(std::string heading, std::string body) {
  std::lock_guard<std::mutex> lock(mutex_);
  sections_.emplace_back(std::move(heading), std::move(body));
}

std::string Timeline::Render() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Event> sorted = events_;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Event& a, const Event& b) { return a.at_ms < b.at_ms; });
  std::string text = "\n=== " + title_ + " ===\n";
  text += "     t (s)  kind     event\n";
  for (const Event& event : sorted) {
    char stamp[64];
    std::snprintf(stamp, sizeof stamp, "%10.3f  %-8s ",
                  static_cast<double>(event.at_ms - start_ms_) / 1000.0, event.kind.c_str());
    text += stamp + event.text + "\n";
  }
  for (const auto& [heading, body] : sections_) {
    text += "--- " + heading + "\n" + body;
    if (!body.empty() && body.back() != '\n') text += "\n";
  }
  return text;
}

}  // namespace ringkv::drills
