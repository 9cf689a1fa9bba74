// Black-box test harness: starts a real server process on a free port and
// gives tests Redis clients to drive it with.
//
// The server under test is ringkv-server (RINGKV_SERVER_PATH) unless the
// environment says RINGKV_TEST_SERVER=redis, in which case the harness starts
// redis-server from PATH with equivalent flags. Running the suite against
// Redis is how we check that the tests themselves encode Redis's behaviour;
// tests of ringkv-only behaviour are decorated with RingkvOnly() and skipped.
//
// Thread safety: a ServerProcess, a RedisContext and a RawConnection are each
// used by one thread at a time. Every wait in here is bounded in time, so a
// hung server fails a test instead of hanging the suite.
#ifndef RINGKV_TESTS_BLACKBOX_HARNESS_H_
#define RINGKV_TESTS_BLACKBOX_HARNESS_H_

#include <doctest/doctest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringkv::blackbox {

// True when RINGKV_TEST_SERVER=redis: the tests run against redis-server.
bool AgainstRedis();

// Decorator for tests of behaviour only ringkv has (persistence, VCLOCK, the
// single database...): `TEST_CASE("..." * RingkvOnly())`.
inline doctest::skip RingkvOnly() { return doctest::skip(AgainstRedis()); }

// A port that was free a moment ago, found by binding port 0 on loopback.
uint16_t PickFreePort();

// 127.0.0.1:`port` as a socket address (port 0: any free port).
sockaddr_in LoopbackAddress(uint16_t port);

// Absolute path of `name` found in PATH, or empty when it is not there.
std::string FindInPath(std::string_view name);

struct ServerOptions {
  // Empty means no password. Written to [security] for ringkv and passed as
  // --requirepass to redis-server.
  std::string requirepass;
  // Appended verbatim to ringkv's config file (ignored by redis-server). Must
  // not repeat the [node] or [security] tables that the harness writes.
  std::string extra_toml;
  // Appended to redis-server's command line (ignored by ringkv): the Redis
  // equivalent of extra_toml, e.g. an AOF with appendfsync always so a
  // durability test can be checked against Redis too.
  std::vector<std::string> redis_extra_args;
  // When set, ringkv reads this config file instead of the one the harness
  // writes (requirepass and extra_toml are then ignored); the command line
  // still sets bind, port and data directory.
  std::string config_file;
};

// One server process with its own port and temporary data directory.
class ServerProcess {
 public:
  explicit ServerProcess(ServerOptions options = {});
  ~ServerProcess();  // Kills and reaps the process, removes the directory.

  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts the process and waits until it has logged "Ready to accept
  // connections" and accepts TCP connections. Fails the current test (doctest
  // REQUIRE) with the log's tail if it cannot.
  void Start();

  // Sends SIGTERM and waits for the exit; SIGKILL after the bound. Returns the
  // wait status, or nullopt if the process had to be killed.
  std::optional<int> Stop();

  // SIGKILL and reap: the crash the durability tests simulate.
  void Kill9();

  // Stop() then Start() on the same port and data directory.
  void Restart();

  bool Running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& log_path() const { return log_path_; }

  // The last `bytes_max` bytes of the server's stdout+stderr.
  std::string LogTail(size_t bytes_max = 4096) const;

 private:
  std::vector<std::string> CommandLine() const;
  void WriteConfig() const;
  bool WaitForExit(int timeout_ms, int* status);
  size_t LogSize() const;
  bool LogContainsSince(size_t offset, std::string_view text) const;

