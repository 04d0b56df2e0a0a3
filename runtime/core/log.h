// Minimal leveled logging to stderr. The service replaces the sink with journald.
#pragma once

#include <cstdarg>

namespace airt {

enum class LogLevel { kDebug = 0, kInfo, kWarn, kError };

using LogSink = void (*)(LogLevel level, const char* message, void* ctx);

void log_set_level(LogLevel level);
void log_set_sink(LogSink sink, void* ctx);
void logf(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace airt

#define AIRT_LOG_DEBUG(...) ::airt::logf(::airt::LogLevel::kDebug, __VA_ARGS__)
#define AIRT_LOG_INFO(...) ::airt::logf(::airt::LogLevel::kInfo, __VA_ARGS__)
#define AIRT_LOG_WARN(...) ::airt::logf(::airt::LogLevel::kWarn, __VA_ARGS__)
#define AIRT_LOG_ERROR(...) ::airt::logf(::airt::LogLevel::kError, __VA_ARGS__)
