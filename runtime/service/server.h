// The serving core of `airt serve`: takes requests from MQTT, journals them, admits them
// (validation, duplicate detection, rate limit, bounded queue -> immediate `overloaded`),
// runs them on a Generator, streams and sends replies, and guarantees that every request
// it accepts gets exactly one final message or error, including on cancel, on the
// SIGTERM drain and (through the journal) after a crash. Publishes the retained status and periodic telemetry and drives the
// systemd notifications (READY, STATUS, WATCHDOG, STOPPING).
//
// Threads: run() is the serving loop; everything that touches requests or the Generator
// happens there. MQTT callbacks, stop() and reload() only queue an event for it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "runtime/service/admission.h"
#include "runtime/service/config.h"
#include "runtime/service/generator.h"
#include "runtime/service/journal.h"
#include "runtime/service/mqtt_client.h"
#include "runtime/service/reply_link.h"
#include "runtime/service/protocol.h"
#include "runtime/service/request_queue.h"
#include "runtime/service/systemd_notify.h"

namespace airt::service {

// Monotonic counters, readable from any thread (tests, telemetry).
struct ServerCounters {
  uint64_t received = 0;      // request messages
  uint64_t accepted = 0;      // taken for generation (queued or running)
  uint64_t finals = 0;        // final messages sent
  uint64_t errors = 0;        // error replies sent
  uint64_t overloaded = 0;    // of which `overloaded`
  uint64_t duplicates = 0;    // requests ignored as duplicates of one in flight or answered
  uint64_t dropped = 0;       // requests that could not be answered (no reply topic)
  uint64_t cancelled = 0;     // finals with finish_reason cancelled
  uint64_t connects = 0;      // broker connections made
};

class Server final : public MqttHandler, public ReplyLinkHandler, private GenerateSink {
 public:
  // `config` must be finalized (config_finalize). `generator` and `notifier` must outlive
  // the server; `notifier` may be null.
  Server(ServiceConfig config, Generator& generator, SystemdNotifier* notifier);
  ~Server() override;

  // Connects (retrying with backoff), serves until stop(), drains, publishes the
  // offline status and disconnects.
  Status run();
  // Begins the graceful drain (SIGTERM). Any thread.
  void stop();
  // Applies the live fields of `config` (limits, telemetry interval, log level, drain
  // timeout) and logs the ones that need a restart (SIGHUP). Any thread.
  void reload(ServiceConfig config);

  ServerCounters counters() const;
  bool has_connected() const { return counters_.connects.load() > 0; }

  // MqttHandler (network thread): hand over to the serving loop.
  void on_mqtt_connected(bool session_present) override;
  void on_mqtt_disconnected(const char* reason) override;
  void on_mqtt_message(MqttMessage&& message) override;
  // ReplyLinkHandler (the reply link's thread)
  void on_reply_released(uint64_t seq) override;
  void on_reply_done(uint64_t seq) override;

 private:
  struct Job {
    RequestTicket ticket = 0;
    Request req;
    std::string key;  // reply topic + '\n' + id: duplicates are per client
    std::string reply_topic;
    std::string correlation;
    bool has_correlation = false;
    int64_t arrival_ns = 0;
    int64_t first_token_ns = 0;
    int64_t cancel_ns = 0;  // when cancel() was asked of the generator
    uint64_t journal_seq = 0;  // 0: not journaled
    int tokens = 0;
    int chunk_index = 0;
    bool running = false;
    std::string text;
  };
  struct Event {
    enum Kind { kMessage, kConnected, kDisconnected, kStop, kReload };
    Event(Kind k, int64_t time) : kind(k), time_ns(time) {}
    Kind kind;
    MqttMessage message;
    int64_t time_ns = 0;
    std::unique_ptr<ServiceConfig> config;
    uint64_t seq = 0;           // kMessage: its journal record; 0: none
    bool replay = false;        // kMessage: read back from the journal after a restart
    bool refused = false;       // kMessage: not taken (journal or inbox full, journal error)
    ReplyError refuse_code = ReplyError::kOverloaded;
    std::string refuse_message;
  };
  struct AtomicCounters {
    std::atomic<uint64_t> received{0}, accepted{0}, finals{0}, errors{0}, overloaded{0}, duplicates{0}, dropped{0},
        cancelled{0}, connects{0};
  };

