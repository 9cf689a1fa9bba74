// tests/unit/storage/sibling_set_test.cc: causality of sibling sets
// (ApplyWrite, Merge), the deterministic winner, and the version-vector
// scenarios of the cluster issue (sibling explosion, wiped node).
#include "storage/sibling_set.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "unit/storage/random_history.h"

namespace ringkv::storage {
namespace {

constexpr ActorId kActorA = 0x1111;
constexpr ActorId kActorB = 0x2222;
constexpr ActorId kActorC = 0x3333;

Sibling Value(std::string value, int64_t timestamp_ms = 0) {
  Sibling sibling;
  sibling.value = std::move(value);
  sibling.timestamp_ms = timestamp_ms;
  return sibling;
}

std::vector<Dot> DotsOf(const SiblingSet& set) {
  std::vector<Dot> dots;
  for (const Sibling& sibling : set.siblings) dots.push_back(sibling.dot);
  return dots;
}

SiblingSet Merged(SiblingSet a, const SiblingSet& b) {
  Merge(&a, b);
  return a;
}

// Checks the invariants of sibling_set.h.
void CheckInvariants(const SiblingSet& set) {
  for (size_t i = 0; i < set.siblings.size(); ++i) {
    CHECK(set.clock.Covers(set.siblings[i].dot));
    if (i > 0) CHECK(set.siblings[i - 1].dot < set.siblings[i].dot);
  }
}

TEST_CASE("sibling set: first write gets dot (actor, 1)") {
  SiblingSet set;
  Dot dot = ApplyWrite(&set, VersionVector{}, kActorA, Value("x"));
  CHECK(dot == Dot{kActorA, 1});
  REQUIRE(set.siblings.size() == 1);
  CHECK(set.siblings[0].dot == dot);
  CHECK(set.siblings[0].value == "x");
  CHECK(set.clock.Get(kActorA) == 1);
  CHECK(IsLive(set));
}

TEST_CASE("sibling set: a write with the current clock as context replaces everything") {
  SiblingSet set;
  ApplyWrite(&set, VersionVector{}, kActorA, Value("1"));
  ApplyWrite(&set, VersionVector{}, kActorB, Value("2"));
  CHECK(set.siblings.size() == 2);
  Dot dot = ApplyWrite(&set, set.clock, kActorA, Value("3"));
  CHECK(dot == Dot{kActorA, 2});
  CHECK(DotsOf(set) == std::vector<Dot>{dot});
}

TEST_CASE("sibling set: the new counter exceeds both the clock and the context") {
  SiblingSet set;
  ApplyWrite(&set, VersionVector{}, kActorA, Value("1"));
  VersionVector context;
  context.Set(kActorA, 7);  // Seen on another replica of actor A's writes.
  Dot dot = ApplyWrite(&set, context, kActorA, Value("2"));
  CHECK(dot == Dot{kActorA, 8});
  CHECK(set.clock.Get(kActorA) == 8);
}

TEST_CASE("sibling set: apply write drops exactly the siblings the context covers") {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    testing::RandomHistory history = testing::MakeRandomHistory(seed, 4, 40);
    std::mt19937_64 random(seed * 7919);
    for (int trial = 0; trial < 10; ++trial) {
      SiblingSet set = history.states[random() % history.states.size()];
      VersionVector context = history.states[random() % history.states.size()].clock;
      const ActorId actor = history.actors[random() % history.actors.size()];
      std::vector<Dot> expected;
      for (const Sibling& sibling : set.siblings) {
        if (!context.Covers(sibling.dot)) expected.push_back(sibling.dot);
      }
      VersionVector expected_clock = set.clock;
      expected_clock.Join(context);
      Dot dot = ApplyWrite(&set, context, actor, Value("new"));
      CHECK_FALSE(expected_clock.Covers(dot));
      expected_clock.Set(actor, dot.counter);
      expected.push_back(dot);
      std::sort(expected.begin(), expected.end());
      CHECK(DotsOf(set) == expected);
      CHECK(set.clock == expected_clock);
      CheckInvariants(set);
    }
  }
}

TEST_CASE("sibling set: merge keeps concurrent siblings and drops superseded ones") {
  SiblingSet base;
  ApplyWrite(&base, VersionVector{}, kActorA, Value("a1"));
  SiblingSet replica_a = base;
  SiblingSet replica_b = base;
  // A overwrites a1 having seen it; B writes concurrently without context.
  ApplyWrite(&replica_a, replica_a.clock, kActorA, Value("a2"));
  ApplyWrite(&replica_b, VersionVector{}, kActorB, Value("b1"));
  SiblingSet merged = Merged(replica_a, replica_b);
  CHECK(DotsOf(merged) == std::vector<Dot>{{kActorA, 2}, {kActorB, 1}});
  CHECK(merged == Merged(replica_b, replica_a));
  // B later resolves with the merged context: one sibling left everywhere.
  ApplyWrite(&replica_b, merged.clock, kActorB, Value("b2"));
  CHECK(DotsOf(Merged(merged, replica_b)) == std::vector<Dot>{{kActorB, 2}});
  CHECK(DotsOf(Merged(replica_a, replica_b)) == std::vector<Dot>{{kActorB, 2}});
}

TEST_CASE("sibling set: merge is commutative, associative and idempotent") {
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    CAPTURE(seed);
    testing::RandomHistory history = testing::MakeRandomHistory(seed, 3 + seed % 2, 60);
    std::mt19937_64 random(seed);
    const auto& states = history.states;
    for (int trial = 0; trial < 20; ++trial) {
      const SiblingSet& a = states[random() % states.size()];
      const SiblingSet& b = states[random() % states.size()];
      const SiblingSet& c = states[random() % states.size()];
      SiblingSet ab = Merged(a, b);
      CHECK(ab == Merged(b, a));
      CHECK(Merged(ab, c) == Merged(a, Merged(b, c)));
      CHECK(Merged(a, a) == a);
      CHECK(Merged(ab, a) == ab);
      CHECK(Merged(a, SiblingSet{}) == a);
      CHECK(Merged(SiblingSet{}, a) == a);
      CheckInvariants(ab);
    }
  }
}

