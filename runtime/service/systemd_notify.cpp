#include "runtime/service/systemd_notify.h"

#include <cstdlib>

#include <systemd/sd-daemon.h>

#include "runtime/core/log.h"

namespace airt::service {

SystemdNotifier::SystemdNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  active_ = socket && *socket;
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) watchdog_interval_ns_ = int64_t(usec) * 1000 / 2;
}

void SystemdNotifier::send(const std::string& state) {
  if (!active_) return;
  int rc = sd_notify(0, state.c_str());
  if (rc < 0) AIRT_LOG_WARN("sd_notify failed: error %d", -rc);
}

// STATUS= is one line: keep newlines out so a model name cannot inject other fields.
static std::string status_line(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

void SystemdNotifier::ready(std::string_view status) { send("READY=1\nSTATUS=" + status_line(status)); }

void SystemdNotifier::status(std::string_view status) { send("STATUS=" + status_line(status)); }

void SystemdNotifier::watchdog_tick(int64_t now_ns) {
  if (!active_ || watchdog_interval_ns_ <= 0) return;
  if (last_watchdog_ns_ && now_ns - last_watchdog_ns_ < watchdog_interval_ns_) return;
  last_watchdog_ns_ = now_ns;
  send("WATCHDOG=1");
}

void SystemdNotifier::reloading() { send("RELOADING=1"); }

void SystemdNotifier::stopping(std::string_view status) { send("STOPPING=1\nSTATUS=" + status_line(status)); }

void SystemdNotifier::extend_timeout(uint64_t usec) { send("EXTEND_TIMEOUT_USEC=" + std::to_string(usec)); }

}  // namespace airt::service
