// Logging for the daemon: journald with structured fields (REQUEST_ID, CLIENT, FINISH)
// when systemd connected our stderr to the journal, plain stderr otherwise.
#pragma once

#include <string>
#include <vector>

#include "runtime/core/log.h"

namespace airt::service {

// True when stderr is the journal stream systemd set up for us (JOURNAL_STREAM names
// stderr's device:inode), the documented way to tell.
bool journal_stream_is_stderr();

// Routes airt's log (runtime/core/log.h) to journald when journal_stream_is_stderr(),
// with PRIORITY and SYSLOG_IDENTIFIER. Returns whether journald is used.
bool log_use_journal_if_systemd();

// log_set_level() plus the same threshold for log_request()'s journald path.
void service_log_set_level(LogLevel level);

// Per-request fields; null or empty fields are left out.
struct RequestLogFields {
  const char* request_id = nullptr;
  const char* client = nullptr;  // the reply topic
  const char* finish = nullptr;  // finish reason or error code
};

// Logs one line about a request: journald fields when in use, else the fields appended to
// the message ("... request_id=abc client=app/1/reply finish=stop").
void log_request(LogLevel level, const RequestLogFields& fields, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

// The journald entry log_request() sends ("MESSAGE=...", "PRIORITY=6", ...); exposed for tests.
std::vector<std::string> journal_fields(LogLevel level, const std::string& message, const RequestLogFields& f);

}  // namespace airt::service
