// Shared by the service integration tests (service_*_test.cpp): a real mosquitto broker
// on a free loopback port, a libmosquitto test client, and ScriptedTestGenerator — a
// deterministic test double standing in for the inference engine (never for the broker).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <cjson/cJSON.h>
#include <gtest/gtest.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "runtime/core/clock.h"
#include "runtime/service/config.h"
#include "runtime/service/generator.h"
#include "runtime/service/server.h"
#include "tests/support/test_support.h"

namespace airt::service::test {

inline int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

inline bool port_accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(uint16_t(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// Debian's /usr/sbin/mosquitto with a generated config. The broker dies with the test:
// the destructor kills it, and PR_SET_PDEATHSIG kills it if the test process crashes.
class MosquittoBroker {
 public:
  // `extra` is appended to the generated configuration (then anonymous access is off).
  explicit MosquittoBroker(bool persistence = false, std::string extra = "")
      : persistence_(persistence), extra_(std::move(extra)), dir_(airt::test::temp_dir()) {}
  ~MosquittoBroker() { kill_now(); }

  // Starts on `port` (0: a free one). Returns false if it does not accept within 10 s.
  bool start(int port = 0) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = port ? port : free_port();
      std::ofstream conf(dir_ + "/mosquitto.conf");
      conf << "listener " << port_ << " 127.0.0.1\n"
           << (extra_.empty() ? "allow_anonymous true\n" : extra_)
           << "persistence " << (persistence_ ? "true" : "false") << "\n"
           << "persistence_location " << dir_ << "/\n"
           << "max_queued_messages 100000\n"
           << "log_type error\nlog_type warning\nlog_type notice\n";
      // As root, mosquitto would drop to the "mosquitto" user, which cannot write our
      // temporary persistence directory.
      if (geteuid() == 0) conf << "user root\n";
      conf.close();
      pid_t parent = getpid();
      pid_ = fork();
      if (pid_ == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        std::string log = dir_ + "/mosquitto.log";
        FILE* f = std::fopen(log.c_str(), "a");
        if (f) {
          dup2(fileno(f), 1);
          dup2(fileno(f), 2);
        }
        execl("/usr/sbin/mosquitto", "mosquitto", "-c", (dir_ + "/mosquitto.conf").c_str(), static_cast<char*>(nullptr));
        _exit(127);
      }
      int64_t deadline = now_ns() + 10000000000LL;
      while (now_ns() < deadline) {
        int st;
        if (waitpid(pid_, &st, WNOHANG) == pid_) {
          pid_ = -1;
          break;  // exited (port taken?): try again
        }
        if (port_accepts(port_)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      kill_now();
      if (port) break;  // a fixed port cannot be changed
    }
    return false;
  }
  // SIGTERM: mosquitto saves its persistence file on the way out.
  void stop() { signal_and_wait(SIGTERM); }
  void kill_now() { signal_and_wait(SIGKILL); }
  int port() const { return port_; }
  std::string log() const { return airt::test::read_text(dir_ + "/mosquitto.log"); }

 private:
  void signal_and_wait(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    int st;
    for (int i = 0; i < 500; ++i) {  // at most 5 s, then SIGKILL
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &st, 0);
    pid_ = -1;
  }
  bool persistence_;
  std::string extra_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

struct Received {
  std::string topic, payload, correlation;
  bool has_correlation = false;
  bool retain = false;
};

// Test certificates in `dir` (openssl): a CA (ca.crt), a broker certificate signed by it
// for `server_san` ("IP:127.0.0.1", "DNS:localhost"; srv.crt, srv.key), a client
// certificate with CN board1 (cli.crt, cli.key) and a second, unrelated CA (other.crt).
inline bool make_test_certificates(const std::string& dir, const std::string& server_san) {
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string sign = " -CA ca.crt -CAkey ca.key -CAcreateserial -days 2";
  const std::string script =
      "cd " + dir + " && openssl req -x509 " + key + " -keyout ca.key -out ca.crt -days 2 -subj /CN=airt-test-ca" +
      " && openssl req -x509 " + key + " -keyout other.key -out other.crt -days 2 -subj /CN=another-ca" +
      " && openssl req " + key + " -keyout srv.key -out srv.csr -subj /CN=airt-test-broker" +
      " && printf 'subjectAltName=" + server_san + "\\n' > srv.ext" +
      " && openssl x509 -req -in srv.csr" + sign + " -out srv.crt -extfile srv.ext" +
      " && openssl req " + key + " -keyout cli.key -out cli.csr -subj /CN=board1" +
      " && openssl x509 -req -in cli.csr" + sign + " -out cli.crt";
  return std::system(("(" + script + ") >/dev/null 2>&1").c_str()) == 0;
}

// The messages of `all` on `topic`, in order.
inline std::vector<Received> replies_to(const std::vector<Received>& all, const std::string& topic) {
  std::vector<Received> out;
  for (auto& r : all)
    if (r.topic == topic) out.push_back(r);
  return out;
}

// A plain libmosquitto client, as an application on the network would use it.
class TestClient {
 public:
  TestClient(int port, const std::string& id, bool v5 = true, bool persistent = false) : port_(port), v5_(v5) {
    mosquitto_lib_init();
    mosq_ = mosquitto_new(id.c_str(), !persistent, this);
    mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    mosquitto_reconnect_delay_set(mosq_, 1, 2, false);
    mosquitto_connect_v5_callback_set(mosq_, [](mosquitto* m, void* obj, int rc, int, const mosquitto_property*) {
      auto* self = static_cast<TestClient*>(obj);
      if (rc) return;
      std::lock_guard<std::mutex> lock(self->mu_);
      for (auto& t : self->subs_) mosquitto_subscribe_v5(m, nullptr, t.c_str(), 1, 0, nullptr);
      self->connects_++;
      self->cv_.notify_all();
    });
    mosquitto_subscribe_v5_callback_set(mosq_, [](mosquitto*, void* obj, int, int, const int*, const mosquitto_property*) {
      auto* self = static_cast<TestClient*>(obj);
      std::lock_guard<std::mutex> lock(self->mu_);
      self->subacks_++;
      self->cv_.notify_all();
    });
    mosquitto_message_v5_callback_set(mosq_, [](mosquitto*, void* obj, const mosquitto_message* msg,
                                                const mosquitto_property* props) {
      auto* self = static_cast<TestClient*>(obj);
      Received r;
      r.topic = msg->topic;
      r.payload.assign(static_cast<const char*>(msg->payload), size_t(msg->payloadlen));
      r.retain = msg->retain;
      void* data = nullptr;
      uint16_t len = 0;
      if (mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &data, &len, false)) {
        r.correlation.assign(static_cast<const char*>(data), len);
        r.has_correlation = true;
        free(data);
      }
      std::lock_guard<std::mutex> lock(self->mu_);
      self->received_.push_back(std::move(r));
      self->cv_.notify_all();
    });
  }
  ~TestClient() {
    mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, true);
    mosquitto_destroy(mosq_);
  }

  void set_credentials(const std::string& user, const std::string& password) {
    mosquitto_username_pw_set(mosq_, user.c_str(), password.c_str());
  }

  void set_tls(const std::string& ca, const std::string& cert, const std::string& key) {
    mosquitto_tls_set(mosq_, ca.c_str(), nullptr, cert.c_str(), key.c_str(), nullptr);
  }

  // Connects, subscribes to `topics` (again after each reconnect), waits for the SUBACKs.
  bool connect(const std::vector<std::string>& topics, int64_t session_expiry_s = 0) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      subs_ = topics;
    }
    mosquitto_property* props = nullptr;
    if (v5_ && session_expiry_s) mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, uint32_t(session_expiry_s));
    int rc = mosquitto_connect_bind_v5(mosq_, "127.0.0.1", port_, 30, nullptr, props);
    mosquitto_property_free_all(&props);
    if (rc) return false;
    mosquitto_loop_start(mosq_);
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return subacks_ >= int(topics.size()); });
  }

  // v5: Response Topic + Correlation Data when `response_topic` is not empty.
  bool publish(const std::string& topic, const std::string& payload, const std::string& response_topic = "",
               const std::string& correlation = "", bool retain = false) {
    mosquitto_property* props = nullptr;
    if (v5_ && !response_topic.empty()) {
      mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, response_topic.c_str());
      if (!correlation.empty())
        mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, correlation.data(), uint16_t(correlation.size()));
    }
    int rc = mosquitto_publish_v5(mosq_, nullptr, topic.c_str(), int(payload.size()), payload.data(), 1, retain, props);
    mosquitto_property_free_all(&props);
    return rc == MOSQ_ERR_SUCCESS || rc == MOSQ_ERR_NO_CONN;
  }

  std::vector<Received> received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }
  // Waits (bounded) until `pred` holds for the messages received so far.
  bool wait_for(const std::function<bool(const std::vector<Received>&)>& pred, int timeout_ms = 20000) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return pred(received_); });
  }
  int connects() {
    std::lock_guard<std::mutex> lock(mu_);
    return connects_;
  }
  // SUBACKs received, over every (re)connect.
  int subacks() {
    std::lock_guard<std::mutex> lock(mu_);
    return subacks_;
  }

 private:
  int port_;
  bool v5_;
  mosquitto* mosq_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> subs_;
  std::vector<Received> received_;
  int subacks_ = 0;
  int connects_ = 0;
};

