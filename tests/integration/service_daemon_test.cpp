// The daemon lifecycle of `airt serve` (serve_main) in a child process, as systemd runs
// it: sd_notify messages on a test NOTIFY_SOCKET (READY, STATUS, WATCHDOG, RELOADING,
// STOPPING), SIGTERM drain, SIGHUP reload, the Last Will on a crash. The broker is a real
// mosquitto; the engine is ScriptedTestGenerator (a test double).
#include "tests/integration/service_fixture.h"

#include <poll.h>
#include <map>
#include <set>
#include <sys/un.h>

#include "runtime/service/serve_command.h"

namespace airt::service::test {
namespace {

class NotifyListener {
 public:
  NotifyListener() {
    path_ = airt::test::temp_dir() + "/notify";
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ~NotifyListener() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  void start() {
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 50) != 1) continue;
        char buf[4096];
        ssize_t n = recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) continue;
        std::lock_guard<std::mutex> lock(mu_);
        messages_.emplace_back(buf, size_t(n));
        cv_.notify_all();
      }
    });
  }
  const std::string& path() const { return path_; }
  // Waits until a message starting with `prefix` arrived (the `nth` one, from 1).
  bool wait(const std::string& prefix, int nth = 1, int timeout_ms = 20000) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return count_locked(prefix) >= nth; });
  }
  int count(const std::string& prefix) {
    std::lock_guard<std::mutex> lock(mu_);
    return count_locked(prefix);
  }
  std::string all() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string s;
    for (auto& m : messages_) s += "[" + m + "] ";
    return s;
  }

 private:
  int count_locked(const std::string& prefix) {
    int n = 0;
    for (auto& m : messages_) n += m.rfind(prefix, 0) == 0;
    return n;
  }
  std::string path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> messages_;
};

