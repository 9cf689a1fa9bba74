// Tests for the read fan-out (cluster/coordinator_read.cc): a read with r < n
// asks r slots (this node's own first, then the owners with the fewest
// reads in flight), keeps the rest as spares for
// failures and slow replicas, and asks all n slots for a fraction
// read_repair_chance of reads. In-memory stores; messages are moved by hand.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "cluster/coordinator.h"
#include "unit/cluster/coordinator_test_cluster.h"

namespace ringkv::cluster {
namespace {

using namespace ringkv::cluster::coordinator_testing;

constexpr const char* kKey = "k";
constexpr int64_t kRetryMs = 100;

CoordinatorOptions Quorum(double chance = 0, bool sloppy = true) {
  CoordinatorOptions options{kTimeoutMs};
  options.sloppy_quorum = sloppy;
  options.read_repair_chance = chance;
  options.read_retry_after_ms = kRetryMs;
  return options;
}

// Five nodes; `p` is the preference list of kKey: p[0..2] own it (n = 3),
// p[3] and p[4] are its fallbacks.
struct Five {
  explicit Five(CoordinatorOptions options)
      : cluster(5, 16, options), p(cluster.coordinator("a").PreferenceNames(kKey, 5)) {}
  Coordinator& at(int i) { return cluster.coordinator(p[i]); }
  TestCluster cluster;
  std::vector<std::string> p;
};

// Writes `value` to kKey on all three owners (through p[0]).
void WriteEverywhere(Five& five, const std::string& value) {
  WriteProbe probe;
  five.at(0).Write(kKey, Value(value), nullptr, {3, 3, 2}, 0, probe.Done());
  five.cluster.Pump(0);
  REQUIRE(probe.result.ok);
}

// `from`'s outbox, which must hold only GetRequests: their destinations.
std::vector<std::string> TakeGets(Coordinator& from, std::vector<Envelope>* taken = nullptr) {
  std::vector<Envelope> outbox = from.TakeOutbox();
  std::vector<std::string> names;
  for (const Envelope& envelope : outbox) {
    REQUIRE(std::holds_alternative<GetRequest>(envelope.message));
    names.push_back(envelope.to);
  }
  if (taken != nullptr) *taken = std::move(outbox);
  return names;
}

// Delivers the GetRequest in `gets` addressed to `to`, then its reply.
void Answer(Five& five, const std::string& coordinator, std::vector<Envelope>& gets,
            const std::string& to, int64_t now_ms) {
  for (Envelope& envelope : gets) {
    if (envelope.to != to) continue;
    five.cluster.coordinator(to).OnMessage(coordinator, envelope.message, now_ms);
    five.cluster.DeliverFrom(to, now_ms);
  }
}

TEST_CASE("read fan-out: an owner asks itself and one more owner, in preference order") {
  Five five(Quorum());
  WriteEverywhere(five, "v");
  ReadProbe read;
  five.at(0).Read(kKey, {3, 2, 2}, 10, read.Done());
  std::vector<Envelope> gets;
  CHECK(TakeGets(five.at(0), &gets) == std::vector<std::string>{five.p[1]});
  Answer(five, five.p[0], gets, five.p[1], 11);
  CHECK(read.calls == 1);
  CHECK(read.result.ok);
  CHECK(read.result.replies == 2);
  CHECK(Values(read.result.set) == std::vector<std::string>{"v"});
  CHECK(five.at(0).reads_in_flight() == 0);
  CHECK(five.at(0).stats().reads_all_slots == 0);
  CHECK(five.at(0).stats().read_spares_asked == 0);
  CHECK(five.at(0).NextDeadlineMs() == std::nullopt);  // Retry and deadline timers gone.

  // A node that owns nothing of the key asks the first two owners.
  ReadProbe outside;
  five.at(4).Read(kKey, {3, 2, 2}, 20, outside.Done());
  CHECK(TakeGets(five.at(4)) == std::vector<std::string>{five.p[0], five.p[1]});
}

TEST_CASE("read fan-out: the owner with fewer reads in flight is asked first") {
  CoordinatorOptions options = Quorum();
  options.read_retry_after_ms = 0;  // No spares asked for slow owners.
  Five five(options);
  WriteEverywhere(five, "v");
  // The first read asks p[1] (preference order, nothing in flight); while
  // it is unanswered, the next asks p[2]; then both have one in flight,
  // and preference order decides again.
  ReadProbe first, second, third;
  five.at(0).Read(kKey, {3, 2, 2}, 10, first.Done());
  std::vector<Envelope> first_gets;
  CHECK(TakeGets(five.at(0), &first_gets) == std::vector<std::string>{five.p[1]});
  five.at(0).Read(kKey, {3, 2, 2}, 10, second.Done());
  std::vector<Envelope> second_gets;
  CHECK(TakeGets(five.at(0), &second_gets) == std::vector<std::string>{five.p[2]});
  five.at(0).Read(kKey, {3, 2, 2}, 10, third.Done());
  CHECK(TakeGets(five.at(0)) == std::vector<std::string>{five.p[1]});

  // p[2] answers: it has nothing in flight, p[1] two, so it gets the next.
  Answer(five, five.p[0], second_gets, five.p[2], 11);
  CHECK(second.calls == 1);
  ReadProbe fourth;
  five.at(0).Read(kKey, {3, 2, 2}, 12, fourth.Done());
  std::vector<Envelope> fourth_gets;
  CHECK(TakeGets(five.at(0), &fourth_gets) == std::vector<std::string>{five.p[2]});
  Answer(five, five.p[0], fourth_gets, five.p[2], 13);

  // p[1] never answers: at the deadline its two reads count as over, and
  // preference order picks it again.
  five.at(0).OnTick(10 + kTimeoutMs);
  CHECK(five.at(0).reads_in_flight() == 0);
  ReadProbe fifth;
  five.at(0).Read(kKey, {3, 2, 2}, 20 + kTimeoutMs, fifth.Done());
  CHECK(TakeGets(five.at(0)) == std::vector<std::string>{five.p[1]});
}

TEST_CASE("read fan-out: r = n and read_repair_chance = 1 ask every slot") {
  Five all(Quorum(/*chance=*/1));
  ReadProbe read;
  all.at(0).Read(kKey, {3, 2, 2}, 0, read.Done());
  CHECK(TakeGets(all.at(0)).size() == 2);
  CHECK(all.at(0).stats().reads_all_slots == 1);

  Five quorum(Quorum(/*chance=*/0));
  ReadProbe strong;
  quorum.at(0).Read(kKey, {3, 2, 3}, 0, strong.Done());
  CHECK(TakeGets(quorum.at(0)).size() == 2);
  CHECK(quorum.at(0).stats().reads_all_slots == 1);
}

TEST_CASE("read fan-out: read_repair_chance asks all slots for about that share of reads") {
  Five five(Quorum(/*chance=*/0.1));
  constexpr int kReads = 2000;
  for (int i = 0; i < kReads; ++i) {
    ReadProbe read;
    five.at(0).Read(kKey, {3, 2, 2}, 0, read.Done());
    five.at(0).TakeOutbox();
  }
  const uint64_t all = five.at(0).stats().reads_all_slots;
  // Binomial(2000, 0.1): mean 200, standard deviation 13.4.
  CHECK(all > 140);
  CHECK(all < 260);
}

TEST_CASE("read fan-out: the spare answers in place of a failed owner") {
  Five five(Quorum());
  WriteEverywhere(five, "v");
  Coordinator& a = five.at(0);
  ReadProbe read;
  a.Read(kKey, {3, 2, 2}, 10, read.Done());
  std::vector<Envelope> gets;
  REQUIRE(TakeGets(a, &gets) == std::vector<std::string>{five.p[1]});
  const uint64_t id = std::get<GetRequest>(gets[0].message).id;
  GetReply failure;
  failure.id = id;
  failure.error = "no connection";
  a.OnMessage(five.p[1], failure, 11);
  std::vector<Envelope> spare;
  REQUIRE(TakeGets(a, &spare) == std::vector<std::string>{five.p[2]});
  CHECK(a.stats().read_spares_asked == 1);
  CHECK(a.stats().read_stand_ins == 0);
  CHECK(read.calls == 0);
  Answer(five, five.p[0], spare, five.p[2], 12);
  CHECK(read.calls == 1);
  CHECK(read.result.ok);
  CHECK(read.result.replies == 2);
  CHECK(read.result.stand_in_replies == 0);
  CHECK(a.reads_in_flight() == 0);
}

TEST_CASE("read fan-out: with every owner failed, the stand-ins answer (sloppy quorum)") {
  Five five(Quorum());
  Coordinator& a = five.at(0);
  ReadProbe read;
  a.Read(kKey, {3, 2, 2}, 10, read.Done());
  for (int round = 0; round < 2; ++round) {
    std::vector<Envelope> gets;
    REQUIRE(TakeGets(a, &gets).size() == 1);
    GetReply failure;
    failure.id = std::get<GetRequest>(gets[0].message).id;
    failure.error = "no connection";
    a.OnMessage(gets[0].to, failure, 11);
  }
  // p[1] and then the spare p[2] failed: p[2]'s slot gets the first
  // fallback as its stand-in.
  std::vector<Envelope> gets;
  REQUIRE(TakeGets(a, &gets) == std::vector<std::string>{five.p[3]});
  Answer(five, five.p[0], gets, five.p[3], 12);
  CHECK(read.calls == 1);
  CHECK(read.result.ok);
  CHECK(read.result.stand_in_replies == 1);
  CHECK(a.stats().read_stand_ins == 1);

  // Strict quorums: the same read fails as soon as r is out of reach.
  Five strict(Quorum(/*chance=*/0, /*sloppy=*/false));
  Coordinator& s = strict.at(0);
  ReadProbe failed;
  s.Read(kKey, {3, 2, 2}, 10, failed.Done());
  for (int round = 0; round < 2; ++round) {
    std::vector<Envelope> asked;
    REQUIRE(TakeGets(s, &asked).size() == 1);
    GetReply failure;
    failure.id = std::get<GetRequest>(asked[0].message).id;
    failure.error = "no connection";
    s.OnMessage(asked[0].to, failure, 11);
  }
  CHECK(failed.calls == 1);
  CHECK(!failed.result.ok);
  CHECK(failed.result.replies == 1);
  CHECK(s.TakeOutbox().empty());
  CHECK(s.reads_in_flight() == 0);
}

TEST_CASE("read fan-out: a silent owner gets a spare after read_retry_after_ms") {
  Five five(Quorum());
  WriteEverywhere(five, "v");
  Coordinator& a = five.at(0);
  ReadProbe read;
  a.Read(kKey, {3, 2, 2}, 10, read.Done());
  std::vector<Envelope> first;
  REQUIRE(TakeGets(a, &first) == std::vector<std::string>{five.p[1]});
  CHECK(a.NextDeadlineMs() == 10 + kRetryMs);
  a.OnTick(10 + kRetryMs - 1);
  CHECK(a.TakeOutbox().empty());
  a.OnTick(10 + kRetryMs);
  std::vector<Envelope> spare;
  REQUIRE(TakeGets(a, &spare) == std::vector<std::string>{five.p[2]});
  Answer(five, five.p[0], spare, five.p[2], 10 + kRetryMs + 1);
  CHECK(read.calls == 1);
  CHECK(read.result.ok);
  // The slow owner's late answer ends the read; every copy was the same,
  // so nothing is repaired.
  CHECK(a.reads_in_flight() == 1);
  Answer(five, five.p[0], first, five.p[1], 10 + kRetryMs + 2);
  CHECK(a.reads_in_flight() == 0);
  CHECK(read.calls == 1);
  CHECK(a.TakeOutbox().empty());
  CHECK(a.stats().read_repairs == 0);
}

TEST_CASE("read fan-out: a down owner is not asked; the spare owner is") {
  Five five(Quorum());
  WriteEverywhere(five, "v");
  five.cluster.SetDown(five.p[1], true);
  ReadProbe read;
  five.at(0).Read(kKey, {3, 2, 2}, 10, read.Done());
  std::vector<Envelope> gets;
  REQUIRE(TakeGets(five.at(0), &gets) == std::vector<std::string>{five.p[2]});
  Answer(five, five.p[0], gets, five.p[2], 11);
  CHECK(read.calls == 1);
  CHECK(read.result.ok);
  CHECK(five.at(0).stats().read_stand_ins == 0);
  CHECK(five.at(0).stats().read_spares_asked == 0);

  // Both other owners down: the second slot goes to a stand-in.
  five.cluster.SetDown(five.p[2], true);
  ReadProbe hinted;
  five.at(0).Read(kKey, {3, 2, 2}, 20, hinted.Done());
  CHECK(TakeGets(five.at(0)) == std::vector<std::string>{five.p[3]});
}

TEST_CASE("read fan-out: read repair reaches only the owners asked") {
  Five five(Quorum());
  WriteEverywhere(five, "v");
  // p[0] gets a newer write the others miss.
  WriteProbe newer;
  five.at(0).Write(kKey, Value("w"), nullptr, {3, 1, 1}, 5, newer.Done());
  five.at(0).TakeOutbox();
  ReadProbe read;
  five.at(0).Read(kKey, {3, 2, 2}, 10, read.Done());
  std::vector<Envelope> gets;
  REQUIRE(TakeGets(five.at(0), &gets) == std::vector<std::string>{five.p[1]});
  Answer(five, five.p[0], gets, five.p[1], 11);
  CHECK(Values(read.result.set) == std::vector<std::string>{"w"});
  std::map<std::string, PutRequest> repairs = TakePuts(five.at(0));
  CHECK(repairs.size() == 1);
  CHECK(repairs.count(five.p[1]) == 1);
}

TEST_CASE("conditional reads: replicas in sync answer SAME, without the record") {
  Five five(Quorum(/*chance=*/1));
  WriteEverywhere(five, "v");
  ReadProbe read;
  five.at(0).Read(kKey, {3, 2, 2}, 10, read.Done());
  std::vector<Envelope> gets;
  REQUIRE(TakeGets(five.at(0), &gets).size() == 2);
  for (Envelope& get : gets) {
    CHECK(std::get<GetRequest>(get.message).digest.has_value());
    // The replica's answer, as it goes on the wire.
    five.cluster.coordinator(get.to).OnMessage(five.p[0], get.message, 11);
    std::vector<Envelope> replies = five.cluster.coordinator(get.to).TakeOutbox();
    REQUIRE(replies.size() == 1);
    const GetReply& reply = std::get<GetReply>(replies[0].message);
    CHECK(reply.ok);
    CHECK(reply.same);
    CHECK_FALSE(reply.found);
    CHECK(reply.set.siblings.empty());
    CHECK(reply.encoded_set.empty());
    five.at(0).OnMessage(get.to, replies[0].message, 11);
  }
  CHECK(read.result.ok);
  CHECK(read.result.found);
  CHECK(Values(read.result.set) == std::vector<std::string>{"v"});
  CHECK(five.at(0).stats().read_digests_same == 2);
  CHECK(five.at(0).stats().read_digests_differ == 0);
  CHECK(five.at(0).stats().read_repairs == 0);
  CHECK(TakePuts(five.at(0)).empty());
}

TEST_CASE("conditional reads: a SAME of a batch (RK.SAMES) is the reply it stands for") {
  Five five(Quorum(/*chance=*/1));
  WriteEverywhere(five, "v");
  ReadProbe read;
  five.at(0).Read(kKey, {3, 2, 2}, 10, read.Done());
  std::vector<Envelope> gets;
  REQUIRE(TakeGets(five.at(0), &gets).size() == 2);
  const uint64_t id = std::get<GetRequest>(gets[0].message).id;
  five.at(0).OnSameReply(gets[0].to, id, 11);
  five.at(0).OnSameReply(gets[0].to, id, 11);  // A duplicate is ignored.
  five.at(0).OnSameReply(five.p[3], id, 11);   // As is one from a node not asked.
  CHECK(five.at(0).stats().read_digests_same == 1);
  five.at(0).OnSameReply(gets[1].to, id, 12);
  CHECK(read.result.ok);
  CHECK(read.result.found);
  CHECK(Values(read.result.set) == std::vector<std::string>{"v"});
  CHECK(five.at(0).stats().read_digests_same == 2);
  CHECK(TakePuts(five.at(0)).empty());

  // To a request that sent no digest, it is a failure, as RK.GETR SAME is.
  CoordinatorOptions options = Quorum(/*chance=*/1);
  options.read_digests = false;
  Five plain(options);
  WriteEverywhere(plain, "v");
  ReadProbe unconditional;
  plain.at(0).Read(kKey, {3, 2, 2}, 10, unconditional.Done());
  REQUIRE(TakeGets(plain.at(0), &gets).size() == 2);
  plain.at(0).OnSameReply(gets[0].to, std::get<GetRequest>(gets[0].message).id, 11);
  CHECK(unconditional.calls == 0);  // The local read only so far.
  Answer(plain, plain.p[0], gets, gets[1].to, 11);
  CHECK(unconditional.result.ok);  // The local read and the other replica.
  CHECK(plain.at(0).stats().read_digests_same == 0);
}

TEST_CASE("conditional reads: a key nobody holds is SAME too, and found stays false") {
  Five five(Quorum(/*chance=*/1));
  ReadProbe read;
  five.at(0).Read(kKey, {3, 2, 2}, 10, read.Done());
  std::vector<Envelope> gets;
  REQUIRE(TakeGets(five.at(0), &gets).size() == 2);
  for (const Envelope& get : gets) Answer(five, five.p[0], gets, get.to, 11);
  CHECK(read.result.ok);
  CHECK_FALSE(read.result.found);
  CHECK(five.at(0).stats().read_digests_same == 2);
}

TEST_CASE("conditional reads: a replica that differs sends its copy, which is merged and repaired") {
  Five five(Quorum(/*chance=*/1));
  WriteEverywhere(five, "v");
  // p[1] alone gets a newer write; p[0] (the coordinator) and p[2] miss it.
  WriteProbe newer;
  five.at(1).Write(kKey, Value("w", 5), nullptr, {3, 1, 1}, 5, newer.Done());
  five.at(1).TakeOutbox();
  ReadProbe read;
  five.at(0).Read(kKey, {3, 2, 2}, 10, read.Done());
  std::vector<Envelope> gets;
  REQUIRE(TakeGets(five.at(0), &gets).size() == 2);
  Answer(five, five.p[0], gets, five.p[1], 11);
  Answer(five, five.p[0], gets, five.p[2], 11);
  CHECK(Values(read.result.set) == std::vector<std::string>{"w"});
  CHECK(five.at(0).stats().read_digests_same == 1);
  CHECK(five.at(0).stats().read_digests_differ == 1);
  // p[2] answered SAME as the coordinator's stale copy: both are repaired
  // (p[0] in its own store, p[2] by a put); p[1] is not.
  std::map<std::string, PutRequest> repairs = TakePuts(five.at(0));
  CHECK(repairs.size() == 1);
  CHECK(repairs.count(five.p[2]) == 1);
  CHECK(five.at(0).stats().read_repairs == 2);
  storage::SiblingSet local;
  bool found = false;
  REQUIRE(five.cluster.store(five.p[0]).Read(kKey, &local, &found).ok());
  CHECK(Values(local) == std::vector<std::string>{"w"});
}

TEST_CASE("conditional reads: SAME to a request without a digest counts as a failure") {
  CoordinatorOptions options = Quorum(/*chance=*/1);
  options.read_digests = false;
  Five five(options);
  WriteEverywhere(five, "v");
  ReadProbe read;
  five.at(0).Read(kKey, {3, 2, 2}, 10, read.Done());
  std::vector<Envelope> gets;
  REQUIRE(TakeGets(five.at(0), &gets).size() == 2);
  for (const Envelope& get : gets) CHECK_FALSE(std::get<GetRequest>(get.message).digest);
  GetReply same;
  same.id = std::get<GetRequest>(gets[0].message).id;
  same.ok = true;
  same.same = true;
  five.at(0).OnMessage(gets[0].to, same, 11);
  Answer(five, five.p[0], gets, gets[1].to, 11);
  CHECK(read.result.ok);  // The local read and the other replica.
  CHECK(five.at(0).stats().read_digests_same == 0);
  CHECK(Values(read.result.set) == std::vector<std::string>{"v"});
}

}  // namespace
}  // namespace ringkv::cluster