// A parsed JSON reply, freed on scope exit.
struct Json {
  explicit Json(const std::string& s) : j(cJSON_Parse(s.c_str())) {}
  ~Json() { cJSON_Delete(j); }
  Json(const Json&) = delete;
  cJSON* operator[](const char* k) const { return j ? cJSON_GetObjectItem(j, k) : nullptr; }
  std::string str(const char* k) const {
    cJSON* v = (*this)[k];
    return v && cJSON_IsString(v) ? v->valuestring : std::string();
  }
  bool is_final() const { return (*this)["finish_reason"] != nullptr; }
  bool is_error() const { return (*this)["error"] != nullptr; }
  std::string error_code() const {
    cJSON* e = (*this)["error"];
    cJSON* c = e ? cJSON_GetObjectItem(e, "code") : nullptr;
    return c && cJSON_IsString(c) ? c->valuestring : std::string();
  }
  std::string error_message() const {
    cJSON* e = (*this)["error"];
    cJSON* c = e ? cJSON_GetObjectItem(e, "message") : nullptr;
    return c && cJSON_IsString(c) ? c->valuestring : std::string();
  }
  cJSON* j;
};

// Final messages and errors (not stream chunks) among `msgs`.
inline int count_terminal(const std::vector<Received>& msgs) {
  int n = 0;
  for (const Received& m : msgs) {
    Json j(m.payload);
    n += j.is_final() || j.is_error();
  }
  return n;
}

