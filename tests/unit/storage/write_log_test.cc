// Tests for storage/write_log.h: round trips across segments and reopens,
// torn tails repaired, damage elsewhere refused, removal, and Sync from
// another thread while the log is written.
#include "storage/write_log.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "storage/coding.h"
#include "unit/storage/storage_test_util.h"
#include "unit/temp_dir.h"

namespace ringkv::storage {
namespace {

using ringkv::testing::TempDir;

struct Record {
  uint64_t segment;
  std::string payload;
};

WriteLogOptions Options(const TempDir& dir) {
  WriteLogOptions options;
  options.dir = dir.path() + "/log";
  return options;
}

// Opens the log and replays it; returns the records.
std::unique_ptr<WriteLog> OpenAndReplay(const WriteLogOptions& options,
                                        std::vector<Record>* records, Status* replay = nullptr) {
  std::unique_ptr<WriteLog> log;
  Status status = WriteLog::Open(options, &log);
  INFO(status.ToString());
  REQUIRE(status.ok());
  records->clear();
  status = log->Replay(0, [&](uint64_t segment, std::string_view payload) {
    records->push_back({segment, std::string(payload)});
    return Status::Ok();
  });
  if (replay != nullptr) {
    *replay = status;
  } else {
    INFO(status.ToString());
    REQUIRE(status.ok());
  }
  return log;
}

// A fresh directory for the log, and the records a replay returned.
struct LogTest {
  TempDir dir;
  WriteLogOptions options = Options(dir);
  std::vector<Record> records;
};

std::string Payload(int i) {
  // Sizes 0 to a few KB, bytes of every value.
  std::string payload(static_cast<size_t>((i * 37) % 3000), '\0');
  for (size_t j = 0; j < payload.size(); ++j) payload[j] = static_cast<char>((i + j) & 0xff);
  return payload;
}

std::string SegmentPath(const WriteLogOptions& options, uint64_t segment) {
  char name[32];
  std::snprintf(name, sizeof(name), "%020llu.log", static_cast<unsigned long long>(segment));
  return options.dir + "/" + name;
}

uint64_t FileBytes(const std::string& path) { return std::filesystem::file_size(path); }

std::string ReadFile(const std::string& path) {
  std::string bytes(FileBytes(path), '\0');
  std::FILE* file = std::fopen(path.c_str(), "rb");
  REQUIRE(file != nullptr);
  CHECK(std::fread(bytes.data(), 1, bytes.size(), file) == bytes.size());
  std::fclose(file);
  return bytes;
}

uint64_t InodeOf(const std::string& path) {
  struct stat info;
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_ino;
}

// A segment as written before seals existed (RKWLOG01: checksums seeded
// with the length alone, no seal).
std::string VersionOneSegment(uint64_t number, const std::vector<std::string>& payloads) {
  std::string bytes = "RKWLOG01";
  coding::PutFixed64(&bytes, number);
  for (const std::string& payload : payloads) {
    const auto length = static_cast<uint32_t>(payload.size());
    coding::PutFixed32(&bytes, length);
    coding::PutFixed64(&bytes, XXH3_64bits_withSeed(payload.data(), payload.size(), length));
    bytes += payload;
  }
  return bytes;
}

void WriteFile(const std::string& path, std::string_view bytes) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  REQUIRE(std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size());
  std::fclose(file);
}

std::string SparePath(const WriteLogOptions& options, uint64_t segment) {
  std::string path = SegmentPath(options, segment);
  return path.substr(0, path.size() - 4) + ".spare";
}

void Overwrite(const std::string& path, uint64_t offset, std::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)) ==
          static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

