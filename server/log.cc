#include "server/log.h"

#include <sys/time.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace ringkv::server {
namespace {
LogLevel g_level = LogLevel::kNotice;
}  // namespace

void SetLogLevel(LogLevel level) { g_level = level; }

LogLevel ParseLogLevel(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "verbose") return LogLevel::kVerbose;
  if (name == "warning") return LogLevel::kWarning;
  return LogLevel::kNotice;
}

bool LogEnabled(LogLevel level) { return level >= g_level; }

void Log(LogLevel level, const char* format, ...) {
  if (!LogEnabled(level)) return;
  char message[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof(message), format, args);
  va_end(args);

  timeval now;
  gettimeofday(&now, nullptr);
  tm local;
  localtime_r(&now.tv_sec, &local);
  char stamp[64];
  size_t length = strftime(stamp, sizeof(stamp), "%d %b %Y %H:%M:%S", &local);
  snprintf(stamp + length, sizeof(stamp) - length, ".%03d", static_cast<int>(now.tv_usec / 1000));
  static const char kMarks[] = {'.', '-', '*', '#'};
  fprintf(stderr, "%d:M %s %c %s\n", static_cast<int>(getpid()), stamp,
          kMarks[static_cast<int>(level)], message);
}

}  // namespace ringkv::server