// Test double for the inference engine: deterministic text (the prompt's words, cycled),
// one token per active slot per step, an optional sleep per step to make requests overlap.
// A prompt starting with "FAIL" fails after one token (exercises on_error).
class ScriptedTestGenerator final : public Generator {
 public:
  explicit ScriptedTestGenerator(int slots = 4, int step_sleep_ms = 0) : slots_(slots), sleep_ms_(step_sleep_ms) {}

  static std::string expected_text(const std::string& prompt, int max_tokens) {
    std::vector<std::string> words = split(prompt);
    std::string out;
    for (int i = 0; i < max_tokens; ++i) out += words[size_t(i) % words.size()] + " ";
    return out;
  }

  GeneratorInfo info() const override { return {"test-model", slots_, false}; }

  Status submit(RequestTicket ticket, const GenerateRequest& r) override {
    if (!r.messages.empty())
      return errorf(Error::kRequestInvalid, "messages: the model test-model has no chat template; send \"prompt\"");
    if (int(active_.size()) >= slots_) return errorf(Error::kResourceExhausted, "no free slot");
    Slot s;
    s.ticket = ticket;
    s.words = split(std::string(r.prompt));
    s.max_tokens = r.max_tokens;
    s.fail = r.prompt.rfind("FAIL", 0) == 0;
    s.prompt_tokens = int(s.words.size());
    active_.push_back(std::move(s));
    submitted_++;
    max_busy_ = std::max(max_busy_.load(), int(active_.size()));
    return ok_status();
  }