// The replica's fast path must agree with Merge exactly: whenever it says
// yes, Merge gives back the incoming set unchanged. The random pairs make
// both answers common (an ApplyWrite of a state against an older copy of
// it is the case replication sees).
TEST_CASE("sibling set: MergeYieldsIncoming agrees with Merge") {
  int yes = 0;
  int no = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    CAPTURE(seed);
    testing::RandomHistory history = testing::MakeRandomHistory(seed, 3, 60);
    std::mt19937_64 random(seed);
    const auto& states = history.states;
    for (int trial = 0; trial < 40; ++trial) {
      const SiblingSet& current = states[random() % states.size()];
      SiblingSet incoming = states[random() % states.size()];
      if (trial % 2 == 0) {
        // A coordinator's write on top of what it holds.
        incoming = current;
        Sibling version;
        version.timestamp_ms = trial;
        version.value = "w" + std::to_string(trial);
        ApplyWrite(&incoming, incoming.clock, history.actors[trial % 3], version);
      }
      std::string encoded;
      EncodeSiblingSet(current, &encoded);
      SiblingSetView view;
      REQUIRE(view.Parse(encoded).ok());
      const bool fast = MergeYieldsIncoming(view, incoming);
      const bool merge_is_incoming = Merged(current, incoming) == incoming;
      CHECK(fast == merge_is_incoming);
      ++(fast ? yes : no);
    }
  }
  CHECK(yes > 1000);
  CHECK(no > 1000);
}

TEST_CASE("sibling set: replicas that exchange states converge") {
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    testing::RandomHistory history = testing::MakeRandomHistory(seed, 4, 80);
    std::vector<SiblingSet>& replicas = history.replicas;
    // Anti-entropy in a random order: everyone pulls from everyone twice.
    std::mt19937_64 random(seed);
    for (int round = 0; round < 2; ++round) {
      for (size_t i = 0; i < replicas.size(); ++i) {
        for (size_t j = 0; j < replicas.size(); ++j) {
          Merge(&replicas[random() % replicas.size()], replicas[j]);
          Merge(&replicas[i], replicas[j]);
        }
      }
    }
    for (const SiblingSet& replica : replicas) CHECK(replica == replicas[0]);
  }
}

// Riak's sibling explosion: two clients interleave read-modify-write rounds
// on one key through one coordinator, each writing with the context it read
// before the other client's last write. Plain per-sibling vector clocks with
// server-side actors let siblings grow without bound; a DVV set keeps at
// most one sibling per concurrent writer and loses nothing.
TEST_CASE("sibling set: no sibling explosion with stale contexts through one coordinator") {
  constexpr int kRounds = 100;
  SiblingSet stored;
  struct Client {
    std::string name;
    VersionVector context;   // From the client's last read.
    std::string own_writes;  // Every write of this client, appended.
  };
  Client clients[2] = {{"x", {}, ""}, {"y", {}, ""}};
  for (int round = 0; round < kRounds; ++round) {
    for (int turn = 0; turn < 2; ++turn) {
      Client& client = clients[turn];
      // Write with the stale context read last time, then read again (the
      // other client writes in between, so that context will be stale).
      client.own_writes += client.name + std::to_string(round) + ",";
      ApplyWrite(&stored, client.context, kActorA, Value(client.own_writes, round));
      client.context = stored.clock;
      CHECK(stored.siblings.size() <= 2);
    }
  }
  REQUIRE(stored.siblings.size() == 2);
  std::set<std::string> final_values;
  for (const Sibling& sibling : stored.siblings) final_values.insert(sibling.value);
  CHECK(final_values == std::set<std::string>{clients[0].own_writes, clients[1].own_writes});
  // Together the siblings hold all 2 * kRounds writes.
  size_t writes = 0;
  for (const std::string& value : final_values)
    writes += std::count(value.begin(), value.end(), ',');
  CHECK(writes == 2 * kRounds);
}

