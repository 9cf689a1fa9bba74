// The drills' common scaffolding; see drill.h.
#include "drills/drill.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <thread>

#include "cluster/cluster_replies.h"

namespace ringkv::drills {
namespace {

using cluster_test::NowMs;

// How long the placement checker may keep finding copies in flight (a last
// replica put, a last hint) before what it finds counts.
constexpr int kPlacementSettleMs = 10000;
constexpr int kPlacementRetryMs = 1000;
constexpr int kWaitPollMs = 20;
// How long after start-up every node may take to list every member alive.
constexpr int kStartSettleMs = 10000;

bool EnvironmentIs(const char* name, const char* value) {
  const char* set = std::getenv(name);
  return set != nullptr && std::string_view(set) == value;
}

std::string Seconds(int64_t milliseconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f s", static_cast<double>(milliseconds) / 1000.0);
  return text;
}

}  // namespace

DrillForm FormFromEnvironment() {
  DrillForm form;
  form.long_form = EnvironmentIs("RINGKV_DRILL_LONG", "1");
  form.gossip_interval_ms = form.Ms(300, 1000);
  form.suspect_after_ms = form.gossip_interval_ms * 5 / 2;
  form.poll_ms = form.Ms(50, 100);
  return form;
}

bool DrillsCanRun() {
  std::string why;
  if (NamespacesAvailable(&why)) return true;
  if (EnvironmentIs("CI", "true")) {
    FAIL("the drills need network namespaces (run as root with iproute2 and nftables): " << why);
  }
  MESSAGE(
      "skipped: the drills need network namespaces (run as root with iproute2 and "
      "nftables): "
      << why);
  return false;
}

Drill::Drill(std::string title, DrillForm form, DrillClusterOptions cluster_options)
    : form_(form), timeline_(title + " (" + form.name() + ")") {
  cluster_options.gossip_interval_ms = form_.gossip_interval_ms;
  cluster_options.suspect_after_ms = form_.suspect_after_ms;
  network_ = std::make_unique<Network>(cluster_options.nodes);
  cluster_ = std::make_unique<DrillCluster>(*network_, cluster_options);
  const DrillClusterOptions& options = cluster_->options();
  timeline_.Add("setup",
                std::to_string(options.nodes) + " nodes up in namespaces " +
                    network_->NodeNamespace(0) + ".." + "n" + std::to_string(options.nodes) + ", " +
                    network_->NodeAddress(0) + ".." + network_->NodeAddress(options.nodes - 1) +
                    "; Q = " + std::to_string(options.partitions) +
                    ", N = " + std::to_string(options.n) + ", W = " + std::to_string(options.w) +
                    ", R = " + std::to_string(options.r) + ", gossip every " +
                    std::to_string(options.gossip_interval_ms) + " ms, suspect after " +
                    std::to_string(options.suspect_after_ms) + " ms" +
                    (options.failure_handling_keys && FailureKeysWanted()
                         ? ""
                         : " (failure-handling config keys left out)"));
  monitor_ = std::make_unique<Monitor>(*cluster_, &timeline_, form_.poll_ms);
  WaitAllAlive(kStartSettleMs);
}

void Drill::WaitAllAlive(int timeout_ms) {
  int64_t deadline_ms = NowMs() + timeout_ms;
  std::string missing;
  while (true) {
    missing.clear();
    for (int observer = 0; observer < cluster_->size(); ++observer) {
      std::optional<Sample> latest = monitor_->observations().Latest(observer);
      for (int member = 0; member < cluster_->size(); ++member) {
        std::string name = cluster_->name(member);
        bool alive = latest && latest->has_members && latest->states.count(name) > 0 &&
                     latest->states.at(name) == "alive";
        if (!alive) missing += " " + cluster_->name(observer) + ":" + name;
      }
    }
    if (missing.empty() || NowMs() >= deadline_ms || !monitor_->MembersUnsupported().empty()) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kWaitPollMs));
  }
  std::string unsupported = monitor_->MembersUnsupported();
  Check(missing.empty(), "every node lists every member alive",
        missing.empty()       ? ""
        : unsupported.empty() ? ": not (observer:member)" + missing.substr(0, 200)
                              : " (MEMBERS: " + unsupported + ")");
}

