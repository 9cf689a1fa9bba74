// storage/write_log.h: an append-only log of checksummed records in
// numbered segment files: the log of the engine's write log path
// (storage.write_path = "log", storage/engine_log.cc).
//
// Files: `dir/<20-digit segment number>.log`, each starting with a 16-byte
// header (the magic "RKWLOG02", then the segment number as u64le), then
// records:
//
//   u32le payload length | u64le XXH3-64 of the payload, seeded with the
//   segment number << 32 | the length | payload
//
// and, once the segment is sealed (Rotate), a seal: u32le 0xFFFFFFFF |
// u64le XXH3-64 of its own offset (u64le), seeded likewise. Segments
// written before the seal existed ("RKWLOG01") have no seal and records
// seeded with the length alone; they are read as before.
//
// Appends go to a buffer; Flush() writes it to the newest segment with
// pwrite(2), so a kill -9 after Flush() loses nothing. Sync() makes every
// flushed record durable (fdatasync). Rotate() starts a new segment, so that
// older ones can be removed once what they hold is stored elsewhere
// (RemoveThrough).
//
// Recycling: RemoveThrough renames a removed segment to
// `<its number>.spare` while the spares hold at most
// options.spare_bytes_max bytes (and kSparesMax files), and Rotate reuses
// one as the next segment, overwriting it from the start. Writing into a
// file whose pages and blocks exist costs about half the CPU of appending
// to a new one (no page-cache or block allocation), and its fdatasync has
// no size change to journal. What the file held before stays behind the
// new records until overwritten: its records are seeded with the old
// segment number, so they fail the checksum, and a sealed segment ends at
// its seal. Open deletes the spares a last run left: after a power loss
// one may hold records of the number it was about to take, which recovery
// gives out again (within a run, numbers never repeat).
//
// Recovery (Replay): records are returned in order across segments. A
// power loss can leave any unsynced part of the log missing or garbled, so
// Replay stops at the first damaged record, truncates its segment there
// and removes the later segments (point-in-time recovery, as RocksDB's
// default WAL recovery mode): records after it are dropped too, which is
// right for a crash (Sync() syncs segments in number order, so nothing
// after unsynced damage was synced) and loses them if the damage is
// anything else. A sealed segment (RKWLOG02, not the newest) without its
// seal is such damage. So is a segment header cut short, zeroed, or naming
// a lower segment (a recycled file), at offset 0: Rotate leaves a new
// header for the next Sync to make durable. Any other wrong header, or a
// missing segment number, is kCorruption.
//
// A failed write, truncation or fdatasync fails the log for good: every
// later call returns that error (an fsync error is never retried: the
// kernel may have dropped the pages). Reopening replays what is on disk.
//
// Thread safety: every method must be called from one thread (the loop),
// except Sync() and RemoveThrough(), which may run on another thread
// concurrently with the others (and with themselves). Nothing the loop
// calls after Replay() waits for the disk: the syncs run on that thread. The caller keeps other
// processes out of the directory (the engine's lock on its data directory).
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
  // The largest payload Append accepts (a record holds one write: a key
  // and its record, both bounded by the server's own limits below this).
  // Below 4 GiB - 1 (that length marks a seal).
  size_t payload_bytes_max = 1u << 30;
  // Removed segments kept for reuse hold at most this many bytes (0: every
  // removed segment is deleted).
  uint64_t spare_bytes_max = 0;
};

class WriteLog {
 public:
  // The in-memory buffer is written out by Append itself past this size,
  // so that a large iteration does not hold all of its records in memory.
  static constexpr size_t kBufferBytesMax = 8u << 20;
  static constexpr size_t kHeaderBytes = 16;
  static constexpr size_t kRecordOverheadBytes = 12;
  static constexpr size_t kSealBytes = 12;
  static constexpr size_t kSparesMax = 64;

  // Opens the log in options.dir (creating the directory and a first
  // segment if there is none). Call Replay() before the first Append.
  static Status Open(const WriteLogOptions& options, std::unique_ptr<WriteLog>* log);
  ~WriteLog();

