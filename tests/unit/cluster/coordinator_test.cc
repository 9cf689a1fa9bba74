// Tests for cluster/coordinator.cc: quorum counting, timeouts, duplicates,
// read repair and the replica side, with in-memory stores and messages
// delivered by hand.
#include "cluster/coordinator.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "unit/cluster/coordinator_test_cluster.h"
#include "unit/cluster/sim_memory_store.h"

namespace ringkv::cluster {
namespace {

using storage::Sibling;
using storage::SiblingSet;
using namespace ringkv::cluster::coordinator_testing;

TEST_CASE("coordinator: a write is done at the w-th ack, once, and settles when all replied") {
  TestCluster cluster(3);
  std::string key = cluster.KeyLedBy("a");
  WriteProbe probe;
  cluster.coordinator("a").Write(key, Value("v1"), nullptr, {3, 2, 2}, 0, probe.Done(),
                                 probe.Settled());
  CHECK(probe.done_calls == 0);
  std::map<std::string, PutRequest> puts = TakePuts(cluster.coordinator("a"));
  REQUIRE(puts.size() == 2);
  CHECK(puts.count("b") == 1);
  CHECK(puts.count("c") == 1);
  CHECK(puts["b"].set == *cluster.store("a").Find(key));
  CHECK(cluster.coordinator("a").NextDeadlineMs() == kTimeoutMs);

  cluster.coordinator("a").OnMessage("b", PutReply{puts["b"].id, true, ""}, 5);
  CHECK(probe.done_calls == 1);
  CHECK(probe.result.ok);
  CHECK(probe.result.acks == 2);
  CHECK(probe.result.required == 2);
  const SiblingSet& stored = *cluster.store("a").Find(key);
  CHECK(Values(stored) == std::vector<std::string>{"v1"});
  CHECK(probe.result.dot == stored.siblings[0].dot);
  CHECK(probe.settled_calls == 0);

  cluster.coordinator("a").OnMessage("c", PutReply{puts["c"].id, true, ""}, 6);
  CHECK(probe.done_calls == 1);
  CHECK(probe.settled_calls == 1);
  CHECK(probe.settled_acks == 3);
  CHECK(cluster.coordinator("a").writes_in_flight() == 0);
  CHECK(!cluster.coordinator("a").NextDeadlineMs().has_value());
  CHECK(cluster.coordinator("a").stats().writes == 1);
  CHECK(cluster.coordinator("a").stats().write_quorum_failures == 0);
}

TEST_CASE("coordinator: a write that misses its quorum fails at the deadline with its acks") {
  TestCluster cluster(3);
  std::string key = cluster.KeyLedBy("a");
  WriteProbe probe;
  cluster.coordinator("a").Write(key, Value("v1"), nullptr, {3, 3, 2}, 100, probe.Done(),
                                 probe.Settled());
  std::map<std::string, PutRequest> puts = TakePuts(cluster.coordinator("a"));
  cluster.coordinator("a").OnMessage("b", PutReply{puts["b"].id, true, ""}, 200);
  cluster.coordinator("a").OnTick(100 + kTimeoutMs - 1);
  CHECK(probe.done_calls == 0);
  cluster.coordinator("a").OnTick(100 + kTimeoutMs);
  CHECK(probe.done_calls == 1);
  CHECK(!probe.result.ok);
  CHECK(probe.result.acks == 2);
  CHECK(probe.result.required == 3);
  CHECK(probe.result.error.empty());
  CHECK(probe.settled_calls == 1);
  CHECK(probe.settled_acks == 2);
  CHECK(cluster.coordinator("a").stats().write_quorum_failures == 1);
  CHECK(!cluster.coordinator("a").NextDeadlineMs().has_value());

  // The straggler's reply finds nothing to update.
  cluster.coordinator("a").OnMessage("c", PutReply{puts["c"].id, true, ""}, 1200);
  CHECK(probe.done_calls == 1);
  CHECK(probe.settled_calls == 1);
}

TEST_CASE("coordinator: duplicate, foreign and unknown replies are not counted") {
  TestCluster cluster(3);
  std::string key = cluster.KeyLedBy("a");
  WriteProbe probe;
  cluster.coordinator("a").Write(key, Value("v1"), nullptr, {3, 3, 2}, 0, probe.Done(),
                                 probe.Settled());
  std::map<std::string, PutRequest> puts = TakePuts(cluster.coordinator("a"));
  Coordinator& a = cluster.coordinator("a");
  a.OnMessage("b", PutReply{puts["b"].id, true, ""}, 1);
  a.OnMessage("b", PutReply{puts["b"].id, true, ""}, 2);             // Duplicate.
  a.OnMessage("z", PutReply{puts["b"].id, true, ""}, 3);             // Not a replica of it.
  a.OnMessage("c", PutReply{puts["b"].id + 99, true, ""}, 4);        // Unknown id.
  a.OnMessage("c", GetReply{puts["b"].id, true, false, {}, ""}, 5);  // Wrong kind.
  CHECK(probe.done_calls == 0);
  a.OnMessage("c", PutReply{puts["c"].id, true, ""}, 6);
  CHECK(probe.done_calls == 1);
  CHECK(probe.result.ok);
  CHECK(probe.result.acks == 3);
  CHECK(probe.settled_acks == 3);
}

TEST_CASE("coordinator: a write fails as soon as its quorum is out of reach") {
  TestCluster cluster(3);
  std::string key = cluster.KeyLedBy("a");
  WriteProbe probe;
  cluster.coordinator("a").Write(key, Value("v1"), nullptr, {3, 2, 2}, 0, probe.Done(),
                                 probe.Settled());
  std::map<std::string, PutRequest> puts = TakePuts(cluster.coordinator("a"));
  cluster.coordinator("a").OnMessage("b", PutReply{puts["b"].id, false, "disk full"}, 1);
  CHECK(probe.done_calls == 0);
  cluster.coordinator("a").OnMessage("c", PutReply{puts["c"].id, false, "disk full"}, 2);
  CHECK(probe.done_calls == 1);
  CHECK(!probe.result.ok);
  CHECK(probe.result.acks == 1);
  CHECK(probe.settled_acks == 1);
}

TEST_CASE("coordinator: n = 1 and w = 1 complete inside Write") {
  TestCluster cluster(3);
  std::string key = cluster.KeyLedBy("a");
  WriteProbe probe;
  cluster.coordinator("a").Write(key, Value("v1"), nullptr, {1, 1, 1}, 0, probe.Done(),
                                 probe.Settled());
  CHECK(probe.done_calls == 1);
  CHECK(probe.result.ok);
  CHECK(probe.result.acks == 1);
  CHECK(probe.settled_calls == 1);
  CHECK(cluster.coordinator("a").TakeOutbox().empty());
  CHECK(cluster.coordinator("a").writes_in_flight() == 0);

  ReadProbe read;
  cluster.coordinator("a").Read(key, {1, 1, 1}, 0, read.Done());
  CHECK(read.calls == 1);
  CHECK(read.result.ok);
  CHECK(read.result.found);
  CHECK(Values(read.result.set) == std::vector<std::string>{"v1"});
  CHECK(cluster.coordinator("a").reads_in_flight() == 0);

  WriteProbe w1;
  cluster.coordinator("a").Write(key, Value("v2"), nullptr, {3, 1, 1}, 0, w1.Done(), w1.Settled());
  CHECK(w1.done_calls == 1);
  CHECK(w1.result.ok);
  CHECK(w1.settled_calls == 0);
  cluster.Pump();
  CHECK(w1.settled_calls == 1);
  CHECK(w1.settled_acks == 3);
}

TEST_CASE("coordinator: a failing local store fails the write at once and sends nothing") {
  TestCluster cluster(3);
  std::string key = cluster.KeyLedBy("a");
  cluster.store("a").set_fail(true);
  WriteProbe probe;
  cluster.coordinator("a").Write(key, Value("v1"), nullptr, {3, 2, 2}, 0, probe.Done(),
                                 probe.Settled());
  CHECK(probe.done_calls == 1);
  CHECK(!probe.result.ok);
  CHECK(!probe.result.error.empty());
  CHECK(probe.result.required == 2);
  CHECK(probe.settled_calls == 1);
  CHECK(cluster.coordinator("a").TakeOutbox().empty());
  CHECK(cluster.coordinator("a").stats().store_errors == 1);
}

TEST_CASE("coordinator: SET supersedes local siblings, a context supersedes what it covers") {
  TestCluster cluster(3);
  std::string key = cluster.KeyLedBy("a", "b");
  WriteProbe wa, wb;
  // Concurrent writes through two coordinators, each acked only locally.
  cluster.coordinator("a").Write(key, Value("from-a"), nullptr, {3, 1, 1}, 0, wa.Done());
  cluster.coordinator("b").Write(key, Value("from-b"), nullptr, {3, 1, 1}, 0, wb.Done());
  REQUIRE(wa.result.ok);
  REQUIRE(wb.result.ok);
  cluster.Pump();
  CHECK(Values(*cluster.store("c").Find(key)) == std::vector<std::string>{"from-a", "from-b"});

  // A context that saw only a's version leaves b's as a sibling.
  storage::VersionVector seen_a;
  seen_a.Set(wa.result.dot.actor, wa.result.dot.counter);
  WriteProbe partial;
  cluster.coordinator("c").Write(key, Value("after-a"), &seen_a, {3, 3, 2}, 1, partial.Done());
  cluster.Pump();
  CHECK(partial.result.ok);
  CHECK(Values(*cluster.store("a").Find(key)) == std::vector<std::string>{"after-a", "from-b"});

  // SET without a context supersedes everything the coordinator has seen.
  WriteProbe set;
  cluster.coordinator("b").Write(key, Value("final"), nullptr, {3, 3, 2}, 2, set.Done());
  cluster.Pump();
  CHECK(set.result.ok);
  for (const char* name : {"a", "b", "c"}) {
    CHECK(Values(*cluster.store(name).Find(key)) == std::vector<std::string>{"final"});
  }
}

TEST_CASE("coordinator: a read merges r replies and repairs only the stale replicas") {
  TestCluster cluster(3);
  std::string key = cluster.KeyLedBy("a");
  // b and c get a write that a never sees; then b alone gets a second one.
  WriteProbe first;
  cluster.coordinator("b").Write(key, Value("old"), nullptr, {3, 1, 1}, 0, first.Done());
  for (Envelope& envelope : cluster.coordinator("b").TakeOutbox()) {
    if (envelope.to == "c") cluster.coordinator("c").OnMessage("b", envelope.message, 0);
  }
  cluster.coordinator("c").TakeOutbox();
  WriteProbe second;
  cluster.coordinator("b").Write(key, Value("new"), nullptr, {3, 1, 1}, 0, second.Done());
  cluster.coordinator("b").TakeOutbox();
  const SiblingSet newest = *cluster.store("b").Find(key);

  ReadProbe read;
  Coordinator& a = cluster.coordinator("a");
  a.Read(key, {3, 2, 2}, 10, read.Done());
  std::vector<Envelope> gets = a.TakeOutbox();
  REQUIRE(gets.size() == 2);
  // c answers first: with a's empty copy that makes r = 2 replies.
  for (const char* replica : {"c", "b"}) {
    for (Envelope& envelope : gets) {
      if (envelope.to == replica) cluster.coordinator(replica).OnMessage("a", envelope.message, 11);
    }
    cluster.DeliverFrom(replica, 12);
    if (std::string(replica) == "c") {
      CHECK(read.calls == 1);
      CHECK(read.result.ok);
      CHECK(read.result.found);
      CHECK(read.result.replies == 2);
      CHECK(Values(read.result.set) == std::vector<std::string>{"old"});
      CHECK(a.TakeOutbox().empty());  // No repair before every replica answered.
    }
  }
  CHECK(read.calls == 1);
  CHECK(a.reads_in_flight() == 0);
  // b was up to date; c gets the merge; a repairs itself directly.
  std::map<std::string, PutRequest> repairs = TakePuts(a);
  REQUIRE(repairs.size() == 1);
  REQUIRE(repairs.count("c") == 1);
  CHECK(repairs["c"].set == newest);
  CHECK(*cluster.store("a").Find(key) == newest);
  CHECK(a.stats().read_repairs == 2);
  cluster.coordinator("c").OnMessage("a", repairs["c"], 13);
  CHECK(*cluster.store("c").Find(key) == newest);
}

TEST_CASE("coordinator: a read that misses r fails at the deadline with what it got") {
  TestCluster cluster(4);
  // A key that d does not replicate at n = 3, so d coordinates from outside.
  std::string key;
  for (int i = 0;; ++i) {
    key = "k" + std::to_string(i);
    if (!cluster.coordinator("d").IsReplica(key, 3)) break;
  }
  std::vector<std::string> replicas = cluster.coordinator("d").PreferenceNames(key, 3);
  WriteProbe write;
  cluster.coordinator(replicas[0]).Write(key, Value("v"), nullptr, {3, 1, 1}, 0, write.Done());
  cluster.coordinator(replicas[0]).TakeOutbox();  // Lost.

  ReadProbe read;
  Coordinator& d = cluster.coordinator("d");
  d.Read(key, {3, 2, 2}, 0, read.Done());
  std::vector<Envelope> gets = d.TakeOutbox();
  CHECK(gets.size() == 3);
  for (Envelope& envelope : gets) {
    if (envelope.to == replicas[0]) {
      cluster.coordinator(envelope.to).OnMessage("d", envelope.message, 1);
      cluster.DeliverFrom(envelope.to, 2);
    }
  }
  CHECK(read.calls == 0);
  d.OnTick(kTimeoutMs);
  CHECK(read.calls == 1);
  CHECK(!read.result.ok);
  CHECK(read.result.replies == 1);
  CHECK(read.result.required == 2);
  CHECK(read.result.found);
  CHECK(d.stats().read_quorum_failures == 1);
  CHECK(d.TakeOutbox().empty());  // The only reply was already the merge.
}

TEST_CASE("coordinator: a replica's merge of a PutRequest is idempotent") {
  TestCluster cluster(3);
  std::string key = cluster.KeyLedBy("a");
  WriteProbe write;
  cluster.coordinator("a").Write(key, Value("v"), nullptr, {3, 2, 2}, 0, write.Done());
  std::map<std::string, PutRequest> puts = TakePuts(cluster.coordinator("a"));
  Coordinator& b = cluster.coordinator("b");
  b.OnMessage("a", puts["b"], 1);
  const SiblingSet once = *cluster.store("b").Find(key);
  b.OnMessage("a", puts["b"], 2);
  CHECK(*cluster.store("b").Find(key) == once);
  CHECK(once == *cluster.store("a").Find(key));
  std::vector<Envelope> replies = b.TakeOutbox();
  REQUIRE(replies.size() == 2);
  for (const Envelope& envelope : replies) {
    CHECK(envelope.to == "a");
    const PutReply* reply = std::get_if<PutReply>(&envelope.message);
    REQUIRE(reply != nullptr);
    CHECK(reply->ok);
    CHECK(reply->id == puts["b"].id);
  }
  CHECK(b.stats().puts_served == 2);
}

TEST_CASE("coordinator: replica errors come back as failed replies") {
  TestCluster cluster(3);
  Coordinator& b = cluster.coordinator("b");
  cluster.store("b").set_fail(true);
  b.OnMessage("a", GetRequest{7, "k"}, 0);
  b.OnMessage("a", PutRequest{8, "k", {}, ""}, 0);
  b.OnMessage("a", PutRequest{9, "k", {}, "c"}, 0);  // A hint for c.
  cluster.store("b").set_fail(false);
  std::vector<Envelope> replies = b.TakeOutbox();
  REQUIRE(replies.size() == 3);
  const GetReply* get = std::get_if<GetReply>(&replies[0].message);
  REQUIRE(get != nullptr);
  CHECK(get->id == 7);
  CHECK(!get->ok);
  CHECK(!get->error.empty());
  const PutReply* put = std::get_if<PutReply>(&replies[1].message);
  REQUIRE(put != nullptr);
  CHECK(!put->ok);
  const PutReply* hint = std::get_if<PutReply>(&replies[2].message);
  REQUIRE(hint != nullptr);
  CHECK(!hint->ok);
  CHECK(cluster.store("b").Find("k") == nullptr);
  CHECK(cluster.store("b").hint_count() == 0);
  CHECK(b.stats().store_errors == 3);
  CHECK(b.stats().gets_served == 1);
  CHECK(b.stats().puts_served == 2);
}

TEST_CASE("coordinator: callbacks may start new requests") {
  TestCluster cluster(3);
  std::string key = cluster.KeyLedBy("a");
  Coordinator& a = cluster.coordinator("a");
  int chained = 0;
  std::function<void(WriteResult)> again = [&](WriteResult result) {
    CHECK(result.ok);
    if (++chained < 5)
      a.Write(key, Value("v" + std::to_string(chained)), nullptr, {3, 1, 1}, 0, again);
  };
  a.Write(key, Value("v0"), nullptr, {3, 1, 1}, 0, again);
  CHECK(chained == 5);
  ReadProbe read;
  a.OnTick(kTimeoutMs);  // Every write expires with its stragglers unanswered.
  a.Read(key, {3, 1, 1}, kTimeoutMs, [&](ReadResult result) {
    read.result = std::move(result);
    a.Read(key, {3, 1, 1}, kTimeoutMs, read.Done());
  });
  CHECK(read.calls == 1);
  CHECK(Values(read.result.set) == std::vector<std::string>{"v4"});
  a.TakeOutbox();
  a.OnTick(2 * kTimeoutMs);
  CHECK(a.reads_in_flight() == 0);
  CHECK(a.writes_in_flight() == 0);
}

TEST_CASE("coordinator: requests in flight keep their replicas across a ring change") {
  TestCluster cluster(3);
  std::string key = cluster.KeyLedBy("a");
  Coordinator& a = cluster.coordinator("a");
  WriteProbe write;
  a.Write(key, Value("v"), nullptr, {3, 3, 2}, 0, write.Done(), write.Settled());
  ReadProbe read;
  a.Read(key, {3, 3, 3}, 0, read.Done());
  // The new ring drops b; the requests still wait for b's answers.
  a.SetRing(Ring::Claim(8, {{"a"}, {"c"}, {"d"}}));
  cluster.Pump();
  CHECK(write.done_calls == 1);
  CHECK(write.result.ok);
  CHECK(write.result.acks == 3);
  CHECK(read.calls == 1);
  CHECK(read.result.ok);
  CHECK(Values(read.result.set) == std::vector<std::string>{"v"});
}

}  // namespace
}  // namespace ringkv::cluster
