// The peer port from outside: a stranger without the cluster secret is
// refused, closed and counted, never served; peer-only commands do not exist
// on the client port.
#include <string>

#include "cluster/cluster_harness.h"

namespace ringkv::cluster_test {
namespace {

using blackbox::Command;
using blackbox::Do;
using blackbox::EncodeCommand;
using blackbox::RawConnection;

int64_t InfoInteger(const Cluster& cluster, int index, const std::string& field) {
  RedisContext context = cluster.Connect(index);
  Reply info = Command(context.get(), {"INFO", "cluster"});
  REQUIRE(info);
  std::optional<std::string> value = InfoField(std::string_view(info->str, info->len), field);
  REQUIRE_MESSAGE(value.has_value(), "INFO cluster has no " << field);
  return std::atoll(value->c_str());
}

TEST_CASE("cluster: a peer that cannot prove the secret is denied, closed and counted") {
  Cluster cluster(ClusterOptions{.nodes = 3});
  int64_t failures_before = InfoInteger(cluster, 0, "peer_auth_failures");

  RawConnection stranger(cluster.peer_port(0));
  // The accepting side speaks first (docs/peer_protocol.md).
  std::string hello = stranger.ReadReply(3000);
  CHECK(hello.find("RK.HELLO") != std::string::npos);
  // A well-formed answer with a proof made without the secret.
  std::string nonce(32, '0');
  std::string proof(64, '0');
  CHECK(stranger.Send(EncodeCommand({"RK.AUTH", "n2", nonce, proof})));
  bool closed = false;
  std::string answer = stranger.ReadUntilClose(3000, &closed);
  CHECK(closed);
  CHECK(answer.find("RK.DENIED") != std::string::npos);
  CHECK(InfoInteger(cluster, 0, "peer_auth_failures") == failures_before + 1);

  // Nothing before the handshake is served: a replica read is refused.
  RawConnection impatient(cluster.peer_port(0));
  impatient.ReadReply(3000);
  CHECK(impatient.Send(EncodeCommand({"RK.GET", "1", "some-key"})));
  std::string refused = impatient.ReadUntilClose(3000, &closed);
  CHECK(closed);
  CHECK(refused.find("RK.GETR") == std::string::npos);

  // The members themselves are still connected to each other.
  RedisContext context = cluster.Connect(1);
  CHECK(Do(context.get(), {"SET", "after-stranger", "ok"}) == "+OK");
  CHECK(Do(context.get(), {"GET", "after-stranger"}) == "$ok");
}

TEST_CASE("cluster: peer-only commands are unknown on the client port") {
  Cluster cluster(ClusterOptions{.nodes = 3});
  RedisContext context = cluster.Connect(0);
  for (const char* command : {"RK.PUT", "RK.GET", "RK.FWD", "RK.AUTH", "RK.HELLO"}) {
    CAPTURE(command);
    std::string reply = Do(context.get(), {command, "1", "key", "x"});
    CHECK(reply.rfind("-ERR unknown command", 0) == 0);
  }
}

}  // namespace
}  // namespace ringkv::cluster_test