Drill::~Drill() {
  bool aborted = std::uncaught_exceptions() > 0;
  if (load_) load_->Stop();
  if (monitor_) monitor_->Stop();
  std::string verdict = aborted || checks_failed_ > 0 ? "FAIL" : "PASS";
  timeline_.Add("verdict", verdict + ": " + std::to_string(checks_passed_) + " checks passed, " +
                               std::to_string(checks_failed_) + " failed" +
                               (aborted ? ", aborted by a failed REQUIRE" : ""));
  std::cout << timeline_.Render() << std::flush;
  if (aborted || checks_failed_ > 0) std::cout << cluster_->AllLogTails(1200) << std::flush;
}

void Drill::StartLoad() {
  REQUIRE(!load_);
  load_ = std::make_unique<Load>(*cluster_, &timeline_, form_.load);
}

std::vector<WriteRecord> Drill::StopLoad() {
  REQUIRE(load_);
  load_->Stop();
  std::vector<WriteRecord> writes = load_->Writes();
  AddWriteSection(writes);
  ReadStats reads = load_->Reads();
  std::string text = std::to_string(reads.found) + " found, " + std::to_string(reads.not_found) +
                     " nil (stale), " + std::to_string(reads.mismatched) + " another value, " +
                     std::to_string(reads.failed) + " failed, " + std::to_string(reads.unknown) +
                     " unknown\n";
  for (const std::string& example : reads.mismatch_examples) text += "  " + example + "\n";
  timeline_.AddSection("reads of acknowledged keys during the load", text);
  Check(reads.mismatched == 0, "no read returned a value never written for its key",
        reads.mismatch_examples.empty() ? "" : ": " + reads.mismatch_examples[0]);
  return writes;
}

void Drill::Phase(std::string name) {
  int64_t at_ms = timeline_.Add("phase", name);
  phases_.emplace_back(std::move(name), at_ms);
}

void Drill::AddWriteSection(const std::vector<WriteRecord>& writes) {
  char line[200];
  std::snprintf(line, sizeof line, "  %-24s %8s %8s %8s\n", "phase", "ok", "failed", "unknown");
  std::string text = line;
  std::map<std::string, int64_t> errors;  // Error text -> count.
  for (size_t p = 0; p < phases_.size(); ++p) {
    int64_t from_ms = phases_[p].second;
    int64_t to_ms = p + 1 < phases_.size() ? phases_[p + 1].second : INT64_MAX;
    int64_t counts[3] = {0, 0, 0};
    for (const WriteRecord& write : writes) {
      if (write.start_ms >= from_ms && write.start_ms < to_ms) {
        ++counts[static_cast<int>(write.outcome)];
      }
    }
    std::snprintf(line, sizeof line, "  %-24s %8lld %8lld %8lld\n", phases_[p].first.c_str(),
                  static_cast<long long>(counts[0]), static_cast<long long>(counts[1]),
                  static_cast<long long>(counts[2]));
    text += line;
  }
  for (const WriteRecord& write : writes) {
    if (write.outcome != Outcome::kOk) ++errors[write.error.substr(0, 60)];
  }
  if (!errors.empty()) text += "  errors (first 60 characters, count):\n";
  for (const auto& [error, count] : errors)
    text += "    " + std::to_string(count) + " x " + error + "\n";
  timeline_.AddSection("writes by phase they started in", text);
}

bool Drill::Check(bool ok, const std::string& what, const std::string& detail) {
  CHECK_MESSAGE(ok, what << detail);
  (ok ? checks_passed_ : checks_failed_)++;
  timeline_.Add("check", std::string(ok ? "ok      " : "FAILED  ") + what + detail);
  return ok;
}

std::vector<int> Drill::Others(int member) const {
  std::vector<int> others;
  for (int i = 0; i < cluster_->size(); ++i) {
    if (i != member) others.push_back(i);
  }
  return others;
}

std::map<int, std::optional<int64_t>> Drill::WaitSeenBy(const std::vector<int>& observers,
                                                        int member, const std::string& state,
                                                        int64_t since_ms, int timeout_ms) {
  std::map<int, std::optional<int64_t>> seen;
  int64_t deadline_ms = NowMs() + timeout_ms;
  std::string name = cluster_->name(member);
  while (true) {
    bool all = true;
    for (int observer : observers) {
      seen[observer] = monitor_->observations().FirstSeen(observer, name, state, since_ms);
      all = all && seen[observer].has_value();
    }
    if (all || NowMs() >= deadline_ms || !monitor_->MembersUnsupported().empty()) return seen;
    std::this_thread::sleep_for(std::chrono::milliseconds(kWaitPollMs));
  }
}

