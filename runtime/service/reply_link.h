// The reply link: airt serve's second MQTT connection, which carries everything sent to
// a client's reply topic — stream chunks at QoS 0 and final messages and errors at QoS 2
// — so that each final reaches the broker exactly once, also across a crash of airt.
//
// Why a connection of our own: exactly once needs the QoS 2 state of each final (which
// packet id it went under, whether the broker's PUBREC came and the PUBREL went) to
// outlive the process, and libmosquitto keeps that state in memory only. Here the packet
// id is reserved first, the final is written to the request journal with it, then the
// PUBLISH goes; the PUBREC is journaled (on_reply_released) before the PUBREL goes; the
// PUBCOMP marks it done. After a restart, resume() puts each final back in its state: a
// PUBLISH (DUP, same id, same bytes — the broker keeps one) or a PUBREL (the broker
// delivers it if it had not, and answers PUBCOMP either way). The broker keeps that
// state in the link's persistent session (client id `<client id>-replies`, clean start
// off), so exactly once holds while the broker keeps its sessions; a broker that
// restarts without persistence forgets them, and then every final not completed is sent
// again as a new message (at least once: it may have been delivered just before).
//
// Chunks and finals of one request share the connection, so a client sees its chunks
// before the final. Bounded: at most the broker's Receive Maximum finals are in flight,
// the rest wait in order; the server bounds how many wait (pending()). Chunks are
// dropped while disconnected.
//
// Threads: send_*() and reserve() from any thread; the handler is called on the link's
// thread, which must not be blocked for long (a journal write is fine).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "runtime/core/result.h"
#include "runtime/service/mqtt_client.h"

namespace airt::service {

class NetSocket;

class ReplyLinkHandler {
 public:
  virtual ~ReplyLinkHandler() = default;
  // The broker holds the final `token` (PUBREC): record it before the PUBREL goes.
  virtual void on_reply_released(uint64_t token) = 0;
  // The final `token` is delivered (PUBCOMP), or refused by the broker (logged).
  virtual void on_reply_done(uint64_t token) = 0;
};

// The link's options: the service connection's, with the client id `<id>-replies` and no Will.
MqttOptions reply_link_options(const MqttOptions& service);

class ReplyLink {
 public:
  // `handler` must outlive the link.
  static Result<std::unique_ptr<ReplyLink>> create(const MqttOptions& options, ReplyLinkHandler* handler);
  ~ReplyLink();
  ReplyLink(const ReplyLink&) = delete;
  ReplyLink& operator=(const ReplyLink&) = delete;

  // A final a previous run handed to the broker under `pid`: sent again as a DUP PUBLISH,
  // or (`released`) as a PUBREL. Call before start().
  void resume(uint64_t token, uint16_t pid, bool released, std::string topic, std::string payload,
              const std::string* correlation);
  // Starts the link's thread, which connects and keeps reconnecting with backoff.
  Status start();
  // Waits at most `flush_ms` for the finals in flight, sends DISCONNECT, stops the thread.
  void stop(int flush_ms);

  // A packet id for the next final (0: all 65535 are in use).
  uint16_t reserve();
  // Sends a final under the id reserve() gave; `token` comes back in the handler.
  void send_final(uint16_t pid, uint64_t token, std::string topic, std::string payload,
                  const std::string* correlation);
  // A QoS 0 message on the link; dropped when the link is down or `kMaxChunks` wait.
  void send_chunk(std::string_view topic, std::string_view payload, const std::string* correlation);

  bool connected() const { return connected_.load(); }
  uint64_t connect_count() const { return connects_.load(); }
  // Finals not yet completed.
  size_t pending() const;
  // Waits until pending() is 0; false after `timeout_ms`.
  bool wait_done(int timeout_ms);

  static constexpr size_t kMaxChunks = 1024;

 private:
  enum class State : uint8_t { kQueued, kPublished, kReleased };
  struct Final {
    uint16_t pid = 0;
    uint64_t token = 0;
    State state = State::kQueued;
    bool on_wire = false;  // sent on this connection
    bool dup = false;      // the broker may have it already
    std::string topic, payload, correlation;
    bool has_correlation = false;
  };

  ReplyLink(const MqttOptions& options, ReplyLinkHandler* handler);
  static Final make_final(uint16_t pid, uint64_t token, std::string topic, std::string payload,
                          const std::string* correlation);
  uint16_t take_pid();  // the next free packet id, marked in use (0: none); mu_ held
  void run();
  bool session(NetSocket& sock, uint32_t max_packet);
  Status handshake(NetSocket& sock, bool* session_present, uint16_t* receive_max, uint32_t* max_packet);
  Status write_due(NetSocket& sock, uint32_t max_packet, std::vector<uint64_t>* refused, bool* wrote);
  Final* find(uint16_t pid);
  void wake();
  void sleep_backoff();

  MqttOptions options_;
  ReplyLinkHandler* handler_;
  std::thread thread_;
  int wake_fd_ = -1;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> connects_{0};
  int attempt_ = 0;
  // Guarded by mu_:
  std::deque<Final> finals_;         // in the order they were sent
  std::vector<bool> in_use_;         // packet ids reserved or in flight
  uint16_t next_pid_ = 1;
  std::deque<std::string> chunks_;   // encoded QoS 0 packets to write
  uint16_t receive_max_ = 65535;
};

}  // namespace airt::service
