// A libmosquitto client for the service (requests, cancels, status, telemetry; replies
// go on the reply link, reply_link.h): MQTT v5 (or 3.1.1), QoS 0 and 1 with the
// message ids of unacknowledged QoS 1 messages tracked (for the flush on stop), a persistent
// session (clean start off, session expiry), a retained Last Will, TLS and
// username/password, and its own network thread that reconnects with exponential
// backoff forever (libmosquitto's loop_forever gives up on DNS and TLS errors, which a
// board that boots before its network must survive).
//
// Threads: callbacks of MqttHandler run on the network thread and must only hand work
// over (the server queues it); publish() may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "runtime/core/result.h"

struct mosquitto;
struct mosquitto_message;
struct mqtt5__property;

namespace airt::service {

struct ServiceConfig;

struct MqttOptions {
  std::string host = "localhost";
  int port = 1883;
  bool v5 = true;
  std::string client_id;     // required: a stable id keeps the persistent session
  bool clean_start = false;
  int64_t session_expiry_s = 3600;  // v5 only; 3.1.1 sessions never expire
  int keepalive_s = 30;
  bool tls = false;
  std::string ca_file, ca_path, cert_file, key_file;
  std::string username, password;
  int reconnect_min_ms = 500;
  int reconnect_max_ms = 30000;
  std::string will_topic;    // empty: no Last Will
  std::string will_payload;
  bool will_retain = true;
};

// Options for airt serve's connection, with the status topic's Last Will.
MqttOptions mqtt_options_for(const ServiceConfig& config, const std::string& will_payload);

// The wait before reconnect attempt `attempt` (0 first): exponential from
// reconnect_min_ms to reconnect_max_ms, +-20% jitter so a fleet of boards does not
// reconnect in lockstep after a broker restart.
int64_t reconnect_delay_ms(const MqttOptions& options, int attempt);

struct MqttMessage {
  std::string topic;
  std::string payload;
  std::string response_topic;  // v5 Response Topic; empty when absent
  std::string correlation;     // v5 Correlation Data (binary)
  bool has_correlation = false;
  int qos = 0;
  bool retain = false;
};

class MqttHandler {
 public:
  virtual ~MqttHandler() = default;
  virtual void on_mqtt_connected(bool session_present) = 0;
  virtual void on_mqtt_disconnected(const char* reason) = 0;
  virtual void on_mqtt_message(MqttMessage&& message) = 0;
};

class MqttClient {
 public:
  // `handler` must outlive the client.
  static Result<std::unique_ptr<MqttClient>> create(const MqttOptions& options, MqttHandler* handler);
  ~MqttClient();
  MqttClient(const MqttClient&) = delete;
  MqttClient& operator=(const MqttClient&) = delete;

  // Topics subscribed (again) after every connect; call before start().
  void add_subscription(std::string topic, int qos);
  // Starts the network thread, which connects and keeps reconnecting.
  Status start();
  // Sends a DISCONNECT (the Will is not published) after at most `flush_ms` waiting for
  // QoS 1 messages to be acknowledged, then stops the network thread.
  void stop(int flush_ms);

  // QoS 1 messages published while disconnected are kept by libmosquitto and sent after
  // reconnecting, and re-sent until acknowledged. QoS 0 messages are dropped while
  // disconnected.
  Status publish(std::string_view topic, std::string_view payload, int qos, bool retain);

  bool connected() const { return connected_.load(); }
  uint64_t connect_count() const { return connects_.load(); }
  // QoS 1 messages not yet acknowledged by the broker.
  int64_t unacked() const;
  // Waits until unacked() is 0; false after `timeout_ms`.
  bool wait_acked(int timeout_ms);

 private:
  MqttClient(const MqttOptions& options, MqttHandler* handler);
  Status configure();
  void run();
  void sleep_backoff();
  static void on_connect(struct mosquitto*, void* self, int rc, int flags, const ::mqtt5__property* props);
  static void on_disconnect(struct mosquitto*, void* self, int rc, const ::mqtt5__property* props);
  static void on_message(struct mosquitto*, void* self, const ::mosquitto_message* msg,
                         const ::mqtt5__property* props);
  static void on_publish(struct mosquitto*, void* self, int mid, int reason, const ::mqtt5__property* props);
  static void on_log(struct mosquitto*, void* self, int level, const char* text);

  MqttOptions options_;
  MqttHandler* handler_;
  struct mosquitto* mosq_ = nullptr;
  std::vector<std::pair<std::string, int>> subscriptions_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;  // wakes the backoff sleep and wait_acked
  std::atomic<bool> stop_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> connects_{0};
  std::atomic<int> attempt_{0};
  std::unordered_set<int> unacked_;  // QoS 1 message ids awaiting PUBACK; guarded by mu_
};

}  // namespace airt::service
