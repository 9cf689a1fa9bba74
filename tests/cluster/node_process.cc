// One server process of a multi-node test; see node_process.h.
#include "cluster/node_process.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

namespace ringkv::cluster_test {
namespace {

constexpr const char* kReadyLine = "Ready to accept connections";
constexpr int kPollIntervalMs = 20;

// Writes `message` to stderr (the node's log) from the forked child, where
// only async-signal-safe calls are allowed.
void ChildFail(const char* message, size_t length) {
  (void)!write(STDERR_FILENO, message, length);
  _exit(127);
}

}  // namespace

NodeProcess::NodeProcess(std::string name, std::string server_path, std::string config_path,
                         std::string log_path)
    : name_(std::move(name)),
      server_path_(std::move(server_path)),
      config_path_(std::move(config_path)),
      log_path_(std::move(log_path)) {}

// A paused process is resumed before it is killed, as the harness promises,
// although SIGKILL would end it anyway.
NodeProcess::~NodeProcess() {
  if (pid_ <= 0) return;
  if (paused_) kill(pid_, SIGCONT);
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

void NodeProcess::Spawn(int netns_fd) {
  REQUIRE_MESSAGE(pid_ <= 0, name_ << " is already running");
  std::vector<std::string> args = {server_path_, "--config", config_path_};
  int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  REQUIRE(log_fd >= 0);
  // Built before fork: the child may only make async-signal-safe calls.
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Die with the test binary, even if it is killed before its destructors
    // run; the check after prctl covers a parent that died in between.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) != 0) {
      const char message[] = "node process: setns into the node's network namespace failed\n";
      ChildFail(message, sizeof message - 1);
    }
    execv(argv[0], argv.data());
    const char message[] = "node process: exec of the server failed\n";
    ChildFail(message, sizeof message - 1);
  }
  close(log_fd);
  pid_ = pid;
  paused_ = false;
}

void NodeProcess::WaitReady(size_t log_offset, const std::function<bool()>& answers,
                            int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL(name_ << " exited during start-up (status " << status << ")\n" << LogTail());
    }
    if (LogSince(log_offset).find(kReadyLine) != std::string::npos && answers()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollIntervalMs));
  }
  FAIL(name_ << " did not become ready within " << timeout_ms << " ms\n" << LogTail());
}

std::optional<int> NodeProcess::Stop(int timeout_ms) {
  if (pid_ <= 0) return std::nullopt;
  if (paused_) Resume();
  kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Kill9();
  return std::nullopt;
}

void NodeProcess::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  paused_ = false;
}

void NodeProcess::Pause() {
  REQUIRE_MESSAGE(pid_ > 0, name_ << " is not running");
  REQUIRE(kill(pid_, SIGSTOP) == 0);
  paused_ = true;
  // SIGSTOP is asynchronous; wait until the kernel reports the stop.
  int status = 0;
  REQUIRE(waitpid(pid_, &status, WUNTRACED) == pid_);
  REQUIRE(WIFSTOPPED(status));
}

void NodeProcess::Resume() {
  if (pid_ <= 0 || !paused_) return;
  REQUIRE(kill(pid_, SIGCONT) == 0);
  paused_ = false;
}

size_t NodeProcess::LogSize() const {
  struct stat info {};
  return stat(log_path_.c_str(), &info) == 0 ? static_cast<size_t>(info.st_size) : 0;
}

std::string NodeProcess::LogSince(size_t offset) const {
  std::ifstream log(log_path_, std::ios::binary);
  log.seekg(static_cast<std::streamoff>(offset));
  return std::string((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
}

std::string NodeProcess::LogTail(size_t bytes_max) const {
  std::string text = LogSince(0);
  if (text.size() > bytes_max) text = text.substr(text.size() - bytes_max);
  return "--- " + name_ + " log (" + log_path_ + ") ---\n" + text;
}

}  // namespace ringkv::cluster_test
