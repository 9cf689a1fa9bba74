// A drill's story in time order, for a person to read: one line per event,
// stamped with the seconds since the drill began and a kind that says who
// speaks, followed by summary sections (the load by phase, the checker's
// verdict). docs/drills.md explains how to read one.
//
//   === drill kill: kill -9 one node under load ===
//      t (s)  kind     event
//      0.000  setup    6 nodes in namespaces rkdrill-812-99120-n1..n6 ...
//      2.013  FAULT    kill -9 n3 (pid 4242)
//      2.771  member   n1 sees n3 suspect
//
// Thread safety: Add and AddAt may be called from any thread.
#ifndef RINGKV_TESTS_DRILLS_TIMELINE_H_
#define RINGKV_TESTS_DRILLS_TIMELINE_H_

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ringkv::drills {

class Timeline {
 public:
  explicit Timeline(std::string title);

  // cluster_test::NowMs() when the timeline began.
  int64_t start_ms() const { return start_ms_; }
  // Milliseconds from the start to `at_ms` (a NowMs() time).
  int64_t Relative(int64_t at_ms) const { return at_ms - start_ms_; }

  // Records an event now, or at `at_ms` (NowMs clock). Returns the time it
  // was recorded at (NowMs clock).
  int64_t Add(std::string_view kind, std::string text);
  void AddAt(int64_t at_ms, std::string_view kind, std::string text);
  // A block printed after the events, under `heading`.
  void AddSection(std::string heading, std::string body);

  // The whole timeline: title, events sorted by time, sections.
  std::string Render() const;

 private:
  struct Event {
    int64_t at_ms;
    std::string kind;
    std::string text;
  };

  const std::string title_;
  const int64_t start_ms_;
  mutable std::mutex mutex_;
  std::vector<Event> events_;  // Guarded by mutex_; in arrival order.
  std::vector<std::pair<std::string, std::string>> sections_;  // Guarded by mutex_.
};

}  // namespace ringkv::drills

#endif  // RINGKV_TESTS_DRILLS_TIMELINE_H_
