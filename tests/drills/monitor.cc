// Polls MEMBERS and HINTS on every node; see monitor.h.
#include "drills/monitor.h"

#include <algorithm>
#include <chrono>

#include "cluster/cluster_replies.h"

namespace ringkv::drills {
namespace {

using cluster_test::NowMs;
using Path = DrillCluster::Path;

// A node that takes longer than this to answer counts as not answering (a
// stopped or overloaded node); short, so one node cannot stall its polls.
constexpr int kAskTimeoutMs = 300;
constexpr size_t kParseErrorsKept = 10;

std::vector<std::string> Names(const DrillCluster& cluster) {
  std::vector<std::string> names;
  for (int i = 0; i < cluster.size(); ++i) names.push_back(cluster.name(i));
  return names;
}

}  // namespace

Monitor::Monitor(const DrillCluster& cluster, Timeline* timeline, int poll_ms)
    : cluster_(cluster),
      timeline_(timeline),
      poll_ms_(poll_ms),
      observations_(Names(cluster), timeline) {
  for (int i = 0; i < cluster_.size(); ++i) threads_.emplace_back([this, i] { Poll(i); });
}

Monitor::~Monitor() { Stop(); }

void Monitor::Stop() {
  stop_ = true;
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void Monitor::Poll(int index) {
  RedisContext context;
  while (!stop_) {
    int64_t started_ms = NowMs();
    observations_.Add(index, Ask(index, &context));
    int64_t next_ms = started_ms + poll_ms_;
    while (!stop_ && NowMs() < next_ms) {
      std::this_thread::sleep_for(std::chrono::milliseconds(
          std::min<int64_t>(10, std::max<int64_t>(1, next_ms - NowMs()))));
    }
  }
}

Sample Monitor::Ask(int index, RedisContext* context) {
  Sample sample;
  if (!*context) *context = cluster_.TryConnect(index, Path::kLoopback, kAskTimeoutMs);
  if (!*context) {
    sample.at_ms = NowMs();
    return sample;
  }
  bool ask_members = MembersUnsupported().empty();
  bool ask_hints = HintsUnsupported().empty();
  std::vector<const char*> commands;
  if (ask_members) commands.push_back("MEMBERS");
  if (ask_hints) commands.push_back("HINTS");
  if (commands.empty()) commands.push_back("PING");  // Still tells whether it answers.
  for (const char* command : commands) redisAppendCommand(context->get(), command);
  std::vector<Reply> replies;
  for (size_t i = 0; i < commands.size(); ++i) {
    void* reply = nullptr;
    if (redisGetReply(context->get(), &reply) != REDIS_OK) {
      context->reset();  // Timed out or closed: reconnect next time.
      sample.at_ms = NowMs();
      return sample;
    }
    replies.emplace_back(static_cast<redisReply*>(reply));
  }
  sample.at_ms = NowMs();
  sample.answered = true;
  for (size_t i = 0; i < commands.size(); ++i) Take(index, commands[i], replies[i].get(), &sample);
  return sample;
}

void Monitor::Take(int index, const std::string& command, const redisReply* reply, Sample* sample) {
  if (command == "PING") return;
  if (IsUnknownCommand(reply)) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string& unsupported = command == "MEMBERS" ? members_unsupported_ : hints_unsupported_;
    if (unsupported.empty()) {
      unsupported = std::string(reply->str, reply->len);
      timeline_->AddAt(
          sample->at_ms, "monitor",
          command + " is not supported by this server (" + unsupported + "): its checks will fail");
    }
    return;
  }
  // Another error (a node still loading, say) is no broken contract: the
  // sample just lacks this part.
  if (reply->type == REDIS_REPLY_ERROR) return;
  std::string error;
  if (command == "MEMBERS") {
    if (std::optional<std::vector<MemberView>> members = ParseMembers(reply, &error)) {
      sample->has_members = true;
      for (const MemberView& member : *members) sample->states[member.name] = member.state;
      return;
    }
  } else if (std::optional<std::vector<HintTargetView>> hints = ParseHints(reply, &error)) {
    sample->has_hints = true;
    for (HintTargetView& target : *hints) sample->hints[target.target] = std::move(target);
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (parse_errors_.size() < kParseErrorsKept) {
    parse_errors_.push_back(cluster_.name(index) + ": " + error);
    timeline_->AddAt(sample->at_ms, "monitor", cluster_.name(index) + ": " + error);
  }
}

std::string Monitor::MembersUnsupported() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return members_unsupported_;
}

std::string Monitor::HintsUnsupported() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return hints_unsupported_;
}

std::vector<std::string> Monitor::ParseErrors() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return parse_errors_;
}

}  // namespace ringkv::drills
