// The set and placement checkers; see checker.h.
#include "drills/checker.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "cluster/cluster_replies.h"

namespace ringkv::drills {
namespace {

using Path = DrillCluster::Path;

constexpr size_t kExamplesMax = 8;
constexpr int kReadAttempts = 5;
constexpr int kReadRetryPauseMs = 500;

void Example(std::vector<std::string>* examples, std::string text) {
  if (examples->size() < kExamplesMax) examples->push_back(std::move(text));
}

std::string Shown(const std::optional<std::string>& value) {
  return value ? "\"" + *value + "\"" : "nil";
}

}  // namespace

FinalRead ReadAll(const DrillCluster& cluster, int via, const std::vector<std::string>& keys) {
  FinalRead result;
  RedisContext context = cluster.Connect(via);
  REQUIRE(blackbox::Do(context.get(), {"CONSISTENCY", "ALL"}) == "+OK");
  std::vector<std::string> pending = keys;
  for (int attempt = 0; attempt < kReadAttempts && !pending.empty(); ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(kReadRetryPauseMs));
    std::vector<std::vector<std::string>> commands;
    for (const std::string& key : pending) commands.push_back({"GET", key});
    std::vector<Reply> replies = cluster_test::Pipeline(context.get(), commands);
    std::vector<std::string> again;
    for (size_t i = 0; i < pending.size(); ++i) {
      const redisReply* reply = replies[i].get();
      REQUIRE_MESSAGE(reply != nullptr,
                      "final read through " << cluster.name(via) << ": connection lost");
      if (reply->type == REDIS_REPLY_NIL) {
        result.values[pending[i]] = std::nullopt;
        result.unreadable.erase(pending[i]);
      } else if (reply->type == REDIS_REPLY_STRING) {
        result.values[pending[i]] = std::string(reply->str, reply->len);
        result.unreadable.erase(pending[i]);
      } else {
        result.unreadable[pending[i]] = blackbox::Render(reply, context.get());
        again.push_back(pending[i]);
      }
    }
    pending = std::move(again);
  }
  return result;
}

SetVerdict CheckSet(const std::vector<WriteRecord>& writes, const FinalRead& final_read) {
  SetVerdict verdict;
  for (const WriteRecord& write : writes) {
    ++verdict.attempted;
    bool acknowledged = write.outcome == Outcome::kOk;
    if (acknowledged) ++verdict.acknowledged;
    if (write.outcome == Outcome::kFailed) ++verdict.failed;
    if (write.outcome == Outcome::kUnknown) ++verdict.unknown;
    auto unreadable = final_read.unreadable.find(write.key);
    if (unreadable != final_read.unreadable.end()) {
      ++verdict.unreadable;
      Example(&verdict.examples, "unreadable " + write.key + ": " + unreadable->second);
      continue;
    }
    auto found = final_read.values.find(write.key);
    if (found == final_read.values.end()) {
      ++verdict.unreadable;
      Example(&verdict.examples, "not read: " + write.key);
      continue;
    }
    const std::optional<std::string>& value = found->second;
    if (value && *value != write.value) {
      ++verdict.unexpected;
      Example(&verdict.examples, "unexpected " + write.key + " = " + Shown(value) +
                                     " (the only write sent " + Shown(write.value) + ")");
    }
    if (acknowledged && value != write.value) {
      ++verdict.lost;
      Example(&verdict.examples, "lost " + write.key + ": acknowledged " + Shown(write.value) +
                                     " at node n" + std::to_string(write.node + 1) + ", read " +
                                     Shown(value));
    } else if (!acknowledged && !value) {
      ++verdict.indeterminate_absent;
    } else if (!acknowledged && *value == write.value) {
      ++verdict.indeterminate_present;
    }
  }
  return verdict;
}

std::string SetVerdict::Summary() const {
  std::string text = std::to_string(attempted) + " writes: " + std::to_string(acknowledged) +
                     " ok, " + std::to_string(failed) + " failed, " + std::to_string(unknown) +
                     " unknown\n" + "final read at R = N: lost " + std::to_string(lost) +
                     ", unexpected " + std::to_string(unexpected) + ", unreadable " +
                     std::to_string(unreadable) + "; indeterminate writes present " +
                     std::to_string(indeterminate_present) + ", absent " +
                     std::to_string(indeterminate_absent) + "\n";
  for (const std::string& example : examples) text += "  " + example + "\n";
  return text;
}

