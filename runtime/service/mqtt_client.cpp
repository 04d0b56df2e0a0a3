#include "runtime/service/mqtt_client.h"

#include <chrono>
#include <cstring>
#include <mutex>
#include <random>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "runtime/core/log.h"
#include "runtime/service/config.h"

namespace airt::service {
namespace {

std::once_flag g_lib_once;

struct PropertyList {
  mosquitto_property* p = nullptr;
  ~PropertyList() { mosquitto_property_free_all(&p); }
};

ErrorInfo mosq_error(const char* what, int rc) {
  return errorf(Error::kBackendFailure, "mqtt: %s: %s", what,
                rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc));
}

}  // namespace

MqttOptions mqtt_options_for(const ServiceConfig& c, const std::string& will_payload) {
  MqttOptions o;
  o.host = c.broker.host;
  o.port = c.broker.port;
  o.v5 = c.broker.protocol == "mqttv5";
  o.client_id = c.client_id_resolved();
  o.clean_start = false;
  o.session_expiry_s = c.broker.session_expiry_s;
  o.keepalive_s = c.broker.keepalive_s;
  o.tls = c.broker.tls;
  o.ca_file = c.broker.ca_file;
  o.ca_path = c.broker.ca_path;
  o.cert_file = c.broker.cert_file;
  o.key_file = c.broker.key_file;
  o.username = c.broker.username;
  o.password = c.broker.password;
  o.reconnect_min_ms = c.broker.reconnect_min_ms;
  o.reconnect_max_ms = c.broker.reconnect_max_ms;
  o.will_topic = c.topic(c.topics.status);
  o.will_payload = will_payload;
  o.will_retain = true;
  return o;
}

MqttClient::MqttClient(const MqttOptions& options, MqttHandler* handler) : options_(options), handler_(handler) {}

Result<std::unique_ptr<MqttClient>> MqttClient::create(const MqttOptions& options, MqttHandler* handler) {
  std::call_once(g_lib_once, [] { mosquitto_lib_init(); });
  if (options.client_id.empty())
    return errorf(Error::kRequestInvalid, "mqtt: a client id is required for a persistent session");
  std::unique_ptr<MqttClient> c(new MqttClient(options, handler));
  c->mosq_ = mosquitto_new(options.client_id.c_str(), options.clean_start, c.get());
  if (!c->mosq_) return errorf(Error::kResourceOutOfMemory, "mqtt: mosquitto_new failed: %s", std::strerror(errno));
  AIRT_TRY(c->configure());
  return c;
}

Status MqttClient::configure() {
  int rc = mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, options_.v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
  if (rc) return mosq_error("protocol version", rc);
  // We drive mosquitto_loop() from our own thread and publish from others.
  rc = mosquitto_threaded_set(mosq_, true);
  if (rc) return mosq_error("threaded mode", rc);
  if (!options_.username.empty()) {
    rc = mosquitto_username_pw_set(mosq_, options_.username.c_str(),
                                   options_.password.empty() ? nullptr : options_.password.c_str());
    if (rc) return mosq_error("username/password", rc);
  }
  if (options_.tls) {
    const char* ca_file = options_.ca_file.empty() ? nullptr : options_.ca_file.c_str();
    const char* ca_path = options_.ca_path.empty() ? nullptr : options_.ca_path.c_str();
    if (!ca_file && !ca_path) {
      rc = mosquitto_int_option(mosq_, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
      if (rc) return mosq_error("TLS system certificates", rc);
    }
    rc = mosquitto_tls_set(mosq_, ca_file, ca_path, options_.cert_file.empty() ? nullptr : options_.cert_file.c_str(),
                           options_.key_file.empty() ? nullptr : options_.key_file.c_str(), nullptr);
    if (rc) return mosq_error("TLS setup (check broker.ca_file, cert_file, key_file)", rc);
  }
  if (!options_.will_topic.empty()) {
    rc = mosquitto_will_set_v5(mosq_, options_.will_topic.c_str(), int(options_.will_payload.size()),
                               options_.will_payload.data(), 1, options_.will_retain, nullptr);
    if (rc) return mosq_error("Last Will", rc);
  }
  mosquitto_connect_v5_callback_set(mosq_, on_connect);
  mosquitto_disconnect_v5_callback_set(mosq_, on_disconnect);
  mosquitto_message_v5_callback_set(mosq_, on_message);
  mosquitto_publish_v5_callback_set(mosq_, on_publish);
  mosquitto_log_callback_set(mosq_, on_log);
  return ok_status();
}

MqttClient::~MqttClient() {
  stop(0);
  if (mosq_) mosquitto_destroy(mosq_);
}

void MqttClient::add_subscription(std::string topic, int qos) { subscriptions_.emplace_back(std::move(topic), qos); }

Status MqttClient::start() {
  if (thread_.joinable()) return errorf(Error::kInternal, "mqtt: already started");
  stop_ = false;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
  return ok_status();
}

void MqttClient::stop(int flush_ms) {
  if (!thread_.joinable()) return;
  if (flush_ms > 0 && connected_) wait_acked(flush_ms);
  stopping_ = true;
  if (connected_) {
    mosquitto_disconnect_v5(mosq_, MQTT_RC_NORMAL_DISCONNECTION, nullptr);
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(2), [this] { return !connected_.load(); });
  }
  stop_ = true;
  cv_.notify_all();
  thread_.join();
}

