// Helpers shared by the storage unit tests.
#ifndef RINGKV_TESTS_UNIT_STORAGE_STORAGE_TEST_UTIL_H_
#define RINGKV_TESTS_UNIT_STORAGE_STORAGE_TEST_UTIL_H_

#include <doctest/doctest.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/engine.h"

namespace ringkv::storage {

// While it lives, no file of this process may grow past `bytes`: a write
// beyond fails with EFBIG (SIGXFSZ is ignored), as on a full disk. The
// limits and the signal's handling are restored when it ends.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(uint64_t bytes) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    REQUIRE(::sigaction(SIGXFSZ, &ignore, &previous_action_) == 0);
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &previous_limit_) == 0);
    struct rlimit limit = previous_limit_;
    limit.rlim_cur = bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit) == 0);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &previous_limit_);
    ::sigaction(SIGXFSZ, &previous_action_, nullptr);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  struct sigaction previous_action_ {};
  struct rlimit previous_limit_ {};
};

// Every record of `partition` after `start_after`, at most `limit`, as
// ScanPartition returns them.
inline std::vector<std::pair<std::string, std::string>> ScanAll(Engine* engine,
                                                                uint32_t partition,
                                                                std::string_view start_after = {},
                                                                size_t limit = 1000000) {
  std::vector<std::pair<std::string, std::string>> records;
  Status status = engine->ScanPartition(partition, start_after, limit,
                                        [&](std::string_view key, std::string_view value) {
                                          records.emplace_back(key, value);
                                          return true;
                                        });
  INFO(status.ToString());
  REQUIRE(status.ok());
  return records;
}

}  // namespace ringkv::storage

#endif  // RINGKV_TESTS_UNIT_STORAGE_STORAGE_TEST_UTIL_H_
