// Memory stays bounded whatever a client declares or fails to read: a
// declared bulk length is not allocated before its bytes arrive, and a client
// that never reads its replies cannot grow the server without bound. Both
// are measured as the server's peak resident size (VmHWM).
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "blackbox/harness.h"

namespace ringkv::blackbox {
namespace {

constexpr int64_t kMegabyte = 1024 * 1024;

TEST_CASE("memory: a declared bulk length is not allocated before it arrives") {
  ServerProcess server;
  server.Start();
  RedisContext bystander = Connect(server.port());
  int64_t resident_before = ProcessMemoryBytes(server.pid(), "VmRSS");
  REQUIRE(resident_before > 0);
  // 20 clients each announce a value just under the 512 MB bulk limit (10 GB
  // in all) and send three bytes of it.
  std::vector<std::unique_ptr<RawConnection>> clients;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(std::make_unique<RawConnection>(server.port()));
    REQUIRE(clients.back()->Send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$500000000\r\nabc"));
  }
  usleep(300 * 1000);
  CHECK(Do(bystander.get(), {"PING"}) == "+PONG");
  CHECK(Do(bystander.get(), {"EXISTS", "k"}) == ":0");
  int64_t peak = ProcessMemoryBytes(server.pid(), "VmHWM");
  CHECK_MESSAGE(peak - resident_before < 64 * kMegabyte,
                "resident before " << resident_before << ", peak " << peak);
}

TEST_CASE("memory: a client that never reads its replies is bounded") {
  ServerOptions options;
  options.extra_toml = "[limits]\nclient_output_buffer_limit = 8388608\n";
  options.redis_extra_args = {"--client-output-buffer-limit", "normal 8mb 0 0"};
  ServerProcess server(options);
  server.Start();
  RedisContext bystander = Connect(server.port());
  const std::string value(1000 * 1000, 'x');
  CHECK(Do(bystander.get(), {"SET", "big", value}) == "+OK");
  int64_t resident_before = ProcessMemoryBytes(server.pid(), "VmRSS");
  REQUIRE(resident_before > 0);

  // 200 MB of replies requested, none read for a while.
  constexpr int kGets = 200;
  RawConnection greedy(server.port());
  std::string requests;
  for (int i = 0; i < kGets; ++i) requests += EncodeCommand({"GET", "big"});
  REQUIRE(greedy.Send(requests));
  usleep(1000 * 1000);
  CHECK(Do(bystander.get(), {"PING"}) == "+PONG");
  int64_t peak = ProcessMemoryBytes(server.pid(), "VmHWM");
  CHECK_MESSAGE(peak - resident_before < 100 * kMegabyte,
                "resident before " << resident_before << ", peak " << peak);

  // The server may drop the client (as Redis does past its limit) or may
  // have stopped producing replies until they are read; either way, what
  // arrives is whole replies in order.
  bool closed = false;
  std::string received = greedy.ReadUntilClose(5000, &closed);
  std::string reply = "$1000000\r\n" + value + "\r\n";
  size_t whole_replies = received.size() / reply.size();
  CHECK((closed || whole_replies == kGets));
  for (size_t i = 0; i < whole_replies && i < kGets; ++i) {
    if (received.compare(i * reply.size(), reply.size(), reply) != 0) {
      FAIL_CHECK("reply " << i << " is damaged");
      break;
    }
  }
  CHECK(Do(bystander.get(), {"STRLEN", "big"}) == ":1000000");
}

}  // namespace
}  // namespace ringkv::blackbox
