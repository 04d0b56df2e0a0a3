#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "runtime/core/clock.h"
#include "runtime/service/systemd_journal.h"
#include "runtime/service/systemd_notify.h"
#include "tests/support/test_support.h"

namespace airt::service {
namespace {

// A NOTIFY_SOCKET like systemd's: an AF_UNIX datagram socket we read from.
class NotifySocket {
 public:
  NotifySocket() {
    path_ = test::temp_dir() + "/notify";
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  ~NotifySocket() {
    unsetenv("NOTIFY_SOCKET");
    close(fd_);
  }
  // The next datagram, or "" after `timeout_ms`.
  std::string next(int timeout_ms = 1000) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return {};
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, size_t(n)) : std::string();
  }

 private:
  std::string path_;
  int fd_ = -1;
};

TEST(ServiceSystemd, InactiveWithoutNotifySocket) {
  unsetenv("NOTIFY_SOCKET");
  SystemdNotifier n;
  EXPECT_FALSE(n.active());
  n.ready("x");  // does nothing, must not fail
}

TEST(ServiceSystemd, SendsReadyStatusWatchdogStopping) {
  NotifySocket sock;
  setenv("WATCHDOG_USEC", "200000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  SystemdNotifier n;
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  ASSERT_TRUE(n.active());
  EXPECT_EQ(n.watchdog_interval_ns(), 100000000);
  n.ready("serving tiny");
  EXPECT_EQ(sock.next(), "READY=1\nSTATUS=serving tiny");
  n.status("two\nlines");
  EXPECT_EQ(sock.next(), "STATUS=two lines");
  int64_t t = now_ns();
  n.watchdog_tick(t);
  EXPECT_EQ(sock.next(), "WATCHDOG=1");
  n.watchdog_tick(t + 1000);  // too soon: nothing
  n.watchdog_tick(t + 100000000);
  EXPECT_EQ(sock.next(), "WATCHDOG=1");
  n.reloading();
  EXPECT_EQ(sock.next(), "RELOADING=1");
  n.extend_timeout(5000000);
  EXPECT_EQ(sock.next(), "EXTEND_TIMEOUT_USEC=5000000");
  n.stopping("draining 2 requests");
  EXPECT_EQ(sock.next(), "STOPPING=1\nSTATUS=draining 2 requests");
  EXPECT_EQ(sock.next(50), "");
}

TEST(ServiceSystemd, WatchdogOffForAnotherPid) {
  setenv("WATCHDOG_USEC", "200000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid() + 1).c_str(), 1);
  SystemdNotifier n;
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  EXPECT_EQ(n.watchdog_interval_ns(), 0);
}

TEST(ServiceSystemd, JournalStreamDetection) {
  unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(journal_stream_is_stderr());
  struct stat st;
  ASSERT_EQ(fstat(2, &st), 0);
  std::string v = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  setenv("JOURNAL_STREAM", v.c_str(), 1);
  EXPECT_TRUE(journal_stream_is_stderr());
  setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1)).c_str(), 1);
  EXPECT_FALSE(journal_stream_is_stderr());
  unsetenv("JOURNAL_STREAM");
}

TEST(ServiceSystemd, JournalFieldsCarryRequestData) {
  auto f = journal_fields(LogLevel::kWarn, "request done", {"r-1", "app/1/reply", "stop"});
  ASSERT_EQ(f.size(), 6u);
  EXPECT_EQ(f[0], "MESSAGE=request done");
  EXPECT_EQ(f[1], "PRIORITY=4");
  EXPECT_EQ(f[2], "SYSLOG_IDENTIFIER=airt");
  EXPECT_EQ(f[3], "REQUEST_ID=r-1");
  EXPECT_EQ(f[4], "CLIENT=app/1/reply");
  EXPECT_EQ(f[5], "FINISH=stop");
  EXPECT_EQ(journal_fields(LogLevel::kInfo, "m", {}).size(), 3u);
}

}  // namespace
}  // namespace airt::service