TEST_CASE_FIXTURE(LogTest, "write log: records come back in order across flushes, rotations and reopens") {
  std::vector<std::string> expected;
  {
    auto log = OpenAndReplay(options, &records);
    CHECK(records.empty());
    CHECK(log->segments() == std::vector<uint64_t>{1});
    for (int i = 0; i < 300; ++i) {
      REQUIRE(log->Append(Payload(i)).ok());
      expected.push_back(Payload(i));
      if (i % 7 == 0) REQUIRE(log->Flush().ok());
      if (i == 100 || i == 200) {
        uint64_t sealed = 0;
        REQUIRE(log->Rotate(&sealed).ok());
        CHECK(sealed == (i == 100 ? 1u : 2u));
      }
    }
    REQUIRE(log->Flush().ok());
    REQUIRE(log->Sync().ok());
    CHECK(log->segments() == std::vector<uint64_t>{1, 2, 3});
  }
  auto log = OpenAndReplay(options, &records);
  REQUIRE(records.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    CHECK(records[i].payload == expected[i]);
    CHECK(records[i].segment == (i <= 100 ? 1u : i <= 200 ? 2u : 3u));
  }
  // Appends after a reopen continue the newest segment.
  REQUIRE(log->Append("after reopen").ok());
  REQUIRE(log->Flush().ok());
  log.reset();
  OpenAndReplay(options, &records);
  REQUIRE(records.size() == expected.size() + 1);
  CHECK(records.back().payload == "after reopen");
  CHECK(records.back().segment == 3);
}

TEST_CASE_FIXTURE(LogTest, "write log: only flushed records survive, and a buffer past its bound flushes itself") {
  {
    auto log = OpenAndReplay(options, &records);
    REQUIRE(log->Append("flushed").ok());
    REQUIRE(log->Flush().ok());
    REQUIRE(log->Append("never flushed").ok());
    CHECK(log->buffered_bytes() > 0);
    // Destroyed without Flush: a process that died before writing.
  }
  {
    auto log = OpenAndReplay(options, &records);
    REQUIRE(records.size() == 1);
    CHECK(records[0].payload == "flushed");
    const std::string big(WriteLog::kBufferBytesMax / 4, 'x');
    for (int i = 0; i < 5; ++i) REQUIRE(log->Append(big).ok());
    CHECK(log->buffered_bytes() < WriteLog::kBufferBytesMax);  // It wrote itself out.
  }
  OpenAndReplay(options, &records);
  // The fourth Append passed the bound and wrote the buffer; the fifth was
  // still buffered.
  CHECK(records.size() == 5);
}

TEST_CASE_FIXTURE(LogTest, "write log: a torn last record is cut off, the rest kept, and appends go on") {
  uint64_t whole_bytes = 0;
  {
    auto log = OpenAndReplay(options, &records);
    for (int i = 0; i < 10; ++i) REQUIRE(log->Append(Payload(i + 1)).ok());
    REQUIRE(log->Flush().ok());
    whole_bytes = log->flushed_bytes();
    REQUIRE(log->Append(std::string(1000, 'z')).ok());
    REQUIRE(log->Flush().ok());
  }
  const std::string path = SegmentPath(options, 1);
  SUBCASE("cut in the payload") { std::filesystem::resize_file(path, whole_bytes + 500); }
  SUBCASE("cut in the record header") { std::filesystem::resize_file(path, whole_bytes + 5); }
  SUBCASE("whole length but zeros") {
    Overwrite(path, whole_bytes + 12, std::string(1000, '\0'));
  }
  auto log = OpenAndReplay(options, &records);
  REQUIRE(records.size() == 10);
  for (int i = 0; i < 10; ++i) CHECK(records[i].payload == Payload(i + 1));
  CHECK(FileBytes(path) == whole_bytes);
  REQUIRE(log->Append("next").ok());
  REQUIRE(log->Flush().ok());
  log.reset();
  OpenAndReplay(options, &records);
  REQUIRE(records.size() == 11);
  CHECK(records.back().payload == "next");
}