  void cancel(RequestTicket ticket) override {
    for (Slot& s : active_)
      if (s.ticket == ticket) s.cancelled = true;
  }

  bool step(GenerateSink& sink) override {
    if (sleep_ms_) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms_));
    std::vector<Slot> still;
    for (Slot& s : active_) {
      FinishInfo f;
      f.prompt_tokens = s.prompt_tokens;
      f.tier_name = "F32";
      if (s.cancelled) {
        f.reason = engine::FinishReason::kCancelled;
        f.completion_tokens = s.produced;
        sink.on_finish(s.ticket, f);
        continue;
      }
      if (s.fail && s.produced == 1) {
        sink.on_error(s.ticket, errorf(Error::kBackendFailure, "test double: scripted failure"));
        continue;
      }
      sink.on_token(s.ticket, s.words[size_t(s.produced) % s.words.size()] + " ");
      tokens_++;
      if (++s.produced >= s.max_tokens) {
        f.reason = engine::FinishReason::kLength;
        f.completion_tokens = s.produced;
        sink.on_finish(s.ticket, f);
        continue;
      }
      still.push_back(std::move(s));
    }
    active_ = std::move(still);
    return !active_.empty();
  }

  GeneratorStats stats() override {
    GeneratorStats s;
    s.slots_busy = int(active_.size());
    s.tier_name = "F32";
    return s;
  }

  int submitted() const { return submitted_; }
  int max_busy() const { return max_busy_; }

 private:
  struct Slot {
    RequestTicket ticket;
    std::vector<std::string> words;
    int max_tokens = 0, produced = 0, prompt_tokens = 0;
    bool cancelled = false, fail = false;
  };
  static std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> w;
    std::istringstream in(s);
    std::string x;
    while (in >> x) w.push_back(x);
    if (w.empty()) w.push_back("_");
    return w;
  }
  int slots_;
  int sleep_ms_;
  std::vector<Slot> active_;
  std::atomic<int> submitted_{0}, max_busy_{0}, tokens_{0};
};

// A config for tests: the broker on loopback, fast reconnects, a unique node.
inline ServiceConfig test_config(int port, const std::string& node) {
  ServiceConfig c;
  c.node = node;
  c.broker.host = "127.0.0.1";
  c.broker.port = port;
  c.broker.keepalive_s = 5;
  c.broker.reconnect_min_ms = 100;
  c.broker.reconnect_max_ms = 1000;
  c.telemetry_interval_s = 0;
  c.model.path = "test-model";
  c.limits.queue_depth = 64;
  c.journal.path = airt::test::temp_dir() + "/requests.journal";
  EXPECT_TRUE(config_finalize(c, "test").ok());
  return c;
}

// Runs Server::run() on a thread; stops and joins on destruction.
class ServerThread {
 public:
  ServerThread(const ServiceConfig& c, Generator& g) : server_(c, g, nullptr) {
    thread_ = std::thread([this] { status_ = server_.run(); });
  }
  ~ServerThread() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    server_.stop();
    thread_.join();
  }
  Server& server() { return server_; }
  const Status& status() const { return status_; }

 private:
  Server server_;
  Status status_;
  std::thread thread_;
};

// Waits until the node's retained status says `state` (then its subscriptions are active:
// the broker handles airt's SUBSCRIBE before the status PUBLISH that follows it).
inline bool wait_status(int port, const std::string& node, const std::string& state, int timeout_ms = 20000) {
  TestClient watcher(port, "watch-" + node + "-" + std::to_string(now_ns()));
  if (!watcher.connect({"airt/" + node + "/status"})) return false;
  return watcher.wait_for(
      [&](const std::vector<Received>& m) {
        for (const Received& r : m)
          if (Json(r.payload).str("state") == state) return true;
        return false;
      },
      timeout_ms);
}

}  // namespace airt::service::test