class ServiceDaemon : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.start()) << broker_.log(); }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  std::string write_config(int drain_ms, int cap, std::string path = "", int slots = 1, int keepalive_s = 30) {
    if (path.empty()) path = airt::test::temp_dir() + "/airt.json";
    if (journal_.empty()) journal_ = airt::test::temp_dir() + "/requests.journal";
    FILE* f = std::fopen(path.c_str(), "w");
    std::fprintf(f,
                 R"({"node": "d1", "slots": %d, "drain_timeout_ms": %d, "telemetry_interval_s": 0,
                     "broker": {"host": "127.0.0.1", "port": %d, "reconnect_min_ms": 100, "reconnect_max_ms": 500,
                                "keepalive_s": %d},
                     "limits": {"max_tokens_cap": %d, "default_max_tokens": 4}, "journal": {"path": "%s"}})",
                 slots, drain_ms, broker_.port(), keepalive_s, cap, journal_.c_str());
    std::fclose(f);
    return path;
  }

  // Forks `airt serve --config FILE -m test-model` with the test generator, before the
  // test starts any thread of its own.
  void spawn(const std::string& config, const std::string& notify_path) {
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      setenv("NOTIFY_SOCKET", notify_path.c_str(), 1);
      setenv("WATCHDOG_USEC", "400000", 1);
      setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
      std::vector<std::string> args = {"serve", "--config", config, "-m", "test-model"};
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      int rc = serve_main(int(args.size()), argv.data(), [](const ServiceConfig& c) -> Result<std::unique_ptr<Generator>> {
        return std::unique_ptr<Generator>(new ScriptedTestGenerator(c.slots, 20));
      });
      _exit(rc);
    }
  }

  // Exit status of the child, or -1 if it did not exit within `timeout_ms`.
  int wait_exit(int timeout_ms = 20000) {
    for (int i = 0; i < timeout_ms / 10; ++i) {
      int st;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

  MosquittoBroker broker_;
  pid_t pid_ = -1;
  std::string journal_;
};

TEST_F(ServiceDaemon, NotifiesAndCancelsInFlightRequestsWhenTheDrainTimesOut) {
  NotifyListener notify;
  spawn(write_config(/*drain_ms=*/300, /*cap=*/2000), notify.path());
  notify.start();
  ASSERT_TRUE(notify.wait("READY=1")) << notify.all();
  ASSERT_TRUE(wait_status(broker_.port(), "d1", "online"));
  TestClient app(broker_.port(), "daemon-app");
  ASSERT_TRUE(app.connect({"d/reply"}));
  ASSERT_TRUE(app.publish("airt/d1/request", R"({"id": "long", "prompt": "w", "max_tokens": 1500, "stream": true})", "d/reply"));
  ASSERT_TRUE(app.wait_for([](auto& m) { return m.size() >= 2; }));  // generating
  ASSERT_TRUE(notify.wait("WATCHDOG=1")) << notify.all();
  kill(pid_, SIGTERM);
  ASSERT_TRUE(app.wait_for([](auto& m) { return count_terminal(m) >= 1; }));
  EXPECT_EQ(wait_exit(), 0);
  Json last(app.received().back().payload);
  EXPECT_EQ(last.str("finish_reason"), "cancelled");
  EXPECT_FALSE(last.str("text").empty());
  EXPECT_TRUE(notify.wait("STOPPING=1")) << notify.all();
  EXPECT_GE(notify.count("STATUS="), 1) << notify.all();
  EXPECT_GE(notify.count("EXTEND_TIMEOUT_USEC="), 1) << notify.all();
  EXPECT_TRUE(wait_status(broker_.port(), "d1", "offline"));
}

TEST_F(ServiceDaemon, DrainLetsInFlightRequestsFinish) {
  NotifyListener notify;
  spawn(write_config(/*drain_ms=*/15000, /*cap=*/2000), notify.path());
  notify.start();
  ASSERT_TRUE(notify.wait("READY=1")) << notify.all();
  ASSERT_TRUE(wait_status(broker_.port(), "d1", "online"));
  TestClient app(broker_.port(), "daemon-app2");
  ASSERT_TRUE(app.connect({"d/reply"}));
  ASSERT_TRUE(app.publish("airt/d1/request", R"({"id": "short", "prompt": "a b", "max_tokens": 30, "stream": true})", "d/reply"));
  ASSERT_TRUE(app.wait_for([](auto& m) { return !m.empty(); }));
  kill(pid_, SIGTERM);
  ASSERT_TRUE(app.wait_for([](auto& m) { return count_terminal(m) >= 1; }));
  EXPECT_EQ(wait_exit(), 0);
  Json last(app.received().back().payload);
  EXPECT_EQ(last.str("finish_reason"), "length");
  EXPECT_EQ(last.str("text"), ScriptedTestGenerator::expected_text("a b", 30));
  EXPECT_GE(notify.count("STOPPING=1"), 1) << notify.all();
}

TEST_F(ServiceDaemon, SighupReloadsLiveLimits) {
  NotifyListener notify;
  std::string config = write_config(1000, /*cap=*/10);
  spawn(config, notify.path());
  notify.start();
  ASSERT_TRUE(notify.wait("READY=1")) << notify.all();
  ASSERT_TRUE(wait_status(broker_.port(), "d1", "online"));
  TestClient app(broker_.port(), "daemon-app3");
  ASSERT_TRUE(app.connect({"d/reply"}));
  const std::string req = R"({"id": "r", "prompt": "x", "max_tokens": 50})";
  ASSERT_TRUE(app.publish("airt/d1/request", req, "d/reply"));
  ASSERT_TRUE(app.wait_for([](auto& m) { return count_terminal(m) >= 1; }));
  EXPECT_EQ(Json(app.received()[0].payload).error_code(), "too_large");
  write_config(1000, /*cap=*/100, config);
  kill(pid_, SIGHUP);
  ASSERT_TRUE(notify.wait("RELOADING=1")) << notify.all();
  ASSERT_TRUE(notify.wait("READY=1", 2)) << notify.all();
  ASSERT_TRUE(app.publish("airt/d1/request", req, "d/reply"));
  ASSERT_TRUE(app.wait_for([](auto& m) { return count_terminal(m) >= 2; }));
  EXPECT_EQ(Json(app.received()[1].payload).str("finish_reason"), "length");
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0);
}

