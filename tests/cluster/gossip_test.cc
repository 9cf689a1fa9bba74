// Membership by gossip on real nodes: MEMBERS and INFO while nodes run,
// die, hang and come back; a node that lists only a seed; an authenticated
// peer that sends garbage. The gossip interval is short (300 ms) so the
// suite stays fast; every wait is bounded.
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "blackbox/harness.h"
#include "cluster/cluster_harness.h"
#include "cluster/cluster_replies.h"
#include "cluster/peer_auth.h"
#include "cluster/peer_protocol.h"
#include "resp/parser.h"

namespace ringkv::cluster_test {
namespace {

using blackbox::Do;

constexpr int kIntervalMs = 300;
constexpr int kSuspectAfterMs = kIntervalMs * 5 / 2;  // The derived default.

ClusterOptions GossipCluster(int nodes, int seeded_nodes = 0) {
  ClusterOptions options;
  options.nodes = nodes;
  options.seeded_nodes = seeded_nodes;
  options.cluster_toml = "gossip_interval_ms = " + std::to_string(kIntervalMs) + "\n";
  return options;
}

void SleepMs(int milliseconds) {
  std::this_thread::sleep_for(std::chrono::milliseconds(milliseconds));
}

std::vector<MemberInfo> MembersOf(redisContext* context) {
  Reply reply = blackbox::Command(context, {"MEMBERS"});
  return ParseMembers(reply.get());
}

const MemberInfo* Find(const std::vector<MemberInfo>& members, const std::string& name) {
  for (const MemberInfo& member : members) {
    if (member.name == name) return &member;
  }
  return nullptr;
}

std::string Summary(const std::vector<MemberInfo>& members) {
  std::string text;
  for (const MemberInfo& member : members) {
    text += member.name + "=" + member.state + "/hb" + std::to_string(member.heartbeat) + "/age" +
            std::to_string(member.age_ms) + " ";
  }
  return text;
}

// Polls MEMBERS on each observer until `member` has `state` on every one,
// for at most `timeout_ms`. Returns the milliseconds from `since_ms` (a
// NowMs() value) at which each observer first showed it, or -1 for one that
// never did.
std::vector<int64_t> WaitState(const Cluster& cluster, const std::vector<int>& observers,
                               const std::string& member, const std::string& state,
                               int64_t since_ms, int timeout_ms) {
  std::vector<RedisContext> contexts;
  for (int i : observers) contexts.push_back(cluster.Connect(i));
  std::vector<int64_t> seen(observers.size(), -1);
  int64_t deadline_ms = NowMs() + timeout_ms;
  while (NowMs() < deadline_ms) {
    bool all = true;
    for (size_t i = 0; i < observers.size(); ++i) {
      if (seen[i] >= 0) continue;
      std::vector<MemberInfo> members = MembersOf(contexts[i].get());
      const MemberInfo* found = Find(members, member);
      if (found && found->state == state) {
        seen[i] = NowMs() - since_ms;
      } else {
        all = false;
      }
    }
    if (all) break;
    SleepMs(10);
  }
  return seen;
}

std::vector<int> AllBut(const Cluster& cluster, int excluded) {
  std::vector<int> others;
  for (int i = 0; i < cluster.size(); ++i) {
    if (i != excluded) others.push_back(i);
  }
  return others;
}

std::string Times(const std::vector<int64_t>& times) {
  std::string text;
  for (int64_t t : times) text += (text.empty() ? "" : ", ") + std::to_string(t) + " ms";
  return text;
}

// Waits until node `index` knows every member with its real incarnation
// (configured members start as placeholders, 0000000000000000).
void WaitAllHeard(const Cluster& cluster, int index, size_t members) {
  RedisContext context = cluster.Connect(index);
  int64_t deadline_ms = NowMs() + 5000;
  std::vector<MemberInfo> seen;
  while (NowMs() < deadline_ms) {
    seen = MembersOf(context.get());
    bool heard = seen.size() == members;
    for (const MemberInfo& member : seen) heard = heard && member.incarnation != "0000000000000000";
    if (heard) return;
    SleepMs(20);
  }
  FAIL(cluster.name(index) << " did not hear from every member: " << Summary(seen));
}

TEST_SUITE("gossip") {
  TEST_CASE("gossip: MEMBERS on every node shows every member alive, heartbeats advancing") {
    Cluster cluster(GossipCluster(4));
    for (int i = 0; i < cluster.size(); ++i) WaitAllHeard(cluster, i, 4);
    std::map<std::string, int64_t> first_heartbeats;
    for (int i = 0; i < cluster.size(); ++i) {
      CAPTURE(cluster.name(i));
      RedisContext context = cluster.Connect(i);
      std::vector<MemberInfo> members = MembersOf(context.get());
      REQUIRE(members.size() == 4);
      // Self first, then by name.
      CHECK(members[0].name == cluster.name(i));
      CHECK(members[0].self == 1);
      CHECK(members[0].age_ms == 0);
      std::string actor =
          InfoField(Do(context.get(), {"INFO", "server"}).substr(1), "node_actor").value_or("?");
      CHECK(members[0].incarnation == actor);
      for (size_t m = 2; m < members.size(); ++m) CHECK(members[m - 1].name < members[m].name);
      int64_t partitions = 0;
      for (const MemberInfo& member : members) {
        CAPTURE(member.name);
        int index = cluster.IndexOf(member.name);
        CHECK(member.state == "alive");
        CHECK(member.host == "127.0.0.1");
        CHECK(member.port == cluster.port(index));
        CHECK(member.peer_port == cluster.peer_port(index));
        CHECK(member.weight == 1);
        CHECK(member.partitions == 6);  // Q = 24 over 4 members.
        CHECK(member.age_ms < kSuspectAfterMs);
        if (member.name != cluster.name(i)) CHECK(member.self == 0);
        partitions += member.partitions;
        if (i == 0) first_heartbeats[member.name] = member.heartbeat;
      }
      CHECK(partitions == 24);
    }
    SleepMs(3 * kIntervalMs);
    RedisContext context = cluster.Connect(0);
    for (const MemberInfo& member : MembersOf(context.get())) {
      CAPTURE(member.name);
      CHECK(member.heartbeat >= first_heartbeats[member.name] + 2);
      CHECK(member.state == "alive");
    }
  }

  TEST_CASE("gossip: INFO cluster has the membership fields") {
    Cluster cluster(GossipCluster(3));
    WaitAllHeard(cluster, 1, 3);
    RedisContext context = cluster.Connect(1);
    std::string info = Do(context.get(), {"INFO", "cluster"}).substr(1);
    CAPTURE(info);
    CHECK(InfoField(info, "members") == "3");
    CHECK(InfoField(info, "members_alive") == "3");
    CHECK(InfoField(info, "members_suspect") == "0");
    CHECK(InfoField(info, "membership_known") == "1");
    CHECK(InfoField(info, "gossip_interval_ms") == std::to_string(kIntervalMs));
    CHECK(InfoField(info, "suspect_after_ms") == std::to_string(kSuspectAfterMs));
    for (int i = 0; i < 3; ++i) {
      std::optional<std::string> line = InfoField(info, "member_" + cluster.name(i));
      REQUIRE(line.has_value());
      CHECK(line->rfind("state=alive,heartbeat=", 0) == 0);
      CHECK(line->find(",age_ms=") != std::string::npos);
    }
    int64_t rounds = std::stoll(*InfoField(info, "gossip_rounds"));
    int64_t tables = std::stoll(*InfoField(info, "gossip_tables_received"));
    CHECK(rounds >= 1);
    CHECK(tables >= 1);
    SleepMs(3 * kIntervalMs);
    info = Do(context.get(), {"INFO", "cluster"}).substr(1);
    CHECK(std::stoll(*InfoField(info, "gossip_rounds")) >= rounds + 2);
    // Two peers, each sending every round.
    CHECK(std::stoll(*InfoField(info, "gossip_tables_received")) >= tables + 4);
  }

  TEST_CASE("gossip: a killed node is suspect everywhere within 3 intervals, alive once back") {
    Cluster cluster(GossipCluster(5));
    for (int i = 0; i < cluster.size(); ++i) WaitAllHeard(cluster, i, 5);
    // Some rounds first, so the victim's heartbeat is well past the value it
    // persisted at start-up and a restart has to catch up with its peers.
    SleepMs(4 * kIntervalMs);
    const int victim = 2;
    std::vector<int> observers = AllBut(cluster, victim);
    int64_t killed_ms = NowMs();
    cluster.Kill9(victim);
    std::vector<int64_t> detected =
        WaitState(cluster, observers, cluster.name(victim), "suspect", killed_ms, 5000);
    int64_t slowest = *std::max_element(detected.begin(), detected.end());
    MESSAGE("kill -9 to suspect on each of "
            << observers.size() << " observers: " << Times(detected) << " (interval " << kIntervalMs
            << " ms, suspect_after " << kSuspectAfterMs << " ms)");
    CHECK(*std::min_element(detected.begin(), detected.end()) >= 0);
    CHECK(slowest <= 3 * kIntervalMs);
    // The others stay alive meanwhile.
    RedisContext observer = cluster.Connect(0);
    for (const MemberInfo& member : MembersOf(observer.get())) {
      if (member.name != cluster.name(victim)) CHECK(member.state == "alive");
    }

    int64_t restarted_ms = NowMs();
    cluster.Start(victim);
    int64_t started_ms = NowMs();
    std::vector<int64_t> back =
        WaitState(cluster, observers, cluster.name(victim), "alive", started_ms, 5000);
    MESSAGE("restarted in " << started_ms - restarted_ms
                            << " ms; then alive on each observer after: " << Times(back));
    CHECK(*std::min_element(back.begin(), back.end()) >= 0);
    // The restarted node knows the cluster and sees it alive.
    RedisContext restarted = cluster.Connect(victim);
    std::vector<MemberInfo> members = MembersOf(restarted.get());
    CHECK(members.size() == 5);
    std::vector<int64_t> all_alive =
        WaitState(cluster, {victim}, cluster.name(observers.back()), "alive", NowMs(), 3000);
    CHECK(all_alive[0] >= 0);
  }

  TEST_CASE("gossip: a stopped node is suspect, alive after SIGCONT, and suspects no one itself") {
    Cluster cluster(GossipCluster(4));
    for (int i = 0; i < cluster.size(); ++i) WaitAllHeard(cluster, i, 4);
    const int victim = 1;
    std::vector<int> observers = AllBut(cluster, victim);
    int64_t paused_ms = NowMs();
    cluster.Pause(victim);
    std::vector<int64_t> detected =
        WaitState(cluster, observers, cluster.name(victim), "suspect", paused_ms, 5000);
    MESSAGE("SIGSTOP to suspect on each observer: " << Times(detected));
    CHECK(*std::min_element(detected.begin(), detected.end()) >= 0);
    CHECK(*std::max_element(detected.begin(), detected.end()) <= 3 * kIntervalMs);
    // A write through the one node that is not a replica of a key whose
    // first replica is the stopped one: forwarded to the next replica, not
    // to the suspect (whose link is still open), so W = 2 is reached.
    std::string key;
    for (int k = 0; key.empty() && k < 1000; ++k) {
      std::string candidate = "forward:" + std::to_string(k);
      if (ReplicaIndexes(cluster, candidate, observers[0])[0] == victim) key = candidate;
    }
    REQUIRE(!key.empty());
    std::vector<int> others = OtherIndexes(cluster, ReplicaIndexes(cluster, key, observers[0]));
    REQUIRE(others.size() == 1);
    CHECK(Do(cluster.Connect(others[0]).get(), {"SET", key, "v"}) == "+OK");
    // Stopped for 10 intervals in all: far past its own local_pause_ms.
    SleepMs(static_cast<int>(std::max<int64_t>(0, paused_ms + 10 * kIntervalMs - NowMs())));

    int64_t resumed_ms = NowMs();
    cluster.Resume(victim);
    // On waking, the node must not take its own silence for everyone else's:
    // over the next intervals it never shows a peer suspect. Meanwhile the
    // observers see it alive again.
    RedisContext woken = cluster.Connect(victim);
    std::vector<RedisContext> contexts;
    for (int i : observers) contexts.push_back(cluster.Connect(i));
    std::vector<int64_t> back(observers.size(), -1);
    std::string suspected;
    while (NowMs() < resumed_ms + 3 * kIntervalMs) {
      for (const MemberInfo& member : MembersOf(woken.get())) {
        if (member.state != "alive") {
          suspected += member.name + " at " + std::to_string(NowMs() - resumed_ms) + " ms; ";
        }
      }
      for (size_t i = 0; i < observers.size(); ++i) {
        std::vector<MemberInfo> members = MembersOf(contexts[i].get());
        const MemberInfo* seen = Find(members, cluster.name(victim));
        if (back[i] < 0 && seen && seen->state == "alive") back[i] = NowMs() - resumed_ms;
      }
      SleepMs(10);
    }
    CHECK_MESSAGE(suspected.empty(), "the resumed node suspected " << suspected);
    std::string info = Do(woken.get(), {"INFO", "cluster"}).substr(1);
    CHECK(InfoField(info, "gossip_local_pauses") == "1");
    MESSAGE("SIGCONT to alive on each observer: " << Times(back));
    CHECK(*std::min_element(back.begin(), back.end()) >= 0);
    CHECK(*std::max_element(back.begin(), back.end()) <= 2 * kIntervalMs);
    // The observers themselves saw no pause.
    RedisContext observer = cluster.Connect(observers[0]);
    info = Do(observer.get(), {"INFO", "cluster"}).substr(1);
    CHECK(InfoField(info, "gossip_local_pauses") == "0");
  }

  TEST_CASE("gossip: a node that lists only a seed learns every member and keeps them") {
    // n1..n3 list each other; n4 lists no member, only n1's peer address.
    Cluster cluster(GossipCluster(4, 1));
    const int joiner = 3;
    for (int i = 0; i < cluster.size(); ++i) WaitAllHeard(cluster, i, 4);
    RedisContext context = cluster.Connect(joiner);
    std::vector<MemberInfo> members = MembersOf(context.get());
    for (const MemberInfo& member : members) CHECK(member.state == "alive");
    // The same ring everywhere: the old members took the joiner in.
    std::string ring = Do(context.get(), {"RING"});
    for (int i = 0; i < joiner; ++i) {
      CHECK(Do(cluster.Connect(i).get(), {"RING"}) == ring);
      std::string info = Do(cluster.Connect(i).get(), {"INFO", "cluster"}).substr(1);
      CHECK(InfoField(info, "ring_changes") == "1");
    }
    CHECK(Do(context.get(), {"SET", "joined", "yes"}) == "+OK");
    CHECK(Do(cluster.Connect(0).get(), {"GET", "joined"}) == "$yes");

    // Without its seed, a restarted joiner still knows the cluster from its
    // persisted member list.
    cluster.Kill9(0);
    REQUIRE(cluster.Stop(joiner).has_value());
    cluster.Start(joiner);  // Waits for links to n2 and n3.
    context = cluster.Connect(joiner);
    members = MembersOf(context.get());
    REQUIRE(members.size() == 4);
    CHECK(members[0].name == cluster.name(joiner));
    for (int i = 1; i < joiner; ++i) {
      std::vector<int64_t> alive =
          WaitState(cluster, {joiner}, cluster.name(i), "alive", NowMs(), 2000);
      CHECK(alive[0] >= 0);
    }
    std::vector<int64_t> seed_down =
        WaitState(cluster, {joiner}, cluster.name(0), "suspect", NowMs(), 5000);
    CHECK(seed_down[0] >= 0);
    CHECK(Do(context.get(), {"SET", "after-restart", "v"}) == "+OK");
    CHECK(Do(context.get(), {"GET", "after-restart"}) == "$v");
    CHECK(Do(context.get(), {"RING"}) == ring);
  }

  TEST_CASE("gossip: a node whose seeds do not answer refuses requests with TRYAGAIN") {
    blackbox::ServerOptions options;
    options.extra_toml = "[cluster]\nsecret = \"s\"\nn = 3\nw = 2\nr = 2\npeer_port = " +
                         std::to_string(blackbox::PickFreePort()) +
                         "\nseeds = [\"127.0.0.1:" + std::to_string(blackbox::PickFreePort()) +
                         "\"]\ngossip_interval_ms = " + std::to_string(kIntervalMs) + "\n";
    blackbox::ServerProcess server(options);
    server.Start();
    RedisContext context = blackbox::Connect(server.port());
    std::string refusal = Do(context.get(), {"GET", "k"});
    CHECK(refusal.rfind("-TRYAGAIN cluster membership not yet known", 0) == 0);
    CHECK(Do(context.get(), {"SET", "k", "v"}) == refusal);
    CHECK(Do(context.get(), {"LOCALGET", "k"}) == "nil");  // Local: still served.
    CHECK(Do(context.get(), {"PING"}) == "+PONG");
    std::vector<MemberInfo> members = MembersOf(context.get());
    REQUIRE(members.size() == 1);
    CHECK(members[0].self == 1);
    CHECK(members[0].partitions == 64);  // The ring of itself alone (default Q).
    std::string info = Do(context.get(), {"INFO", "cluster"}).substr(1);
    CHECK(InfoField(info, "membership_known") == "0");
    CHECK(InfoField(info, "members") == "1");
  }

  // ---- A member that sends garbage ------------------------------------------------

  std::vector<std::string> ParseMessage(const std::string& bytes) {
    resp::RequestParser parser(resp::ParserLimits{});
    size_t consumed = 0;
    REQUIRE_MESSAGE(parser.Feed(bytes, &consumed) == resp::ParseStatus::kComplete, bytes);
    return std::vector<std::string>(parser.args().begin(), parser.args().end());
  }

  // A peer connection to node `index`'s peer port that has passed the
  // handshake under the name `name` (knowing the secret is all it takes).
  std::unique_ptr<blackbox::RawConnection> AuthenticatedPeer(const Cluster& cluster, int index,
                                                             const std::string& name) {
    auto peer = std::make_unique<blackbox::RawConnection>(cluster.peer_port(index));
    cluster::PeerAuthClient auth(kClusterSecret, name);
    std::string out, error;
    REQUIRE_MESSAGE(auth.OnHello(ParseMessage(peer->ReadReply()), &out, &error), error);
    REQUIRE(peer->Send(out));
    REQUIRE_MESSAGE(auth.OnWelcome(ParseMessage(peer->ReadReply()), &error), error);
    return peer;
  }

  TEST_CASE("gossip: a malformed RK.GOSSIP from an authenticated peer is counted and closed") {
    Cluster cluster(GossipCluster(3));
    RedisContext client = cluster.Connect(0);
    int64_t errors = InfoInteger(client.get(), "peer_protocol_errors");
    REQUIRE(errors == 0);

    cluster::MemberRecord record;
    record.name = "intruder";
    record.host = "127.0.0.1";
    record.port = 1;
    record.peer_port = 1;
    record.incarnation = 42;
    std::string valid;
    cluster::EncodeMembers(std::vector{record}, &valid);
    std::string flipped = valid;
    flipped[flipped.size() / 2] ^= 0x40;  // The checksum no longer matches.
    const std::vector<std::vector<std::string>> bad_messages = {
        {"RK.GOSSIP", "intruder", "garbage"},
        {"RK.GOSSIP", "intruder", flipped},
        {"RK.GOSSIP", "intruder"},
        {"RK.GOSSIP", "intruder", valid, "extra"},
        {"RK.GOSSIP", "intruder", ""},
        {"RK.GOSSIP", "intruder", std::string(100000, '\xff')},
        // Well formed, but the sender is not who the connection proved to be.
        {"RK.GOSSIP", "n2", valid},
    };
    for (const std::vector<std::string>& message : bad_messages) {
      CAPTURE(message.size());
      std::unique_ptr<blackbox::RawConnection> peer = AuthenticatedPeer(cluster, 0, "intruder");
      REQUIRE(peer->Send(blackbox::EncodeCommand(message)));
      bool closed = false;
      peer->ReadUntilClose(5000, &closed);
      CHECK(closed);
    }
    CHECK(InfoInteger(client.get(), "peer_protocol_errors") ==
          errors + static_cast<int64_t>(bad_messages.size()));
    CHECK(Do(client.get(), {"PING"}) == "+PONG");
    CHECK(MembersOf(client.get()).size() == 3);  // Nobody joined.
    // A well-formed table from the peer it names is accepted: it joins.
    std::unique_ptr<blackbox::RawConnection> peer = AuthenticatedPeer(cluster, 0, "intruder");
    REQUIRE(peer->Send(blackbox::EncodeCommand({"RK.GOSSIP", "intruder", valid})));
    int64_t deadline_ms = NowMs() + 3000;
    while (MembersOf(client.get()).size() != 4 && NowMs() < deadline_ms) SleepMs(20);
    CHECK(MembersOf(client.get()).size() == 4);
    CHECK(InfoInteger(client.get(), "peer_protocol_errors") ==
          errors + static_cast<int64_t>(bad_messages.size()));
  }

  // Put replies are only read on links a node dialed. Make node 0 dial a
  // member played by the test (it learns "intruder" from a gossip table
  // naming the test's listener), pass the handshake as the accepting side,
  // then answer with malformed RK.PUTRS batches: each is a protocol error
  // that closes the link and is counted.
  TEST_CASE("gossip: a malformed RK.PUTRS on a link a node dialed is counted and closed") {
    Cluster cluster(GossipCluster(3));
    blackbox::LoopbackListener listener;
    cluster::MemberRecord record;
    record.name = "intruder";
    record.host = "127.0.0.1";
    record.port = 1;
    record.peer_port = listener.port();
    record.incarnation = 42;
    std::string table;
    cluster::EncodeMembers(std::vector{record}, &table);
    std::unique_ptr<blackbox::RawConnection> gossiper = AuthenticatedPeer(cluster, 0, "intruder");
    REQUIRE(gossiper->Send(blackbox::EncodeCommand({"RK.GOSSIP", "intruder", table})));

    const std::vector<std::vector<std::string>> batches = {
        // First a well-formed batch (for ids the node never sent): ignored,
        // the link stays up; the test then drops it itself.
        {"RK.PUTRS", "7", "OK", "8", "ERR disk full"},
        {"RK.PUTRS", "7"},                            // An id without a result.
        {"RK.PUTRS", "7", "MAYBE"},                   // Not OK or ERR <message>.
        {"RK.PUTRS", "x", "OK"},                      // Not an id.
        {"RK.PUTRS"},                                 // No pair at all.
        {"RK.PUTRS", "7", "OK", "8", "ERR"},          // ERR without its message.
    };
    for (const std::vector<std::string>& batch : batches) {
      CAPTURE(batch.size());
      // Nodes that learned the member dial it (again after each close).
      std::unique_ptr<blackbox::RawConnection> link = listener.Accept(10000);
      REQUIRE_MESSAGE(link != nullptr, "no node dialed the test's member");
      cluster::PeerAuthServer auth(kClusterSecret, "intruder");
      std::string hello;
      auth.MakeHello(&hello);
      REQUIRE(link->Send(hello));
      std::string welcome;
      cluster::PeerAuthResult result = auth.OnAuth(ParseMessage(link->ReadReply()), &welcome);
      REQUIRE_MESSAGE(result.accepted, result.reason);
      REQUIRE(link->Send(welcome));
      const int dialer = cluster.IndexOf(result.peer_name);
      RedisContext client = cluster.Connect(dialer);
      const int64_t errors = InfoInteger(client.get(), "peer_protocol_errors");
      REQUIRE(link->Send(blackbox::EncodeCommand(batch)));
      const bool well_formed = &batch == &batches.front();
      bool closed = false;
      link->ReadUntilClose(well_formed ? 500 : 5000, &closed);
      CHECK(closed == !well_formed);
      CHECK(InfoInteger(client.get(), "peer_protocol_errors") == errors + (well_formed ? 0 : 1));
      CHECK(Do(client.get(), {"PING"}) == "+PONG");
    }
  }
}  // TEST_SUITE("gossip")

}  // namespace
}  // namespace ringkv::cluster_test
