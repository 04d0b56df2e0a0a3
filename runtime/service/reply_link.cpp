#include "runtime/service/reply_link.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "runtime/core/clock.h"
#include "runtime/core/log.h"
#include "runtime/service/mqtt_wire.h"
#include "runtime/service/net_socket.h"

namespace airt::service {
namespace {

constexpr int kConnectTimeoutMs = 10000;

int64_t mono_ms() { return now_ns() / 1000000; }

}  // namespace

MqttOptions reply_link_options(const MqttOptions& service) {
  MqttOptions o = service;
  o.client_id += "-replies";
  o.will_topic.clear();
  o.will_payload.clear();
  return o;
}

ReplyLink::ReplyLink(const MqttOptions& options, ReplyLinkHandler* handler)
    : options_(options), handler_(handler), in_use_(65536, false) {
  in_use_[0] = true;  // 0 is not a packet id
}

Result<std::unique_ptr<ReplyLink>> ReplyLink::create(const MqttOptions& options, ReplyLinkHandler* handler) {
  if (options.client_id.empty())
    return errorf(Error::kRequestInvalid, "mqtt: the reply link needs a client id for its persistent session");
  std::unique_ptr<ReplyLink> l(new ReplyLink(options, handler));
  l->wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (l->wake_fd_ < 0) return errorf(Error::kResourceExhausted, "mqtt: reply link: cannot create an eventfd");
  return l;
}

ReplyLink::~ReplyLink() {
  stop(0);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void ReplyLink::wake() {
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

ReplyLink::Final ReplyLink::make_final(uint16_t pid, uint64_t token, std::string topic, std::string payload,
                                      const std::string* correlation) {
  Final f;
  f.pid = pid;
  f.token = token;
  f.topic = std::move(topic);
  f.payload = std::move(payload);
  f.has_correlation = correlation != nullptr;
  if (correlation) f.correlation = *correlation;
  return f;
}

uint16_t ReplyLink::take_pid() {
  for (int i = 0; i < 65535; ++i) {
    uint16_t p = next_pid_;
    next_pid_ = uint16_t(next_pid_ == 65535 ? 1 : next_pid_ + 1);
    if (!in_use_[p]) {
      in_use_[p] = true;
      return p;
    }
  }
  return 0;
}

void ReplyLink::resume(uint64_t token, uint16_t pid, bool released, std::string topic, std::string payload,
                       const std::string* correlation) {
  std::lock_guard<std::mutex> lock(mu_);
  Final f = make_final(pid, token, std::move(topic), std::move(payload), correlation);
  if (pid != 0 && !in_use_[pid]) {
    in_use_[pid] = true;
    f.state = released ? State::kReleased : State::kPublished;
    f.dup = true;
  } else {
    // No id of its own to resume under (none recorded, or two records with one id): a new
    // message under a new id.
    f.pid = take_pid();
    if (f.pid == 0) {
      AIRT_LOG_ERROR("mqtt: a reply to %s cannot be resumed: all 65535 packet ids are in use", f.topic.c_str());
      return;
    }
  }
  finals_.push_back(std::move(f));
}

uint16_t ReplyLink::reserve() {
  std::lock_guard<std::mutex> lock(mu_);
  return take_pid();
}

void ReplyLink::send_final(uint16_t pid, uint64_t token, std::string topic, std::string payload,
                           const std::string* correlation) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    finals_.push_back(make_final(pid, token, std::move(topic), std::move(payload), correlation));
  }
  wake();
}

void ReplyLink::send_chunk(std::string_view topic, std::string_view payload, const std::string* correlation) {
  if (!connected_) return;
  std::string packet;
  wire::encode_publish(packet, options_.v5, topic, payload, 0, 0, false, correlation);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (chunks_.size() >= kMaxChunks) return;
    chunks_.push_back(std::move(packet));
  }
  wake();
}

size_t ReplyLink::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return finals_.size();
}

