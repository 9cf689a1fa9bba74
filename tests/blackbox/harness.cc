// Server processes for the black-box tests; see harness.h.
#include "blackbox/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace ringkv::blackbox {
namespace {

// Generous: the ASan build of a server that replays a log may be slow to
// start, and a CI machine may be loaded.
constexpr int kStartTimeoutMs = 20000;
constexpr int kStopTimeoutMs = 10000;
// What Redis, and ringkv after it, logs once it serves requests.
constexpr const char* kReadyLine = "Ready to accept connections";

bool CanConnect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address = LoopbackAddress(port);
  bool connected = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return connected;
}

std::string ServerBinary() {
  if (AgainstRedis()) {
    std::string path = FindInPath("redis-server");
    REQUIRE_MESSAGE(!path.empty(), "redis-server is not in PATH");
    return path;
  }
  return RINGKV_SERVER_PATH;
}

}  // namespace

sockaddr_in LoopbackAddress(uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  return address;
}

// Another process could take the port before the server binds it; that race
// is rare enough for tests.
uint16_t PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address = LoopbackAddress(0);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  close(fd);
  return ntohs(address.sin_port);
}

bool AgainstRedis() {
  const char* value = std::getenv("RINGKV_TEST_SERVER");
  return value != nullptr && std::string_view(value) == "redis";
}

std::string FindInPath(std::string_view name) {
  const char* path = std::getenv("PATH");
  std::stringstream directories(path != nullptr ? path : "/usr/bin:/bin");
  std::string directory;
  while (std::getline(directories, directory, ':')) {
    std::string candidate = directory + "/" + std::string(name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string ProcStatField(pid_t pid, int number) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');
  if (number < 3 || close == std::string::npos || close + 2 >= text.size()) return "";
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  for (int at = 3; at <= number && fields >> field; ++at) {
    if (at == number) return field;
  }
  return "";
}

int64_t ProcessMemoryBytes(pid_t pid, std::string_view field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  std::string prefix = std::string(field) + ":";
  while (std::getline(status, line)) {
    if (line.rfind(prefix, 0) == 0) {
      return std::atoll(line.c_str() + prefix.size()) * 1024;  // In kB.
    }
  }
  return -1;
}

ServerProcess::ServerProcess(ServerOptions options) : options_(std::move(options)) {
  char pattern[] = "/tmp/ringkv-blackbox-XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  temp_dir_ = pattern;
  data_dir_ = temp_dir_ + "/data";
  config_path_ = temp_dir_ + "/ringkv.toml";
  log_path_ = temp_dir_ + "/server.log";
  REQUIRE(mkdir(data_dir_.c_str(), 0700) == 0);
  port_ = PickFreePort();
  WriteConfig();
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    // Every test also checks a clean shutdown: SIGTERM must end the server
    // with status 0, and a sanitizer build must have reported nothing (its
    // reports, leaks included, are written at exit).
    std::optional<int> status = Stop();
    CHECK_MESSAGE(status.has_value(), "server ignored SIGTERM\n" << LogTail());
    if (status.has_value()) {
      CHECK_MESSAGE((WIFEXITED(*status) && WEXITSTATUS(*status) == 0),
                    "server did not exit cleanly (status " << *status << ")\n" << LogTail());
    }
  }
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  for (const char* report : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"}) {
    CHECK_MESSAGE(!LogContainsSince(0, report), "sanitizer report in the server log\n"
                                                    << LogTail());
  }
  std::error_code ignored;
  std::filesystem::remove_all(temp_dir_, ignored);
}

void ServerProcess::WriteConfig() const {
  std::ofstream config(config_path_);
  config << "[node]\nname = \"n1\"\n";
  if (!options_.requirepass.empty()) {
    config << "\n[security]\nrequirepass = \"" << options_.requirepass << "\"\n";
  }
  config << "\n" << options_.extra_toml << "\n";
  REQUIRE(config.good());
}

std::vector<std::string> ServerProcess::CommandLine() const {
  std::string port = std::to_string(port_);
  if (AgainstRedis()) {
    // The flags that make redis-server behave like a fresh ringkv node: its
    // own directory, loopback only, and no persistence to leave behind.
    std::vector<std::string> argv = {
        ServerBinary(), "--port", port, "--bind",       "127.0.0.1", "--dir",
        data_dir_,      "--save", "",   "--appendonly", "no"};
    if (!options_.requirepass.empty()) {
      argv.push_back("--requirepass");
      argv.push_back(options_.requirepass);
    }
    // Later flags override earlier ones, so these may turn the AOF back on.
    argv.insert(argv.end(), options_.redis_extra_args.begin(), options_.redis_extra_args.end());
    return argv;
  }
  const std::string& config = options_.config_file.empty() ? config_path_ : options_.config_file;
  return {ServerBinary(), "--config", config,       "--bind", "127.0.0.1",
          "--port",       port,       "--data-dir", data_dir_};
}

void ServerProcess::Start() {
  REQUIRE_MESSAGE(pid_ <= 0, "server already running");
  std::vector<std::string> args = CommandLine();
  // The log is appended to across restarts; only this run's lines count.
  size_t log_offset = LogSize();
  int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  REQUIRE(log_fd >= 0);
  // Built before fork: the child may only make async-signal-safe calls.
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    execv(argv[0], argv.data());
    const char message[] = "blackbox harness: exec of the server failed\n";
    (void)!write(STDERR_FILENO, message, sizeof message - 1);
    _exit(127);
  }
  close(log_fd);
  pid_ = pid;

  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kStartTimeoutMs);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL("server exited during start-up (status " << status << "): " << args[0] << "\n"
                                                    << LogTail());
    }
    // Redis accepts connections while it loads its data and answers
    // -LOADING, so a connection alone does not mean ready; the line does.
    if (LogContainsSince(log_offset, kReadyLine) && CanConnect(port_)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL("server did not log \"" << kReadyLine << "\" and accept connections within "
                               << kStartTimeoutMs << " ms\n"
                               << LogTail());
}

bool ServerProcess::WaitForExit(int timeout_ms, int* status) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::optional<int> ServerProcess::Stop() {
  if (pid_ <= 0) return std::nullopt;
  kill(pid_, SIGTERM);
  int status = 0;
  if (WaitForExit(kStopTimeoutMs, &status)) return status;
  Kill9();
  return std::nullopt;
}

void ServerProcess::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void ServerProcess::Restart() {
  std::optional<int> status = Stop();
  CHECK_MESSAGE(status.has_value(), "server ignored SIGTERM\n" << LogTail());
  Start();
}

size_t ServerProcess::LogSize() const {
  struct stat info {};
  if (stat(log_path_.c_str(), &info) != 0) return 0;
  return static_cast<size_t>(info.st_size);
}

bool ServerProcess::LogContainsSince(size_t offset, std::string_view text) const {
  std::ifstream log(log_path_, std::ios::binary);
  log.seekg(static_cast<std::streamoff>(offset));
  std::string tail((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  return tail.find(text) != std::string::npos;
}

std::string ServerProcess::LogTail(size_t bytes_max) const {
  std::ifstream log(log_path_, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  if (text.size() > bytes_max) text = text.substr(text.size() - bytes_max);
  return "--- server log (" + log_path_ + ") ---\n" + text;
}

}  // namespace ringkv::blackbox
