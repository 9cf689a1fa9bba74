// The timeline's rendering: events in time order, then the sections.
#include "drills/timeline.h"

#include <doctest/doctest.h>

namespace ringkv::drills {
namespace {

TEST_CASE("drill timeline: events in time order, then the sections") {
  Timeline timeline("a drill");
  int64_t start = timeline.start_ms();
  timeline.AddAt(start + 2000, "HEAL", "second");
  timeline.AddAt(start + 1000, "FAULT", "first");
  timeline.AddSection("verdict", "fine");
  std::string text = timeline.Render();
  size_t first = text.find("first");
  size_t second = text.find("second");
  REQUIRE(first != std::string::npos);
  REQUIRE(second != std::string::npos);
  CHECK(first < second);
  CHECK(text.find("     1.000  FAULT    first") != std::string::npos);
  CHECK(text.find("--- verdict\nfine\n") > second);
}

}  // namespace
}  // namespace ringkv::drills
