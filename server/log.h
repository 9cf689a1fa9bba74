// server/log.h: the node's log, on stderr, in Redis's line format
// ("<pid>:M 22 Nov 2026 02:31:00.123 * message") so operators' tools that
// read Redis logs read ours.
#ifndef RINGKV_SERVER_LOG_H_
#define RINGKV_SERVER_LOG_H_

#include <string_view>

namespace ringkv::server {

enum class LogLevel { kDebug = 0, kVerbose = 1, kNotice = 2, kWarning = 3 };

void SetLogLevel(LogLevel level);
LogLevel ParseLogLevel(std::string_view name);  // Unknown names give kNotice.
bool LogEnabled(LogLevel level);

// printf-style; one line per call.
void Log(LogLevel level, const char* format, ...) __attribute__((format(printf, 2, 3)));

}  // namespace ringkv::server

#endif  // RINGKV_SERVER_LOG_H_