int64_t Drill::ReportSightings(const std::string& heading,
                               const std::map<int, std::optional<int64_t>>& seen,
                               int64_t since_ms) {
  std::string text;
  int64_t latest_ms = 0;
  bool all = true;
  for (const auto& [observer, at_ms] : seen) {
    text += "  " + cluster_->name(observer) + ": ";
    if (at_ms) {
      int64_t delay_ms = *at_ms - since_ms;
      latest_ms = std::max(latest_ms, delay_ms);
      char line[120];
      std::snprintf(line, sizeof line, "+%lld ms (%.1f gossip intervals)\n",
                    static_cast<long long>(delay_ms),
                    static_cast<double>(delay_ms) / interval_ms());
      text += line;
    } else {
      all = false;
      text += "never\n";
    }
  }
  text += "  (times are when the monitor's poll saw it: at most " + std::to_string(form_.poll_ms) +
          " ms plus a round trip late)\n";
  timeline_.AddSection(heading, text);
  return all ? latest_ms : -1;
}

bool Drill::WaitHintsDrained(int target, int timeout_ms) {
  int64_t deadline_ms = NowMs() + timeout_ms;
  std::string name = cluster_->name(target);
  while (true) {
    std::optional<int64_t> held = monitor_->observations().HintsHeld(name);
    if (held && *held == 0) return true;
    if (NowMs() >= deadline_ms || !monitor_->HintsUnsupported().empty()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(kWaitPollMs));
  }
}

void Drill::CheckWritesSucceeded(const std::vector<WriteRecord>& writes, int excluded,
                                 int64_t from_ms, int64_t to_ms, double minimum_ok_fraction,
                                 const std::string& what) {
  int64_t total = 0;
  int64_t ok = 0;
  std::string first_error;
  for (const WriteRecord& write : writes) {
    if (write.node == excluded || write.start_ms < from_ms || write.end_ms >= to_ms) continue;
    ++total;
    if (write.outcome == Outcome::kOk) {
      ++ok;
    } else if (first_error.empty()) {
      first_error = write.error;
    }
  }
  double fraction = total > 0 ? static_cast<double>(ok) / static_cast<double>(total) : 0.0;
  char detail[200];
  std::snprintf(detail, sizeof detail, ": %lld of %lld ok between %s and %s",
                static_cast<long long>(ok), static_cast<long long>(total),
                Seconds(timeline_.Relative(from_ms)).c_str(),
                Seconds(timeline_.Relative(to_ms)).c_str());
  Check(total > 0 && fraction >= minimum_ok_fraction, what,
        detail + (first_error.empty() ? "" : "; first error: " + first_error));
}

void Drill::FinalChecks(const std::vector<WriteRecord>& writes) {
  PlacementVerdict placement;
  int64_t deadline_ms = NowMs() + kPlacementSettleMs;
  int attempts = 0;
  while (true) {
    ++attempts;
    placement = CheckPlacement(*cluster_, writes);
    if (placement.ok() || NowMs() >= deadline_ms) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(kPlacementRetryMs));
  }
  timeline_.AddSection("placement (LOCALGET on every node, " + std::to_string(attempts) +
                           " attempt" + (attempts == 1 ? "" : "s") + ")",
                       placement.Summary());
  Check(placement.ok(), "every acknowledged key is back on its own N owners, and only there",
        placement.ok() ? "" : ": " + placement.Summary().substr(0, placement.Summary().find('\n')));

  std::vector<std::string> keys;
  for (const WriteRecord& write : writes) keys.push_back(write.key);
  FinalRead final_read = ReadAll(*cluster_, 0, keys);
  SetVerdict verdict = CheckSet(writes, final_read);
  timeline_.AddSection("set checker (GET of every key at CONSISTENCY ALL)", verdict.Summary());
  Check(verdict.acknowledged > 0, "the load had acknowledged writes",
        ": " + std::to_string(verdict.acknowledged));
  Check(verdict.lost == 0, "lost = 0", ": " + std::to_string(verdict.lost));
  Check(verdict.unexpected == 0, "unexpected = 0", ": " + std::to_string(verdict.unexpected));
  Check(verdict.unreadable == 0, "every key readable at R = N",
        ": " + std::to_string(verdict.unreadable) + " unreadable");
}

}  // namespace ringkv::drills
