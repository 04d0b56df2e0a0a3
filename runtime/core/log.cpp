#include "runtime/core/log.h"

#include <atomic>
#include <cstdio>

namespace airt {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
LogSink g_sink = nullptr;
void* g_sink_ctx = nullptr;

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warning";
    case LogLevel::kError: return "error";
  }
  return "?";
}

}  // namespace

void log_set_level(LogLevel level) { g_level = static_cast<int>(level); }

void log_set_sink(LogSink sink, void* ctx) {
  g_sink = sink;
  g_sink_ctx = ctx;
}

void logf(LogLevel level, const char* fmt, ...) {
  if (static_cast<int>(level) < g_level) return;
  char buf[1024];  // fixed: logging must not allocate
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (g_sink) g_sink(level, buf, g_sink_ctx);
  else std::fprintf(stderr, "airt: %s: %s\n", level_name(level), buf);
}

}  // namespace airt