bool ReplyLink::wait_done(int timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return finals_.empty(); });
}

Status ReplyLink::start() {
  if (thread_.joinable()) return errorf(Error::kInternal, "mqtt: the reply link is already started");
  stop_ = false;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
  return ok_status();
}

void ReplyLink::stop(int flush_ms) {
  if (!thread_.joinable()) return;
  if (flush_ms > 0 && connected_) wait_done(flush_ms);
  stopping_ = true;
  wake();
  cv_.notify_all();
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(2), [this] { return !connected_.load(); });
  }
  stop_ = true;
  wake();
  cv_.notify_all();
  thread_.join();
}

ReplyLink::Final* ReplyLink::find(uint16_t pid) {
  for (Final& f : finals_)
    if (f.pid == pid && f.state != State::kQueued) return &f;
  return nullptr;
}

void ReplyLink::sleep_backoff() {
  int64_t delay = reconnect_delay_ms(options_, attempt_++);
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(delay), [this] { return stop_.load() || stopping_.load(); });
}

Status ReplyLink::handshake(NetSocket& sock, bool* session_present, uint16_t* receive_max, uint32_t* max_packet) {
  wire::ConnectFields f;
  f.v5 = options_.v5;
  f.client_id = options_.client_id;
  f.username = options_.username;
  f.password = options_.password;
  f.clean_start = false;
  f.keepalive_s = uint16_t(std::clamp(options_.keepalive_s, 0, 65535));
  f.session_expiry_s = uint32_t(std::max<int64_t>(0, options_.session_expiry_s));
  std::string out;
  wire::encode_connect(out, f);
  AIRT_TRY(sock.write_all(out));
  wire::PacketReader reader;
  wire::Packet p;
  char buf[4096];
  int64_t deadline = mono_ms() + kConnectTimeoutMs;
  for (;;) {
    Result<bool> got = reader.next(p);
    if (!got.ok()) return got.error();
    if (got.value()) break;
    pollfd pfd{sock.fd(), POLLIN, 0};
    int left = int(std::max<int64_t>(0, deadline - mono_ms()));
    if (!sock.pending() && ::poll(&pfd, 1, left) != 1)
      return errorf(Error::kBackendFailure, "mqtt: %s:%d sent no CONNACK within %d s", options_.host.c_str(),
                    options_.port, kConnectTimeoutMs / 1000);
    size_t n = AIRT_TRY(sock.read_some(buf, sizeof buf));
    if (n == 0) return errorf(Error::kBackendFailure, "mqtt: %s:%d closed the connection", options_.host.c_str(), options_.port);
    reader.feed(buf, n);
  }
  wire::Connack a = AIRT_TRY(wire::parse_connack(p, options_.v5));
  if (a.code != 0)
    return errorf(Error::kBackendFailure, "mqtt: broker %s:%d refused the reply link (%s): %s", options_.host.c_str(),
                  options_.port, options_.client_id.c_str(), wire::connack_reason(a.code, options_.v5));
  *session_present = a.session_present;
  *receive_max = a.receive_max;
  *max_packet = a.max_packet;
  return ok_status();
}