TEST_CASE_FIXTURE(LogTest, "write log: damage in an older segment drops it and every later segment") {
  {
    auto log = OpenAndReplay(options, &records);
    for (int i = 0; i < 5; ++i) REQUIRE(log->Append(Payload(i + 1)).ok());
    uint64_t sealed = 0;
    REQUIRE(log->Rotate(&sealed).ok());
    REQUIRE(log->Append("in segment 2").ok());
    REQUIRE(log->Rotate(&sealed).ok());
    REQUIRE(log->Append("in segment 3").ok());
    REQUIRE(log->Flush().ok());
  }
  size_t kept = 0;
  SUBCASE("a flipped payload byte in the first record of segment 1") {
    Overwrite(SegmentPath(options, 1), WriteLog::kHeaderBytes + 12 + 3, "\x7f");
    kept = 0;
  }
  SUBCASE("segment 1 cut inside its last record") {
    std::filesystem::resize_file(SegmentPath(options, 1),
                                 FileBytes(SegmentPath(options, 1)) - WriteLog::kSealBytes - 1);
    kept = 4;
  }
  SUBCASE("segment 1 cut inside its seal") {
    std::filesystem::resize_file(SegmentPath(options, 1), FileBytes(SegmentPath(options, 1)) - 1);
    kept = 5;
  }
  SUBCASE("segment 1 without its seal") {
    std::filesystem::resize_file(SegmentPath(options, 1),
                                 FileBytes(SegmentPath(options, 1)) - WriteLog::kSealBytes);
    kept = 5;
  }
  auto log = OpenAndReplay(options, &records);
  REQUIRE(records.size() == kept);
  for (size_t i = 0; i < kept; ++i) CHECK(records[i].payload == Payload(static_cast<int>(i) + 1));
  CHECK(log->segments() == std::vector<uint64_t>{1});
  CHECK_FALSE(std::filesystem::exists(SegmentPath(options, 2)));
  // Writing goes on in segment 1, after its last whole record.
  REQUIRE(log->Append("after").ok());
  REQUIRE(log->Flush().ok());
  log.reset();
  OpenAndReplay(options, &records);
  REQUIRE(records.size() == kept + 1);
  CHECK(records.back().payload == "after");
}

TEST_CASE_FIXTURE(LogTest, "write log: a wrong header that no crash leaves is corruption") {
  {
    auto log = OpenAndReplay(options, &records);
    uint64_t sealed = 0;
    REQUIRE(log->Append("in segment 1").ok());
    REQUIRE(log->Rotate(&sealed).ok());
    REQUIRE(log->Append("in segment 2").ok());
    REQUIRE(log->Flush().ok());
  }
  SUBCASE("naming another segment") {
    Overwrite(SegmentPath(options, 2), 8, std::string("\x09\0\0\0\0\0\0\0", 8));
  }
  SUBCASE("not a log") { Overwrite(SegmentPath(options, 1), 0, "XXXXXXXX"); }
  Status replay;
  OpenAndReplay(options, &records, &replay);
  INFO(replay.ToString());
  CHECK(replay.IsCorruption());
}

TEST_CASE_FIXTURE(LogTest, "write log: a header a power loss zeroed or cut is damage at offset 0") {
  // Rotate writes a new segment's header without syncing it (the next Sync
  // does), so a power loss can leave it zeroed or short with records after
  // it, none of them synced.
  {
    auto log = OpenAndReplay(options, &records);
    uint64_t sealed = 0;
    REQUIRE(log->Append("in segment 1").ok());
    REQUIRE(log->Rotate(&sealed).ok());
    REQUIRE(log->Append("in segment 2").ok());
    REQUIRE(log->Rotate(&sealed).ok());
    REQUIRE(log->Append("in segment 3").ok());
    REQUIRE(log->Flush().ok());
  }
  std::vector<std::string> kept;
  std::vector<uint64_t> segments;
  SUBCASE("a sealed segment's header zeroed: it and the later ones are dropped") {
    Overwrite(SegmentPath(options, 2), 0, std::string(WriteLog::kHeaderBytes, '\0'));
    kept = {"in segment 1"};
    segments = {1, 2};
  }
  SUBCASE("a sealed segment cut inside its header") {
    std::filesystem::resize_file(SegmentPath(options, 2), 5);
    kept = {"in segment 1"};
    segments = {1, 2};
  }
  SUBCASE("a sealed segment left empty (its header never synced)") {
    std::filesystem::resize_file(SegmentPath(options, 2), 0);
    kept = {"in segment 1"};
    segments = {1, 2};
  }
  SUBCASE("the newest segment's header zeroed") {
    Overwrite(SegmentPath(options, 3), 0, std::string(WriteLog::kHeaderBytes, '\0'));
    kept = {"in segment 1", "in segment 2"};
    segments = {1, 2, 3};
  }
  // A recycled file renamed to its new number, the header naming its old.
  SUBCASE("a sealed segment's header naming a lower segment: it and the later ones are dropped") {
    Overwrite(SegmentPath(options, 2), 0, ReadFile(SegmentPath(options, 1)).substr(0, 16));
    kept = {"in segment 1"};
    segments = {1, 2};
  }
  SUBCASE("the newest segment's header naming a lower segment") {
    Overwrite(SegmentPath(options, 3), 0, ReadFile(SegmentPath(options, 2)).substr(0, 16));
    kept = {"in segment 1", "in segment 2"};
    segments = {1, 2, 3};
  }
  auto log = OpenAndReplay(options, &records);
  std::vector<std::string> payloads;
  for (const Record& record : records) payloads.push_back(record.payload);
  CHECK(payloads == kept);
  CHECK(log->segments() == segments);
  // The damaged segment is empty with its header again; writing goes on in it.
  CHECK(FileBytes(SegmentPath(options, segments.back())) == WriteLog::kHeaderBytes);
  REQUIRE(log->Append("after").ok());
  REQUIRE(log->Flush().ok());
  log.reset();
  OpenAndReplay(options, &records);
  REQUIRE(records.size() == kept.size() + 1);
  CHECK(records.back().payload == "after");
  CHECK(records.back().segment == segments.back());
}

