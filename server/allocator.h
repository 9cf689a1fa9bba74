// server/allocator.h: what the server asks of jemalloc, when jemalloc is the
// process's allocator (the server binary; sanitizer builds use their own).
// Looked up at run time, so that the library does not depend on jemalloc.
//
// The server binary sets jemalloc to keep the pages freed memory leaves
// (server/main.cc: no decay), so that it never returns pages on its own
// while requests run: with jemalloc's default decay, a node serving 1 KB
// GETs returned pages about 35 times a second, and kept most of its heap on
// 4 KB pages rather than huge ones; keeping them made the cluster's 1 KB GET
// about a third faster (docs/benchmarks.md, thirteenth pass). What it keeps
// is bounded here instead: the server's cron returns it all once it passes
// limits.allocator_dirty_max.
#ifndef RINGKV_SERVER_ALLOCATOR_H_
#define RINGKV_SERVER_ALLOCATOR_H_

#include <cstdint>
#include <string>

namespace ringkv::server {

struct AllocatorStats {
  bool available = false;  // jemalloc is the allocator.
  uint64_t allocated = 0;
  uint64_t active = 0;
  uint64_t resident = 0;
  // Bytes of pages freed memory left, kept for reuse (every arena's dirty
  // and muzzy pages).
  uint64_t dirty = 0;
  std::string version = "libc";
  std::string thp = "n/a";     // jemalloc's opt.thp: always, default or never.
  int64_t dirty_decay_ms = 0;  // jemalloc's opt.dirty_decay_ms; -1: never.
};

AllocatorStats ReadAllocatorStats();

// Returns every arena's unused pages to the kernel. False when jemalloc is
// not the allocator or refused.
bool PurgeAllocator();

}  // namespace ringkv::server

#endif  // RINGKV_SERVER_ALLOCATOR_H_
