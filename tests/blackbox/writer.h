// tests/blackbox/writer.h: a write load for the black-box tests, run on a
// thread of its own (durability_test.cc, disk_wait_test.cc).
#ifndef RINGKV_TESTS_BLACKBOX_WRITER_H_
#define RINGKV_TESTS_BLACKBOX_WRITER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "blackbox/harness.h"

namespace ringkv::blackbox {

// Writes unique keys until the connection fails, the stop flag is set or a
// bound is reached, and records the keys whose SET was acknowledged.
// Pipelines `batch` SETs at a time so that several writes are in flight when
// the server dies; runs on its own thread, so it uses no doctest macros.
class Writer {
 public:
  Writer(uint16_t port, std::string prefix, int batch)
      : port_(port), prefix_(std::move(prefix)), batch_(batch) {}

  void Run(const std::atomic<bool>& stop, std::atomic<int>& acknowledged) {
    constexpr int kKeysMax = 1000000;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    timeval timeout{10, 0};
    RedisContext c(redisConnectWithTimeout("127.0.0.1", port_, timeout));
    if (c == nullptr || c->err != 0) return;
    redisSetTimeout(c.get(), timeout);
    int next = 0;
    while (!stop.load() && next < kKeysMax && std::chrono::steady_clock::now() < deadline) {
      for (int i = 0; i < batch_; ++i) {
        std::string key = KeyOf(next + i);
        std::string value = ValueOf(key);
        redisAppendCommand(c.get(), "SET %b %b", key.data(), key.size(), value.data(),
                           value.size());
      }
      for (int i = 0; i < batch_; ++i) {
        void* raw = nullptr;
        if (redisGetReply(c.get(), &raw) != REDIS_OK) return;
        Reply reply(static_cast<redisReply*>(raw));
        if (Render(reply.get(), c.get()) != "+OK") return;
        acknowledged_keys_.push_back(KeyOf(next + i));
        ++acknowledged;
      }
      next += batch_;
    }
  }

  const std::vector<std::string>& acknowledged_keys() const { return acknowledged_keys_; }
  static std::string ValueOf(const std::string& key) { return "v/" + key; }

 private:
  std::string KeyOf(int index) const { return prefix_ + std::to_string(index); }

  uint16_t port_;
  std::string prefix_;
  int batch_;
  std::vector<std::string> acknowledged_keys_;
};

}  // namespace ringkv::blackbox

#endif  // RINGKV_TESTS_BLACKBOX_WRITER_H_