  WriteLog(const WriteLog&) = delete;
  WriteLog& operator=(const WriteLog&) = delete;

  // Calls fn(segment, payload) for every record, oldest first, of the
  // segments numbered above `skip_through` (those at or below it are not
  // read), repairing a torn tail (see above). If fn returns an error,
  // Replay stops and returns it.
  Status Replay(uint64_t skip_through,
                const std::function<Status(uint64_t segment, std::string_view payload)>& fn);

  // Adds a record to the buffer (written by the next Flush, or at once past
  // kBufferBytesMax). kInvalidArgument past options.payload_bytes_max.
  Status Append(std::string_view payload);

  // Writes the buffered records to the newest segment. On error the
  // buffered records are dropped (they were not acknowledged yet: the
  // caller fails what they belonged to), the segment is cut back to its
  // last whole record, and the log fails for good (see above).
  Status Flush();

  // Flushes, then starts a new segment; *sealed receives the number of the
  // segment that was newest until now. Nothing is synced here: the next
  // Sync() syncs the sealed segment, the new one and the directory entry.
  // Records appended later go to the new one.
  Status Rotate(uint64_t* sealed);

  // Makes every record flushed before the call durable. Thread safe (see
  // above).
  Status Sync();

  // Deletes the segments numbered <= `segment` (never the newest one),
  // oldest first, each with a directory sync; those that fit the spares'
  // bound are renamed to spares instead (see above). Thread safe: it may run on
  // another thread concurrently with the loop's calls and with Sync().
  Status RemoveThrough(uint64_t segment);

  uint64_t newest_segment() const { return newest_; }
  std::vector<uint64_t> segments() const;  // Oldest first.
  size_t spares() const;                   // Files kept for reuse.
  uint64_t flushed_bytes() const { return flushed_bytes_; }  // Of the newest segment.
  size_t buffered_bytes() const { return buffer_.size(); }

 private:
  struct Segment {
    uint64_t number = 0;
    int fd = -1;
    bool dirty = false;  // Written since its last sync.
    int version = 2;     // Of its format: 1 (RKWLOG01) or 2.
  };
  struct Spare {
    std::string path;
    uint64_t bytes = 0;
  };

  explicit WriteLog(WriteLogOptions options);
  std::string PathOf(uint64_t segment) const;
  std::string SparePathOf(uint64_t segment) const;
  std::string NumberedPath(uint64_t segment, std::string_view suffix) const;
  int OpenSpareAs(const std::string& path);
  Status StartSegment(uint64_t number, bool sync);
  Status ReplaySegment(Segment& segment, bool newest, bool* damaged,
                       const std::function<Status(uint64_t, std::string_view)>& fn);
  Status WriteAll(std::string_view bytes);
  Status Failed() const;
  void Fail(const Status& status);

  WriteLogOptions options_;
  std::string buffer_;
  uint64_t flushed_bytes_ = 0;
  int newest_fd_ = -1;  // The newest segment's, for the loop's writes.
  int newest_version_ = 2;
  bool replayed_ = false;
  // Guarded by mutex_: the open segments and their dirty flags (Sync and
  // RemoveThrough use them from another thread), the spares (RemoveThrough
  // adds them, Rotate takes them), the newest number (written only by the
  // loop, so it reads it without the lock).
  mutable std::mutex mutex_;
  std::vector<Segment> segments_;
  uint64_t newest_ = 0;
  bool directory_dirty_ = false;  // A segment was created since the last Sync.
  std::vector<Spare> spares_;     // Oldest first.
  uint64_t spare_bytes_ = 0;
  Status failure_;  // The first failure; the log refuses everything after it.
  std::mutex sync_mutex_;  // Held by Sync() throughout.
  std::mutex remove_mutex_;  // Held by RemoveThrough() throughout.
};

}  // namespace ringkv::storage

#endif  // RINGKV_STORAGE_WRITE_LOG_H_
