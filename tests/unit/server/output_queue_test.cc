// OutputQueue on a real stream (one end of a socketpair): what it sends
// arrives whole and in order, and between iterations the buffer keeps room
// for about as much as the last one wrote, up to its bound.
#include "server/output_queue.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <string>

namespace ringkv::server {
namespace {

struct Pair {
  Pair() {
    REQUIRE(uv_loop_init(&loop) == 0);
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    REQUIRE(uv_pipe_init(&loop, &pipe, 0) == 0);
    REQUIRE(uv_pipe_open(&pipe, fds[0]) == 0);
  }
  ~Pair() {
    uv_close(reinterpret_cast<uv_handle_t*>(&pipe), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    close(fds[1]);
  }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&pipe); }
  // Reads from the other end until `bytes` arrived, running the loop so
  // that queued write requests go out; bounded.
  std::string Receive(size_t bytes) {
    std::string received;
    char chunk[65536];
    for (int round = 0; round < 100000 && received.size() < bytes; ++round) {
      uv_run(&loop, UV_RUN_NOWAIT);
      ssize_t n = recv(fds[1], chunk, sizeof(chunk), MSG_DONTWAIT);
      if (n > 0) received.append(chunk, static_cast<size_t>(n));
    }
    return received;
  }

  uv_loop_t loop;
  uv_pipe_t pipe;
  int fds[2] = {-1, -1};
};

std::string Pattern(size_t bytes, char seed) {
  std::string data(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) data[i] = static_cast<char>(seed + i % 251);
  return data;
}

TEST_CASE("output queue: the buffer keeps room for the next iteration, up to its bound") {
  constexpr size_t kKeep = 1 << 20;
  Pair pair;
  bool failed = false;
  OutputQueue queue(
      pair.stream(), [&] { failed = true; }, nullptr, nullptr, kKeep);
  std::string expected;
  // Larger than the socket takes at once: part of it goes into a write
  // request, and the buffer must not start the next iteration empty.
  for (size_t bytes : {size_t{300000}, size_t{5000}, size_t{2000000}}) {
    const std::string data = Pattern(bytes, static_cast<char>(bytes % 7));
    queue.buffer().append(data);
    expected += data;
    queue.Seal(0, 0);
    CHECK(queue.buffer().empty());
    CHECK(queue.buffer().capacity() >= std::min(bytes, kKeep));
  }
  // Never more than the bound, whatever the last iteration wrote.
  queue.buffer().shrink_to_fit();
  queue.buffer().append(Pattern(3000000, 1));
  expected += Pattern(3000000, 1);
  queue.Seal(0, 0);
  CHECK(queue.buffer().capacity() <= kKeep + 64);
  const std::string received = pair.Receive(expected.size());
  CHECK_FALSE(failed);
  REQUIRE(received.size() == expected.size());
  CHECK(received == expected);
}

TEST_CASE("output queue: held output keeps its order and the buffer its room") {
  Pair pair;
  OutputQueue queue(
      pair.stream(), [] {}, nullptr, nullptr);
  queue.buffer().append("first;");
  queue.Seal(/*required_sequence=*/5, /*durable_sequence=*/4);  // Held.
  CHECK(queue.has_held());
  CHECK(queue.buffer().capacity() >= 6);
  queue.buffer().append("second;");
  queue.Seal(6, 4);
  queue.FlushReady(6);
  CHECK_FALSE(queue.has_held());
  CHECK(pair.Receive(13) == "first;second;");
}

}  // namespace
}  // namespace ringkv::server