int64_t MqttClient::unacked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return int64_t(unacked_.size());
}

bool MqttClient::wait_acked(int timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return unacked_.empty(); });
}

Status MqttClient::publish(std::string_view topic, std::string_view payload, int qos, bool retain) {
  std::string t(topic);  // libmosquitto wants a NUL-terminated topic
  int mid = 0;
  // Held across the call so that the PUBACK (handled on the network thread) cannot be
  // seen before the id is recorded. on_publish runs without libmosquitto's message lock,
  // so the two threads take the locks in one order.
  std::lock_guard<std::mutex> lock(mu_);
  int rc = mosquitto_publish_v5(mosq_, &mid, t.c_str(), int(payload.size()), payload.data(), qos, retain, nullptr);
  // A QoS 1 message published while the connection is down is queued and sent after
  // the reconnect; libmosquitto still reports NO_CONN for it.
  if (rc == MOSQ_ERR_SUCCESS || (rc == MOSQ_ERR_NO_CONN && qos > 0)) {
    if (qos > 0) unacked_.insert(mid);
    return ok_status();
  }
  return mosq_error(("publish to " + t).c_str(), rc);
}

int64_t reconnect_delay_ms(const MqttOptions& o, int attempt) {
  double delay = o.reconnect_min_ms;
  for (int i = 0; i < attempt && delay < o.reconnect_max_ms; ++i) delay *= 2;
  if (delay > o.reconnect_max_ms) delay = o.reconnect_max_ms;
  thread_local std::minstd_rand rng(std::random_device{}());
  delay *= 0.8 + 0.4 * std::uniform_real_distribution<double>(0, 1)(rng);
  return int64_t(delay);
}

void MqttClient::sleep_backoff() {
  int64_t delay = reconnect_delay_ms(options_, attempt_++);
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(delay), [this] { return stop_.load(); });
}

void MqttClient::run() {
  PropertyList connect_props;
  if (options_.v5)
    mosquitto_property_add_int32(&connect_props.p, MQTT_PROP_SESSION_EXPIRY_INTERVAL, uint32_t(options_.session_expiry_s));
  bool have_socket = false;
  int failures_logged = 0;
  while (!stop_) {
    if (!have_socket) {
      if (stopping_) break;
      // connect_bind_v5 rather than reconnect: it also works when the very first attempt
      // failed before libmosquitto stored the host.
      int rc = mosquitto_connect_bind_v5(mosq_, options_.host.c_str(), options_.port, options_.keepalive_s, nullptr,
                                         connect_props.p);
      if (rc != MOSQ_ERR_SUCCESS) {
        // Log the first failures and then every 10th, so a long outage does not flood the journal.
        if (failures_logged < 3 || attempt_ % 10 == 0)
          AIRT_LOG_WARN("mqtt: cannot connect to %s:%d: %s (retrying)", options_.host.c_str(), options_.port,
                        rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc));
        ++failures_logged;
        sleep_backoff();
        continue;
      }
      have_socket = true;
    }
    int rc = mosquitto_loop(mosq_, 100, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
      have_socket = false;
      if (connected_.exchange(false)) handler_->on_mqtt_disconnected(mosquitto_strerror(rc));
      cv_.notify_all();
      if (stopping_ || stop_) break;
      if (rc == MOSQ_ERR_CONN_REFUSED || failures_logged < 3)
        AIRT_LOG_WARN("mqtt: connection to %s:%d lost: %s", options_.host.c_str(), options_.port,
                      mosquitto_strerror(rc));
      ++failures_logged;
      sleep_backoff();
    } else if (connected_) {
      failures_logged = 0;
    }
  }
}

