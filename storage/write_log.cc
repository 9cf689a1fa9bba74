// storage/write_log.cc: see write_log.h.
#include "storage/write_log.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <utility>

#include "storage/coding.h"

namespace ringkv::storage {

namespace {

constexpr std::string_view kMagicV1 = "RKWLOG01";  // No seals; seeds without the segment.
constexpr std::string_view kMagic = "RKWLOG02";
constexpr size_t kSegmentNameDigits = 20;
constexpr std::string_view kSegmentSuffix = ".log";
constexpr std::string_view kSpareSuffix = ".spare";
constexpr uint32_t kSealLength = UINT32_MAX;

Status Errno(std::string_view what, const std::string& path) {
  return Status::IoError(std::string(what) + " " + path + ": " + std::strerror(errno));
}

// The length is in the seed, so that a damaged length field fails the
// check even when the bytes it then frames happen to be whole; so is the
// segment number (version 2), so that what a recycled file held in an
// earlier life fails it too. (Numbers 2^32 apart share seeds: at 100 MB a
// segment, 400 PB of log apart.)
uint64_t RecordChecksum(int version, uint64_t segment, uint32_t length, std::string_view payload) {
  const uint64_t seed = version == 1 ? length : segment << 32 | length;
  return XXH3_64bits_withSeed(payload.data(), payload.size(), seed);
}

// A seal's checksum covers its offset, so that a seal a recycled file held
// elsewhere does not end the segment early.
uint64_t SealChecksum(uint64_t segment, uint64_t offset) {
  std::string bytes;
  coding::PutFixed64(&bytes, offset);
  return RecordChecksum(2, segment, kSealLength, bytes);
}

// Parses "<20 digits><suffix>"; false for any other name.
bool ParseNumberedName(std::string_view name, std::string_view suffix, uint64_t* number) {
  if (name.size() != kSegmentNameDigits + suffix.size() || !name.ends_with(suffix)) {
    return false;
  }
  uint64_t value = 0;
  for (size_t i = 0; i < kSegmentNameDigits; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;
    value = value * 10 + digit;
  }
  *number = value;
  return value != 0;
}

std::string HeaderOf(uint64_t segment, std::string_view magic = kMagic) {
  std::string header(magic);
  coding::PutFixed64(&header, segment);
  return header;
}

Status SyncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("opening", dir);
  int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  errno = saved;
  if (rc != 0) return Errno("fsync of", dir);
  return Status::Ok();
}

}  // namespace

WriteLog::WriteLog(WriteLogOptions options) : options_(std::move(options)) {}

WriteLog::~WriteLog() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (Segment& segment : segments_) {
    if (segment.fd >= 0) ::close(segment.fd);
  }
}

std::string WriteLog::NumberedPath(uint64_t segment, std::string_view suffix) const {
  char name[kSegmentNameDigits + 1];
  std::snprintf(name, sizeof(name), "%020" PRIu64, segment);
  return options_.dir + "/" + name + std::string(suffix);
}

std::string WriteLog::PathOf(uint64_t segment) const {
  return NumberedPath(segment, kSegmentSuffix);
}

std::string WriteLog::SparePathOf(uint64_t segment) const {
  return NumberedPath(segment, kSpareSuffix);
}