  void post(Event event);
  Status connect();
  bool step_generator();
  void answer_overdue_cancels(int64_t now);
  void wait_for_events();
  void shut_down();
  void handle(Event& event, int64_t now);
  void handle_request(Event& e);
  bool screen_request(const Event& e, Request& req, std::string& topic);
  void accept(const Event& e, Request&& req, std::string&& topic);
  Status open_journal();
  void journal_message(Event& e);
  void recover();
  void journal_done(uint64_t seq);
  void handle_cancel(const MqttMessage& m);
  void cancel_job(RequestTicket t, int64_t now);
  void finish_cancelled(RequestTicket t);
  void apply_config(const ServiceConfig& c);
  void apply_reload(const ServiceConfig& c);
  void admit(int64_t now);
  bool try_submit(Job& job);
  void expire_queued(int64_t now);
  void drain_step(int64_t now);
  void periodic(int64_t now, bool force);
  void publish_status(const char* state, bool only_if_changed = false, const char* reason = nullptr);
  void publish_telemetry(int64_t now);
  void reply(const std::string& topic, const std::string* correlation, const std::string& payload, uint64_t seq);
  void send_error(const std::string& topic, const std::string* correlation, const std::string* id, ReplyError code,
                  const std::string& message, uint64_t seq = 0);
  void finish_job(RequestTicket t, const FinishInfo& info);
  void fail_job(RequestTicket t, ReplyError code, const std::string& message);
  void forget_job(RequestTicket t, bool answered);
  bool own_topic(const std::string& topic) const;

  // GenerateSink (serving loop, inside Generator::step)
  void on_token(RequestTicket ticket, std::string_view delta) override;
  void on_finish(RequestTicket ticket, const FinishInfo& info) override;
  void on_error(RequestTicket ticket, const ErrorInfo& error) override;

  ServiceConfig config_;
  Generator& generator_;
  SystemdNotifier* notifier_;
  GeneratorInfo info_;
  std::unique_ptr<MqttClient> mqtt_;
  std::string node_, request_topic_, cancel_topic_, status_topic_, telemetry_topic_;
  RequestLimits limits_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> inbox_;
  size_t inbox_messages_ = 0;  // kMessage events in inbox_; guarded by mu_
  size_t max_inbox_ = 0;       // planned in connect(): beyond it requests are refused as overloaded

  // The request journal (null: off). Appended on the network thread before the broker
  // is acknowledged, finals recorded on the serving loop, released and done on the reply
  // link's thread: journal_mu_ guards it.
  std::unique_ptr<Journal> journal_;
  std::mutex journal_mu_;
  size_t journal_plan_payload_ = 0;             // payload bytes the journal's records are planned for
  std::atomic<int> journal_payload_bytes_{0};   // read on the network thread: larger ones are not journaled
  bool recovered_ = false;
  // Replies to clients: stream chunks and finals (QoS 2, exactly once across a crash).
  // At most ack_bound_ finals wait for the broker to complete them; beyond it new
  // requests are refused.
  std::unique_ptr<ReplyLink> link_;
  size_t ack_bound_ = 0;

  std::unordered_map<RequestTicket, Job> jobs_;
  std::unordered_map<std::string, RequestTicket> by_key_;
  RequestQueue queue_;  // waiting for a slot, best first
  int running_ = 0;
  RequestTicket next_ticket_ = 1;
  RecentKeys answered_;
  RateLimiter rate_;
  std::string chunk_buf_;  // reused for stream chunks

  bool ready_sent_ = false;
  bool draining_ = false;
  int64_t drain_start_ns_ = 0;
  bool drain_cancelled_ = false;
  int64_t start_ns_ = 0;
  int64_t next_status_ns_ = 0;
  int64_t next_telemetry_ns_ = 0;
  GeneratorStats last_stats_;
  std::vector<GovernorEvent> pending_events_;
  std::string last_status_;
  AtomicCounters counters_;
};

}  // namespace airt::service
