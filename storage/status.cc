// storage/status.cc
#include "storage/status.h"

namespace ringkv::storage {

namespace {

std::string_view CodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk:
      return "OK";
    case Status::Code::kNotFound:
      return "NotFound";
    case Status::Code::kCorruption:
      return "Corruption";
    case Status::Code::kIoError:
      return "IO error";
    case Status::Code::kMapFull:
      return "Map full";
    case Status::Code::kInvalidArgument:
      return "Invalid argument";
    case Status::Code::kBusy:
      return "Busy";
  }
  return "Unknown";
}

}  // namespace

std::string Status::ToString() const {
  std::string result(CodeName(code_));
  if (ok() || message_.empty()) return result;
  result += ": ";
  result += message_;
  return result;
}

}  // namespace ringkv::storage
