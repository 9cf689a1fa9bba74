#include "server/allocator.h"

#include <dlfcn.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>

namespace ringkv::server {
namespace {

using Mallctl = int (*)(const char*, void*, size_t*, void*, size_t);

Mallctl LookUpMallctl() {
  static Mallctl mallctl = reinterpret_cast<Mallctl>(dlsym(RTLD_DEFAULT, "mallctl"));
  return mallctl;
}

// jemalloc's MALLCTL_ARENAS_ALL (jemalloc/jemalloc.h, not included: its
// declarations of malloc and friends clash with glibc's in C++): the
// statistics of, or an operation on, every arena at once.
constexpr unsigned kArenasAll = 4096;

}  // namespace

AllocatorStats ReadAllocatorStats() {
  Mallctl mallctl = LookUpMallctl();
  AllocatorStats stats;
  if (!mallctl) return stats;
  uint64_t epoch = 1;
  size_t length = sizeof(epoch);
  mallctl("epoch", &epoch, &length, &epoch, length);
  size_t value = 0;
  length = sizeof(value);
  if (mallctl("stats.allocated", &value, &length, nullptr, 0) == 0) stats.allocated = value;
  if (mallctl("stats.active", &value, &length, nullptr, 0) == 0) stats.active = value;
  if (mallctl("stats.resident", &value, &length, nullptr, 0) == 0) stats.resident = value;
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  for (const char* pages : {"pdirty", "pmuzzy"}) {
    char name[64];
    snprintf(name, sizeof(name), "stats.arenas.%u.%s", kArenasAll, pages);
    length = sizeof(value);
    if (mallctl(name, &value, &length, nullptr, 0) == 0) stats.dirty += value * page;
  }
  const char* version = nullptr;
  length = sizeof(version);
  if (mallctl("version", &version, &length, nullptr, 0) == 0 && version) {
    stats.version = std::string("jemalloc-") + version;
    size_t dash = stats.version.find('-', 9);
    if (dash != std::string::npos) stats.version.resize(dash);
  }
  const char* thp = nullptr;
  length = sizeof(thp);
  if (mallctl("opt.thp", &thp, &length, nullptr, 0) == 0 && thp) stats.thp = thp;
  ssize_t decay = 0;
  length = sizeof(decay);
  if (mallctl("opt.dirty_decay_ms", &decay, &length, nullptr, 0) == 0) {
    stats.dirty_decay_ms = decay;
  }
  stats.available = true;
  return stats;
}

bool PurgeAllocator() {
  Mallctl mallctl = LookUpMallctl();
  if (!mallctl) return false;
  char name[64];
  snprintf(name, sizeof(name), "arena.%u.purge", kArenasAll);
  return mallctl(name, nullptr, nullptr, nullptr, 0) == 0;
}

}  // namespace ringkv::server