Status WriteLog::Open(const WriteLogOptions& options, std::unique_ptr<WriteLog>* log) {
  if (options.dir.empty()) return Status::InvalidArgument("write log: no directory");
  if (options.payload_bytes_max >= kSealLength) {
    return Status::InvalidArgument("write log: payload_bytes_max not below 4 GiB - 1");
  }
  if (::mkdir(options.dir.c_str(), 0750) == 0) {
    // The new directory's entry must survive a crash with the records.
    const size_t slash = options.dir.find_last_of('/');
    const std::string parent = slash == std::string::npos ? "."
                               : slash == 0              ? "/"
                                                         : options.dir.substr(0, slash);
    if (Status status = SyncDirectory(parent); !status.ok()) return status;
  } else if (errno != EEXIST) {
    return Errno("creating", options.dir);
  }
  std::unique_ptr<WriteLog> opened(new WriteLog(options));
  DIR* dir = ::opendir(options.dir.c_str());
  if (dir == nullptr) return Errno("listing", options.dir);
  std::vector<uint64_t> numbers;
  std::vector<uint64_t> spares;
  while (dirent* entry = ::readdir(dir)) {
    uint64_t number = 0;
    if (ParseNumberedName(entry->d_name, kSegmentSuffix, &number)) numbers.push_back(number);
    if (ParseNumberedName(entry->d_name, kSpareSuffix, &number)) spares.push_back(number);
  }
  ::closedir(dir);
  std::sort(numbers.begin(), numbers.end());
  // The spares left by the last run are deleted, not reused. A power loss
  // can leave one holding records of the segment it was about to become
  // (its data on the disk, its rename not): after recovery that number is
  // given out again, and a reuse would put those records, checksums
  // valid, behind the new ones. Within one run numbers never repeat.
  for (uint64_t number : spares) {
    const std::string path = opened->SparePathOf(number);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("removing", path);
  }
  if (!spares.empty()) {
    if (Status status = SyncDirectory(options.dir); !status.ok()) return status;
  }
  for (size_t i = 1; i < numbers.size(); ++i) {
    if (numbers[i] != numbers[i - 1] + 1) {
      return Status::Corruption("write log: segment " + std::to_string(numbers[i - 1] + 1) +
                                " is missing in " + options.dir);
    }
  }
  for (uint64_t number : numbers) {
    const std::string path = opened->PathOf(number);
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return Errno("opening", path);
    opened->segments_.push_back(Segment{number, fd, false});
  }
  if (opened->segments_.empty()) {
    if (Status status = opened->StartSegment(1, /*sync=*/true); !status.ok()) return status;
    opened->replayed_ = true;  // Nothing to replay.
  }
  opened->newest_ = opened->segments_.back().number;
  opened->newest_fd_ = opened->segments_.back().fd;
  *log = std::move(opened);
  return Status::Ok();
}

// Creates segment `number` with its header and makes it the newest. With
// `sync`, the header and the directory entry are durable on return;
// without (Rotate, on the loop), the next Sync() makes them so, before the
// records that follow them.
Status WriteLog::StartSegment(uint64_t number, bool sync) {
  const std::string path = PathOf(number);
  // Only Rotate reuses a spare: a crash could leave Open's first segment
  // with the spare's old header, which names a higher number than 1.
  int fd = sync ? -1 : OpenSpareAs(path);
  if (fd < 0) fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) return Errno("creating", path);
  const std::string header = HeaderOf(number);
  const ssize_t written = ::pwrite(fd, header.data(), header.size(), 0);
  if (written != static_cast<ssize_t>(header.size()) || (sync && ::fdatasync(fd) != 0)) {
    Status status = Errno("writing the header of", path);
    ::close(fd);
    ::unlink(path.c_str());
    return status;
  }
  if (sync) {
    if (Status status = SyncDirectory(options_.dir); !status.ok()) {
      ::close(fd);
      ::unlink(path.c_str());
      return status;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    segments_.push_back(Segment{number, fd, !sync});
    if (!sync) directory_dirty_ = true;
    newest_ = number;
  }
  newest_fd_ = fd;
  newest_version_ = 2;
  flushed_bytes_ = kHeaderBytes;
  return Status::Ok();
}

// Renames the newest spare to `path` and opens it; -1 if there is none or
// that fails (the spare is deleted then: the caller creates a new file).
// A crash after the rename leaves a segment whose header names its old
// number: damage at offset 0 (ReplaySegment).
int WriteLog::OpenSpareAs(const std::string& path) {
  Spare spare;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (spares_.empty()) return -1;
    spare = std::move(spares_.back());
    spares_.pop_back();
    spare_bytes_ -= spare.bytes;
  }
  if (::rename(spare.path.c_str(), path.c_str()) != 0) {
    ::unlink(spare.path.c_str());
    return -1;
  }
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) ::unlink(path.c_str());
  return fd;
}