TEST_F(ServiceDaemon, CrashLeavesTheLastWillOffline) {
  NotifyListener notify;
  spawn(write_config(1000, 100), notify.path());
  notify.start();
  ASSERT_TRUE(notify.wait("READY=1")) << notify.all();
  ASSERT_TRUE(wait_status(broker_.port(), "d1", "online"));
  kill(pid_, SIGKILL);
  EXPECT_EQ(wait_exit(), 128 + SIGKILL);
  EXPECT_TRUE(wait_status(broker_.port(), "d1", "offline"));
}

// Replies survive a broker outage. The broker is killed (SIGKILL, persistence off: it
// loses every session and subscription) while four requests stream; airt finishes them
// while it is away and keeps the finals (QoS 1) until a broker acknowledges them.
// What MQTT guarantees here, and what the test holds it to: a message reaches a client
// that is subscribed when the broker takes it. A broker without persistence forgets
// the client's subscription too, so the client reconnects and subscribes again; airt is
// paused (SIGSTOP) until it has, so its re-sent finals find the subscription.
TEST_F(ServiceDaemon, FinalsSurviveABrokerKilledWhileRequestsStream) {
  NotifyListener notify;
  spawn(write_config(1000, 2000, "", /*slots=*/4), notify.path());
  notify.start();
  ASSERT_TRUE(notify.wait("READY=1")) << notify.all();
  ASSERT_TRUE(wait_status(broker_.port(), "d1", "online"));
  TestClient app(broker_.port(), "outage-app");
  ASSERT_TRUE(app.connect({"d/reply/#"}));
  constexpr int kTokens = 60;  // 20 ms a step: 1.2 s
  for (int i = 0; i < 4; ++i) {
    std::string id = "o" + std::to_string(i);
    ASSERT_TRUE(app.publish("airt/d1/request",
                            R"({"id":")" + id + R"(","prompt":")" + id + R"( w","max_tokens":)" + std::to_string(kTokens) +
                                R"(,"stream":true})",
                            "d/reply/" + id, id));
  }
  ASSERT_TRUE(app.wait_for([](auto& m) {
    std::set<std::string> streaming;
    for (auto& r : m) streaming.insert(r.topic);
    return streaming.size() == 4;
  })) << "all four stream";
  int port = broker_.port();
  broker_.kill_now();
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));  // airt finishes all four meanwhile
  kill(pid_, SIGSTOP);
  ASSERT_TRUE(broker_.start(port)) << broker_.log();
  for (int i = 0; i < 2000 && app.subacks() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_GE(app.subacks(), 2) << "the client subscribed again";
  kill(pid_, SIGCONT);
  ASSERT_TRUE(app.wait_for([](auto& m) { return count_terminal(m) >= 4; }, 30000)) << broker_.log();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::map<std::string, int> finals;
  int chunks = 0;
  for (auto& r : app.received()) {
    Json j(r.payload);
    if (!j.is_final()) {
      ++chunks;
      continue;
    }
    std::string id = j.str("id");
    finals[id]++;
    EXPECT_EQ(r.correlation, id);
    EXPECT_EQ(j.str("text"), ScriptedTestGenerator::expected_text(id + " w", kTokens)) << "the whole text";
  }
  ASSERT_EQ(finals.size(), 4u);
  for (auto& [id, n] : finals) EXPECT_EQ(n, 1) << id;
  EXPECT_LT(chunks, 4 * kTokens) << "chunks made while the broker was away were not queued (QoS 0)";
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0);
}