void MqttClient::on_connect(struct mosquitto*, void* obj, int rc, int flags, const mosquitto_property*) {
  auto* self = static_cast<MqttClient*>(obj);
  if (rc != 0) {
    AIRT_LOG_ERROR("mqtt: broker %s:%d refused the connection: %s", self->options_.host.c_str(), self->options_.port,
                   self->options_.v5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc));
    return;
  }
  for (auto& [topic, qos] : self->subscriptions_) {
    int s = mosquitto_subscribe_v5(self->mosq_, nullptr, topic.c_str(), qos, 0, nullptr);
    if (s) AIRT_LOG_ERROR("mqtt: subscribe %s: %s", topic.c_str(), mosquitto_strerror(s));
  }
  self->attempt_ = 0;
  self->connects_++;
  self->connected_ = true;
  bool session_present = flags & 1;
  AIRT_LOG_INFO("mqtt: connected to %s:%d as %s (session %s)", self->options_.host.c_str(), self->options_.port,
                self->options_.client_id.c_str(), session_present ? "resumed" : "new");
  self->handler_->on_mqtt_connected(session_present);
}

void MqttClient::on_disconnect(struct mosquitto*, void* obj, int rc, const mosquitto_property*) {
  auto* self = static_cast<MqttClient*>(obj);
  if (self->connected_.exchange(false)) self->handler_->on_mqtt_disconnected(rc == 0 ? "requested" : mosquitto_strerror(rc));
  self->cv_.notify_all();
}

void MqttClient::on_message(struct mosquitto*, void* obj, const struct mosquitto_message* msg,
                            const mosquitto_property* props) {
  auto* self = static_cast<MqttClient*>(obj);
  MqttMessage m;
  m.topic = msg->topic ? msg->topic : "";
  if (msg->payloadlen > 0) m.payload.assign(static_cast<const char*>(msg->payload), size_t(msg->payloadlen));
  m.qos = msg->qos;
  m.retain = msg->retain;
  char* response_topic = nullptr;
  if (mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &response_topic, false)) {
    m.response_topic = response_topic;
    free(response_topic);
  }
  void* data = nullptr;
  uint16_t len = 0;
  if (mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &data, &len, false)) {
    m.correlation.assign(static_cast<const char*>(data), len);
    m.has_correlation = true;
    free(data);
  }
  self->handler_->on_mqtt_message(std::move(m));
}

void MqttClient::on_publish(struct mosquitto*, void* obj, int mid, int reason, const mosquitto_property*) {
  auto* self = static_cast<MqttClient*>(obj);
  if (reason >= 0x80)
    AIRT_LOG_WARN("mqtt: broker refused message %d: %s (check the broker's ACL)", mid, mosquitto_reason_string(reason));
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    self->unacked_.erase(mid);  // QoS 0 messages report here too
  }
  self->cv_.notify_all();
}

void MqttClient::on_log(struct mosquitto*, void*, int level, const char* text) {
  if (level & (MOSQ_LOG_ERR)) AIRT_LOG_WARN("mqtt: %s", text);
  else if (level & MOSQ_LOG_WARNING) AIRT_LOG_DEBUG("mqtt: %s", text);
}

}  // namespace airt::service
