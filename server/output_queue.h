// server/output_queue.h: ordered, group-commit-aware output of one stream.
//
// Bytes produced during a loop iteration are appended to buffer(). At the
// end of the iteration (after the group commit) Seal() tags them with the
// commit sequence that must be durable before they may leave, and
// FlushReady() writes every sealed chunk whose sequence is durable. Writes
// go out in order: uv_try_write first, and what the socket does not take at
// once goes into a libuv write request (libuv keeps their order).
//
// Used by client connections (replies) and peer connections (acks and
// requests), so that nothing acknowledges a write before it is committed.
//
// Lifetime: owned by the connection object that owns the stream; the
// connection closes the stream before destroying the queue, and libuv runs
// the write callbacks (cancelled) before the close callback.
//
// Thread safety: loop thread only.
#ifndef RINGKV_SERVER_OUTPUT_QUEUE_H_
#define RINGKV_SERVER_OUTPUT_QUEUE_H_

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <string>

namespace ringkv::server {

class OutputQueue {
 public:
  // `stream` is not owned. `on_error` runs when a write fails (the owner
  // closes the connection); `on_drained` when the last write request
  // completes. `written_bytes` (may be null) counts bytes handed to the
  // socket. The buffer keeps up to `keep_capacity_bytes` of room between
  // iterations (as much as the last iteration wrote), so that appending an
  // iteration's output does not grow it from nothing, copying as it goes.
  static constexpr size_t kKeepCapacityDefault = 64 * 1024;
  OutputQueue(uv_stream_t* stream, std::function<void()> on_error, std::function<void()> on_drained,
              uint64_t* written_bytes, size_t keep_capacity_bytes = kKeepCapacityDefault);
  OutputQueue(const OutputQueue&) = delete;
  OutputQueue& operator=(const OutputQueue&) = delete;

  std::string& buffer() { return buffer_; }

  // Seals this iteration's bytes with the sequence they wait for; sends
  // them at once when nothing is held and `required` is durable.
  void Seal(uint64_t required_sequence, uint64_t durable_sequence);
  // Sends held chunks whose sequence is durable.
  void FlushReady(uint64_t durable_sequence);

  bool has_held() const { return !held_.empty(); }
  // Nothing unsent anywhere: buffer, held chunks, or write requests.
  bool idle() const { return buffer_.empty() && held_.empty() && writes_in_flight_ == 0; }
  size_t held_chunks() const { return held_.size(); }
  size_t held_bytes() const { return held_bytes_; }
  size_t in_flight_bytes() const { return in_flight_bytes_; }
  size_t pending_bytes() const { return buffer_.size() + held_bytes_ + in_flight_bytes_; }
  // Stops sending; later calls write nothing (the stream is closing).
  void Stop() { stopped_ = true; }

 private:
  struct WriteRequest;
  static void OnWritten(uv_write_t* request, int status);
  void Write(std::string data);
  // After the buffer was handed on: room for about as much again.
  void KeepRoom(size_t last_bytes);

  uv_stream_t* stream_;  // Not owned.
  std::function<void()> on_error_;
  std::function<void()> on_drained_;
  uint64_t* written_bytes_;  // Not owned; may be null.
  size_t keep_capacity_bytes_;
  std::string buffer_;
  struct Held {
    std::string data;
    uint64_t required_sequence;
  };
  std::deque<Held> held_;
  size_t held_bytes_ = 0;
  size_t in_flight_bytes_ = 0;
  int writes_in_flight_ = 0;
  bool stopped_ = false;
};

}  // namespace ringkv::server

#endif  // RINGKV_SERVER_OUTPUT_QUEUE_H_
