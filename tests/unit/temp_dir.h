// tests/unit/temp_dir.h: a fresh directory under /tmp for a test, removed
// with everything in it when the object goes away.
#ifndef RINGKV_TESTS_UNIT_TEMP_DIR_H_
#define RINGKV_TESTS_UNIT_TEMP_DIR_H_

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace ringkv::testing {

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/ringkv_unit_test_XXXXXX";
    const char* made = mkdtemp(pattern);
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~TempDir() {
    std::error_code error;
    std::filesystem::remove_all(path_, error);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace ringkv::testing

#endif  // RINGKV_TESTS_UNIT_TEMP_DIR_H_