// The same interleaving where each client first reads and then writes with
// the context it read, but the other client's write lands in between.
TEST_CASE("sibling set: interleaved read-modify-write keeps two siblings at most") {
  SiblingSet stored;
  VersionVector context_x;
  VersionVector context_y;
  std::string writes_x;
  std::string writes_y;
  for (int round = 0; round < 100; ++round) {
    context_x = stored.clock;  // x reads.
    writes_y += "y" + std::to_string(round) + ",";
    ApplyWrite(&stored, context_y, kActorA, Value(writes_y));  // y writes, stale.
    context_y = stored.clock;                                  // y reads.
    writes_x += "x" + std::to_string(round) + ",";
    ApplyWrite(&stored, context_x, kActorA, Value(writes_x));  // x writes, stale.
    CHECK(stored.siblings.size() <= 2);
  }
  std::set<std::string> values;
  for (const Sibling& sibling : stored.siblings) values.insert(sibling.value);
  CHECK(values == std::set<std::string>{writes_x, writes_y});
}

// A node whose data directory was wiped restarts as a new actor. Its new
// writes start at counter 1 again; had it kept its old actor id, replicas
// holding the old actor's higher counters would drop them as already seen.
TEST_CASE("sibling set: a wiped node's new writes are not dominated by its old dots") {
  constexpr ActorId kOldIncarnation = kActorC;
  constexpr ActorId kNewIncarnation = 0x4444;
  SiblingSet replica;  // Another replica, holding the old incarnation's writes.
  for (int i = 0; i < 5; ++i) ApplyWrite(&replica, replica.clock, kOldIncarnation, Value("old"));
  REQUIRE(replica.clock.Get(kOldIncarnation) == 5);

  SiblingSet wiped;  // The node after the wipe: empty, blind writes.
  Dot first = ApplyWrite(&wiped, VersionVector{}, kNewIncarnation, Value("new1"));
  Dot second = ApplyWrite(&wiped, wiped.clock, kNewIncarnation, Value("new2"));
  CHECK(first == Dot{kNewIncarnation, 1});
  CHECK(second == Dot{kNewIncarnation, 2});

  for (const SiblingSet& merged : {Merged(replica, wiped), Merged(wiped, replica)}) {
    // The new write survives (concurrent with the old value, not dropped).
    CHECK(DotsOf(merged) == std::vector<Dot>{{kOldIncarnation, 5}, {kNewIncarnation, 2}});
  }

  // What a reused actor id would have done: the new write is lost.
  SiblingSet reused;
  ApplyWrite(&reused, VersionVector{}, kOldIncarnation, Value("new1"));
  SiblingSet merged = Merged(replica, reused);
  CHECK(DotsOf(merged) == std::vector<Dot>{{kOldIncarnation, 5}});
  CHECK(merged.siblings[0].value == "old");
}

TEST_CASE("sibling set: winner is latest timestamp, then greatest actor, then counter") {
  std::vector<Sibling> siblings(4);
  siblings[0].dot = {kActorA, 9};
  siblings[0].timestamp_ms = 100;
  siblings[1].dot = {kActorB, 1};
  siblings[1].timestamp_ms = 200;
  siblings[2].dot = {kActorC, 1};
  siblings[2].timestamp_ms = 200;
  siblings[3].dot = {kActorC, 2};
  siblings[3].timestamp_ms = 50;
  CHECK(PickWinner(siblings) == 2);
  siblings[3].timestamp_ms = 200;
  CHECK(PickWinner(siblings) == 3);
  // The pick does not depend on the order the siblings come in.
  std::mt19937_64 random(42);
  for (int i = 0; i < 20; ++i) {
    std::shuffle(siblings.begin(), siblings.end(), random);
    CHECK(siblings[PickWinner(siblings)].dot == Dot{kActorC, 2});
  }
  std::vector<SiblingRef> refs(2);
  refs[0].dot = {kActorB, 3};
  refs[1].dot = {kActorA, 4};
  CHECK(PickWinner(refs) == 0);
}

TEST_CASE("sibling set: a tombstone winner is not live") {
  SiblingSet set;
  CHECK_FALSE(IsLive(set));
  ApplyWrite(&set, VersionVector{}, kActorA, Value("v", 10));
  Sibling tombstone;
  tombstone.tombstone = true;
  tombstone.timestamp_ms = 20;
  ApplyWrite(&set, VersionVector{}, kActorB, tombstone);
  CHECK(set.siblings.size() == 2);
  CHECK_FALSE(IsLive(set));
  ApplyWrite(&set, VersionVector{}, kActorC, Value("w", 30));
  CHECK(IsLive(set));
}

}  // namespace
}  // namespace ringkv::storage