TEST_CASE_FIXTURE(LogTest, "write log: Replay skips the segments it is told to") {
  {
    auto log = OpenAndReplay(options, &records);
    uint64_t sealed = 0;
    REQUIRE(log->Append("one").ok());
    REQUIRE(log->Rotate(&sealed).ok());
    REQUIRE(log->Append("two").ok());
    REQUIRE(log->Rotate(&sealed).ok());
    REQUIRE(log->Append("three").ok());
    REQUIRE(log->Flush().ok());
  }
  // Damage in a skipped segment is not even read.
  Overwrite(SegmentPath(options, 1), WriteLog::kHeaderBytes + 12, "X");
  std::unique_ptr<WriteLog> log;
  REQUIRE(WriteLog::Open(options, &log).ok());
  std::vector<std::string> seen;
  REQUIRE(log->Replay(2, [&](uint64_t, std::string_view payload) {
                 seen.emplace_back(payload);
                 return Status::Ok();
               })
              .ok());
  CHECK(seen == std::vector<std::string>{"three"});
}

TEST_CASE_FIXTURE(LogTest, "write log: a newest segment left without its header by a crash is repaired") {
  {
    auto log = OpenAndReplay(options, &records);
    REQUIRE(log->Append("kept").ok());
    uint64_t sealed = 0;
    REQUIRE(log->Rotate(&sealed).ok());
  }
  std::filesystem::resize_file(SegmentPath(options, 2), 0);
  auto log = OpenAndReplay(options, &records);
  REQUIRE(records.size() == 1);
  CHECK(records[0].payload == "kept");
  REQUIRE(log->Append("after").ok());
  REQUIRE(log->Flush().ok());
  log.reset();
  OpenAndReplay(options, &records);
  REQUIRE(records.size() == 2);
  CHECK(records[1].segment == 2);
}

TEST_CASE_FIXTURE(LogTest, "write log: RemoveThrough deletes sealed segments, never the newest") {
  auto log = OpenAndReplay(options, &records);
  uint64_t sealed = 0;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(log->Append("segment " + std::to_string(i + 1)).ok());
    REQUIRE(log->Rotate(&sealed).ok());
  }
  REQUIRE(log->segments() == std::vector<uint64_t>{1, 2, 3, 4});
  REQUIRE(log->RemoveThrough(2).ok());
  CHECK(log->segments() == std::vector<uint64_t>{3, 4});
  CHECK_FALSE(std::filesystem::exists(SegmentPath(options, 1)));
  REQUIRE(log->RemoveThrough(100).ok());
  CHECK(log->segments() == std::vector<uint64_t>{4});
  log.reset();
  OpenAndReplay(options, &records);
  CHECK(records.empty());  // Segment 4 was started empty.
}

