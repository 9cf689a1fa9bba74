// Tests for cluster/gossip.cc: the state machine's rules one by one (joins
// and heartbeats, suspicion, incarnations, our own record, rounds, fanout,
// seeds, loaded and configured members), peer addresses and the options.
// gossip_member_list_test.cc tests the member-list encoding and
// gossip_sim_test.cc whole simulated clusters.
#include "cluster/gossip.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "unit/cluster/gossip_test_util.h"

namespace ringkv::cluster {
namespace {

using namespace ringkv::cluster::gossip_testing;

TEST_CASE("gossip: an unknown member joins alive; only a higher heartbeat advances it") {
  Gossip gossip(MakeRecord("a"), Options(), 1);
  gossip.Start(0);
  CHECK(gossip.OnGossip(std::vector{MakeRecord("b", 5)}, 100) == Events({{Kind::kJoined, "b"}}));
  CHECK(gossip.IsKnown("b"));
  CHECK(gossip.AliveCount() == 2);
  CHECK(gossip.OnGossip(std::vector{MakeRecord("b", 5), MakeRecord("b", 4)}, 900).empty());
  CHECK(gossip.Members(1000)[1].last_advance_ms == 100);
  CHECK(gossip.stats().records_stale == 2);
  MemberRecord moved = MakeRecord("b", 6);
  moved.host = "10.9.9.9";
  moved.weight = 3;
  CHECK(gossip.OnGossip(std::vector{moved}, 1000).empty());
  std::vector<MemberStatus> members = gossip.Members(1500);
  REQUIRE(members.size() == 2);
  CHECK(members[0].self);
  CHECK(members[0].record.name == "a");
  CHECK(members[1].record == moved);  // The newer heartbeat's record wins whole.
  CHECK(members[1].last_advance_ms == 1000);
  CHECK(members[1].age_ms == 500);
  CHECK(members[1].state == MemberState::kAlive);
}

TEST_CASE("gossip: a member is suspect after suspect_after of silence and alive when it advances") {
  Gossip gossip(MakeRecord("a"), Options(), 1);
  gossip.Start(0);
  CHECK(gossip.OnGossip(std::vector{MakeRecord("b", 1)}, 0).size() == 1);
  CHECK(gossip.NextDeadlineMs() == 0);  // First round due at Start.
  CHECK(gossip.Tick(0).events.empty());
  CHECK(gossip.NextDeadlineMs() == 1000);
  CHECK(gossip.Tick(1000).events.empty());
  CHECK(gossip.Tick(2000).events.empty());
  CHECK(gossip.NextDeadlineMs() == 2500);
  CHECK(gossip.Tick(2499).events.empty());
  CHECK(gossip.Tick(2500).events == Events({{Kind::kSuspect, "b"}}));
  CHECK(gossip.IsSuspect("b"));
  CHECK(gossip.AliveCount() == 1);
  CHECK(gossip.Tick(3000).events.empty());  // Reported once.
  // Suspect members are still gossiped, with their last heartbeat.
  std::vector<MemberRecord> table = gossip.Table();
  REQUIRE(table.size() == 2);
  CHECK(table[1].heartbeat == 1);
  CHECK(gossip.OnGossip(std::vector{MakeRecord("b", 1)}, 3100).empty());
  CHECK(gossip.IsSuspect("b"));
  CHECK(gossip.OnGossip(std::vector{MakeRecord("b", 2)}, 3200) == Events({{Kind::kAlive, "b"}}));
  CHECK_FALSE(gossip.IsSuspect("b"));
  for (int64_t now = 4000; now <= 5000; now += 1000) CHECK(gossip.Tick(now).events.empty());
  CHECK(gossip.Tick(5699).events.empty());
  CHECK(gossip.Tick(5700).events == Events({{Kind::kSuspect, "b"}}));
}

TEST_CASE("gossip: a newer incarnation replaces a member, an older one is ignored") {
  Gossip gossip(MakeRecord("a"), Options(), 1);
  gossip.Start(0);
  CHECK(gossip.OnGossip(std::vector{MakeRecord("b", 50, 7)}, 0).size() == 1);
  for (int64_t now = 0; now <= 2000; now += 1000) gossip.Tick(now);
  CHECK(gossip.Tick(2500).events.size() == 1);  // Suspect.
  // Wiped and restarted: a new actor id, a later data dir, heartbeat from 1.
  MemberRecord reborn = MakeRecord("b", 1, 3);
  reborn.created_ms = 1800000000000;
  CHECK(gossip.OnGossip(std::vector{reborn}, 2600) == Events({{Kind::kIncarnationChanged, "b"}}));
  CHECK_FALSE(gossip.IsSuspect("b"));
  CHECK(gossip.Table()[1] == reborn);
  // The old incarnation's record, still circulating with a higher
  // heartbeat, changes nothing.
  CHECK(gossip.OnGossip(std::vector{MakeRecord("b", 60, 7)}, 2700).empty());
  CHECK(gossip.Table()[1] == reborn);
  CHECK(gossip.Members(2700)[1].last_advance_ms == 2600);
  // Same creation time (a clock that did not move): the actor id decides.
  MemberRecord twin = reborn;
  twin.incarnation = 4;
  twin.heartbeat = 0;
  CHECK(IsNewerIncarnation(twin, reborn));
  CHECK(gossip.OnGossip(std::vector{twin}, 2800) == Events({{Kind::kIncarnationChanged, "b"}}));
}

TEST_CASE("gossip: our own record is authoritative; a peer's memory only lifts our heartbeat") {
  Gossip gossip(MakeRecord("a", 0, 5), Options(), 1);
  gossip.Start(0);
  // Restarted on the same data dir: peers remember heartbeat 40.
  CHECK(gossip.OnGossip(std::vector{MakeRecord("a", 40, 5)}, 10).empty());
  CHECK(gossip.self().heartbeat == 40);
  gossip.Tick(10);
  CHECK(gossip.self().heartbeat == 41);  // An advance for every peer.
  CHECK(gossip.OnGossip(std::vector{MakeRecord("a", 3, 5)}, 20).empty());
  CHECK(gossip.self().heartbeat == 41);
  // An older incarnation of us is what peers knew before a wipe: ignored.
  CHECK(gossip.OnGossip(std::vector{MakeRecord("a", 99, 4)}, 30).empty());
  // A newer one means two nodes share our name: reported, not adopted.
  CHECK(gossip.OnGossip(std::vector{MakeRecord("a", 99, 6)}, 40) ==
        Events({{Kind::kSelfConflict, "a"}}));
  CHECK(gossip.self() == MakeRecord("a", 41, 5));
  CHECK(gossip.stats().self_conflicts == 1);
  CHECK(gossip.MemberCount() == 1);
}

TEST_CASE("gossip: invalid records from a direct caller are skipped and counted") {
  Gossip gossip(MakeRecord("a"), Options(), 1);
  gossip.Start(0);
  MemberRecord bad = MakeRecord("b", 1);
  bad.peer_port = 0;
  MemberRecord unnamed = MakeRecord("c", 1);
  unnamed.name.clear();
  CHECK(gossip.OnGossip(std::vector{bad, unnamed}, 0).empty());
  CHECK(gossip.MemberCount() == 1);
  CHECK(gossip.stats().records_invalid == 2);
}

TEST_CASE("gossip: one round per interval, keeping its phase, no burst after a stall") {
  Gossip gossip(MakeRecord("a"), Options(), 1);
  gossip.Start(500);
  CHECK(gossip.self().heartbeat == 0);
  gossip.Tick(500);
  CHECK(gossip.self().heartbeat == 1);
  gossip.Tick(1000);
  gossip.Tick(1499);
  CHECK(gossip.self().heartbeat == 1);
  gossip.Tick(1520);  // Late timer: the next round stays at 2500.
  CHECK(gossip.self().heartbeat == 2);
  CHECK(gossip.NextDeadlineMs() == 2500);
  gossip.Tick(9000);  // Stalled: one round, the next a full interval away.
  CHECK(gossip.self().heartbeat == 3);
  CHECK(gossip.NextDeadlineMs() == 10000);
  CHECK(gossip.stats().rounds == 3);
}

TEST_CASE("gossip: small clusters send every round to every peer") {
  Gossip gossip(MakeRecord("a"), Options(), 1);
  gossip.Start(0);
  gossip.OnGossip(std::vector{MakeRecord("b"), MakeRecord("c"), MakeRecord("d")}, 0);
  GossipTickResult result = gossip.Tick(0);
  std::vector<GossipTarget> expected = {{GossipTarget::Kind::kMember, "b"},
                                        {GossipTarget::Kind::kMember, "c"},
                                        {GossipTarget::Kind::kMember, "d"}};
  CHECK(result.targets == expected);
  CHECK(gossip.Tick(999).targets.empty());  // Between rounds.
}

TEST_CASE("gossip: fanout walks a shuffled round robin, so every peer hears once per pass") {
  GossipOptions options = Options();
  options.full_mesh_members_max = 0;
  options.fanout = 3;
  options.suspect_after_ms = 1000000;
  Gossip gossip(MakeRecord("a"), options, 42);
  gossip.Start(0);
  std::vector<MemberRecord> peers;
  for (char c = 'b'; c <= 'm'; c++) peers.push_back(MakeRecord(std::string(1, c)));  // 12 peers.
  gossip.OnGossip(peers, 0);
  std::map<std::string, int> heard;
  for (int round = 0; round < 40; round++) {  // 120 sends: ten passes.
    GossipTickResult result = gossip.Tick(round * 1000);
    REQUIRE(result.targets.size() == 3);
    std::set<std::string> distinct;
    for (const GossipTarget& target : result.targets) {
      CHECK(target.kind == GossipTarget::Kind::kMember);
      distinct.insert(target.to);
      heard[target.to]++;
    }
    CHECK(distinct.size() == 3);
  }
  REQUIRE(heard.size() == 12);
  for (const auto& [name, count] : heard) {
    CAPTURE(name);
    CHECK(count == 10);
  }
}

TEST_CASE("gossip: fanout skips suspect members while enough alive ones remain") {
  GossipOptions options = Options();
  options.full_mesh_members_max = 0;
  Gossip gossip(MakeRecord("a"), options, 7);
  gossip.Start(0);
  gossip.OnGossip(std::vector{MakeRecord("b"), MakeRecord("c"), MakeRecord("d")}, 0);
  gossip.Tick(0);
  // b and c keep advancing, d falls silent.
  for (int64_t now = 1000; now <= 3000; now += 1000) {
    gossip.OnGossip(std::vector{MakeRecord("b", static_cast<uint64_t>(now)),
                                MakeRecord("c", static_cast<uint64_t>(now))},
                    now);
    gossip.Tick(now);
  }
  REQUIRE(gossip.IsSuspect("d"));
  for (int64_t now = 4000; now < 20000; now += 1000) {
    gossip.OnGossip(std::vector{MakeRecord("b", static_cast<uint64_t>(now)),
                                MakeRecord("c", static_cast<uint64_t>(now))},
                    now);
    for (const GossipTarget& target : gossip.Tick(now).targets) CHECK(target.to != "d");
  }
  // With only d left to pick from, a fanout of 2 takes it too.
  Gossip lonely(MakeRecord("a"), options, 7);
  lonely.Start(0);
  lonely.OnGossip(std::vector{MakeRecord("b"), MakeRecord("c")}, 0);
  lonely.Tick(0);
  lonely.Tick(1000);
  lonely.OnGossip(std::vector{MakeRecord("b", 9)}, 2000);
  lonely.Tick(2000);
  lonely.Tick(2500);
  REQUIRE(lonely.IsSuspect("c"));
  CHECK(lonely.Tick(3000).targets.size() == 2);
}

TEST_CASE("gossip: seeds get the table until a member with that address is known") {
  MemberRecord self = MakeRecord("a");
  self.host = "10.0.0.1";
  self.peer_port = 7379;
  Gossip gossip(self, Options(), 1);
  CHECK(gossip.AddSeed("10.0.0.1:7379"));  // Our own address: never a target.
  CHECK(gossip.AddSeed("10.0.0.2:7379"));
  CHECK(gossip.AddSeed("10.0.0.2:7379"));  // Listed twice, sent once.
  CHECK(gossip.AddSeed("[::1]:7380"));
  for (const char* bad : {"", "10.0.0.2", ":7379", "h:0", "h:65536", "h:07379", "h:12a", "h:"}) {
    CAPTURE(bad);
    CHECK_FALSE(gossip.AddSeed(bad));
  }
  gossip.Start(0);
  std::vector<GossipTarget> expected = {{GossipTarget::Kind::kSeed, "10.0.0.2:7379"},
                                        {GossipTarget::Kind::kSeed, "[::1]:7380"}};
  CHECK(gossip.Tick(0).targets == expected);
  MemberRecord b = MakeRecord("b");
  b.host = "10.0.0.2";
  b.peer_port = 7379;
  gossip.OnGossip(std::vector{b}, 500);
  expected = {{GossipTarget::Kind::kMember, "b"}, {GossipTarget::Kind::kSeed, "[::1]:7380"}};
  CHECK(gossip.Tick(1000).targets == expected);
}

TEST_CASE("gossip: loaded members start alive and are suspected only suspect_after past Start") {
  std::vector<MemberRecord> persisted = {MakeRecord("a", 30), MakeRecord("b", 12),
                                         MakeRecord("c", 8)};
  Gossip gossip(MakeRecord("a"), Options(), 1);
  gossip.AddKnown(persisted);
  CHECK(gossip.self().heartbeat == 30);  // Our own record lifts our count.
  gossip.Start(100000);
  CHECK(gossip.AliveCount() == 3);
  CHECK(gossip.Tick(100000).targets.size() == 2);
  CHECK(gossip.self().heartbeat == 31);
  CHECK(gossip.Tick(101000).events.empty());
  CHECK(gossip.Tick(102000).events.empty());
  CHECK(gossip.Tick(102499).events.empty());
  CHECK(gossip.Tick(102500).events == Events({{Kind::kSuspect, "b"}, {Kind::kSuspect, "c"}}));
}

TEST_CASE("gossip: after a local pause every member gets a fresh suspect_after") {
  Gossip gossip(MakeRecord("a"), Options(), 1);
  gossip.Start(0);
  gossip.OnGossip(std::vector{MakeRecord("b", 1)}, 0);
  gossip.Tick(0);
  gossip.Tick(1000);
  // SIGSTOP for 10 s: the next tick sees the gap and suspects no one.
  CHECK(gossip.Tick(11000).events.empty());
  CHECK(gossip.stats().local_pauses == 1);
  CHECK(gossip.Members(11000)[1].age_ms == 0);
  CHECK(gossip.Tick(12000).events.empty());
  CHECK(gossip.Tick(13000).events.empty());
  CHECK(gossip.Tick(13499).events.empty());
  CHECK(gossip.stats().local_pauses == 1);
  CHECK(gossip.Tick(13500).events == Events({{Kind::kSuspect, "b"}}));
}

TEST_CASE("gossip: configured members are placeholders until their first record") {
  Gossip gossip(MakeRecord("a"), Options(), 1);
  MemberRecord configured = MakeRecord("b", 40, 99);  // Incarnation and heartbeat ignored.
  CHECK(gossip.AddConfigured(configured));
  CHECK(gossip.AddConfigured(MakeRecord("a")));  // Ourselves: nothing to add.
  MemberRecord bad = MakeRecord("c");
  bad.port = 0;
  CHECK_FALSE(gossip.AddConfigured(bad));
  CHECK_FALSE(gossip.IsKnown("c"));
  gossip.Start(1000);
  CHECK(gossip.MemberCount() == 2);
  CHECK(gossip.IsKnown("b"));
  std::vector<MemberStatus> members = gossip.Members(1000);
  REQUIRE(members.size() == 2);
  CHECK(members[1].record.incarnation == 0);
  CHECK(members[1].record.heartbeat == 0);
  CHECK(members[1].record.host == configured.host);
  CHECK(members[1].state == MemberState::kAlive);
  REQUIRE(gossip.Find("b") != nullptr);
  CHECK(gossip.Find("b")->incarnation == 0);
  CHECK(gossip.Find("a") == &gossip.self());
  CHECK(gossip.Find("z") == nullptr);
  // Never spread by hearsay: the table holds only records with an
  // incarnation, so it always encodes.
  CHECK(gossip.Table() == std::vector{gossip.self()});
  // But it is a target, and its address is no longer a seed target.
  std::vector<GossipTarget> expected = {{GossipTarget::Kind::kMember, "b"}};
  CHECK(gossip.Tick(1000).targets == expected);
  // Silent for suspect_after since Start: suspect, like a loaded member.
  for (int64_t now : {2000, 3000, 3499}) CHECK(gossip.Tick(now).events.empty());
  CHECK(gossip.Tick(3500).events == Events({{Kind::kSuspect, "b"}}));
  // Its first record, at whatever heartbeat, replaces the placeholder.
  CHECK(gossip.OnGossip(std::vector{MakeRecord("b", 1, 7)}, 3600) ==
        Events({{Kind::kJoined, "b"}}));
  CHECK_FALSE(gossip.IsSuspect("b"));
  CHECK(gossip.Find("b")->incarnation == 7);
  CHECK(gossip.Table().size() == 2);
}

TEST_CASE("gossip: a persisted record wins over a configured placeholder, in either order") {
  for (bool configured_first : {true, false}) {
    CAPTURE(configured_first);
    Gossip gossip(MakeRecord("a"), Options(), 1);
    MemberRecord persisted = MakeRecord("b", 12, 5);
    if (configured_first) CHECK(gossip.AddConfigured(MakeRecord("b")));
    gossip.AddKnown(std::vector{persisted});
    if (!configured_first) CHECK(gossip.AddConfigured(MakeRecord("b")));
    gossip.Start(0);
    REQUIRE(gossip.Find("b") != nullptr);
    CHECK(*gossip.Find("b") == persisted);
    CHECK(gossip.Table().size() == 2);
  }
}

TEST_CASE("gossip: peer addresses split into host and port") {
  std::string host = "untouched";
  uint16_t port = 1;
  CHECK(ParsePeerAddress("10.0.0.2:7379", &host, &port));
  CHECK(host == "10.0.0.2");
  CHECK(port == 7379);
  CHECK(ParsePeerAddress("[::1]:65535", &host, &port));
  CHECK(host == "::1");
  CHECK(port == 65535);
  CHECK(ParsePeerAddress("ringkv-n1:7379", nullptr, nullptr));
  for (const char* bad : {"", "h", ":7379", "h:0", "h:65536", "h:07379", "h:12a", "h:", "h:-1"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParsePeerAddress(bad, &host, &port));
  }
  CHECK(host == "::1");  // Unchanged by the failures.
  CHECK(port == 65535);
  CHECK_FALSE(ParsePeerAddress(std::string(256, 'h') + ":1", nullptr, nullptr));
}

TEST_CASE("gossip: options scale with the interval") {
  GossipOptions options = GossipOptions::ForInterval(5000);
  CHECK(options.interval_ms == 5000);
  CHECK(options.suspect_after_ms == 12500);
  CHECK(options.local_pause_ms == 10000);
  CHECK(options.fanout == GossipOptions{}.fanout);
  GossipOptions defaults = GossipOptions::ForInterval(1000);
  CHECK(defaults.suspect_after_ms == GossipOptions{}.suspect_after_ms);
  CHECK(defaults.local_pause_ms == GossipOptions{}.local_pause_ms);
}

}  // namespace
}  // namespace ringkv::cluster
