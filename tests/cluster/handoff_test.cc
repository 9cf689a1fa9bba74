// Sloppy quorum and hinted handoff on real nodes (doctest suite "handoff",
// ctest cluster_handoff): with one owner of a key dead, writes at W = 2
// (and W = N) succeed through the next healthy fallback, which holds a
// durable hint for the owner and serves it to reads; once the owner is
// back, the hints drain and the owner holds every key. Hints survive a
// kill -9 of the node holding them, and the hint limits refuse and count.
// Gossip every 300 ms so suspicion comes fast; every wait is bounded.
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "blackbox/harness.h"
#include "cluster/cluster_harness.h"
#include "cluster/cluster_replies.h"

namespace ringkv::cluster_test {
namespace {

using blackbox::Do;

constexpr int kIntervalMs = 300;
// Suspicion takes 2.5 intervals; generous for two loaded cores.
constexpr int kSuspectWaitMs = 10000;
// Hints for a returned owner: alive within a few intervals, then delivery.
constexpr int kDrainWaitMs = 20000;
constexpr int kPollMs = 50;
// Keys one of whose owners is the victim.
constexpr int kKeys = 40;

ClusterOptions HandoffCluster(const std::string& more_toml = "") {
  ClusterOptions options;
  options.cluster_toml = "gossip_interval_ms = " + std::to_string(kIntervalMs) + "\n" + more_toml;
  return options;
}

void SleepMs(int milliseconds) {
  std::this_thread::sleep_for(std::chrono::milliseconds(milliseconds));
}

// One HINTS entry's fields by name (integers; the target name apart).
struct HintEntry {
  std::string target;
  std::map<std::string, int64_t> fields;
};

// HINTS (docs/commands.md): an array of flat field/value arrays, target
// first. REQUIREs that shape and the fields the contract promises.
std::vector<HintEntry> HintsOf(redisContext* context) {
  Reply reply = blackbox::Command(context, {"HINTS"});
  REQUIRE(reply);
  REQUIRE_MESSAGE(reply->type == REDIS_REPLY_ARRAY, blackbox::Render(reply.get(), context));
  std::vector<HintEntry> entries;
  for (size_t i = 0; i < reply->elements; ++i) {
    const redisReply* entry = reply->element[i];
    REQUIRE(entry->type == REDIS_REPLY_ARRAY);
    REQUIRE(entry->elements % 2 == 0);
    HintEntry parsed;
    for (size_t f = 0; f < entry->elements; f += 2) {
      std::string name(entry->element[f]->str, entry->element[f]->len);
      const redisReply* value = entry->element[f + 1];
      if (f == 0) {
        REQUIRE(name == "target");
        parsed.target.assign(value->str, value->len);
        continue;
      }
      REQUIRE(value->type == REDIS_REPLY_INTEGER);
      parsed.fields[name] = value->integer;
    }
    for (const char* field : {"count", "bytes", "delivered", "dropped", "delivering"}) {
      CHECK_MESSAGE(parsed.fields.count(field) == 1, field);
    }
    entries.push_back(std::move(parsed));
  }
  return entries;
}

// `field` of the HINTS entry for `target` on node `holder` (0 without one).
int64_t HintField(const Cluster& cluster, int holder, const std::string& target,
                  const std::string& field) {
  RedisContext context = cluster.Connect(holder);
  for (const HintEntry& entry : HintsOf(context.get())) {
    if (entry.target == target) return entry.fields.at(field);
  }
  return 0;
}

// Sum of `field` for `target` over the nodes in `holders`.
int64_t HintTotal(const Cluster& cluster, const std::vector<int>& holders,
                  const std::string& target, const std::string& field) {
  int64_t total = 0;
  for (int holder : holders) total += HintField(cluster, holder, target, field);
  return total;
}

// A write is acknowledged at W acks, which need not include its stand-in's:
// the last hints may still be on their way when WriteAll returns. Polls
// until `holders` hold `expected` hints for `target`, for at most 5 s.
void SettleHints(const Cluster& cluster, const std::vector<int>& holders, const std::string& target,
                 int64_t expected) {
  for (int poll = 0; poll < 100; ++poll) {
    if (HintTotal(cluster, holders, target, "count") >= expected) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
  }
}

std::vector<int> Others(const Cluster& cluster, int excluded) {
  std::vector<int> others;
  for (int i = 0; i < cluster.size(); ++i) {
    if (i != excluded) others.push_back(i);
  }
  return others;
}

// Polls MEMBERS on each of `observers` until all list `member` in `state`.
bool WaitState(const Cluster& cluster, const std::vector<int>& observers, const std::string& member,
               const std::string& state, int timeout_ms) {
  int64_t deadline_ms = NowMs() + timeout_ms;
  for (int observer : observers) {
    RedisContext context = cluster.Connect(observer);
    while (true) {
      Reply reply = blackbox::Command(context.get(), {"MEMBERS"});
      bool seen = false;
      for (const MemberInfo& info : ParseMembers(reply.get())) {
        seen = seen || (info.name == member && info.state == state);
      }
      if (seen) break;
      if (NowMs() >= deadline_ms) return false;
      SleepMs(kPollMs);
    }
  }
  return true;
}

// Polls until no node but `excluded` holds hints for `target`.
bool WaitDrained(const Cluster& cluster, const std::string& target, int excluded, int timeout_ms) {
  int64_t deadline_ms = NowMs() + timeout_ms;
  while (HintTotal(cluster, Others(cluster, excluded), target, "count") > 0) {
    if (NowMs() >= deadline_ms) return false;
    SleepMs(kPollMs);
  }
  return true;
}

// REQUIREs that the hints for `target` drain within kDrainWaitMs. (The
// message is built before the assertion: doctest must not evaluate
// assertions inside another's message.)
void RequireDrained(const Cluster& cluster, const std::string& target, int excluded) {
  if (WaitDrained(cluster, target, excluded, kDrainWaitMs)) return;
  int64_t held = HintTotal(cluster, Others(cluster, excluded), target, "count");
  std::string logs = cluster.AllLogTails();
  FAIL(held << " hints for " << target << " still held after " << kDrainWaitMs << " ms\n" << logs);
}

// `count` keys that node `owner` is one of the N owners of.
std::vector<std::string> KeysOwnedBy(const Cluster& cluster, int owner, const std::string& prefix,
                                     int count) {
  std::vector<std::string> keys;
  RedisContext context = cluster.Connect(0);
  for (int i = 0; static_cast<int>(keys.size()) < count; ++i) {
    REQUIRE(i < 100 * count);
    std::string key = prefix + std::to_string(i);
    Reply reply = blackbox::Command(context.get(), {"RING", "KEY", key});
    for (const std::string& name : ParseRingKey(reply.get()).replicas) {
      if (name == cluster.name(owner)) keys.push_back(key);
    }
  }
  return keys;
}

// Kills `victim` and waits until every other node holds it suspect.
void KillAndWaitSuspect(Cluster& cluster, int victim) {
  cluster.Kill9(victim);
  if (!WaitState(cluster, Others(cluster, victim), cluster.name(victim), "suspect",
                 kSuspectWaitMs)) {
    std::string logs = cluster.AllLogTails();
    FAIL(cluster.name(victim) << " not suspect everywhere after " << kSuspectWaitMs << " ms\n"
                              << logs);
  }
}

// Writes key -> "v:" + key through the nodes other than `victim` in turn;
// REQUIREs +OK for each.
void WriteAll(const Cluster& cluster, int victim, const std::vector<std::string>& keys) {
  std::vector<int> others = Others(cluster, victim);
  std::vector<RedisContext> contexts;
  for (int i : others) contexts.push_back(cluster.Connect(i));
  for (size_t k = 0; k < keys.size(); ++k) {
    CAPTURE(keys[k]);
    CAPTURE(cluster.name(others[k % others.size()]));
    REQUIRE(Do(contexts[k % others.size()].get(), {"SET", keys[k], "v:" + keys[k]}) == "+OK");
  }
}

// Polls LOCALGET on `node` until it holds every key with its value.
bool HoldsAll(const Cluster& cluster, int node, const std::vector<std::string>& keys,
              int timeout_ms, std::string* missing) {
  RedisContext context = cluster.Connect(node);
  int64_t deadline_ms = NowMs() + timeout_ms;
  for (const std::string& key : keys) {
    while (true) {
      Reply reply = blackbox::Command(context.get(), {"LOCALGET", key});
      std::optional<VersionedValue> held = ParseVersioned(reply.get());
      if (held && held->siblings.size() == 1 && held->siblings[0].value == "v:" + key) break;
      if (NowMs() >= deadline_ms) {
        *missing = key;
        return false;
      }
      SleepMs(kPollMs);
    }
  }
  return true;
}

TEST_SUITE("handoff") {
  TEST_CASE(
      "handoff: with an owner dead, writes succeed through fallbacks' hints, reads see "
      "them, and the hints drain to the owner when it returns") {
    Cluster cluster(HandoffCluster());
    const int victim = 2;
    const std::string name = cluster.name(victim);
    std::vector<std::string> keys = KeysOwnedBy(cluster, victim, "handoff:dead:", kKeys);
    KillAndWaitSuspect(cluster, victim);

    int64_t started_ms = NowMs();
    WriteAll(cluster, victim, keys);
    MESSAGE(keys.size() << " SETs at W = 2 with " << name << " dead took " << NowMs() - started_ms
                        << " ms");
    // One hint per key, on the first fallback of its preference list.
    std::vector<int> others = Others(cluster, victim);
    SettleHints(cluster, others, name, kKeys);
    CHECK(HintTotal(cluster, others, name, "count") == kKeys);
    CHECK(HintTotal(cluster, others, name, "stored") == kKeys);
    CHECK(HintTotal(cluster, others, name, "delivered") == 0);
    int64_t stand_ins = 0;
    for (int i : others) stand_ins += InfoInteger(cluster, i, "write_stand_ins");
    CHECK(stand_ins >= kKeys);
    for (int i : others) {
      CAPTURE(cluster.name(i));
      int64_t held = HintField(cluster, i, name, "count");
      if (held > 0) CHECK(HintField(cluster, i, name, "down") == 1);
      CHECK(InfoInteger(cluster, i, "hints_held") == held);
    }

    // Reads at R = N: the dead owner's slot is answered by the node that
    // holds its hint. Writes at W = N count that stand-in too.
    RedisContext reader = cluster.Connect(others[0]);
    REQUIRE(Do(reader.get(), {"CONSISTENCY", "ALL"}) == "+OK");
    for (const std::string& key : keys) {
      CAPTURE(key);
      CHECK(Do(reader.get(), {"GET", key}) == "$v:" + key);
    }
    CHECK(Do(reader.get(), {"SET", keys[0], "v:" + keys[0]}) == "+OK");
    int64_t read_stand_ins = InfoInteger(cluster, others[0], "read_stand_ins");
    CHECK(read_stand_ins >= kKeys);

    cluster.Start(victim);
    started_ms = NowMs();
    RequireDrained(cluster, name, victim);
    MESSAGE("hints for " << name << " drained " << NowMs() - started_ms << " ms after its restart");
    CHECK(HintTotal(cluster, others, name, "delivered") >= kKeys);
    CHECK(HintTotal(cluster, others, name, "dropped") == 0);
    std::string missing;
    CHECK_MESSAGE(HoldsAll(cluster, victim, keys, 2000, &missing),
                  name << " lacks " << missing << " after the hints drained");
  }

  TEST_CASE(
      "handoff: with 2 of 3 owners paused, a W = 2 write succeeds through stand-ins "
      "after hint_after_ms, and once they are suspect an R = 2 read returns it") {
    // A request timeout well past hint_after_ms, so that a loaded machine
    // cannot turn the stand-ins' round trip into a timeout.
    constexpr int kHintAfterMs = 250;
    ClusterOptions options =
        HandoffCluster("hint_after_ms = " + std::to_string(kHintAfterMs) + "\n");
    options.request_timeout_ms = 3000;
    Cluster cluster(options);
    const std::string key = "handoff:paused";
    std::vector<int> replicas = ReplicaIndexes(cluster, key);
    REQUIRE(replicas.size() == 3);
    cluster.Pause(replicas[1]);
    cluster.Pause(replicas[2]);
    // Not suspect yet (that takes 750 ms): the paused owners' slots get
    // stand-ins when they have not acked within hint_after_ms.
    RedisContext writer = cluster.Connect(replicas[0]);
    int64_t started_ms = NowMs();
    CHECK(Do(writer.get(), {"SET", key, "while-paused"}) == "+OK");
    int64_t elapsed_ms = NowMs() - started_ms;
    MESSAGE("SET with 2 of 3 owners paused answered after " << elapsed_ms << " ms");
    // The stand-ins were asked at hint_after_ms, not at the timeout.
    CHECK(elapsed_ms >= kHintAfterMs - 10);
    CHECK(elapsed_ms < options.request_timeout_ms);
    CHECK(InfoInteger(cluster, replicas[0], "write_stand_ins") >= 2);

    std::vector<int> live = OtherIndexes(cluster, {replicas[1], replicas[2]});
    for (int paused : {replicas[1], replicas[2]}) {
      REQUIRE(WaitState(cluster, live, cluster.name(paused), "suspect", kSuspectWaitMs));
    }
    // R = 2 from a node that owns nothing of the key: the live owner and a
    // stand-in serving its hints (the read fan-out asks R slots, healthy
    // owners first, then stand-ins for the suspect ones).
    std::vector<int> others = OtherIndexes(cluster, replicas);
    RedisContext reader = cluster.Connect(others[0]);
    CHECK(Do(reader.get(), {"GET", key}) == "$while-paused");
    CHECK(InfoInteger(cluster, others[0], "read_stand_ins") >= 1);

    cluster.Resume(replicas[1]);
    cluster.Resume(replicas[2]);
    RequireDrained(cluster, cluster.name(replicas[1]), replicas[1]);
    RequireDrained(cluster, cluster.name(replicas[2]), replicas[2]);
    CHECK(HeldByAll(cluster, replicas, key, "while-paused", 2000));
  }

  TEST_CASE("handoff: hints survive a kill -9 of the node holding them") {
    Cluster cluster(HandoffCluster());
    const int victim = 2;
    const std::string name = cluster.name(victim);
    std::vector<std::string> keys = KeysOwnedBy(cluster, victim, "handoff:durable:", kKeys);
    KillAndWaitSuspect(cluster, victim);
    WriteAll(cluster, victim, keys);

    // The node holding the most hints dies and comes back before the owner.
    std::vector<int> others = Others(cluster, victim);
    SettleHints(cluster, others, name, kKeys);
    int holder = -1;
    int64_t held = 0;
    for (int i : others) {
      int64_t count = HintField(cluster, i, name, "count");
      if (count > held) {
        held = count;
        holder = i;
      }
    }
    REQUIRE(holder >= 0);
    MESSAGE(cluster.name(holder) << " holds " << held << " hints for " << name);
    cluster.Kill9(holder);
    cluster.Start(holder);
    CHECK(HintField(cluster, holder, name, "count") == held);
    CHECK(InfoInteger(cluster, holder, "hints_held") == held);

    cluster.Start(victim);
    RequireDrained(cluster, name, victim);
    // Delivered since the holder restarted, and counted by its store.
    CHECK(HintField(cluster, holder, name, "delivered") == held);
    CHECK(InfoInteger(cluster, holder, "hints_delivered") == held);
    std::string missing;
    CHECK_MESSAGE(HoldsAll(cluster, victim, keys, 2000, &missing),
                  name << " lacks " << missing << " after the hints drained");
  }

  TEST_CASE("handoff: past hints_count_max hints are refused and counted, writes still succeed") {
    constexpr int kCountMax = 4;
    Cluster cluster(HandoffCluster("hints_count_max = " + std::to_string(kCountMax) + "\n"));
    const int victim = 2;
    const std::string name = cluster.name(victim);
    // More keys than the three fallbacks of any key can hold for it.
    std::vector<std::string> keys = KeysOwnedBy(cluster, victim, "handoff:limit:", kKeys);
    KillAndWaitSuspect(cluster, victim);
    WriteAll(cluster, victim, keys);  // W = 2: the two live owners suffice.

    // As SettleHints: the last stand-in writes (kept or refused) may still
    // be on their way when WriteAll returns. Counted until two polls in a
    // row agree and every key had its attempt, for at most 5 s, so that
    // HINTS and INFO are read between the same refusals.
    std::vector<int> others = Others(cluster, victim);
    int64_t held = 0;
    int64_t dropped = 0;
    int64_t info_dropped = 0;
    int64_t last = -1;
    for (int poll = 0; poll < 100; ++poll) {
      held = dropped = info_dropped = 0;
      for (int i : others) {
        held += HintField(cluster, i, name, "count");
        dropped += HintField(cluster, i, name, "dropped");
        info_dropped += InfoInteger(cluster, i, "hints_dropped");
      }
      const int64_t now = held + dropped + info_dropped;
      if (now == last && held + dropped >= kKeys) break;
      last = now;
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
    }
    for (int i : others) {
      CAPTURE(cluster.name(i));
      CHECK(HintField(cluster, i, name, "count") <= kCountMax);
      CHECK(InfoInteger(cluster, i, "hints_dropped") ==
            InfoInteger(cluster, i, "hints_dropped_count_limit"));
    }
    MESSAGE(held << " hints held for " << name << ", " << dropped << " refused");
    CHECK(held > 0);
    CHECK(dropped > 0);
    CHECK(info_dropped == dropped);
    // Every refusal moved the slot to the next fallback, so a key's hint is
    // refused at most by its three fallbacks; kept or not, each key had one
    // attempt at least.
    CHECK(held + dropped >= kKeys);

    cluster.Start(victim);
    RequireDrained(cluster, name, victim);
  }
}

}  // namespace
}  // namespace ringkv::cluster_test
