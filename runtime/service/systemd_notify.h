// sd_notify(3) for Type=notify: READY=1 once the model is loaded and the broker
// connected, STATUS= lines, WATCHDOG=1 from the serving loop, RELOADING=1 on SIGHUP,
// STOPPING=1 and EXTEND_TIMEOUT_USEC= during the drain. Without NOTIFY_SOCKET (not run by
// systemd) every call does nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace airt::service {

class SystemdNotifier {
 public:
  // Reads NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID (sd_watchdog_enabled).
  SystemdNotifier();

  bool active() const { return active_; }
  // How often to send WATCHDOG=1: half of WatchdogSec, 0 when the watchdog is off.
  int64_t watchdog_interval_ns() const { return watchdog_interval_ns_; }

  void ready(std::string_view status);
  void status(std::string_view status);
  // Sends WATCHDOG=1 when at least watchdog_interval_ns() passed since the last one;
  // cheap to call every loop iteration.
  void watchdog_tick(int64_t now_ns);
  void reloading();
  void stopping(std::string_view status);
  // Asks systemd for `usec` more time to finish starting or stopping.
  void extend_timeout(uint64_t usec);

 private:
  void send(const std::string& state);
  bool active_ = false;
  int64_t watchdog_interval_ns_ = 0;
  int64_t last_watchdog_ns_ = 0;
};

}  // namespace airt::service
