// The event loop never waits for the disk: every fsync, fdatasync and msync,
// and the write log's segment removals (unlink or a rename to a spare, then
// a directory sync), run on the thread pool. A loop that waits stalls every client and peer of the
// node, and a stall past request_timeout_ms fails a coordinator's requests
// whose answers were already there (likely why a CI run saw 72 of 200 SETs
// fail while the write log still synced and removed segments on the loop).
//
// Checked with strace attached to the running server under a write load
// that rotates, checkpoints and removes log segments all along: no such
// call comes from the loop thread (the process's main thread), and the
// pool threads did make them (so the trace saw what it looks for).
#include <signal.h>

#include <atomic>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <thread>

#include "blackbox/harness.h"
#include "blackbox/writer.h"

namespace ringkv::blackbox {
namespace {


// "<syscall>" -> count, for the loop thread and for the others, from an
// strace -f -o file ("<tid> <syscall>(..." or "<tid> <... <syscall> resumed>").
struct Calls {
  std::map<std::string, int> loop;
  std::map<std::string, int> others;
};

Calls ReadTrace(const std::string& path, pid_t loop_tid) {
  Calls calls;
  std::ifstream in(path);
  const std::regex line_re(R"(^(\d+)\s+(\w+)\()");
  std::string line;
  std::smatch match;
  while (std::getline(in, line)) {
    if (!std::regex_search(line, match, line_re)) continue;  // Resumed or signal lines.
    const bool loop = std::stol(match[1].str()) == loop_tid;
    ++(loop ? calls.loop : calls.others)[match[2].str()];
  }
  return calls;
}

std::string Describe(const std::map<std::string, int>& counts) {
  std::string out;
  for (const auto& [name, count] : counts) out += name + "=" + std::to_string(count) + " ";
  return out.empty() ? "none" : out;
}

TEST_CASE("the event loop never waits for the disk" * RingkvOnly()) {
  const std::string strace = FindInPath("strace");
  const std::string timeout = FindInPath("timeout");
  REQUIRE_MESSAGE(!strace.empty(), "strace is not installed (scripts/install-deps.sh installs it)");
  REQUIRE(!timeout.empty());

  std::string write_path = "log";
  std::string fsync = "everysec";
  SUBCASE("B-tree, fsync everysec") { write_path = "btree"; }
  SUBCASE("write log, fsync everysec") {}
  SUBCASE("write log, fsync always") { fsync = "always"; }
  SUBCASE("write log, fsync no") { fsync = "no"; }
  CAPTURE(write_path);
  CAPTURE(fsync);

  ServerOptions options;
  options.extra_toml = "[storage]\nfsync = \"" + fsync + "\"\nwrite_path = \"" + write_path + "\"\n";
  // A checkpoint, a new segment and a removal every few hundred writes.
  // checkpoint_sync_ms = 0: every sync writes the checkpoints back, and
  // their segments go, within the trace (by default up to 30 s later).
  if (write_path == "log") {
    options.extra_toml += "memtable_bytes_max = 65536\ncheckpoint_sync_ms = 0\n";
  }
  ServerProcess server(options);
  server.Start();

  std::atomic<bool> stop{false};
  std::atomic<int> acknowledged{0};
  Writer writer(server.port(), "disk-wait:", 32);
  std::thread load([&] { writer.Run(stop, acknowledged); });
  const std::string trace_path = server.data_dir() + "/../disk-wait.strace";
  // Attached to every thread of the running server for 3 s of the load;
  // SIGINT makes strace detach and exit.
  ProgramResult traced = RunProgram(
      {timeout, "-s", "INT", "3", strace, "-f", "-qq", "-p", std::to_string(server.pid()), "-o",
       trace_path, "-e",
       "trace=fsync,fdatasync,msync,sync_file_range,syncfs,unlink,unlinkat,rename,renameat,"
       "renameat2"},
      "", 15000);
  // Past the trace: the release after the last checkpoint may be due.
  int64_t checkpoints = 0;
  if (write_path == "log") {
    RedisContext c = Connect(server.port());
    checkpoints = InfoInteger(c.get(), "log_checkpoints", "persistence");
  }
  stop = true;
  load.join();
  REQUIRE_MESSAGE(!traced.timed_out, traced.output);
  MESSAGE("writes acknowledged: " << acknowledged.load() << ", checkpoints: " << checkpoints);
  REQUIRE(acknowledged.load() > 1000);

  const Calls calls = ReadTrace(trace_path, server.pid());
  std::remove(trace_path.c_str());
  INFO("loop thread: " << Describe(calls.loop));
  INFO("other threads: " << Describe(calls.others));
  // Rotate takes a spare segment for the next one by a rename on the loop,
  // as it created a new file there before: neither waits for the disk (the
  // next sync on the pool makes the entry durable).
  std::map<std::string, int> loop = calls.loop;
  for (const char* rename : {"rename", "renameat", "renameat2"}) loop.erase(rename);
  CHECK(loop.empty());
  // The trace saw the calls it looks for, made elsewhere.
  if (fsync != "no") CHECK(calls.others.count("fdatasync") + calls.others.count("msync") > 0);
  if (write_path == "log") {
    CHECK(checkpoints > 1);
    // Removed segments are deleted, or renamed to spares for reuse.
    int removals = 0;
    for (const char* call : {"unlink", "unlinkat", "rename", "renameat", "renameat2"}) {
      removals += calls.others.count(call) > 0 ? calls.others.at(call) : 0;
    }
    CHECK(removals > 0);
  }
}

}  // namespace
}  // namespace ringkv::blackbox