Status WriteLog::Replay(uint64_t skip_through,
                        const std::function<Status(uint64_t, std::string_view)>& fn) {
  for (size_t i = 0; i < segments_.size(); ++i) {
    if (segments_[i].number <= skip_through && i + 1 < segments_.size()) continue;
    const bool newest = i + 1 == segments_.size();
    bool damaged = false;
    if (Status status = ReplaySegment(segments_[i], newest, &damaged, fn); !status.ok()) {
      return status;
    }
    if (!damaged || newest) continue;
    // Point-in-time recovery: the records after the damage, in this
    // segment and the later ones, go with it.
    while (segments_.size() > i + 1) {
      const Segment dropped = segments_.back();
      const std::string path = PathOf(dropped.number);
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("removing", path);
      ::close(dropped.fd);
      std::lock_guard<std::mutex> lock(mutex_);
      segments_.pop_back();
    }
    if (Status status = SyncDirectory(options_.dir); !status.ok()) return status;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      newest_ = segments_.back().number;
    }
    newest_fd_ = segments_.back().fd;
    break;
  }
  // Appends go on in the format of the segment left newest (ReplaySegment
  // read it: the newest is never skipped).
  newest_version_ = segments_.back().version;
  replayed_ = true;
  return Status::Ok();
}

Status WriteLog::ReplaySegment(Segment& segment, bool newest, bool* damaged,
                               const std::function<Status(uint64_t, std::string_view)>& fn) {
  const std::string path = PathOf(segment.number);
  struct stat info;
  if (::fstat(segment.fd, &info) != 0) return Errno("stat of", path);
  const uint64_t file_bytes = static_cast<uint64_t>(info.st_size);
  // Reads [offset, offset + bytes) of the file, fewer bytes past its end.
  auto read_at = [&](uint64_t offset, size_t bytes, std::string* out) -> Status {
    out->resize(bytes);
    size_t done = 0;
    while (done < bytes) {
      ssize_t n = ::pread(segment.fd, out->data() + done, bytes - done,
                          static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Errno("reading", path);
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    out->resize(done);
    return Status::Ok();
  };

  const std::string expected = HeaderOf(segment.number);
  std::string header;
  if (Status status = read_at(0, kHeaderBytes, &header); !status.ok()) return status;
  const bool version_1 = header == HeaderOf(segment.number, kMagicV1);
  if (header != expected && !version_1) {
    // Rotate does not sync a new segment's header: a power loss before the
    // next Sync() can leave it short or zeroed (blocks allocated, data not
    // written), or, in a recycled file, the header of its earlier life;
    // nothing in the segment was synced then. That is a torn tail at
    // offset 0. Any other header is not a crash's doing.
    const bool zeroed = header.find_first_not_of('\0') == std::string::npos;
    const bool recycled = header.size() == kHeaderBytes &&
                          (header.starts_with(kMagic) || header.starts_with(kMagicV1)) &&
                          coding::DecodeFixed64(header.data() + kMagic.size()) < segment.number;
    if (header.size() == kHeaderBytes && !zeroed && !recycled) {
      return Status::Corruption("write log: " + path + " has a wrong header");
    }
    if (::ftruncate(segment.fd, 0) != 0 ||
        ::pwrite(segment.fd, expected.data(), expected.size(), 0) !=
            static_cast<ssize_t>(expected.size()) ||
        ::fdatasync(segment.fd) != 0) {
      return Errno("rewriting the header of", path);
    }
    segment.version = 2;
    // An older segment had its header before the next one began: empty,
    // it lost what it held (never synced), and so did the later ones.
    *damaged = file_bytes > 0 || !newest;
    if (newest || *damaged) flushed_bytes_ = kHeaderBytes;
    return Status::Ok();
  }
  segment.version = version_1 ? 1 : 2;

  // Cuts the segment at `at` (durably): what follows goes.
  auto cut_at = [&](uint64_t at) -> Status {
    if (::ftruncate(segment.fd, static_cast<off_t>(at)) != 0 || ::fdatasync(segment.fd) != 0) {
      return Errno("truncating", path);
    }
    return Status::Ok();
  };
  uint64_t offset = kHeaderBytes;
  std::string record_header;
  std::string payload;
  bool sealed = false;
  while (offset < file_bytes) {
    std::string damage;
    if (file_bytes - offset < kRecordOverheadBytes) {
      damage = "a record header cut short";
    } else {
      if (Status status = read_at(offset, kRecordOverheadBytes, &record_header); !status.ok()) {
        return status;
      }
      const uint32_t length = coding::DecodeFixed32(record_header.data());
      const uint64_t checksum = coding::DecodeFixed64(record_header.data() + 4);
      if (length == kSealLength && segment.version == 2 &&
          checksum == SealChecksum(segment.number, offset)) {
        sealed = true;  // What follows is an earlier life's (recycling).
        break;
      }
      if (length > options_.payload_bytes_max) {
        damage = "a record length of " + std::to_string(length);
      } else if (file_bytes - offset - kRecordOverheadBytes < length) {
        damage = "a record cut short";
      } else {
        if (Status status = read_at(offset + kRecordOverheadBytes, length, &payload);
            !status.ok()) {
          return status;
        }
        if (RecordChecksum(segment.version, segment.number, length, payload) != checksum) {
          damage = "a record whose checksum does not match";
        } else {
          if (Status status = fn(segment.number, payload); !status.ok()) return status;
          offset += kRecordOverheadBytes + length;
          continue;
        }
      }
    }
    // Damage: where a crash stopped the writes that were not synced, or
    // where a recycled file's earlier life begins. Keep what precedes it
    // (point-in-time recovery; Replay drops what follows).
    if (Status status = cut_at(offset); !status.ok()) return status;
    *damaged = true;
    break;
  }
  if (newest && sealed) {
    // Rotate wrote the seal but did not start the next segment (a crash,
    // or a failure that failed the log): the segment goes on, from the
    // seal's offset.
    if (Status status = cut_at(offset); !status.ok()) return status;
  } else if (!newest && !sealed && segment.version == 2) {
    // Rotate sealed it before the next segment began, and Sync() synced the
    // seal before anything in the next one: the seal's loss is damage.
    *damaged = true;
  }
  if (newest || *damaged) flushed_bytes_ = offset;
  return Status::Ok();
}

Status WriteLog::Failed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return failure_;
}

void WriteLog::Fail(const Status& status) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (failure_.ok()) failure_ = status;
}