// Writes the chunks waiting, then each final whose turn has come: queued ones while
// fewer than Receive Maximum are in flight, and after a reconnect every one in flight
// again (PUBLISH with DUP, or PUBREL). Finals the broker could never take (over its
// maximum packet size) are dropped with a log line and returned in `refused`.
Status ReplyLink::write_due(NetSocket& sock, uint32_t max_packet, std::vector<uint64_t>* refused, bool* wrote) {
  std::string out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!chunks_.empty()) {
      if (!max_packet || chunks_.front().size() <= max_packet) out += chunks_.front();
      chunks_.pop_front();
    }
    size_t in_flight = 0;
    for (const Final& f : finals_) in_flight += f.state != State::kQueued;
    for (auto it = finals_.begin(); it != finals_.end();) {
      Final& f = *it;
      if (f.state == State::kQueued) {
        if (in_flight >= receive_max_) {
          ++it;
          continue;
        }
        f.state = State::kPublished;
        f.on_wire = false;
        ++in_flight;
      }
      if (!f.on_wire) {
        size_t before = out.size();
        if (f.state == State::kPublished)
          wire::encode_publish(out, options_.v5, f.topic, f.payload, 2, f.pid, f.dup, f.has_correlation ? &f.correlation : nullptr);
        else
          wire::encode_ack(out, wire::kPubrel, f.pid);
        if (max_packet && out.size() - before > max_packet) {
          AIRT_LOG_ERROR("mqtt: a %zu-byte reply to %s is over the broker's maximum packet size (%u bytes); "
                         "not sent (raise the broker's max_packet_size or lower limits.max_tokens_cap)",
                         out.size() - before, f.topic.c_str(), max_packet);
          out.resize(before);
          refused->push_back(f.token);
          in_use_[f.pid] = false;
          it = finals_.erase(it);
          continue;
        }
        f.on_wire = true;
        f.dup = true;
      }
      ++it;
    }
  }
  if (!refused->empty()) cv_.notify_all();
  *wrote = !out.empty();
  if (out.empty()) return ok_status();
  return sock.write_all(out);
}