TEST_CASE_FIXTURE(LogTest,
                  "write log: a removed segment is reused as a later one, and nothing it held "
                  "before is read again") {
  options.spare_bytes_max = 1ULL << 30;
  uint64_t sealed = 0;
  uint64_t inode = 0;
  {
    auto log = OpenAndReplay(options, &records);
    for (int i = 0; i < 20; ++i)
      REQUIRE(log->Append(std::string(2000, static_cast<char>('a' + i))).ok());
    REQUIRE(log->Rotate(&sealed).ok());
    REQUIRE(log->Append("in segment 2").ok());
    REQUIRE(log->Rotate(&sealed).ok());
    inode = InodeOf(SegmentPath(options, 1));
    REQUIRE(log->RemoveThrough(1).ok());
    CHECK(log->segments() == std::vector<uint64_t>{2, 3});
    CHECK(log->spares() == 1);
    CHECK_FALSE(std::filesystem::exists(SegmentPath(options, 1)));
    CHECK(std::filesystem::exists(SparePath(options, 1)));
    REQUIRE(log->Append("in segment 3").ok());
    REQUIRE(log->Rotate(&sealed).ok());
    // Segment 4 is segment 1's file, its old records behind the new header.
    CHECK(log->spares() == 0);
    CHECK_FALSE(std::filesystem::exists(SparePath(options, 1)));
    CHECK(InodeOf(SegmentPath(options, 4)) == inode);
    REQUIRE(log->Append(std::string(2000, '4')).ok());
    REQUIRE(log->Rotate(&sealed).ok());  // Sealed with the old records behind.
    REQUIRE(log->Append("in segment 5").ok());
    REQUIRE(log->Flush().ok());
    REQUIRE(log->Sync().ok());
  }
  CHECK(FileBytes(SegmentPath(options, 4)) > 20 * 2000);
  std::vector<std::string> expected = {"in segment 2", "in segment 3", std::string(2000, '4'),
                                       "in segment 5"};
  auto check = [&](const std::vector<uint64_t>& segments) {
    std::vector<std::string> payloads;
    std::vector<uint64_t> seen;
    for (const Record& record : records) {
      payloads.push_back(record.payload);
      if (seen.empty() || seen.back() != record.segment) seen.push_back(record.segment);
    }
    CHECK(payloads == expected);
    CHECK(seen == segments);
  };
  auto log = OpenAndReplay(options, &records);
  check({2, 3, 4, 5});
  // The sealed segment ends at its seal: its old records stay, unread.
  CHECK(FileBytes(SegmentPath(options, 4)) > 20 * 2000);
  // The newest segment reuses it again. Its two records end where segment
  // 1's third began: that record is whole, but its checksum is seeded with
  // segment 1, so the reopen cuts the file there.
  REQUIRE(log->RemoveThrough(4).ok());
  CHECK(log->spares() == 3);
  REQUIRE(log->Rotate(&sealed).ok());
  CHECK(InodeOf(SegmentPath(options, 6)) == inode);
  REQUIRE(log->Append(std::string(2000, '6')).ok());
  REQUIRE(log->Append(std::string(2000, '6')).ok());
  REQUIRE(log->Flush().ok());
  CHECK(log->flushed_bytes() ==
        WriteLog::kHeaderBytes + 2 * (WriteLog::kRecordOverheadBytes + 2000));
  log.reset();
  log = OpenAndReplay(options, &records);
  CHECK(FileBytes(SegmentPath(options, 6)) ==
        WriteLog::kHeaderBytes + 2 * (WriteLog::kRecordOverheadBytes + 2000));
  expected = {"in segment 5", std::string(2000, '6'), std::string(2000, '6')};
  check({5, 6});
  REQUIRE(log->Append("after reopen").ok());
  REQUIRE(log->Flush().ok());
  log.reset();
  OpenAndReplay(options, &records);
  expected.push_back("after reopen");
  check({5, 6});
}

TEST_CASE_FIXTURE(
    LogTest,
    "write log: a crash after a seal, before the next segment began, leaves the segment open") {
  {
    auto log = OpenAndReplay(options, &records);
    REQUIRE(log->Append("one").ok());
    uint64_t sealed = 0;
    REQUIRE(log->Rotate(&sealed).ok());
  }
  std::filesystem::remove(SegmentPath(options, 2));
  const uint64_t before_seal = FileBytes(SegmentPath(options, 1)) - WriteLog::kSealBytes;
  auto log = OpenAndReplay(options, &records);
  REQUIRE(records.size() == 1);
  CHECK(FileBytes(SegmentPath(options, 1)) == before_seal);
  // Appended where the seal was, so the next replay reads them.
  REQUIRE(log->Append("after").ok());
  REQUIRE(log->Flush().ok());
  log.reset();
  OpenAndReplay(options, &records);
  REQUIRE(records.size() == 2);
  CHECK(records[1].payload == "after");
}