Status WriteLog::Append(std::string_view payload) {
  if (Status failed = Failed(); !failed.ok()) return failed;
  if (payload.size() > options_.payload_bytes_max) {
    return Status::InvalidArgument("write log: a record of " + std::to_string(payload.size()) +
                                   " bytes (at most " + std::to_string(options_.payload_bytes_max) + ")");
  }
  const auto length = static_cast<uint32_t>(payload.size());
  coding::PutFixed32(&buffer_, length);
  coding::PutFixed64(&buffer_, RecordChecksum(newest_version_, newest_, length, payload));
  buffer_.append(payload);
  if (buffer_.size() > kBufferBytesMax) return Flush();
  return Status::Ok();
}

Status WriteLog::WriteAll(std::string_view bytes) {
  const int fd = newest_fd_;
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done,
                         static_cast<off_t>(flushed_bytes_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = EIO;
    if (n <= 0) return Errno("appending to", PathOf(newest_));
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status WriteLog::Flush() {
  if (!replayed_) return Status::InvalidArgument("write log: Replay() before writing");
  if (Status failed = Failed(); !failed.ok()) return failed;
  if (buffer_.empty()) return Status::Ok();
  Status status = WriteAll(buffer_);
  if (!status.ok()) {
    // Whatever part reached the file is not a whole batch: cut it off. The
    // log fails for good either way: the records of earlier Appends were
    // in the buffer too, and their callers may not have flushed yet.
    if (::ftruncate(newest_fd_, static_cast<off_t>(flushed_bytes_)) != 0) {
      status = Errno("cutting a failed write off", PathOf(newest_));
    }
    buffer_.clear();
    Fail(status);
    return status;
  }
  flushed_bytes_ += buffer_.size();
  buffer_.clear();
  if (buffer_.capacity() > kBufferBytesMax) std::string().swap(buffer_);
  std::lock_guard<std::mutex> lock(mutex_);
  segments_.back().dirty = true;
  return Status::Ok();
}

Status WriteLog::Rotate(uint64_t* sealed) {
  if (!replayed_) return Status::InvalidArgument("write log: Replay() before writing");
  if (newest_version_ == 2) {
    const uint64_t seal_offset = flushed_bytes_ + buffer_.size();
    coding::PutFixed32(&buffer_, kSealLength);
    coding::PutFixed64(&buffer_, SealChecksum(newest_, seal_offset));
  }
  if (Status status = Flush(); !status.ok()) return status;
  // The sealed segment is synced by the next Sync(), before the new one
  // (number order) and the directory; nothing is synced on the caller's
  // thread, which is the loop.
  const uint64_t old = newest_;
  if (Status status = StartSegment(old + 1, /*sync=*/false); !status.ok()) {
    Fail(status);
    return status;
  }
  *sealed = old;
  return Status::Ok();
}

Status WriteLog::Sync() {
  // One Sync at a time: a second one must not find the flags cleared by a
  // first whose fdatasync has not finished, and return early.
  std::lock_guard<std::mutex> one_at_a_time(sync_mutex_);
  // Duplicate the descriptors under the lock, so that a segment removed
  // meanwhile cannot close (and the number be reused by) a file being
  // synced. The flags are cleared only once every duplicate exists.
  std::vector<std::pair<uint64_t, int>> to_sync;
  bool sync_directory = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!failure_.ok()) return failure_;
    sync_directory = directory_dirty_;
    for (const Segment& segment : segments_) {
      if (!segment.dirty) continue;
      int fd = ::fcntl(segment.fd, F_DUPFD_CLOEXEC, 0);
      if (fd < 0) {
        Status status = Errno("duplicating the descriptor of", PathOf(segment.number));
        for (auto& [number, dup] : to_sync) ::close(dup);
        return status;
      }
      to_sync.emplace_back(segment.number, fd);
    }
    for (Segment& segment : segments_) segment.dirty = false;
    directory_dirty_ = false;
  }
  // A failed fdatasync is never retried: Linux may have marked the pages
  // clean, so a second call could succeed with the records lost. The log
  // fails for good; reopening it replays what is really there.
  Status result;
  for (auto& [number, fd] : to_sync) {
    if (result.ok() && ::fdatasync(fd) != 0) result = Errno("fdatasync of", PathOf(number));
    ::close(fd);
  }
  // The entries of segments Rotate created, after their contents: a
  // segment whose entry is lost held nothing synced.
  if (result.ok() && sync_directory) result = SyncDirectory(options_.dir);
  if (!result.ok()) Fail(result);
  return result;
}