// One connection: writes what is due, reads acknowledgements, pings. Returns when the
// connection is lost (false) or the link stops (true, after a DISCONNECT).
bool ReplyLink::session(NetSocket& sock, uint32_t max_packet) {
  wire::PacketReader reader;
  const int64_t keepalive_ms = int64_t(options_.keepalive_s) * 1000;
  int64_t last_write = mono_ms(), ping_sent = 0;
  char buf[4096];
  auto fail = [&](const ErrorInfo& e) {
    AIRT_LOG_WARN("mqtt: reply link to %s:%d lost: %s", options_.host.c_str(), options_.port, e.message.c_str());
    return false;
  };
  for (;;) {
    if (stop_ || stopping_) {
      std::string out;
      wire::encode_disconnect(out);
      (void)sock.write_all(out);
      return true;
    }
    std::vector<uint64_t> refused;
    bool wrote = false;
    Status st = write_due(sock, max_packet, &refused, &wrote);
    for (uint64_t t : refused) handler_->on_reply_done(t);
    if (!st.ok()) return fail(st.error());
    int64_t now = mono_ms();
    if (wrote) last_write = now;
    if (keepalive_ms > 0) {
      if (ping_sent && now - ping_sent > keepalive_ms)
        return fail(errorf(Error::kBackendFailure, "no PINGRESP within the keepalive (%d s)", options_.keepalive_s));
      if (!ping_sent && now - last_write >= keepalive_ms) {
        std::string out;
        wire::encode_pingreq(out);
        if (Status w = sock.write_all(out); !w.ok()) return fail(w.error());
        ping_sent = last_write = now;
      }
    }
    pollfd pfd[2] = {{sock.fd(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int timeout = 1000;
    if (keepalive_ms > 0) timeout = int(std::clamp<int64_t>(last_write + keepalive_ms - now, 10, 1000));
    if (!sock.pending() && ::poll(pfd, 2, timeout) < 0 && errno != EINTR)
      return fail(errorf(Error::kBackendFailure, "poll failed"));
    if (pfd[1].revents & POLLIN) {
      uint64_t v;
      (void)!::read(wake_fd_, &v, sizeof v);
    }
    if (!sock.pending() && !(pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    Result<size_t> n = sock.read_some(buf, sizeof buf);
    if (!n.ok()) return fail(n.error());
    if (n.value() == 0) return fail(errorf(Error::kBackendFailure, "the broker closed the connection"));
    reader.feed(buf, n.value());
    for (;;) {
      wire::Packet p;
      Result<bool> got = reader.next(p);
      if (!got.ok()) return fail(got.error());
      if (!got.value()) break;
      if (p.type == wire::kPingresp) {
        ping_sent = 0;
        continue;
      }
      if (p.type == wire::kDisconnect) {
        return fail(errorf(Error::kBackendFailure, "the broker disconnected it (reason 0x%02x)",
                           p.body.empty() ? 0 : unsigned(uint8_t(p.body[0]))));
      }
      if (p.type != wire::kPubrec && p.type != wire::kPubcomp) continue;  // nothing else is ours to answer
      Result<wire::Ack> ack = wire::parse_ack(p);
      if (!ack.ok()) return fail(ack.error());
      uint16_t pid = ack.value().pid;
      uint8_t reason = ack.value().reason;
      uint64_t token = 0;
      bool known = false, release = false, finished = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        Final* f = find(pid);
        known = f != nullptr;
        if (f) token = f->token;
        if (f && p.type == wire::kPubrec && reason >= 0x80) {
          AIRT_LOG_WARN("mqtt: the broker refused the reply to %s (reason 0x%02x; check its ACL)", f->topic.c_str(),
                        unsigned(reason));
          finished = true;
        } else if (f && p.type == wire::kPubrec) {
          release = f->state == State::kPublished;
          if (!release) f->on_wire = false;  // a repeated PUBREC: the PUBREL goes again
        } else if (f && p.type == wire::kPubcomp) {
          finished = true;
        }
        if (finished) {
          in_use_[pid] = false;
          for (auto it = finals_.begin(); it != finals_.end(); ++it)
            if (&*it == f) {
              finals_.erase(it);
              break;
            }
        }
      }
      if (!known) continue;  // an id this run does not hold (a PUBCOMP after a repeated PUBREL)
      if (release) {
        // Journaled before the PUBREL leaves: after a crash from here on, the restart
        // sends PUBREL, never the message again.
        handler_->on_reply_released(token);
        std::lock_guard<std::mutex> lock(mu_);
        if (Final* f = find(pid)) {
          f->state = State::kReleased;
          f->on_wire = false;
        }
      }
      if (finished) {
        handler_->on_reply_done(token);
        cv_.notify_all();
      }
    }
  }
}

void ReplyLink::run() {
  int failures_logged = 0;
  while (!stop_ && !stopping_) {
    Result<std::unique_ptr<NetSocket>> sock = NetSocket::connect(options_, kConnectTimeoutMs);
    bool session_present = false;
    uint16_t receive_max = 65535;
    uint32_t max_packet = 0;
    Status st = sock.ok() ? handshake(*sock.value(), &session_present, &receive_max, &max_packet)
                          : Status(sock.error());
    if (!st.ok()) {
      if (failures_logged < 3 || attempt_ % 10 == 0) AIRT_LOG_WARN("%s (retrying)", st.error().message.c_str());
      ++failures_logged;
      sleep_backoff();
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      receive_max_ = receive_max;
      for (Final& f : finals_) {
        f.on_wire = false;
        if (!session_present && f.state != State::kQueued) {
          // The broker forgot this link's session (it restarted without persistence):
          // what it held is gone, so the final goes again as a new message.
          if (f.state == State::kReleased)
            AIRT_LOG_INFO("mqtt: the broker lost its session; sending a reply to %s again (it may have been "
                          "delivered just before)", f.topic.c_str());
          f.state = State::kPublished;
          f.dup = false;
        }
      }
    }
    attempt_ = 0;
    failures_logged = 0;
    connects_++;
    connected_ = true;
    AIRT_LOG_INFO("mqtt: reply link connected to %s:%d as %s (session %s)", options_.host.c_str(), options_.port,
                  options_.client_id.c_str(), session_present ? "resumed" : "new");
    bool stopped = session(*sock.value(), max_packet);
    {
      std::lock_guard<std::mutex> lock(mu_);
      connected_ = false;
      chunks_.clear();
    }
    cv_.notify_all();
    if (stopped) break;
    sleep_backoff();
  }
  connected_ = false;
  cv_.notify_all();
}

}  // namespace airt::service
