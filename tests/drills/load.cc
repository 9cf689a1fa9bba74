// The set workload's clients; see load.h.
#include "drills/load.h"

#include <doctest/doctest.h>
#include <sys/time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "cluster/cluster_replies.h"

namespace ringkv::drills {
namespace {

using cluster_test::NowMs;

constexpr int kReconnectPauseMs = 20;
constexpr size_t kErrorTextMax = 120;
constexpr size_t kMismatchExamplesMax = 5;

std::string RandomRunId() {
  std::random_device device;
  char text[17];
  std::snprintf(text, sizeof text, "%08x%08x", device(), device());
  return text;
}

void SleepUntil(int64_t at_ms, const std::atomic<bool>& stop) {
  while (!stop && NowMs() < at_ms) {
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::min<int64_t>(20, std::max<int64_t>(1, at_ms - NowMs()))));
  }
}

}  // namespace

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kFailed:
      return "failed";
    case Outcome::kUnknown:
      return "unknown";
  }
  return "?";
}

Load::Load(const DrillCluster& cluster, Timeline* timeline, LoadOptions options)
    : cluster_(cluster), timeline_(timeline), options_(options), run_id_(RandomRunId()) {
  REQUIRE(options_.clients >= 1);
  REQUIRE(options_.ops_per_second >= 1);
  clients_.resize(options_.clients);
  timeline_->Add("load", "started: " + std::to_string(options_.clients) + " clients x " +
                             std::to_string(options_.ops_per_second) + " ops/s, " +
                             std::to_string(options_.read_percent) +
                             "% reads, each through a random node");
  for (int i = 0; i < options_.clients; ++i) threads_.emplace_back([this, i] { Run(i); });
}

Load::~Load() { Stop(); }

void Load::Stop() {
  if (stop_.exchange(true)) return;
  for (std::thread& thread : threads_) thread.join();
  int64_t writes = 0;
  for (const Client& client : clients_) writes += static_cast<int64_t>(client.writes.size());
  timeline_->Add("load", "stopped after " + std::to_string(writes) + " writes");
}

void Load::Run(int client_index) {
  Client& client = clients_[client_index];
  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> pick_node(0, cluster_.size() - 1);
  std::uniform_int_distribution<int> percent(0, 99);
  const int64_t interval_us = 1000000 / options_.ops_per_second;
  int64_t next_us = NowMs() * 1000;
  std::vector<size_t> acknowledged;  // Indexes into client.writes.
  RedisContext context;
  int node = -1;
  for (int64_t op = 0; op < options_.ops_per_client_max && !stop_; ++op) {
    // A steady rate: a client that fell behind (a slow reply) does not burst.
    next_us = std::max(next_us + interval_us, NowMs() * 1000);
    SleepUntil(next_us / 1000, stop_);
    if (stop_) break;
    if (!context) {
      node = pick_node(random);
      context =
          cluster_.TryConnect(node, DrillCluster::Path::kNetwork, options_.connect_timeout_ms);
      if (!context) {
        ++client.connect_failures;
        SleepUntil(NowMs() + kReconnectPauseMs, stop_);
        continue;
      }
      timeval io_timeout{options_.io_timeout_ms / 1000, (options_.io_timeout_ms % 1000) * 1000};
      redisSetTimeout(context.get(), io_timeout);
    }
    bool read = !acknowledged.empty() && percent(random) < options_.read_percent;
    if (read) {
      const WriteRecord& written = client.writes[acknowledged[random() % acknowledged.size()]];
      Reply reply = blackbox::Command(context.get(), {"GET", written.key});
      if (!reply) {
        ++client.reads.unknown;
        context.reset();
      } else if (reply->type == REDIS_REPLY_ERROR) {
        ++client.reads.failed;
      } else if (reply->type == REDIS_REPLY_NIL) {
        ++client.reads.not_found;
      } else if (reply->type == REDIS_REPLY_STRING &&
                 std::string(reply->str, reply->len) == written.value) {
        ++client.reads.found;
      } else {
        ++client.reads.mismatched;
        if (client.reads.mismatch_examples.size() < kMismatchExamplesMax) {
          client.reads.mismatch_examples.push_back(written.key + " read as " +
                                                   blackbox::Render(reply.get(), context.get()) +
                                                   ", written " + written.value);
        }
      }
      continue;
    }
    WriteRecord record;
    record.key = "drill:" + std::to_string(client_index) + ":" + std::to_string(op);
    record.value = run_id_ + ":" + std::to_string(client_index) + ":" + std::to_string(op);
    record.client = client_index;
    record.node = node;
    record.start_ms = NowMs();
    Reply reply = blackbox::Command(context.get(), {"SET", record.key, record.value});
    record.end_ms = NowMs();
    if (!reply) {
      record.outcome = Outcome::kUnknown;
      record.error = context->errstr;
      context.reset();
    } else if (reply->type == REDIS_REPLY_STATUS && std::string_view(reply->str) == "OK") {
      record.outcome = Outcome::kOk;
      acknowledged.push_back(client.writes.size());
    } else {
      record.outcome = Outcome::kFailed;
      record.error = blackbox::Render(reply.get(), context.get());
    }
    if (record.error.size() > kErrorTextMax) record.error.resize(kErrorTextMax);
    client.writes.push_back(std::move(record));
  }
}

std::vector<WriteRecord> Load::Writes() const {
  REQUIRE(stop_);
  std::vector<WriteRecord> writes;
  for (const Client& client : clients_) {
    writes.insert(writes.end(), client.writes.begin(), client.writes.end());
  }
  std::stable_sort(writes.begin(), writes.end(), [](const WriteRecord& a, const WriteRecord& b) {
    return a.start_ms < b.start_ms;
  });
  return writes;
}

ReadStats Load::Reads() const {
  REQUIRE(stop_);
  ReadStats total;
  for (const Client& client : clients_) {
    total.found += client.reads.found;
    total.not_found += client.reads.not_found;
    total.mismatched += client.reads.mismatched;
    total.failed += client.reads.failed;
    total.unknown += client.reads.unknown;
    for (const std::string& example : client.reads.mismatch_examples) {
      if (total.mismatch_examples.size() < kMismatchExamplesMax) {
        total.mismatch_examples.push_back(example);
      }
    }
  }
  return total;
}

}  // namespace ringkv::drills