Status WriteLog::RemoveThrough(uint64_t segment) {
  std::lock_guard<std::mutex> one_at_a_time(remove_mutex_);
  // Oldest first, each removal durable before the next, so that a crash
  // leaves the remaining segments contiguous (Open checks that).
  while (true) {
    int fd = -1;
    uint64_t number = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const Segment& oldest = segments_.front();
      if (oldest.number > segment || oldest.number == newest_) break;
      fd = oldest.fd;
      number = oldest.number;
    }
    const std::string path = PathOf(number);
    // Kept for reuse if it fits the bounds. Only this function adds
    // spares, so they still hold once the lock is taken again below.
    struct stat info;
    bool keep = false;
    if (options_.spare_bytes_max > 0 && ::fstat(fd, &info) == 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      keep = spares_.size() < kSparesMax &&
             spare_bytes_ + static_cast<uint64_t>(info.st_size) <= options_.spare_bytes_max;
    }
    const std::string spare = SparePathOf(number);
    if (keep ? ::rename(path.c_str(), spare.c_str()) != 0
             : ::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Errno("removing", path);
    }
    if (Status status = SyncDirectory(options_.dir); !status.ok()) return status;
    std::lock_guard<std::mutex> lock(mutex_);
    ::close(fd);
    segments_.erase(segments_.begin());
    if (keep) {
      spares_.push_back(Spare{spare, static_cast<uint64_t>(info.st_size)});
      spare_bytes_ += static_cast<uint64_t>(info.st_size);
    }
  }
  return Status::Ok();
}

size_t WriteLog::spares() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return spares_.size();
}

std::vector<uint64_t> WriteLog::segments() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<uint64_t> numbers;
  for (const Segment& segment : segments_) numbers.push_back(segment.number);
  return numbers;
}

}  // namespace ringkv::storage
