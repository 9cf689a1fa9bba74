#include "server/output_queue.h"

#include <algorithm>
#include <utility>

namespace ringkv::server {

struct OutputQueue::WriteRequest {
  uv_write_t request;
  OutputQueue* queue;
  std::string data;
  size_t bytes;  // Bytes handed to libuv (data minus what try_write sent).
};

OutputQueue::OutputQueue(uv_stream_t* stream, std::function<void()> on_error,
                         std::function<void()> on_drained, uint64_t* written_bytes,
                         size_t keep_capacity_bytes)
    : stream_(stream),
      on_error_(std::move(on_error)),
      on_drained_(std::move(on_drained)),
      written_bytes_(written_bytes),
      keep_capacity_bytes_(keep_capacity_bytes) {}

void OutputQueue::Seal(uint64_t required_sequence, uint64_t durable_sequence) {
  if (buffer_.empty()) return;
  const size_t bytes = buffer_.size();
  if (held_.empty() && required_sequence <= durable_sequence) {
    Write(std::move(buffer_));
    buffer_.clear();
  } else {
    held_bytes_ += bytes;
    held_.push_back({std::move(buffer_), required_sequence});
    buffer_.clear();
  }
  KeepRoom(bytes);
}

void OutputQueue::KeepRoom(size_t last_bytes) {
  const size_t room = std::min(last_bytes, keep_capacity_bytes_);
  if (!stopped_ && buffer_.capacity() < room) buffer_.reserve(room);
}

void OutputQueue::FlushReady(uint64_t durable_sequence) {
  while (!stopped_ && !held_.empty() && held_.front().required_sequence <= durable_sequence) {
    held_bytes_ -= held_.front().data.size();
    Write(std::move(held_.front().data));
    held_.pop_front();
  }
}

void OutputQueue::Write(std::string data) {
  if (stopped_ || data.empty()) return;
  size_t sent = 0;
  if (writes_in_flight_ == 0) {
    uv_buf_t buffer = uv_buf_init(data.data(), static_cast<unsigned>(data.size()));
    int rc = uv_try_write(stream_, &buffer, 1);
    if (rc > 0) {
      sent = static_cast<size_t>(rc);
    } else if (rc < 0 && rc != UV_EAGAIN) {
      stopped_ = true;
      on_error_();
      return;
    }
  }
  if (written_bytes_) *written_bytes_ += data.size();
  if (sent == data.size()) {
    // Keep the capacity for the next iteration.
    if (buffer_.capacity() < data.capacity() && data.capacity() <= keep_capacity_bytes_) {
      buffer_.swap(data);
      buffer_.clear();
    }
    return;
  }
  auto* request = new WriteRequest{{}, this, std::move(data), 0};
  request->request.data = request;
  request->bytes = request->data.size() - sent;
  uv_buf_t buffer =
      uv_buf_init(request->data.data() + sent, static_cast<unsigned>(request->bytes));
  int rc = uv_write(&request->request, stream_, &buffer, 1, OnWritten);
  if (rc != 0) {
    delete request;  // libuv never calls back for a failed uv_write.
    stopped_ = true;
    on_error_();
    return;
  }
  ++writes_in_flight_;
  in_flight_bytes_ += request->bytes;
}

void OutputQueue::OnWritten(uv_write_t* uv_request, int status) {
  auto* request = static_cast<WriteRequest*>(uv_request->data);
  OutputQueue* queue = request->queue;
  --queue->writes_in_flight_;
  queue->in_flight_bytes_ -= request->bytes;
  delete request;
  if (status < 0) {
    if (!queue->stopped_) {
      queue->stopped_ = true;
      queue->on_error_();
    }
    return;
  }
  if (queue->writes_in_flight_ == 0 && queue->on_drained_) queue->on_drained_();
}

}  // namespace ringkv::server