// A clean stop (SIGTERM) publishes airt's own retained offline status and then sends a
// DISCONNECT, so the broker discards the Last Will: the retained status is airt's
// ("reason": "stopped"), not the Will's ("connection lost"), also after a keepalive.
TEST_F(ServiceDaemon, CleanStopLeavesItsOwnOfflineStatusNotTheWill) {
  NotifyListener notify;
  spawn(write_config(1000, 100, "", 1, /*keepalive_s=*/5), notify.path());
  notify.start();
  ASSERT_TRUE(notify.wait("READY=1")) << notify.all();
  ASSERT_TRUE(wait_status(broker_.port(), "d1", "online"));
  std::this_thread::sleep_for(std::chrono::milliseconds(6000));  // past one keepalive interval
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // a Will would be published by now
  TestClient watcher(broker_.port(), "will-watch");
  ASSERT_TRUE(watcher.connect({"airt/d1/status"}));
  ASSERT_TRUE(watcher.wait_for([](auto& m) { return !m.empty(); }));
  Json status(watcher.received().back().payload);
  EXPECT_EQ(status.str("state"), "offline");
  EXPECT_EQ(status.str("reason"), "stopped") << watcher.received().back().payload;
  EXPECT_TRUE(watcher.received().back().retain);
}

TEST_F(ServiceDaemon, CrashWillSaysConnectionLost) {
  NotifyListener notify;
  spawn(write_config(1000, 100), notify.path());
  notify.start();
  ASSERT_TRUE(notify.wait("READY=1")) << notify.all();
  ASSERT_TRUE(wait_status(broker_.port(), "d1", "online"));
  kill(pid_, SIGKILL);
  EXPECT_EQ(wait_exit(), 128 + SIGKILL);
  TestClient watcher(broker_.port(), "will-watch2");
  ASSERT_TRUE(watcher.connect({"airt/d1/status"}));
  ASSERT_TRUE(watcher.wait_for([](auto& m) {
    for (auto& r : m)
      if (Json(r.payload).str("reason") == "connection lost") return true;
    return false;
  }));
}

TEST(ServiceCommand, UsageErrorsAndConfigCheck) {
  auto call = [](std::vector<std::string> args, int (*fn)(int, char**)) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return fn(int(args.size()), argv.data());
  };
  auto serve = [](int argc, char** argv) {
    return serve_main(argc, argv, [](const ServiceConfig&) -> Result<std::unique_ptr<Generator>> {
      return errorf(Error::kInternal, "not reached");
    });
  };
  EXPECT_EQ(call({"serve", "--slots", "0"}, serve), 2);
  EXPECT_EQ(call({"serve", "--bogus"}, serve), 2);
  EXPECT_EQ(call({"serve", "--broker", "ftp://x"}, serve), 2);
  EXPECT_EQ(call({"serve", "--broker", "localhost:1"}, serve), 2) << "no model given";
  EXPECT_EQ(call({"serve", "--help"}, serve), 0);
  std::string shipped = std::string(AIRT_SOURCE_DIR) + "/packaging/config/airt.json";
  EXPECT_EQ(call({"config", "check", shipped}, config_main), 0);
  std::string bad = airt::test::temp_dir() + "/bad.json";
  FILE* f = std::fopen(bad.c_str(), "w");
  std::fputs(R"({"limits": {"max_payload_bytes": "big"}})", f);
  std::fclose(f);
  EXPECT_EQ(call({"config", "check", bad}, config_main), 1);
  // Exactly one JSON value per file, no NUL inside a string.
  for (std::string text : {std::string(R"({"slots":2} {"slots":999})"), std::string(R"({"node": "a\u0000b"})"),
                           std::string("{\"node\": \"a") + '\0' + "b\"}"}) {
    std::ofstream(bad, std::ios::binary | std::ios::trunc) << text;
    EXPECT_EQ(call({"config", "check", bad}, config_main), 1) << text;
  }
  EXPECT_EQ(call({"config"}, config_main), 2);
}

}  // namespace
}  // namespace airt::service::test
