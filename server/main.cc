// ringkv-server: one ringkv node.
#include <cstdio>
#include <string>

#include "server/config.h"
#include "server/log.h"
#include "server/server.h"

#ifdef RINGKV_WITH_JEMALLOC
// jemalloc's options, read at its first allocation. MALLOC_CONF in the
// environment overrides them (MALLOC_CONF=thp:default turns huge pages off).
// - thp:always: every extent it maps is advised for transparent huge pages
//   (with the kernel's THP set to "madvise", Debian's default). The memory
//   table, records and buffers are reached at random, and a TLB miss on
//   4 KB pages cost each lookup a page walk: 1 KB SET through the cluster
//   +10% (docs/benchmarks.md).
// - dirty_decay_ms:-1, muzzy_decay_ms:-1: pages that freed memory leaves are
//   kept for reuse, never returned on a timer; the cron returns them past
//   limits.allocator_dirty_max (server/allocator.h). Returning them under
//   load split the huge pages they were on: 1 KB GET through the cluster
//   +35% without it (docs/benchmarks.md, thirteenth pass).
// - lg_extent_max_active_fit:30: a free range of any size may be split for
//   a new allocation. With the default (at most 64 times the request), the
//   64 MB of records a checkpoint frees at once were never taken up by the
//   next table's records, and kept pages grew past 600 MB.
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf =
    "thp:always,dirty_decay_ms:-1,muzzy_decay_ms:-1,lg_extent_max_active_fit:30";
}
#endif

namespace {

constexpr const char* kUsage =
    "Usage: ringkv-server [--config FILE]... [--bind ADDR] [--port N] [--data-dir DIR]\n"
    "                     [--name NAME]\n"
    "Options override the TOML config file; conf/ringkv.toml documents every key.\n"
    "Several --config files apply in order, each over the ones before (a profile\n"
    "such as conf/profiles/gossip-5s.toml after a node's file).\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace ringkv::server;
  CommandLine command_line;
  std::string error;
  if (!ParseCommandLine(argc, argv, &command_line, &error)) {
    fprintf(stderr, "ringkv-server: %s\n%s", error.c_str(), kUsage);
    return 2;
  }
  if (command_line.show_help) {
    fputs(kUsage, stdout);
    return 0;
  }
  if (command_line.show_version) {
    puts("ringkv-server 0.1.0");
    return 0;
  }
  Config config;
  if (!LoadConfig(command_line, &config, &error)) {
    fprintf(stderr, "ringkv-server: config error: %s\n", error.c_str());
    return 1;
  }
  SetLogLevel(ParseLogLevel(config.log_level));
  Server server(config);
  if (!server.Start(&error)) {
    Log(LogLevel::kWarning, "cannot start: %s", error.c_str());
    return 1;
  }
  return server.Run();
}