  ServerOptions options_;
  std::string temp_dir_;  // Everything the server writes lives under here.
  std::string data_dir_;
  std::string config_path_;
  std::string log_path_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// Field `number` (3 or more, numbered as in proc(5): 3 is the state, 14 and
// 15 utime and stime, 22 the start time) of /proc/<pid>/stat, or empty when
// the process does not exist. Fields are counted after the last ')', since
// the command name may hold spaces and parentheses.
std::string ProcStatField(pid_t pid, int number);

// A field of /proc/<pid>/status in bytes ("VmRSS", or "VmHWM" for the peak
// resident size), or -1 if it cannot be read.
int64_t ProcessMemoryBytes(pid_t pid, std::string_view field);

// Owning hiredis handles.
struct ContextDeleter {
  void operator()(redisContext* context) const { redisFree(context); }
};
struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using RedisContext = std::unique_ptr<redisContext, ContextDeleter>;
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// Connects with hiredis, with connect and I/O timeouts of 10 s. REQUIREs
// success.
RedisContext Connect(uint16_t port);

// Sends one command, arguments binary-safe. A null Reply means an I/O error
// (the context's errstr says which) or a closed connection.
Reply Command(redisContext* context, const std::vector<std::string>& args);

// Renders a reply compactly so a test can compare it with one string:
// status "+OK", error "-ERR ...", integer ":3", nil "nil", bulk "$value",
// array "*[$a, :1, nil]", and "<io error: ...>" for a null reply.
std::string Render(const redisReply* reply, const redisContext* context);

// Command() then Render(): `CHECK(Do(c, {"GET", "k"}) == "$v")`.
std::string Do(redisContext* context, const std::vector<std::string>& args);

// Sends `commands` on one connection in pipelined batches of at most
// `batch_size` and returns the replies in order. A null Reply is an I/O error.
std::vector<Reply> Pipeline(redisContext* context,
                            const std::vector<std::vector<std::string>>& commands,
                            size_t batch_size = 1000);

// The value of `field` in an INFO text ("peer_connections" in
// "peer_connections:5\r\n"), or nullopt when absent.
std::optional<std::string> InfoField(std::string_view info, std::string_view field);

// An integer field of the server's INFO `section` (cluster unless said),
// asked on `context`; REQUIREs that it exists.
int64_t InfoInteger(redisContext* context, std::string_view field,
                    std::string_view section = "cluster");

// A plain TCP connection, for what hiredis 0.14 cannot do: RESP3 replies,
// malformed requests, and watching the server close the connection.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port);  // REQUIREs a connection.
  // Takes over an already connected socket (say, one accepted by
  // LoopbackListener).
  struct Adopt {
    int fd;
  };
  explicit RawConnection(Adopt socket);
  ~RawConnection();

  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Writes all of `bytes`; false if the peer has gone away.
  bool Send(std::string_view bytes);

  // Closes the connection with a reset (SO_LINGER 0) instead of an orderly
  // shutdown, as a client that crashed or timed out would; what the server
  // writes to it afterwards fails.
  void Reset();

  // Reads until one complete RESP2/RESP3 value is buffered and returns its
  // raw bytes; empty on timeout or end of stream.
  std::string ReadReply(int timeout_ms = 5000);

  // Reads everything until the server closes the connection. Sets *closed to
  // whether it did within the timeout.
  std::string ReadUntilClose(int timeout_ms, bool* closed);

 private:
  // Reads once into buffer_; false on end of stream, error or timeout.
  bool ReadSome(int timeout_ms);

  int fd_ = -1;
  std::string buffer_;  // Received bytes not yet returned.
};

// A listening socket on 127.0.0.1 at a free port, for a test that plays a
// server a node connects to.
class LoopbackListener {
 public:
  LoopbackListener();  // REQUIREs a bound, listening socket.
  ~LoopbackListener();
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;

  uint16_t port() const { return port_; }
  // The next connection, or nullptr if none came within `timeout_ms`.
  std::unique_ptr<RawConnection> Accept(int timeout_ms);

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// Length of the first complete RESP value in `bytes`, or 0 if more bytes are
// needed. Understands every RESP3 type the server may send.
size_t CompleteReplyLength(std::string_view bytes);

// Sends `bytes` on a new connection and returns what the server sent back
// until it closed the connection or `timeout_ms` passed.
std::string RawExchange(uint16_t port, std::string_view bytes, int timeout_ms, bool* closed);

struct ProgramResult {
  int exit_code = -1;  // -1 if killed by a signal or timed out.
  bool timed_out = false;
  std::string output;  // stdout and stderr, interleaved.
};

// Runs `argv` (argv[0] a path), feeding `stdin_text` to it and capturing its
// output; killed after `timeout_ms`.
ProgramResult RunProgram(const std::vector<std::string>& argv, std::string_view stdin_text,
                         int timeout_ms);

// redis-cli against `server` with `args`; REQUIREs redis-cli to be installed.
ProgramResult RunRedisCli(const ServerProcess& server, const std::vector<std::string>& args,
                          std::string_view stdin_text, int timeout_ms);

// Encodes a command as a RESP array of bulk strings.
std::string EncodeCommand(const std::vector<std::string>& args);

}  // namespace ringkv::blackbox

#endif  // RINGKV_TESTS_BLACKBOX_HARNESS_H_
