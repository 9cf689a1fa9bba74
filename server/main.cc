// ringkv-server: one ringkv node.
#include <cstdio>
#include <string>

#include "server/config.h"
#include "server/log.h"
#include "server/server.h"

#ifdef RINGKV_WITH_JEMALLOC
// jemalloc's options, read at its first allocation: every extent it maps is
// advised for transparent huge pages (with the kernel's THP set to
// "madvise", Debian's default). The memory table, records and buffers are
// reached at random, and a TLB miss on 4 KB pages cost each lookup a page
// walk: 1 KB SET through the cluster +10% (docs/benchmarks.md). MALLOC_CONF
// in the environment overrides it (MALLOC_CONF=thp:default turns it off).
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf = "thp:always";
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
