#include "runtime/service/systemd_journal.h"

#include <sys/stat.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include <systemd/sd-journal.h>

namespace airt::service {
namespace {

std::atomic<bool> g_journal{false};
std::atomic<int> g_level{int(LogLevel::kInfo)};

int syslog_priority(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return 7;
    case LogLevel::kInfo: return 6;
    case LogLevel::kWarn: return 4;
    case LogLevel::kError: return 3;
  }
  return 6;
}

void send_fields(const std::vector<std::string>& fields) {
  std::vector<iovec> iov(fields.size());
  for (size_t i = 0; i < fields.size(); ++i) {
    iov[i].iov_base = const_cast<char*>(fields[i].data());
    iov[i].iov_len = fields[i].size();
  }
  sd_journal_sendv(iov.data(), int(iov.size()));
}

void journal_sink(LogLevel level, const char* message, void*) {
  send_fields(journal_fields(level, message, {}));
}

}  // namespace

bool journal_stream_is_stderr() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (!env) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st;
  if (fstat(2, &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

bool log_use_journal_if_systemd() {
  if (!journal_stream_is_stderr()) return false;
  g_journal = true;
  log_set_sink(journal_sink, nullptr);
  return true;
}

std::vector<std::string> journal_fields(LogLevel level, const std::string& message, const RequestLogFields& f) {
  std::vector<std::string> out;
  out.push_back("MESSAGE=" + message);
  out.push_back("PRIORITY=" + std::to_string(syslog_priority(level)));
  out.push_back("SYSLOG_IDENTIFIER=airt");
  if (f.request_id && *f.request_id) out.push_back(std::string("REQUEST_ID=") + f.request_id);
  if (f.client && *f.client) out.push_back(std::string("CLIENT=") + f.client);
  if (f.finish && *f.finish) out.push_back(std::string("FINISH=") + f.finish);
  return out;
}

void service_log_set_level(LogLevel level) {
  g_level = int(level);
  log_set_level(level);
}

void log_request(LogLevel level, const RequestLogFields& f, const char* fmt, ...) {
  if (int(level) < g_level) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (g_journal) {
    send_fields(journal_fields(level, buf, f));
    return;
  }
  std::string line = buf;
  if (f.request_id && *f.request_id) line += std::string(" request_id=") + f.request_id;
  if (f.client && *f.client) line += std::string(" client=") + f.client;
  if (f.finish && *f.finish) line += std::string(" finish=") + f.finish;
  logf(level, "%s", line.c_str());
}

}  // namespace airt::service
