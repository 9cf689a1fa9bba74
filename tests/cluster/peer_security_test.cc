// The peer channel admits only members that know the cluster secret, and
// the client port never reaches peer-only commands.
#include <string>

#include "blackbox/harness.h"
#include "cluster/cluster_harness.h"

namespace ringkv::cluster_test {
namespace {

using blackbox::Do;
using blackbox::EncodeCommand;
using blackbox::RawConnection;

TEST_CASE("cluster: a peer that cannot prove the secret is denied, closed and counted") {
  ClusterOptions options;
  options.nodes = 3;
  Cluster cluster(options);
  RedisContext client = cluster.Connect(0);
  int64_t failures_before = InfoInteger(client.get(), "peer_auth_failures");
  REQUIRE(failures_before == 0);

  // A stranger answers the HELLO with a made-up proof.
  RawConnection stranger(cluster.peer_port(0));
  std::string hello = stranger.ReadReply();
  REQUIRE(hello.find("RK.HELLO") != std::string::npos);
  REQUIRE(stranger.Send(EncodeCommand({"RK.AUTH", "n2", std::string(32, 'a'),
                                       std::string(64, 'b')})));
  bool closed = false;
  std::string answer = stranger.ReadUntilClose(5000, &closed);
  CHECK(closed);
  CHECK(answer.find("RK.DENIED") != std::string::npos);

  // One that skips the handshake and sends a replica write at once.
  RawConnection eager(cluster.peer_port(0));
  REQUIRE(eager.ReadReply().find("RK.HELLO") != std::string::npos);
  REQUIRE(eager.Send(EncodeCommand({"RK.PUT", "1", "k", "x"})));
  answer = eager.ReadUntilClose(5000, &closed);
  CHECK(closed);
  CHECK(answer.find("RK.DENIED") != std::string::npos);

  CHECK(InfoInteger(client.get(), "peer_auth_failures") == failures_before + 2);
  CHECK(Do(client.get(), {"LOCALGET", "k"}) == "nil");
  // The members themselves are still connected.
  CHECK(InfoInteger(client.get(), "peer_connections") == 2);
}

TEST_CASE("cluster: the client port does not know peer commands") {
  ClusterOptions options;
  options.nodes = 3;
  Cluster cluster(options);
  RedisContext client = cluster.Connect(1);
  std::string reply = Do(client.get(), {"RK.PUT", "1", "k", "x"});
  CHECK(reply.rfind("-ERR unknown command 'RK.PUT'", 0) == 0);
  reply = Do(client.get(), {"RK.GET", "1", "k"});
  CHECK(reply.rfind("-ERR unknown command 'RK.GET'", 0) == 0);
  CHECK(Do(client.get(), {"EXISTS", "k"}) == ":0");
}

}  // namespace
}  // namespace ringkv::cluster_test