TEST_CASE_FIXTURE(LogTest,
                  "write log: spares stay within their bounds, and a reopen deletes them") {
  options.spare_bytes_max = 3000;
  auto log = OpenAndReplay(options, &records);
  uint64_t sealed = 0;
  REQUIRE(log->Append(std::string(5000, 'x')).ok());  // Segment 1: past the bound alone.
  REQUIRE(log->Rotate(&sealed).ok());
  REQUIRE(log->Append("small").ok());  // Segment 2.
  REQUIRE(log->Rotate(&sealed).ok());
  REQUIRE(log->RemoveThrough(2).ok());
  CHECK(log->spares() == 1);
  CHECK_FALSE(std::filesystem::exists(SparePath(options, 1)));
  CHECK(std::filesystem::exists(SparePath(options, 2)));
  // Reopened, the log deletes the spares the last run left.
  options.spare_bytes_max = 1ULL << 30;
  log.reset();
  log = OpenAndReplay(options, &records);
  CHECK(log->spares() == 0);
  CHECK_FALSE(std::filesystem::exists(SparePath(options, 2)));
  // At most kSparesMax files, however small.
  const uint64_t rotations = WriteLog::kSparesMax + 5;
  for (uint64_t i = 0; i < rotations; ++i) REQUIRE(log->Rotate(&sealed).ok());
  REQUIRE(log->RemoveThrough(sealed).ok());
  CHECK(log->spares() == WriteLog::kSparesMax);
  log.reset();
  log = OpenAndReplay(options, &records);
  CHECK(log->spares() == 0);
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(options.dir)) {
    (void)entry;
    ++files;
  }
  CHECK(files == 1);
}

TEST_CASE_FIXTURE(LogTest,
                  "write log: a spare left holding records of the segment it was to become is "
                  "never reused") {
  // A power loss after a spare's records reached the disk, before its
  // rename to the next segment did: the file is a spare again, holding
  // records seeded with that segment's number, which recovery gives out
  // again. Reused, its second record would line up behind the new first.
  options.spare_bytes_max = 1ULL << 30;
  {
    auto log = OpenAndReplay(options, &records);
    REQUIRE(log->Append("one").ok());
    uint64_t sealed = 0;
    REQUIRE(log->Rotate(&sealed).ok());
    REQUIRE(log->Append(std::string(100, 'x')).ok());
    REQUIRE(log->Append(std::string(100, 'x')).ok());
    REQUIRE(log->Flush().ok());
  }
  std::filesystem::rename(SegmentPath(options, 2), SparePath(options, 7));
  {
    auto log = OpenAndReplay(options, &records);
    REQUIRE(records.size() == 1);
    CHECK(log->spares() == 0);
    CHECK_FALSE(std::filesystem::exists(SparePath(options, 7)));
    uint64_t sealed = 0;
    REQUIRE(log->Rotate(&sealed).ok());
    REQUIRE(log->Append(std::string(100, 'y')).ok());
    REQUIRE(log->Flush().ok());
  }
  OpenAndReplay(options, &records);
  std::vector<std::string> payloads;
  for (const Record& record : records) payloads.push_back(record.payload);
  CHECK(payloads == std::vector<std::string>{"one", std::string(100, 'y')});
}

TEST_CASE_FIXTURE(LogTest,
                  "write log: a segment written before seals existed is read, continued and sealed "
                  "by a rotation as before") {
  std::filesystem::create_directories(options.dir);
  const std::string bytes = VersionOneSegment(1, {"old one", "old two"});
  WriteFile(SegmentPath(options, 1), bytes);
  {
    auto log = OpenAndReplay(options, &records);
    REQUIRE(records.size() == 2);
    CHECK(records[1].payload == "old two");
    REQUIRE(log->Append("new in segment 1").ok());
    uint64_t sealed = 0;
    REQUIRE(log->Rotate(&sealed).ok());
    REQUIRE(log->Append("in segment 2").ok());
    REQUIRE(log->Flush().ok());
  }
  // No seal in the old format: the file ends with the new record.
  CHECK(FileBytes(SegmentPath(options, 1)) ==
        bytes.size() + WriteLog::kRecordOverheadBytes + std::string("new in segment 1").size());
  auto log = OpenAndReplay(options, &records);
  std::vector<std::string> payloads;
  for (const Record& record : records) payloads.push_back(record.payload);
  CHECK(payloads ==
        std::vector<std::string>{"old one", "old two", "new in segment 1", "in segment 2"});
  CHECK(ReadFile(SegmentPath(options, 2)).substr(0, 8) == "RKWLOG02");
}

