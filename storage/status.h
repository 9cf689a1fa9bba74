// storage/status.h: the result of a fallible operation, in the LevelDB style.
//
// A Status is either ok or carries a code and a message. LMDB error codes are
// turned into a Status once, where LMDB is called. No exceptions.
#ifndef RINGKV_STORAGE_STATUS_H_
#define RINGKV_STORAGE_STATUS_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace ringkv::storage {

class [[nodiscard]] Status {
 public:
  enum class Code : uint8_t {
    kOk,
    kNotFound,
    kCorruption,       // Stored bytes do not decode: never a crash.
    kIoError,          // The file system or LMDB failed.
    kMapFull,          // The LMDB map (map_size_bytes) has no room left.
    kInvalidArgument,  // The caller passed something out of range.
    kBusy,             // A resource is exhausted for now; retry later.
  };

  Status() = default;  // ok
  static Status Ok() { return Status(); }
  static Status NotFound(std::string_view message = {}) { return {Code::kNotFound, message}; }
  static Status Corruption(std::string_view message) { return {Code::kCorruption, message}; }
  static Status IoError(std::string_view message) { return {Code::kIoError, message}; }
  static Status MapFull(std::string_view message) { return {Code::kMapFull, message}; }
  static Status InvalidArgument(std::string_view message) { return {Code::kInvalidArgument, message}; }
  static Status Busy(std::string_view message) { return {Code::kBusy, message}; }

  bool ok() const { return code_ == Code::kOk; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsMapFull() const { return code_ == Code::kMapFull; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "Corruption: <message>" and the like; "OK" when ok.
  std::string ToString() const;

 private:
  Status(Code code, std::string_view message) : code_(code), message_(message) {}

  Code code_ = Code::kOk;
  std::string message_;
};

}  // namespace ringkv::storage

#endif  // RINGKV_STORAGE_STATUS_H_
