// Tests for the sloppy quorum (cluster/coordinator.cc) and hinted handoff
// (cluster/coordinator_hints.cc): stand-ins for down, failed and slow
// owners, reads served from hints, delivery, its retries and bounds, limits
// and expiry. In-memory stores; messages are moved by hand.
#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster/coordinator.h"
#include "unit/cluster/coordinator_test_cluster.h"
#include "unit/cluster/sim_memory_store.h"

namespace ringkv::cluster {
namespace {

using storage::SiblingSet;
using namespace ringkv::cluster::coordinator_testing;

constexpr const char* kKey = "k";

// Five nodes; `p` is the preference list of kKey: p[0..2] own it (n = 3),
// p[3] and p[4] are its fallbacks, in that order.
CoordinatorOptions Sloppy() {
  CoordinatorOptions options{kTimeoutMs};
  options.sloppy_quorum = true;
  return options;
}

struct Five {
  explicit Five(CoordinatorOptions options = Sloppy())
      : cluster(5, 16, options), p(cluster.coordinator("a").PreferenceNames(kKey, 5)) {}
  Coordinator& at(int i) { return cluster.coordinator(p[i]); }
  MemoryStore& store(int i) { return cluster.store(p[i]); }
  TestCluster cluster;
  std::vector<std::string> p;
};

// The only message in `from`'s outbox, which must be a PutRequest to `to`.
PutRequest TakeOnePut(Coordinator& from, const std::string& to) {
  std::vector<Envelope> outbox = from.TakeOutbox();
  REQUIRE(outbox.size() == 1);
  CHECK(outbox[0].to == to);
  PutRequest* put = std::get_if<PutRequest>(&outbox[0].message);
  REQUIRE(put != nullptr);
  return *put;
}

// The only message in `from`'s outbox, which must be a PutReply.
PutReply TakeOneReply(Coordinator& from) {
  std::vector<Envelope> outbox = from.TakeOutbox();
  REQUIRE(outbox.size() == 1);
  PutReply* reply = std::get_if<PutReply>(&outbox[0].message);
  REQUIRE(reply != nullptr);
  return *reply;
}

// A set holding one version of `value` by `actor`, over `base`.
SiblingSet Written(SiblingSet base, storage::ActorId actor, std::string value) {
  storage::VersionVector context = base.clock;
  storage::ApplyWrite(&base, context, actor, Value(std::move(value)));
  return base;
}

TEST_CASE(
    "sloppy quorum: a down owner's slot goes to the next fallback, as a hint, and W counts it") {
  Five five;
  five.cluster.SetDown(five.p[1], true);
  CHECK(five.at(0).IsReplica(kKey, 3));
  CHECK(five.at(4).HealthyReplicaNames(kKey, 3) == std::vector<std::string>{five.p[0], five.p[2]});
  WriteProbe probe;
  five.at(0).Write(kKey, Value("v"), nullptr, {3, 3, 2}, 0, probe.Done(), probe.Settled());
  std::map<std::string, PutRequest> puts = TakePuts(five.at(0));
  REQUIRE(puts.size() == 2);  // Nothing to the down owner.
  CHECK(puts[five.p[2]].hint_for.empty());
  CHECK(puts[five.p[3]].hint_for == five.p[1]);
  CHECK(five.at(0).stats().write_stand_ins == 1);

  // The stand-in keeps it as a hint for the owner, not as its own record.
  five.at(3).OnMessage(five.p[0], puts[five.p[3]], 1);
  CHECK(five.store(3).Find(kKey) == nullptr);
  const MemoryStore::Hint* hint = five.store(3).FindHint(five.p[1], kKey);
  REQUIRE(hint != nullptr);
  CHECK(hint->set == *five.store(0).Find(kKey));
  CHECK(five.at(3).stats().hints_stored == 1);
  five.cluster.DeliverFrom(five.p[3], 2);
  CHECK(probe.done_calls == 0);  // 2 of 3.
  five.at(2).OnMessage(five.p[0], puts[five.p[2]], 3);
  five.cluster.DeliverFrom(five.p[2], 4);
  CHECK(probe.done_calls == 1);
  CHECK(probe.result.ok);
  CHECK(probe.result.acks == 3);
  CHECK(probe.result.hinted_acks == 1);
  CHECK(probe.settled_calls == 1);
  CHECK(probe.settled_acks == 3);
  CHECK(five.at(0).writes_in_flight() == 0);
}

TEST_CASE(
    "strict quorum: without sloppy_quorum a down owner is still asked; nothing stands in") {
  CoordinatorOptions strict{kTimeoutMs};
  strict.hint_after_ms = 200;
  Five five(strict);
  five.cluster.SetDown(five.p[1], true);
  WriteProbe probe;
  five.at(0).Write(kKey, Value("v"), nullptr, {3, 3, 2}, 0, probe.Done(), probe.Settled());
  CHECK(probe.done_calls == 0);
  std::map<std::string, PutRequest> puts = TakePuts(five.at(0));
  // The suspect owner gets the write too (it may be back already), and no
  // fallback does.
  REQUIRE(puts.size() == 2);
  CHECK(puts.count(five.p[1]) == 1);
  CHECK(puts.count(five.p[2]) == 1);
  CHECK(puts.count(five.p[3]) == 0);
  five.at(0).OnMessage(five.p[1], PutReply{puts[five.p[1]].id, true, ""}, 1);
  five.at(0).OnMessage(five.p[2], PutReply{puts[five.p[2]].id, true, ""}, 1);
  CHECK(probe.done_calls == 1);
  CHECK(probe.result.ok);
  CHECK(probe.result.hinted_acks == 0);
  // Failed and silent owners get no stand-in either.
  five.cluster.SetDown(five.p[1], false);
  WriteProbe second;
  five.at(0).Write(kKey, Value("v2"), nullptr, {3, 2, 2}, 10, second.Done(), second.Settled());
  puts = TakePuts(five.at(0));
  REQUIRE(puts.size() == 2);
  five.at(0).OnMessage(five.p[1], PutReply{puts[five.p[1]].id, false, "no connection"}, 11);
  CHECK(five.at(0).TakeOutbox().empty());
  five.at(0).OnTick(300);  // Past hint_after_ms: still nothing.
  CHECK(five.at(0).TakeOutbox().empty());
  five.at(0).OnTick(10 + kTimeoutMs);
  CHECK(!second.result.ok);
  CHECK(five.at(0).TakeOutbox().empty());
  CHECK(five.at(0).stats().write_stand_ins == 0);
}

TEST_CASE("sloppy quorum: down owners get distinct fallbacks in ring order, or fail their slot") {
  Five five;
  five.cluster.SetDown(five.p[1], true);
  five.cluster.SetDown(five.p[2], true);
  WriteProbe both;
  five.at(0).Write(kKey, Value("v1"), nullptr, {3, 2, 2}, 0, both.Done(), both.Settled());
  std::map<std::string, PutRequest> puts = TakePuts(five.at(0));
  REQUIRE(puts.size() == 2);
  CHECK(puts[five.p[3]].hint_for == five.p[1]);
  CHECK(puts[five.p[4]].hint_for == five.p[2]);
  for (auto& [to, put] : puts) five.cluster.coordinator(to).OnMessage(five.p[0], put, 1);
  five.cluster.Pump(1);
  CHECK(both.result.ok);
  CHECK(both.result.hinted_acks == 1);  // done fired at the 2nd acked slot.
  CHECK(both.settled_acks == 3);

  // With p[3] down as well, p[2]'s slot has no stand-in left: w = 3 is out
  // of reach at once, and the write settles with what it got.
  five.cluster.SetDown(five.p[3], true);
  WriteProbe short_of_one;
  five.at(0).Write(kKey, Value("v2"), nullptr, {3, 3, 2}, 10, short_of_one.Done(),
                   short_of_one.Settled());
  CHECK(short_of_one.done_calls == 1);
  CHECK(!short_of_one.result.ok);
  CHECK(short_of_one.result.acks == 1);
  puts = TakePuts(five.at(0));
  REQUIRE(puts.size() == 1);
  CHECK(puts[five.p[4]].hint_for == five.p[1]);
  for (auto& [to, put] : puts) five.cluster.coordinator(to).OnMessage(five.p[0], put, 11);
  five.cluster.Pump(11);
  CHECK(short_of_one.settled_calls == 1);
  CHECK(short_of_one.settled_acks == 2);
}

TEST_CASE("sloppy quorum: a failed owner, then a failed stand-in, move the slot along") {
  Five five;
  WriteProbe probe;
  five.at(0).Write(kKey, Value("v"), nullptr, {3, 3, 2}, 0, probe.Done(), probe.Settled());
  std::map<std::string, PutRequest> puts = TakePuts(five.at(0));
  REQUIRE(puts.size() == 2);
  // The adapter could not reach p[1]: a failed reply on its behalf.
  five.at(0).OnMessage(five.p[1], PutReply{puts[five.p[1]].id, false, "no connection"}, 1);
  PutRequest first = TakeOnePut(five.at(0), five.p[3]);
  CHECK(first.hint_for == five.p[1]);
  CHECK(first.id == puts[five.p[1]].id);
  five.at(0).OnMessage(five.p[3], PutReply{first.id, false, "disk full"}, 2);
  PutRequest second = TakeOnePut(five.at(0), five.p[4]);
  CHECK(second.hint_for == five.p[1]);
  five.at(4).OnMessage(five.p[0], second, 3);
  five.cluster.DeliverFrom(five.p[4], 4);
  five.at(2).OnMessage(five.p[0], puts[five.p[2]], 5);
  five.cluster.DeliverFrom(five.p[2], 6);
  CHECK(probe.done_calls == 1);
  CHECK(probe.result.ok);
  CHECK(probe.result.acks == 3);
  CHECK(probe.result.hinted_acks == 1);
  CHECK(five.store(4).FindHint(five.p[1], kKey) != nullptr);
  CHECK(five.store(3).hint_count() == 0);
}

TEST_CASE("sloppy quorum: a silent owner gets a stand-in at hint_after_ms; its late ack counts") {
  CoordinatorOptions options = Sloppy();
  options.hint_after_ms = 200;
  Five five(options);
  Coordinator& coordinator = five.at(0);

  // The stand-in answers first: the slot is acked, the write settles
  // without waiting for the owner, whose late ack is then ignored.
  WriteProbe first;
  coordinator.Write(kKey, Value("v1"), nullptr, {3, 3, 2}, 0, first.Done(), first.Settled());
  std::map<std::string, PutRequest> puts = TakePuts(coordinator);
  five.at(2).OnMessage(five.p[0], puts[five.p[2]], 1);
  five.cluster.DeliverFrom(five.p[2], 2);
  CHECK(coordinator.NextDeadlineMs() == 200);
  coordinator.OnTick(199);
  CHECK(coordinator.TakeOutbox().empty());
  coordinator.OnTick(200);
  PutRequest stand_in = TakeOnePut(coordinator, five.p[3]);
  CHECK(stand_in.hint_for == five.p[1]);
  five.at(3).OnMessage(five.p[0], stand_in, 201);
  five.cluster.DeliverFrom(five.p[3], 202);
  CHECK(first.result.ok);
  CHECK(first.result.hinted_acks == 1);
  CHECK(first.settled_calls == 1);
  CHECK(coordinator.writes_in_flight() == 0);
  five.at(1).OnMessage(five.p[0], puts[five.p[1]], 203);
  five.cluster.DeliverFrom(five.p[1], 204);  // Ignored.
  CHECK(first.done_calls == 1);
  CHECK(first.settled_calls == 1);

  // The owner answers after all, before the stand-in: it counts as itself.
  WriteProbe second;
  coordinator.Write(kKey, Value("v2"), nullptr, {3, 3, 2}, 1000, second.Done(), second.Settled());
  puts = TakePuts(coordinator);
  five.at(2).OnMessage(five.p[0], puts[five.p[2]], 1001);
  five.cluster.DeliverFrom(five.p[2], 1002);
  coordinator.OnTick(1200);
  stand_in = TakeOnePut(coordinator, five.p[3]);
  five.at(1).OnMessage(five.p[0], puts[five.p[1]], 1201);
  five.cluster.DeliverFrom(five.p[1], 1202);
  CHECK(second.result.ok);
  CHECK(second.result.hinted_acks == 0);
  CHECK(second.settled_acks == 3);
  CHECK(coordinator.writes_in_flight() == 0);
}

TEST_CASE("sloppy quorum: a stand-in's hint serves reads; read repair fixes owners, never it") {
  Five five;
  five.cluster.SetDown(five.p[1], true);
  WriteProbe write;
  five.at(0).Write(kKey, Value("v"), nullptr, {3, 1, 1}, 0, write.Done());
  std::map<std::string, PutRequest> puts = TakePuts(five.at(0));
  five.at(3).OnMessage(five.p[0], puts[five.p[3]], 1);  // p[2]'s copy is lost.
  five.at(3).TakeOutbox();
  const SiblingSet written = *five.store(0).Find(kKey);

  // p[4] reads with r = 1, asking p[3] for the down p[1]; only p[3] answers
  // in time.
  ReadProbe read;
  Coordinator& reader = five.at(4);
  reader.Read(kKey, {3, 1, 1}, 10, read.Done());
  std::vector<Envelope> gets = reader.TakeOutbox();
  REQUIRE(gets.size() == 3);
  std::map<std::string, Message> get_to;
  for (Envelope& envelope : gets) get_to[envelope.to] = envelope.message;
  CHECK(get_to.count(five.p[1]) == 0);
  five.at(3).OnMessage(five.p[4], get_to[five.p[3]], 11);
  five.cluster.DeliverFrom(five.p[3], 12);
  CHECK(read.calls == 1);
  CHECK(read.result.ok);
  CHECK(read.result.found);
  CHECK(read.result.stand_in_replies == 1);
  CHECK(read.result.set == written);
  CHECK(reader.stats().read_stand_ins == 1);

  // The owners answer too: p[2] is stale and is repaired; p[3] is not
  // (it holds the key only as a hint).
  for (int owner : {0, 2}) {
    five.at(owner).OnMessage(five.p[4], get_to[five.p[owner]], 13);
    five.cluster.DeliverFrom(five.p[owner], 14);
  }
  CHECK(reader.reads_in_flight() == 0);
  std::map<std::string, PutRequest> repairs = TakePuts(reader);
  REQUIRE(repairs.size() == 1);
  CHECK(repairs.count(five.p[2]) == 1);
  CHECK(repairs[five.p[2]].set == written);
  CHECK(five.store(3).Find(kKey) == nullptr);
}

TEST_CASE("sloppy quorum: a failed read reply moves the slot to a stand-in") {
  Five five;
  ReadProbe read;
  Coordinator& reader = five.at(0);
  reader.Read(kKey, {3, 3, 3}, 0, read.Done());
  std::vector<Envelope> gets = reader.TakeOutbox();
  REQUIRE(gets.size() == 2);
  for (const Envelope& envelope : gets) {
    const uint64_t id = std::get<GetRequest>(envelope.message).id;
    if (envelope.to == five.p[1]) {
      reader.OnMessage(five.p[1], GetReply{id, false, false, {}, "no connection"}, 1);
    } else {
      reader.OnMessage(envelope.to, GetReply{id, true, false, {}, ""}, 1);
    }
  }
  std::vector<Envelope> stand_in = reader.TakeOutbox();
  REQUIRE(stand_in.size() == 1);
  CHECK(stand_in[0].to == five.p[3]);
  CHECK(read.calls == 0);
  five.at(3).OnMessage(five.p[0], stand_in[0].message, 2);
  five.cluster.DeliverFrom(five.p[3], 3);
  CHECK(read.calls == 1);
  CHECK(read.result.ok);
  CHECK(read.result.replies == 3);
  CHECK(read.result.stand_in_replies == 1);
}

// Leaves a hint of kKey for p[1] at p[3] (p[1] down everywhere), and
// returns the set hinted.
SiblingSet HintForP1(Five& five, const std::string& value, int64_t now_ms) {
  five.cluster.SetDown(five.p[1], true);
  WriteProbe write;
  five.at(0).Write(kKey, Value(value), nullptr, {3, 1, 1}, now_ms, write.Done());
  std::map<std::string, PutRequest> puts = TakePuts(five.at(0));
  REQUIRE(puts[five.p[3]].hint_for == five.p[1]);
  five.at(3).OnMessage(five.p[0], puts[five.p[3]], now_ms);
  five.at(3).TakeOutbox();
  five.at(0).OnTick(now_ms + kTimeoutMs);  // The write ends; its replies are lost.
  return puts[five.p[3]].set;
}

TEST_CASE("handoff: an owner back up gets its hints, deleted only once it acked them") {
  Five five;
  const SiblingSet hinted = HintForP1(five, "v", 0);
  Coordinator& holder = five.at(3);
  holder.OnTick(10);
  CHECK(holder.TakeOutbox().empty());  // p[1] is down.
  CHECK(holder.GetHintsStatus().count == 1);

  five.cluster.SetDown(five.p[1], false);
  CHECK(holder.NextDeadlineMs() == 10);  // At once.
  holder.OnTick(20);
  PutRequest delivery = TakeOnePut(holder, five.p[1]);
  CHECK(delivery.hint_for.empty());  // A plain put: the target owns the key.
  CHECK(delivery.set == hinted);
  CHECK(five.store(3).FindHint(five.p[1], kKey) != nullptr);
  HintsStatus status = holder.GetHintsStatus();
  REQUIRE(status.targets.size() == 1);
  CHECK(status.targets[0].target == five.p[1]);
  CHECK(status.targets[0].delivering);
  CHECK(status.targets[0].in_flight == 1);
  CHECK(!status.targets[0].down);
  CHECK(holder.hint_deliveries_in_flight() == 1);

  five.at(1).OnMessage(five.p[3], delivery, 21);
  CHECK(*five.store(1).Find(kKey) == hinted);
  five.cluster.DeliverFrom(five.p[1], 22);  // The ack.
  CHECK(five.store(3).FindHint(five.p[1], kKey) == nullptr);
  CHECK(holder.stats().hints_delivered == 1);
  status = holder.GetHintsStatus();
  CHECK(status.count == 0);
  CHECK(status.delivered == 1);
  REQUIRE(status.targets.size() == 1);
  CHECK(status.targets[0].delivered == 1);
  CHECK(!status.targets[0].delivering);
  CHECK(holder.hint_deliveries_in_flight() == 0);
  // Nothing left to do: no timer but hint expiry's... and no hints either.
  CHECK(!holder.NextDeadlineMs().has_value());
}

TEST_CASE("handoff: a hint changed between send and ack is kept and sent again") {
  Five five;
  const SiblingSet first = HintForP1(five, "v1", 0);
  Coordinator& holder = five.at(3);
  five.cluster.SetDown(five.p[1], false);
  holder.OnTick(10);
  PutRequest delivery = TakeOnePut(holder, five.p[1]);
  // Another write reaches the stand-in for p[1] meanwhile.
  const SiblingSet second = Written(first, 0x999, "v2");
  holder.OnMessage(five.p[0], PutRequest{77, kKey, second, five.p[1]}, 11);
  CHECK(TakeOneReply(holder).ok);
  holder.OnMessage(five.p[1], PutReply{delivery.id, true, ""}, 12);
  const MemoryStore::Hint* hint = five.store(3).FindHint(five.p[1], kKey);
  REQUIRE(hint != nullptr);
  CHECK(Values(hint->set) == std::vector<std::string>{"v2"});
  CHECK(holder.stats().hints_delivered == 0);

  // The next pass sends it again, merged, and this time it goes.
  CHECK(holder.NextDeadlineMs() == 12 + CoordinatorOptions().hint_retry_min_ms);
  holder.OnTick(12 + CoordinatorOptions().hint_retry_min_ms);
  PutRequest again = TakeOnePut(holder, five.p[1]);
  CHECK(again.set == second);
  holder.OnMessage(five.p[1], PutReply{again.id, true, ""}, 200);
  CHECK(five.store(3).FindHint(five.p[1], kKey) == nullptr);
  CHECK(holder.stats().hints_delivered == 1);
}

TEST_CASE("handoff: failed and timed-out deliveries keep the hint and back off") {
  Five five;
  HintForP1(five, "v", 0);
  Coordinator& holder = five.at(3);
  five.cluster.SetDown(five.p[1], false);
  holder.OnTick(100);
  PutRequest delivery = TakeOnePut(holder, five.p[1]);
  holder.OnMessage(five.p[1], PutReply{delivery.id, false, "no connection"}, 101);
  CHECK(five.store(3).FindHint(five.p[1], kKey) != nullptr);
  CHECK(holder.stats().hint_delivery_failures == 1);
  CHECK(holder.NextDeadlineMs() == 201);  // retry_min = 100.
  holder.OnTick(200);
  CHECK(holder.TakeOutbox().empty());
  holder.OnTick(201);
  delivery = TakeOnePut(holder, five.p[1]);
  // No answer: it times out, and the wait doubles.
  holder.OnTick(200 + kTimeoutMs);
  CHECK(holder.stats().hint_delivery_failures == 1);
  holder.OnTick(201 + kTimeoutMs);
  CHECK(holder.stats().hint_delivery_failures == 2);
  CHECK(holder.hint_deliveries_in_flight() == 0);
  CHECK(holder.NextDeadlineMs() == 201 + kTimeoutMs + 200);
  // Down again: no delivery; up again: at once.
  five.cluster.SetDown(five.p[1], true);
  holder.OnTick(201 + kTimeoutMs + 200);
  CHECK(holder.TakeOutbox().empty());
  five.cluster.SetDown(five.p[1], false);
  holder.OnTick(201 + kTimeoutMs + 201);
  delivery = TakeOnePut(holder, five.p[1]);
  holder.OnMessage(five.p[1], PutReply{delivery.id, true, ""}, 1500);
  CHECK(five.store(3).hint_count() == 0);
  // A late answer to an old delivery is ignored.
  holder.OnMessage(five.p[1], PutReply{delivery.id, true, ""}, 1501);
  CHECK(holder.stats().hints_delivered == 1);
}

TEST_CASE("handoff: deliveries go in bounded batches, and any number of passes drain them") {
  CoordinatorOptions options = Sloppy();
  options.hint_delivery_count_max = 2;
  Five five(options);
  Coordinator& holder = five.at(3);
  for (int i = 0; i < 5; ++i) {
    holder.OnMessage(five.p[0],
                     PutRequest{uint64_t(100 + i), "key" + std::to_string(i),
                                Written({}, 0x999, "v" + std::to_string(i)), five.p[1]},
                     0);
  }
  CHECK(holder.TakeOutbox().size() == 5);
  CHECK(holder.GetHintsStatus().count == 5);
  std::vector<size_t> batches;
  for (int64_t now = 1; holder.GetHintsStatus().count > 0 && now < 100; ++now) {
    holder.OnTick(now);
    std::vector<Envelope> sent = holder.TakeOutbox();
    while (!sent.empty()) {
      batches.push_back(sent.size());
      for (Envelope& envelope : sent) {
        five.at(1).OnMessage(five.p[3], std::move(envelope.message), now);
      }
      five.cluster.DeliverFrom(five.p[1], now);  // Acks; the next batch goes.
      sent = holder.TakeOutbox();
    }
  }
  CHECK(batches == std::vector<size_t>{2, 2, 1});
  CHECK(five.store(1).records().size() == 5);
  CHECK(holder.stats().hints_delivered == 5);

  // The bytes bound: one hint per batch when each passes it.
  CoordinatorOptions small = Sloppy();
  small.hint_delivery_bytes_max = 1;
  Five tight(small);
  for (int i = 0; i < 3; ++i) {
    tight.at(3).OnMessage(tight.p[0],
                          PutRequest{uint64_t(i + 1), "key" + std::to_string(i),
                                     Written({}, 0x999, "value"), tight.p[1]},
                          0);
  }
  tight.at(3).TakeOutbox();
  tight.at(3).OnTick(1);
  CHECK(tight.at(3).TakeOutbox().size() == 1);
}

TEST_CASE(
    "handoff: a full hint store refuses, counts, and the coordinator tries the next fallback") {
  Five five;
  storage::HintLimits none;
  none.count_max = 0;
  five.store(3).set_hint_limits(none);
  five.cluster.SetDown(five.p[1], true);
  WriteProbe write;
  five.at(0).Write(kKey, Value("v"), nullptr, {3, 3, 2}, 0, write.Done());
  std::map<std::string, PutRequest> puts = TakePuts(five.at(0));
  five.at(3).OnMessage(five.p[0], puts[five.p[3]], 1);
  PutReply refused = TakeOneReply(five.at(3));
  CHECK(!refused.ok);
  CHECK(refused.error == "hint store full");
  CHECK(five.at(3).stats().hints_refused == 1);
  HintsStatus status = five.at(3).GetHintsStatus();
  CHECK(status.dropped_count_limit == 1);
  CHECK(status.count == 0);
  REQUIRE(status.targets.size() == 1);
  CHECK(status.targets[0].refused == 1);
  CHECK(status.targets[0].down);

  five.at(0).OnMessage(five.p[3], refused, 2);
  PutRequest next = TakeOnePut(five.at(0), five.p[4]);
  CHECK(next.hint_for == five.p[1]);

  // The bytes limit: a hint that would pass it is refused as well.
  storage::HintLimits small;
  small.bytes_max = 10;
  five.store(4).set_hint_limits(small);
  five.at(4).OnMessage(five.p[0], next, 3);
  CHECK(!TakeOneReply(five.at(4)).ok);
  CHECK(five.at(4).GetHintsStatus().dropped_bytes_limit == 1);
}

TEST_CASE("handoff: hints older than the age maximum expire from OnTick") {
  Five five;
  storage::HintLimits limits;
  limits.age_max_ms = 500;
  five.store(3).set_hint_limits(limits);
  HintForP1(five, "v", 0);
  Coordinator& holder = five.at(3);
  holder.OnTick(100);  // Examined; too young.
  CHECK(five.store(3).hint_count() == 1);
  // p[1] is down, so the next thing to do is the next expiry round.
  CHECK(holder.NextDeadlineMs() == 100 + CoordinatorOptions().hint_expiry_interval_ms);
  holder.OnTick(100 + CoordinatorOptions().hint_expiry_interval_ms);
  CHECK(five.store(3).hint_count() == 0);
  CHECK(holder.stats().hints_expired == 1);
  CHECK(holder.GetHintsStatus().expired == 1);
  CHECK(!holder.NextDeadlineMs().has_value());
}

TEST_CASE("handoff: SetDown of self is ignored; a hint naming this node is its own copy") {
  Five five;
  five.at(0).SetDown(five.p[0], true);
  CHECK(!five.at(0).IsDown(five.p[0]));
  five.at(1).OnMessage(five.p[0], PutRequest{5, kKey, Written({}, 0x999, "v"), five.p[1]}, 0);
  CHECK(TakeOneReply(five.at(1)).ok);
  CHECK(five.store(1).Find(kKey) != nullptr);
  CHECK(five.store(1).hint_count() == 0);
}

}  // namespace
}  // namespace ringkv::cluster
