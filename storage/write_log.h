// storage/write_log.h: an append-only log of checksummed records in
// numbered segment files. The first piece of the write-ahead-log engine
// planned in docs/benchmarks.md ("Third look"): writes will be appended
// here and kept in a memory table, and LMDB updated from it in large sorted
// batches. Nothing in the server uses it yet.
//
// Files: `dir/<20-digit segment number>.log`, each starting with a 16-byte
// header (the magic "RKWLOG01", then the segment number as u64le), then
// records:
//
//   u32le payload length | u64le XXH3-64 of the payload, seeded with the
//   length | payload
//
// Appends go to a buffer; Flush() writes it to the newest segment with
// write(2), so a kill -9 after Flush() loses nothing. Sync() makes every
// flushed record durable (fdatasync). Rotate() starts a new segment, so that
// older ones can be removed once what they hold is stored elsewhere
// (RemoveThrough).
//
// Recovery (Replay): records are returned in order across segments. A crash
// can leave the newest segment with a torn last record (a partial write):
// Replay stops there and truncates the segment to its last whole record.
// Damage anywhere else (a bad checksum or length before the last record of
// the newest segment, or in an older segment, or a wrong header) is
// kCorruption: it is not the trace of a crash, and dropping the records
// after it would lose acknowledged writes silently.
//
// Thread safety: every method must be called from one thread (the loop),
// except Sync(), which may run on another thread concurrently with Append,
// Flush and Rotate. RemoveThrough must not run concurrently with Sync.
#ifndef RINGKV_STORAGE_WRITE_LOG_H_
#define RINGKV_STORAGE_WRITE_LOG_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "storage/status.h"

namespace ringkv::storage {

struct WriteLogOptions {
  std::string dir;  // Created if missing.
};

class WriteLog {
 public:
  // The largest payload Append accepts (a record holds one write: a key and
  // its record, both bounded by the server's own limits well below this).
  static constexpr size_t kPayloadBytesMax = 1u << 30;
  // The in-memory buffer is written out by Append itself past this size,
  // so that a large iteration does not hold all of its records in memory.
  static constexpr size_t kBufferBytesMax = 8u << 20;
  static constexpr size_t kHeaderBytes = 16;
  static constexpr size_t kRecordOverheadBytes = 12;

  // Opens the log in options.dir (creating the directory and a first
  // segment if there is none). Call Replay() before the first Append.
  static Status Open(const WriteLogOptions& options, std::unique_ptr<WriteLog>* log);
  ~WriteLog();

  WriteLog(const WriteLog&) = delete;
  WriteLog& operator=(const WriteLog&) = delete;

  // Calls fn(segment, payload) for every record, oldest first, repairing a
  // torn tail of the newest segment (see above). If fn returns an error,
  // Replay stops and returns it.
  Status Replay(const std::function<Status(uint64_t segment, std::string_view payload)>& fn);

  // Adds a record to the buffer (written by the next Flush, or at once past
  // kBufferBytesMax). kInvalidArgument past kPayloadBytesMax.
  Status Append(std::string_view payload);

  // Writes the buffered records to the newest segment. On error the
  // buffered records are dropped (they were not acknowledged yet: the
  // caller fails what they belonged to) and the segment is cut back to its
  // last whole record, so that later records do not follow a torn one.
  Status Flush();

  // Flushes, then starts a new segment; *sealed receives the number of the
  // segment that was newest until now. Records appended later go to the
  // new one.
  Status Rotate(uint64_t* sealed);

  // Makes every record flushed before the call durable. Thread safe (see
  // above).
  Status Sync();

  // Deletes the segments numbered <= `segment` (never the newest one).
  Status RemoveThrough(uint64_t segment);

  uint64_t newest_segment() const { return newest_; }
  std::vector<uint64_t> segments() const;  // Oldest first.
  uint64_t flushed_bytes() const { return flushed_bytes_; }  // Of the newest segment.
  size_t buffered_bytes() const { return buffer_.size(); }

 private:
  struct Segment {
    uint64_t number = 0;
    int fd = -1;
    bool dirty = false;  // Written since its last sync.
  };

  explicit WriteLog(WriteLogOptions options);
  std::string PathOf(uint64_t segment) const;
  Status StartSegment(uint64_t number);
  Status ReplaySegment(Segment& segment, bool newest,
                       const std::function<Status(uint64_t, std::string_view)>& fn);
  Status WriteAll(std::string_view bytes);

  WriteLogOptions options_;
  std::string buffer_;
  uint64_t newest_ = 0;
  uint64_t flushed_bytes_ = 0;
  bool replayed_ = false;
  // Guarded by mutex_: the open segments and their dirty flags (Sync reads
  // them from another thread).
  mutable std::mutex mutex_;
  std::vector<Segment> segments_;
};

}  // namespace ringkv::storage

#endif  // RINGKV_STORAGE_WRITE_LOG_H_
