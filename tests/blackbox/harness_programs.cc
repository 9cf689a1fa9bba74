// Child programs for the black-box tests (redis-cli, redis-benchmark): run
// with bounded time, input fed and output captured. See harness.h.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "blackbox/harness.h"

namespace ringkv::blackbox {
namespace {

using Clock = std::chrono::steady_clock;

// Collects the child's exit status, killing it if it outlived the deadline.
void Reap(pid_t pid, Clock::time_point deadline, ProgramResult* result) {
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() >= deadline) {
      result->timed_out = true;
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    usleep(10 * 1000);
  }
  if (!result->timed_out && WIFEXITED(status)) {
    result->exit_code = WEXITSTATUS(status);
  }
}

}  // namespace

ProgramResult RunProgram(const std::vector<std::string>& args, std::string_view stdin_text,
                         int timeout_ms) {
  ProgramResult result;
  int input[2];
  int output[2];
  REQUIRE(pipe2(input, O_CLOEXEC) == 0);
  REQUIRE(pipe2(output, O_CLOEXEC) == 0);
  std::vector<std::string> args_copy = args;
  std::vector<char*> argv;
  for (std::string& arg : args_copy) argv.push_back(arg.data());
  argv.push_back(nullptr);

  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(input[0], STDIN_FILENO);
    dup2(output[1], STDOUT_FILENO);
    dup2(output[1], STDERR_FILENO);
    signal(SIGPIPE, SIG_DFL);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(input[0]);
  close(output[1]);
  int stdin_fd = input[1];
  int stdout_fd = output[0];
  fcntl(stdin_fd, F_SETFL, O_NONBLOCK);
  if (stdin_text.empty()) {
    close(stdin_fd);
    stdin_fd = -1;
  }

  // Feed stdin and drain stdout together: a child that answers while it
  // reads would otherwise deadlock against us on a full pipe.
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t written_bytes = 0;
  while (stdout_fd >= 0 && Clock::now() < deadline) {
    pollfd fds[2] = {{stdout_fd, POLLIN, 0}, {stdin_fd, POLLOUT, 0}};
    if (poll(fds, stdin_fd >= 0 ? 2 : 1, 100) < 0 && errno != EINTR) break;
    if (fds[0].revents != 0) {
      char chunk[64 * 1024];
      ssize_t received = read(stdout_fd, chunk, sizeof chunk);
      if (received > 0) {
        result.output.append(chunk, static_cast<size_t>(received));
      } else if (received == 0 || errno != EAGAIN) {
        close(stdout_fd);
        stdout_fd = -1;
      }
    }
    if (stdin_fd >= 0 && fds[1].revents != 0) {
      ssize_t written =
          write(stdin_fd, stdin_text.data() + written_bytes, stdin_text.size() - written_bytes);
      if (written > 0) written_bytes += static_cast<size_t>(written);
      if ((written < 0 && errno != EAGAIN) || written_bytes == stdin_text.size()) {
        close(stdin_fd);
        stdin_fd = -1;
      }
    }
  }
  if (stdin_fd >= 0) close(stdin_fd);
  if (stdout_fd >= 0) close(stdout_fd);
  Reap(pid, deadline, &result);
  return result;
}

ProgramResult RunRedisCli(const ServerProcess& server, const std::vector<std::string>& args,
                          std::string_view stdin_text, int timeout_ms) {
  std::string redis_cli = FindInPath("redis-cli");
  REQUIRE_MESSAGE(!redis_cli.empty(), "redis-cli is not in PATH");
  std::vector<std::string> argv = {redis_cli, "-h", "127.0.0.1", "-p",
                                   std::to_string(server.port())};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv, stdin_text, timeout_ms);
}

}  // namespace ringkv::blackbox