TEST_CASE_FIXTURE(LogTest,
                  "write log: damage in an older segment written before seals existed leaves the "
                  "log appending to it in its format") {
  std::filesystem::create_directories(options.dir);
  WriteFile(SegmentPath(options, 1), VersionOneSegment(1, {"old one", "old two"}));
  WriteFile(SegmentPath(options, 2), VersionOneSegment(2, {"old three"}));
  // Cut inside segment 1's last record: segment 2 goes, and 1 is the
  // newest again.
  std::filesystem::resize_file(SegmentPath(options, 1), FileBytes(SegmentPath(options, 1)) - 1);
  {
    auto log = OpenAndReplay(options, &records);
    REQUIRE(records.size() == 1);
    CHECK(log->segments() == std::vector<uint64_t>{1});
    REQUIRE(log->Append("after").ok());
    uint64_t sealed = 0;
    REQUIRE(log->Rotate(&sealed).ok());
    REQUIRE(log->Append("in segment 2").ok());
    REQUIRE(log->Flush().ok());
  }
  auto log = OpenAndReplay(options, &records);
  std::vector<std::string> payloads;
  for (const Record& record : records) payloads.push_back(record.payload);
  CHECK(payloads == std::vector<std::string>{"old one", "after", "in segment 2"});
  CHECK(ReadFile(SegmentPath(options, 1)).substr(0, 8) == "RKWLOG01");
}

TEST_CASE("write log: bad input is refused with a clear error") {
  TempDir dir;
  std::unique_ptr<WriteLog> log;
  CHECK(WriteLog::Open(WriteLogOptions{}, &log).code() == Status::Code::kInvalidArgument);
  WriteLogOptions options = Options(dir);
  options.payload_bytes_max = uint64_t{1} << 32;
  CHECK(WriteLog::Open(options, &log).code() == Status::Code::kInvalidArgument);
  options.payload_bytes_max = 100;
  // Written before the existing records were replayed: refused. (A fresh
  // log has nothing to replay.)
  {
    std::vector<Record> records;
    auto opened = OpenAndReplay(options, &records);
    REQUIRE(opened->Append("one").ok());
    REQUIRE(opened->Flush().ok());
  }
  REQUIRE(WriteLog::Open(options, &log).ok());
  REQUIRE(log->Append("x").ok());
  CHECK(log->Flush().code() == Status::Code::kInvalidArgument);
  CHECK(log->Append(std::string(101, 'x')).code() == Status::Code::kInvalidArgument);
  // Files that are not segments are left alone.
  std::FILE* other = std::fopen((options.dir + "/notes.txt").c_str(), "w");
  REQUIRE(other != nullptr);
  std::fclose(other);
  log.reset();
  std::vector<Record> records;
  auto reopened = OpenAndReplay(options, &records);
  CHECK(records.size() == 1);
  REQUIRE(reopened->Append(std::string(100, 'x')).ok());  // At the bound: fine.
  CHECK(std::filesystem::exists(options.dir + "/notes.txt"));
}

TEST_CASE_FIXTURE(LogTest, "write log: a missing segment in the middle is corruption") {
  {
    auto log = OpenAndReplay(options, &records);
    uint64_t sealed = 0;
    for (int i = 0; i < 3; ++i) {
      REQUIRE(log->Append("record").ok());
      REQUIRE(log->Rotate(&sealed).ok());
    }
  }
  std::filesystem::remove(SegmentPath(options, 2));
  std::unique_ptr<WriteLog> log;
  Status status = WriteLog::Open(options, &log);
  INFO(status.ToString());
  CHECK(status.IsCorruption());
}

TEST_CASE_FIXTURE(LogTest, "write log: damage inside the newest segment drops it and every record after it") {
  uint64_t after_two = 0;
  {
    auto log = OpenAndReplay(options, &records);
    REQUIRE(log->Append("one").ok());
    REQUIRE(log->Append("two").ok());
    REQUIRE(log->Flush().ok());
    after_two = log->flushed_bytes();
    REQUIRE(log->Append("three").ok());
    REQUIRE(log->Append("four").ok());
    REQUIRE(log->Flush().ok());
  }
  // A flipped byte in "three": point-in-time recovery keeps one and two.
  Overwrite(SegmentPath(options, 1), after_two + 12, "X");
  auto log = OpenAndReplay(options, &records);
  REQUIRE(records.size() == 2);
  CHECK(records[1].payload == "two");
  CHECK(FileBytes(SegmentPath(options, 1)) == after_two);
}