PlacementVerdict JudgePlacement(const std::vector<WriteRecord>& writes,
                                const PlacementFacts& facts) {
  PlacementVerdict verdict;
  const size_t node_count = facts.nodes.size();
  std::vector<int64_t> held_count(node_count, 0);
  for (size_t k = 0; k < writes.size(); ++k) {
    const WriteRecord& write = writes[k];
    const std::vector<std::string>& owners = facts.owners.at(k);
    bool acknowledged = write.outcome == Outcome::kOk;
    if (acknowledged) ++verdict.keys_checked;
    for (size_t i = 0; i < node_count; ++i) {
      const std::optional<cluster_test::VersionedValue>& copy = facts.copies.at(i).at(k);
      if (copy) ++held_count[i];
      bool owner = std::find(owners.begin(), owners.end(), facts.nodes[i]) != owners.end();
      std::string where = write.key + " on " + facts.nodes[i];
      if (!owner) {
        if (copy) {
          ++verdict.stray_copies;
          Example(&verdict.examples, "stray copy of " + where + ", which is no owner");
        }
        continue;
      }
      if (!copy) {
        if (acknowledged) {
          ++verdict.missing_copies;
          Example(&verdict.examples, "missing: acknowledged " + where);
        }
        continue;
      }
      if (copy->siblings.size() != 1 || copy->siblings[0].value != write.value) {
        ++verdict.wrong_copies;
        std::string shown = copy->siblings.size() == 1
                                ? Shown(copy->siblings[0].value)
                                : std::to_string(copy->siblings.size()) + " siblings";
        Example(&verdict.examples, "wrong copy of " + where + ": " + shown);
      }
    }
  }
  for (size_t i = 0; i < node_count; ++i) {
    if (facts.dbsize.at(i) > held_count[i]) {
      verdict.extra_keys += facts.dbsize[i] - held_count[i];
      Example(&verdict.examples, facts.nodes[i] + ": DBSIZE " + std::to_string(facts.dbsize[i]) +
                                     " but it holds " + std::to_string(held_count[i]) +
                                     " of the load's keys");
    }
  }
  return verdict;
}

PlacementVerdict CheckPlacement(const DrillCluster& cluster,
                                const std::vector<WriteRecord>& writes) {
  std::vector<std::vector<std::string>> ring_commands;
  std::vector<std::vector<std::string>> local_commands;
  for (const WriteRecord& write : writes) {
    ring_commands.push_back({"RING", "KEY", write.key});
    local_commands.push_back({"LOCALGET", write.key});
  }
  PlacementFacts facts;
  RedisContext asked = cluster.Connect(0, Path::kLoopback);
  for (const Reply& reply : cluster_test::Pipeline(asked.get(), ring_commands)) {
    facts.owners.push_back(cluster_test::ParseRingKey(reply.get()).replicas);
  }
  for (int i = 0; i < cluster.size(); ++i) {
    facts.nodes.push_back(cluster.name(i));
    RedisContext context = cluster.Connect(i, Path::kLoopback);
    facts.copies.emplace_back();
    for (const Reply& reply : cluster_test::Pipeline(context.get(), local_commands)) {
      facts.copies.back().push_back(cluster_test::ParseVersioned(reply.get()));
    }
    facts.dbsize.push_back(
        cluster_test::IntegerOf(blackbox::Command(context.get(), {"DBSIZE"}).get()));
  }
  return JudgePlacement(writes, facts);
}

std::string PlacementVerdict::Summary() const {
  std::string text = std::to_string(keys_checked) +
                     " acknowledged keys on their own N owners: " + "missing copies " +
                     std::to_string(missing_copies) + ", wrong copies " +
                     std::to_string(wrong_copies) + ", stray copies " +
                     std::to_string(stray_copies) + ", keys never written " +
                     std::to_string(extra_keys) + "\n";
  for (const std::string& example : examples) text += "  " + example + "\n";
  return text;
}

}  // namespace ringkv::drills
