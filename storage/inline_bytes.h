// storage/inline_bytes.h: a byte string that keeps up to kInlineMax bytes
// in the object itself and longer ones on the heap: the keys and records
// of the write log's memory table (LogState::Table, engine_internal.h).
//
// std::string keeps only 15 bytes inline, and data keys (a partition
// prefix, then the user's key) and the records of small values are
// usually longer: a table lookup then read the key from an allocation of
// its own and the record from another, a cache miss each after the
// slot's (perf under 3-byte GET at -P 16: the key comparison was most of
// the lookup's time). With both inline, a lookup of such an entry touches
// its control bytes and its slot.
#ifndef RINGKV_STORAGE_INLINE_BYTES_H_
#define RINGKV_STORAGE_INLINE_BYTES_H_

#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>

namespace ringkv::storage {

template <size_t kInline>
class InlineBytes {
 public:
  static constexpr size_t kInlineMax = kInline;
  static_assert(kInlineMax >= 3 * sizeof(uint64_t) && kInlineMax < 0xff);

  InlineBytes() = default;
  // Implicit, so that the table builds its keys from a string_view
  // (try_emplace with a transparent hash).
  InlineBytes(std::string_view bytes) { assign(bytes); }  // NOLINT(google-explicit-constructor)
  InlineBytes(const InlineBytes& other) { assign(other.view()); }
  InlineBytes(InlineBytes&& other) noexcept { Take(other); }
  InlineBytes& operator=(const InlineBytes& other) {
    if (this != &other) assign(other.view());
    return *this;
  }
  InlineBytes& operator=(InlineBytes&& other) noexcept {
    if (this != &other) {
      Free();
      Take(other);
    }
    return *this;
  }
  ~InlineBytes() { Free(); }

  // Replaces the bytes; a heap buffer large enough is reused.
  void assign(std::string_view bytes) {
    if (tag_ == kHeap && bytes.size() > kInlineMax && bytes.size() <= Field(kCapacity)) {
      std::memmove(HeapPointer(), bytes.data(), bytes.size());
      SetField(kSize, bytes.size());
      return;
    }
    if (bytes.size() <= kInlineMax) {
      // The source may be these very bytes: move them before freeing.
      char copy[kInlineMax];
      if (!bytes.empty()) std::memcpy(copy, bytes.data(), bytes.size());
      Free();
      if (!bytes.empty()) std::memcpy(bytes_, copy, bytes.size());
      tag_ = static_cast<uint8_t>(bytes.size());
      return;
    }
    char* heap = new char[bytes.size()];
    std::memcpy(heap, bytes.data(), bytes.size());
    Free();
    std::memcpy(bytes_, &heap, sizeof(heap));
    SetField(kSize, bytes.size());
    SetField(kCapacity, bytes.size());
    tag_ = kHeap;
  }

  std::string_view view() const {
    if (tag_ != kHeap) return {bytes_, tag_};
    return {HeapPointer(), static_cast<size_t>(Field(kSize))};
  }
  operator std::string_view() const { return view(); }  // NOLINT(google-explicit-constructor)
  size_t size() const { return tag_ != kHeap ? tag_ : static_cast<size_t>(Field(kSize)); }
  bool empty() const { return size() == 0; }
  bool starts_with(std::string_view prefix) const { return view().starts_with(prefix); }

  friend bool operator==(const InlineBytes& a, const InlineBytes& b) {
    return a.view() == b.view();
  }
  friend bool operator==(const InlineBytes& a, std::string_view b) { return a.view() == b; }
  friend std::strong_ordering operator<=>(const InlineBytes& a, const InlineBytes& b) {
    return a.view() <=> b.view();
  }
  friend std::strong_ordering operator<=>(const InlineBytes& a, std::string_view b) {
    return a.view() <=> b;
  }

 private:
  static constexpr uint8_t kHeap = 0xff;
  // On the heap, bytes_ holds the pointer, then these as u64.
  static constexpr size_t kSize = 1;
  static constexpr size_t kCapacity = 2;

  void Take(InlineBytes& other) {
    std::memcpy(bytes_, other.bytes_, sizeof(bytes_));
    tag_ = other.tag_;
    other.tag_ = 0;  // Empty: the heap buffer, if any, is this one's now.
  }
  void Free() {
    if (tag_ == kHeap) delete[] HeapPointer();
    tag_ = 0;
  }
  char* HeapPointer() const {
    char* heap;
    std::memcpy(&heap, bytes_, sizeof(heap));
    return heap;
  }
  uint64_t Field(size_t index) const {
    uint64_t value;
    std::memcpy(&value, bytes_ + index * sizeof(uint64_t), sizeof(value));
    return value;
  }
  void SetField(size_t index, uint64_t value) {
    std::memcpy(bytes_ + index * sizeof(uint64_t), &value, sizeof(value));
  }

  // Inline: the bytes, tag_ their count. On the heap: see kSize.
  char bytes_[kInlineMax];
  uint8_t tag_ = 0;
};

// The memory table's key: 32 bytes, as a std::string, with 31 inline.
using TableKey = InlineBytes<31>;
static_assert(sizeof(TableKey) == 32);

}  // namespace ringkv::storage

#endif  // RINGKV_STORAGE_INLINE_BYTES_H_