TEST_CASE_FIXTURE(LogTest, "write log: segment numbers go on after a reopen") {
  uint64_t sealed = 0;
  {
    auto log = OpenAndReplay(options, &records);
    REQUIRE(log->Rotate(&sealed).ok());
    REQUIRE(log->Rotate(&sealed).ok());
    CHECK(log->newest_segment() == 3);
  }
  auto log = OpenAndReplay(options, &records);
  CHECK(log->newest_segment() == 3);
  REQUIRE(log->Append("in 3").ok());
  REQUIRE(log->Rotate(&sealed).ok());
  CHECK(sealed == 3);
  CHECK(log->newest_segment() == 4);
  REQUIRE(log->RemoveThrough(2).ok());
  CHECK(log->segments() == std::vector<uint64_t>{3, 4});
  log.reset();
  OpenAndReplay(options, &records);
  REQUIRE(records.size() == 1);
  CHECK(records[0].segment == 3);
}

TEST_CASE_FIXTURE(LogTest, "write log: Sync and RemoveThrough on another thread while the loop appends, flushes and rotates") {
  // As in the server: the loop writes and rotates, the thread pool syncs
  // and removes what the loop marked removable.
  SUBCASE("removed segments deleted") {}
  SUBCASE("removed segments recycled") { options.spare_bytes_max = 1ULL << 30; }
  auto log = OpenAndReplay(options, &records);
  std::atomic<bool> stop{false};
  std::atomic<int> syncs{0};
  std::atomic<bool> failed{false};
  std::atomic<uint64_t> removable{0};
  std::thread pool([&] {
    while (!stop.load()) {
      if (!log->Sync().ok()) failed = true;
      if (!log->RemoveThrough(removable.load()).ok()) failed = true;
      ++syncs;
    }
  });
  uint64_t sealed = 0;
  for (int i = 0; i < 2000; ++i) {
    REQUIRE(log->Append(Payload(i)).ok());
    if (i % 10 == 0) REQUIRE(log->Flush().ok());
    if (i % 500 == 499) {
      REQUIRE(log->Rotate(&sealed).ok());
      removable = sealed - 1;
      // The pool syncs and removes at least once (a whole pass begun after
      // this point) before the next rotation, which then can take a spare
      // its removal made. Bounded: 10 s.
      const int before = syncs.load();
      for (int waited = 0; waited < 10000 && syncs.load() <= before + 1; ++waited) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  }
  REQUIRE(log->Flush().ok());
  stop = true;
  pool.join();
  CHECK_FALSE(failed.load());
  CHECK(syncs.load() > 0);
  REQUIRE(log->RemoveThrough(removable.load()).ok());
  CHECK(log->segments() == std::vector<uint64_t>{4, 5});
  REQUIRE(log->Sync().ok());
  log.reset();
  OpenAndReplay(options, &records);
  // Each segment held 500 records; the last rotation sealed segment 4
  // (records 1500-1999) and removed 1 to 3, and segment 5 is empty.
  REQUIRE(records.size() == 500);
  CHECK(records.front().payload == Payload(1500));
  CHECK(records.back().payload == Payload(1999));
  CHECK(records.front().segment == 4);
}

TEST_CASE_FIXTURE(LogTest, "write log: a failed write fails the log for good, and the file keeps whole records") {
  auto log = OpenAndReplay(options, &records);
  REQUIRE(log->Append("before").ok());
  REQUIRE(log->Flush().ok());
  const uint64_t whole = log->flushed_bytes();
  REQUIRE(log->Append(std::string(1000, 'a')).ok());
  Status failed;
  {
    FileSizeLimit limit(whole + 100);  // The write fails part way.
    failed = log->Flush();
  }
  INFO(failed.ToString());
  CHECK(failed.code() == Status::Code::kIoError);
  // Sticky: nothing is accepted or acknowledged after it.
  CHECK_FALSE(log->Append("after").ok());
  CHECK_FALSE(log->Flush().ok());
  CHECK_FALSE(log->Sync().ok());
  uint64_t sealed = 0;
  CHECK_FALSE(log->Rotate(&sealed).ok());
  CHECK(FileBytes(SegmentPath(options, 1)) == whole);
  log.reset();
  OpenAndReplay(options, &records);
  REQUIRE(records.size() == 1);
  CHECK(records[0].payload == "before");
}

}  // namespace
}  // namespace ringkv::storage
