#include "runtime/service/server.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "governor/sensors/memory.h"
#include "runtime/core/clock.h"
#include "runtime/core/log.h"
#include "runtime/service/json_util.h"
#include "runtime/service/systemd_journal.h"

namespace airt::service {
namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kStatusPeriodNs = 5000 * kMs;      // systemd STATUS= and retained status refresh
constexpr int64_t kCancelGraceNs = 5000 * kMs;       // engine must confirm a cancel within this
constexpr int64_t kDrainCancelGraceNs = 2000 * kMs;  // ... and within this while stopping
constexpr int kFlushOnStopMs = 3000;
constexpr size_t kMaxPendingEvents = 64;
constexpr size_t kRequestSlack = 64;  // requests beyond slots + queue that may wait to be read or acknowledged
constexpr size_t kMaxTopicBytes = 65535;  // MQTT's limit for a topic and for correlation data

int64_t wall_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

LogLevel parse_level(const std::string& s) {
  if (s == "debug") return LogLevel::kDebug;
  if (s == "warning") return LogLevel::kWarn;
  if (s == "error") return LogLevel::kError;
  return LogLevel::kInfo;
}

// MemAvailable through the governor's one reader of /proc/meminfo; -1 when unreadable.
int64_t mem_available() {
  Result<governor::MemoryReading> m = governor::read_memory();
  return m.ok() ? int64_t(m->mem_available) : -1;
}

int64_t self_rss() {
  std::ifstream f("/proc/self/statm");
  int64_t size, resident;
  if (!(f >> size >> resident)) return -1;
  return resident * sysconf(_SC_PAGESIZE);
}


// {"id": ..., "reply_to": ...} of a request payload: enough to address its error reply.
std::string address_only(const std::string& payload) {
  Request address;
  RequestLimits any;
  any.max_payload_bytes = int(payload.size());
  (void)request_parse(payload, any, &address);
  std::string out = "{\"id\":";
  json_append_string(out, address.id);
  if (!address.reply_to.empty()) {
    out += ",\"reply_to\":";
    json_append_string(out, address.reply_to);
  }
  out += '}';
  return out;
}

}  // namespace

Server::Server(ServiceConfig config, Generator& generator, SystemdNotifier* notifier)
    : config_(std::move(config)),
      generator_(generator),
      notifier_(notifier),
      answered_(size_t(config_.limits.dedup_window)) {
  node_ = config_.node_resolved();
  request_topic_ = config_.topic(config_.topics.request);
  cancel_topic_ = config_.topic(config_.topics.cancel);
  status_topic_ = config_.topic(config_.topics.status);
  telemetry_topic_ = config_.topic(config_.topics.telemetry);
  apply_config(config_);
}

Server::~Server() {
  if (link_) link_->stop(0);
  if (mqtt_) mqtt_->stop(0);
}

ServerCounters Server::counters() const {
  ServerCounters c;
  c.received = counters_.received;
  c.accepted = counters_.accepted;
  c.finals = counters_.finals;
  c.errors = counters_.errors;
  c.overloaded = counters_.overloaded;
  c.duplicates = counters_.duplicates;
  c.dropped = counters_.dropped;
  c.cancelled = counters_.cancelled;
  c.connects = counters_.connects;
  return c;
}

void Server::apply_config(const ServiceConfig& c) {
  limits_.max_payload_bytes = c.limits.max_payload_bytes;
  limits_.max_tokens_cap = c.limits.max_tokens_cap;
  limits_.default_max_tokens = c.limits.default_max_tokens;
  // The network thread journals payloads up to the live limit, within the journal's plan.
  if (journal_ && size_t(c.limits.max_payload_bytes) > journal_plan_payload_)
    AIRT_LOG_WARN("limits.max_payload_bytes %d is above the journal's plan (%zu bytes) until a restart; "
                  "larger requests are not journaled", c.limits.max_payload_bytes, journal_plan_payload_);
  journal_payload_bytes_ = int(std::min<size_t>(size_t(c.limits.max_payload_bytes), journal_plan_payload_));
  rate_.configure(c.limits.rate_limit_per_s, c.limits.rate_limit_burst);
  answered_.set_capacity(size_t(c.limits.dedup_window));
  queue_.set_capacity(size_t(c.limits.queue_depth));
  service_log_set_level(parse_level(c.log_level));
}

void Server::post(Event event) {
  bool over = false;
  if (event.kind == Event::kMessage) {
    std::lock_guard<std::mutex> lock(mu_);
    over = ++inbox_messages_ > max_inbox_;
  }
  if (over && !event.refused) {
    event.refused = true;
    event.refuse_code = ReplyError::kOverloaded;
    event.refuse_message = "too many requests waiting to be read; try again later";
  }
  // The inbox is bounded: a refused request keeps only what its error reply needs.
  if (event.refused) event.message.payload = address_only(event.message.payload);
  {
    std::lock_guard<std::mutex> lock(mu_);
    inbox_.push_back(std::move(event));
  }
  cv_.notify_one();
}

void Server::stop() { post(Event(Event::kStop, now_ns())); }

void Server::reload(ServiceConfig config) {
  Event e(Event::kReload, now_ns());
  e.config = std::make_unique<ServiceConfig>(std::move(config));
  post(std::move(e));
}

void Server::on_mqtt_connected(bool) {
  counters_.connects++;
  post(Event(Event::kConnected, now_ns()));
}

void Server::on_mqtt_disconnected(const char*) { post(Event(Event::kDisconnected, now_ns())); }

void Server::on_mqtt_message(MqttMessage&& message) {
  Event e(Event::kMessage, now_ns());
  e.message = std::move(message);
  // Requests are journaled here, on the network thread, because libmosquitto sends the
  // PUBACK only after this callback returns: the broker forgets a request only once it
  // is on disk.
  // Oversized payloads are only ever answered too_large, so they are not journaled.
  if (journal_ && e.message.topic != cancel_topic_ && !e.message.retain &&
      e.message.payload.size() <= size_t(journal_payload_bytes_.load()))
    journal_message(e);
  post(std::move(e));
}

void Server::on_reply_released(uint64_t seq) {
  if (!journal_ || !seq) return;
  std::lock_guard<std::mutex> lock(journal_mu_);
  Status st = journal_->mark_released(seq);
  if (!st.ok()) AIRT_LOG_ERROR("%s", st.error().message.c_str());
}

void Server::on_reply_done(uint64_t seq) { journal_done(seq); }

void Server::journal_message(Event& e) {
  JournalEntry je;
  je.arrival_wall_ns = wall_ns();
  je.reply_topic = e.message.response_topic;
  je.correlation = e.message.correlation;
  je.has_correlation = e.message.has_correlation;
  je.payload = e.message.payload;
  std::lock_guard<std::mutex> lock(journal_mu_);
  Result<uint64_t> seq = journal_->append(std::move(je));
  if (seq.ok()) {
    e.seq = seq.value();
    return;
  }
  AIRT_LOG_ERROR("%s", seq.error().message.c_str());
  e.refused = true;
  e.refuse_code = seq.error().code == Error::kResourceExhausted ? ReplyError::kOverloaded : ReplyError::kInternal;
  e.refuse_message = seq.error().code == Error::kResourceExhausted
                         ? "too many requests in flight; try again later"
                         : "the request journal cannot be written; the request was not run";
}

// The requests a previous run left open go through the same path as new ones, with their
// original reply topic, correlation data and arrival time.
void Server::recover() {
  if (!journal_) return;
  std::vector<JournalEntry> open;
  {
    std::lock_guard<std::mutex> lock(journal_mu_);
    open = journal_->take_recovered();
  }
  if (open.empty()) return;
  AIRT_LOG_INFO("journal: %zu requests were in flight when airt stopped; running them again or completing "
                "their replies", open.size());
  int64_t wall = wall_ns(), now = now_ns();
  for (JournalEntry& je : open) {
    if (je.has_final) {
      // Its final reply was handed to the reply link: connect() resumed it where it was
      // (a journal from before packet ids were kept sends it as a new message).
      if (je.packet_id == 0) reply(je.reply_topic, je.has_correlation ? &je.correlation : nullptr, je.final_payload, je.seq);
      continue;
    }
    Event e(Event::kMessage, now - std::max<int64_t>(0, wall - je.arrival_wall_ns));
    e.message.topic = request_topic_;
    e.message.payload = std::move(je.payload);
    e.message.response_topic = std::move(je.reply_topic);
    e.message.correlation = std::move(je.correlation);
    e.message.has_correlation = je.has_correlation;
    e.seq = je.seq;
    e.replay = true;
    handle_request(e);
  }
}

void Server::journal_done(uint64_t seq) {
  if (!journal_ || !seq) return;
  std::lock_guard<std::mutex> lock(journal_mu_);
  Status st = journal_->mark_done(seq);
  if (!st.ok()) AIRT_LOG_ERROR("%s", st.error().message.c_str());
}

Status Server::open_journal() {
  const size_t planned = size_t(info_.slots) + size_t(config_.limits.queue_depth);
  max_inbox_ = planned + kRequestSlack;
  ack_bound_ = planned + kRequestSlack;
  if (config_.journal.path.empty()) {
    AIRT_LOG_WARN("journal.path is empty: requests in flight are lost if airt crashes");
    return ok_status();
  }
  JournalLimits limits;
  limits.max_live = planned + max_inbox_ + ack_bound_;
  journal_plan_payload_ = size_t(config_.limits.max_payload_bytes);
  journal_payload_bytes_ = config_.limits.max_payload_bytes;
  limits.max_record_bytes = journal_plan_payload_ + 2 * kMaxTopicBytes + 64;
  limits.compact_bytes = std::max<size_t>(4u << 20, 2 * limits.max_record_bytes);
  journal_ = AIRT_TRY(Journal::open(config_.journal.path, limits));
  AIRT_LOG_INFO("journal %s: at most %zu open requests of at most %zu bytes; %zu left open by the previous run",
                config_.journal.path.c_str(), limits.max_live, limits.max_record_bytes, journal_->open_count());
  return ok_status();
}

Status Server::run() {
  AIRT_TRY(connect());
  std::deque<Event> batch;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(inbox_);
      inbox_messages_ = 0;
    }
    int64_t now = now_ns();
    for (Event& e : batch) handle(e, now);
    batch.clear();

    admit(now);
    expire_queued(now);
    bool active = step_generator();
    now = now_ns();
    answer_overdue_cancels(now);
    if (notifier_) notifier_->watchdog_tick(now);
    periodic(now, false);
    if (draining_) {
      drain_step(now);
      if (jobs_.empty()) break;
    }
    if (!active) wait_for_events();
  }
  shut_down();
  return ok_status();
}

Status Server::connect() {
  info_ = generator_.info();
  start_ns_ = now_ns();
  AIRT_TRY(open_journal());
  // The Will says why it was published, so a subscriber can tell a crash or a lost link
  // from airt's own clean stop (shut_down()).
  StatusInfo offline;
  offline.state = "offline";
  offline.node = node_;
  offline.reason = "connection lost";
  MqttOptions options = mqtt_options_for(config_, status_json(offline));
  link_ = AIRT_TRY(ReplyLink::create(reply_link_options(options), this));
  if (journal_) {
    // Finals a previous run handed to the broker go on from where they were, before any
    // new reply takes a packet id.
    std::lock_guard<std::mutex> lock(journal_mu_);
    int resumed = 0;
    for (const JournalEntry& je : journal_->recovered())
      if (je.has_final && je.packet_id) {
        link_->resume(je.seq, je.packet_id, je.released, je.reply_topic, je.final_payload,
                      je.has_correlation ? &je.correlation : nullptr);
        ++resumed;
      }
    if (resumed)
      AIRT_LOG_INFO("journal: %d replies were on their way to the broker when airt stopped; completing them", resumed);
  }
  AIRT_TRY(link_->start());
  mqtt_ = AIRT_TRY(MqttClient::create(options, this));
  mqtt_->add_subscription(config_.request_subscription(), 1);
  mqtt_->add_subscription(cancel_topic_, 1);
  AIRT_TRY(mqtt_->start());
  AIRT_LOG_INFO("serving %s on %s (%d slots, queue %d) via %s:%d", info_.model.c_str(), request_topic_.c_str(),
                info_.slots, config_.limits.queue_depth, config_.broker.host.c_str(), config_.broker.port);
  if (notifier_) notifier_->status("connecting to the MQTT broker " + config_.broker.host);
  return ok_status();
}

// One generator step while requests run; returns whether the generator is still busy.
bool Server::step_generator() {
  if (running_ == 0) return false;
  bool active = generator_.step(*this);
  if (!active && running_ > 0) {
    // The generator says it is idle but still owes replies: answer them so no client waits forever.
    std::vector<RequestTicket> lost;
    for (auto& [t, job] : jobs_)
      if (job.running) lost.push_back(t);
    for (RequestTicket t : lost) fail_job(t, ReplyError::kInternal, "the engine dropped the request");
  }
  return active;
}

// Cancels the engine did not confirm in time are answered here, so the reply is never lost.
void Server::answer_overdue_cancels(int64_t now) {
  int64_t grace = draining_ ? kDrainCancelGraceNs : kCancelGraceNs;
  std::vector<RequestTicket> overdue;
  for (auto& [t, job] : jobs_)
    if (job.running && job.cancel_ns && now - job.cancel_ns > grace) overdue.push_back(t);
  for (RequestTicket t : overdue) {
    AIRT_LOG_WARN("engine did not confirm a cancel in time; answering it as cancelled");
    finish_cancelled(t);
  }
}

void Server::wait_for_events() {
  int64_t wait_ns = 100 * kMs;
  if (notifier_ && notifier_->watchdog_interval_ns() > 0) wait_ns = std::min(wait_ns, notifier_->watchdog_interval_ns());
  if (!queue_.empty()) wait_ns = std::min<int64_t>(wait_ns, 10 * kMs);  // waiting for a slot
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::nanoseconds(wait_ns), [this] { return !inbox_.empty(); });
}

void Server::shut_down() {
  link_->stop(kFlushOnStopMs);
  publish_status("offline", false, "stopped");
  mqtt_->stop(kFlushOnStopMs);
  AIRT_LOG_INFO("stopped: %llu requests, %llu replies, %llu errors",
                static_cast<unsigned long long>(counters_.received.load()),
                static_cast<unsigned long long>(counters_.finals.load()),
                static_cast<unsigned long long>(counters_.errors.load()));
}

void Server::handle(Event& e, int64_t now) {
  switch (e.kind) {
    case Event::kMessage:
      if (e.message.topic == cancel_topic_) handle_cancel(e.message);
      else handle_request(e);
      break;
    case Event::kConnected:
      publish_status(draining_ ? "draining" : "online");
      if (!recovered_) {
        recovered_ = true;
        recover();
      }
      if (!ready_sent_) {
        ready_sent_ = true;
        if (notifier_) notifier_->ready("serving " + info_.model + " on " + request_topic_);
      }
      break;
    case Event::kDisconnected:
      AIRT_LOG_WARN("mqtt: disconnected from the broker; replies are kept until it is back");
      if (notifier_) notifier_->status("broker connection lost; reconnecting");
      break;
    case Event::kStop:
      if (!draining_) {
        draining_ = true;
        drain_start_ns_ = now;
        AIRT_LOG_INFO("stopping: draining %zu requests (at most %d ms)", jobs_.size(), config_.drain_timeout_ms);
        if (notifier_) {
          notifier_->stopping("draining " + std::to_string(jobs_.size()) + " requests");
          notifier_->extend_timeout(uint64_t(config_.drain_timeout_ms + 10000) * 1000);
        }
        publish_status("draining");
      }
      break;
    case Event::kReload:
      apply_reload(*e.config);
      break;
  }
}

void Server::apply_reload(const ServiceConfig& c) {
  if (notifier_) notifier_->reloading();
  for (const std::string& f : config_restart_fields(config_, c))
    AIRT_LOG_WARN("reload: %s changed; it takes effect after a restart", f.c_str());
  ServiceConfig next = config_;
  next.limits = c.limits;
  next.telemetry_interval_s = c.telemetry_interval_s;
  next.drain_timeout_ms = c.drain_timeout_ms;
  next.log_level = c.log_level;
  config_ = std::move(next);
  apply_config(config_);
  next_telemetry_ns_ = 0;
  AIRT_LOG_INFO("reload: configuration applied");
  if (notifier_) notifier_->ready("serving " + info_.model + " on " + request_topic_);
}

bool Server::own_topic(const std::string& t) const {
  return t == request_topic_ || t == cancel_topic_ || t == status_topic_ || t == telemetry_topic_;
}

void Server::handle_request(Event& e) {
  const MqttMessage& m = e.message;
  if (m.retain) {
    // A retained request would be re-run at every (re)subscribe: never act on one.
    AIRT_LOG_WARN("ignored a retained message on %s (requests must not be retained)", m.topic.c_str());
    return;
  }
  counters_.received++;
  Request req;
  std::string topic;
  if (!screen_request(e, req, topic)) return;
  accept(e, std::move(req), std::move(topic));
}

// Parses and admits a request message; false when it was answered (error) or dropped.
bool Server::screen_request(const Event& e, Request& req, std::string& topic) {
  const MqttMessage& m = e.message;
  Status parsed = request_parse(m.payload, limits_, &req);
  topic = !m.response_topic.empty() ? m.response_topic : req.reply_to;
  const std::string* corr = m.has_correlation ? &m.correlation : nullptr;
  if (topic.empty() || !reply_topic_valid(topic) || own_topic(topic)) {
    counters_.dropped++;
    log_request(LogLevel::kWarn, {req.id.c_str(), topic.c_str(), "dropped"},
                "request without a usable reply topic (MQTT v5 Response Topic or \"reply_to\") dropped%s%s",
                parsed.ok() ? "" : ": ", parsed.ok() ? "" : parsed.error().message.c_str());
    journal_done(e.seq);
    return false;
  }
  auto reject = [&](ReplyError code, const std::string& message) {
    send_error(topic, corr, &req.id, code, message, e.seq);
    return false;
  };
  if (e.refused) return reject(e.refuse_code, e.refuse_message);
  if (!parsed.ok()) return reject(reply_error_for(parsed.error().code), parsed.error().message);
  if (draining_) return reject(ReplyError::kOverloaded, "this node is shutting down; send the request again");
  std::string key = topic + '\n' + req.id;
  if (by_key_.count(key) || answered_.contains(key)) {
    counters_.duplicates++;
    log_request(LogLevel::kInfo, {req.id.c_str(), topic.c_str(), "duplicate"},
                "duplicate request ignored (already %s)", by_key_.count(key) ? "in flight" : "answered");
    journal_done(e.seq);
    return false;
  }
  if (!req.model.empty() && req.model != info_.model)
    return reject(ReplyError::kBadRequest, "model: this node serves \"" + info_.model + "\", not \"" + req.model + "\"");
  size_t unacked = link_->pending();
  if (unacked >= ack_bound_)
    return reject(ReplyError::kOverloaded,
                  std::to_string(unacked) + " replies are not yet acknowledged by the broker; try again later");
  if (!e.replay && !rate_.allow(topic, e.time_ns)) {
    char msg[128];
    std::snprintf(msg, sizeof msg, "rate limit: at most %g requests/s per client (burst %d)",
                  config_.limits.rate_limit_per_s, config_.limits.rate_limit_burst);
    return reject(ReplyError::kOverloaded, msg);
  }
  return true;
}

// Takes an admitted request: straight to a slot when nobody is waiting, else into the
// bounded queue, else an immediate `overloaded` (`internal` for a request run again
// after a restart, which the client did not just send).
void Server::accept(const Event& e, Request&& req, std::string&& topic) {
  RequestTicket t = next_ticket_++;
  Job& job = jobs_[t];
  job.ticket = t;
  job.key = topic + '\n' + req.id;
  job.req = std::move(req);
  job.reply_topic = std::move(topic);
  job.correlation = e.message.correlation;
  job.has_correlation = e.message.has_correlation;
  job.arrival_ns = e.time_ns;
  job.journal_seq = e.seq;
  // Grown once here so that appending deltas in the token path rarely reallocates.
  job.text.reserve(size_t(std::min(job.req.max_tokens, 4096)) * 4);
  by_key_[job.key] = t;

  if (Status st = generator_.admit(t, job.req.view(job.arrival_ns)); !st.ok()) {
    fail_job(t, reply_error_for(st.error().code), st.error().message);
    return;
  }
  if (queue_.empty()) {
    if (try_submit(job)) {
      counters_.accepted++;
      return;
    }
    if (!jobs_.count(t)) return;  // rejected by the generator (already answered)
  }
  if (!queue_.push(t, order_key(job.req, job.arrival_ns))) {
    std::string busy = "all " + std::to_string(info_.slots) + " slots busy and " + std::to_string(queue_.size()) +
                       " requests queued";
    if (e.replay) fail_job(t, ReplyError::kInternal, "airt restarted and could not run the request again (" + busy + "); send it again");
    else fail_job(t, ReplyError::kOverloaded, busy + "; try again later");
    return;
  }
  counters_.accepted++;
}

// Returns true when the job now runs. On a generator error other than "no free slot"
// the job is answered with that error and removed.
bool Server::try_submit(Job& job) {
  Status st = generator_.submit(job.ticket, job.req.view(job.arrival_ns));
  if (st.ok()) {
    job.running = true;
    running_++;
    return true;
  }
  if (st.error().code == Error::kResourceExhausted) return false;
  queue_.remove(job.ticket);
  fail_job(job.ticket, reply_error_for(st.error().code), st.error().message);
  return false;
}

void Server::admit(int64_t) {
  while (!queue_.empty()) {
    RequestTicket t = queue_.front();
    Job& job = jobs_.at(t);
    if (!try_submit(job)) {
      if (jobs_.count(t)) return;  // no free slot: try again after a request finishes
      continue;                    // rejected and answered: next one
    }
    queue_.pop_front();
  }
}

void Server::expire_queued(int64_t now) {
  std::vector<RequestTicket> expired;
  for (const RequestQueue::Entry& e : queue_) {
    if (!jobs_.at(e.ticket).req.best_effort && e.key.deadline_ns > 0 && now > e.key.deadline_ns)
      expired.push_back(e.ticket);
  }
  for (RequestTicket t : expired) {
    queue_.remove(t);
    const Job& j = jobs_.at(t);
    fail_job(t, ReplyError::kDeadlineUnmeetable,
             std::string(j.req.ttft_ms ? "ttft_ms" : "deadline_ms") + ": passed while waiting for a free slot");
  }
}

void Server::handle_cancel(const MqttMessage& m) {
  std::string id, reply_to;
  Status st = cancel_parse(m.payload, &id, &reply_to);
  if (!st.ok()) {
    AIRT_LOG_WARN("cancel ignored: %s", st.error().message.c_str());
    return;
  }
  std::string client = !m.response_topic.empty() ? m.response_topic : reply_to;
  std::vector<RequestTicket> matches;
  for (auto& [t, job] : jobs_)
    if (job.req.id == id && (client.empty() || job.reply_topic == client)) matches.push_back(t);
  if (matches.empty()) log_request(LogLevel::kDebug, {id.c_str(), client.c_str(), nullptr}, "cancel: no such request");
  int64_t now = now_ns();
  for (RequestTicket t : matches) cancel_job(t, now);
}

void Server::drain_step(int64_t now) {
  if (drain_cancelled_ || now - drain_start_ns_ < int64_t(config_.drain_timeout_ms) * kMs) return;
  drain_cancelled_ = true;
  AIRT_LOG_INFO("drain timeout: cancelling %zu requests", jobs_.size());
  std::vector<RequestTicket> all;
  for (auto& [t, job] : jobs_) all.push_back(t);
  for (RequestTicket t : all) cancel_job(t, now);
}

// A running request is asked to stop (once; the engine answers at its next step); a
// queued one is answered as cancelled at once.
void Server::cancel_job(RequestTicket t, int64_t now) {
  Job& job = jobs_.at(t);
  if (!job.running) {
    queue_.remove(t);
    finish_cancelled(t);
  } else if (!job.cancel_ns) {
    job.cancel_ns = now;
    generator_.cancel(t);
  }
}

void Server::finish_cancelled(RequestTicket t) {
  FinishInfo f;
  f.reason = engine::FinishReason::kCancelled;
  f.completion_tokens = jobs_.at(t).tokens;
  f.operating_point = last_stats_.operating_point;
  f.tier_name = last_stats_.tier_name;
  finish_job(t, f);
}

// Finals and errors go on the reply link at QoS 2: the journal records the reply and
// its packet id before it leaves, and the link marks it done when the broker completes
// it. One that cannot be handed over at all is done now, so it does not hold the
// journal open forever.
void Server::reply(const std::string& topic, const std::string* correlation, const std::string& payload, uint64_t seq) {
  uint16_t pid = link_->reserve();
  if (pid == 0) {
    AIRT_LOG_ERROR("reply to %s not sent: all 65535 MQTT packet ids are in flight", topic.c_str());
    journal_done(seq);
    return;
  }
  if (journal_ && seq) {
    std::lock_guard<std::mutex> lock(journal_mu_);
    Status st = journal_->mark_sent(seq, payload, pid);
    if (!st.ok()) AIRT_LOG_ERROR("%s", st.error().message.c_str());
  }
  link_->send_final(pid, seq, topic, payload, correlation);
}

void Server::send_error(const std::string& topic, const std::string* corr, const std::string* id, ReplyError code,
                        const std::string& message, uint64_t seq) {
  counters_.errors++;
  if (code == ReplyError::kOverloaded) counters_.overloaded++;
  log_request(code == ReplyError::kInternal ? LogLevel::kError : LogLevel::kInfo,
              {id ? id->c_str() : nullptr, topic.c_str(), reply_error_name(code)}, "request rejected: %s",
              message.c_str());
  reply(topic, corr, reply_error(id, code, message), seq);
}

void Server::fail_job(RequestTicket t, ReplyError code, const std::string& message) {
  auto it = jobs_.find(t);
  if (it == jobs_.end()) return;
  Job& j = it->second;
  send_error(j.reply_topic, j.has_correlation ? &j.correlation : nullptr, &j.req.id, code, message, j.journal_seq);
  // Rejected before running (overloaded, bad request): the client may send it again.
  forget_job(t, j.running);
}

void Server::finish_job(RequestTicket t, const FinishInfo& info) {
  auto it = jobs_.find(t);
  if (it == jobs_.end()) return;
  Job& j = it->second;
  int64_t now = now_ns();
  FinalReply r;
  r.reason = info.reason;
  r.prompt_tokens = info.prompt_tokens;
  r.completion_tokens = info.completion_tokens;
  r.total_ms = double(now - j.arrival_ns) / 1e6;
  r.ttft_ms = j.first_token_ns ? double(j.first_token_ns - j.arrival_ns) / 1e6 : 0;
  // Decode rate: tokens after the first over the time after the first.
  if (j.first_token_ns && info.completion_tokens > 1 && now > j.first_token_ns)
    r.tokens_per_s = double(info.completion_tokens - 1) / (double(now - j.first_token_ns) / 1e9);
  else if (r.total_ms > 0)
    r.tokens_per_s = double(info.completion_tokens) / (r.total_ms / 1e3);
  r.operating_point = info.operating_point;
  r.tier_name = info.tier_name;
  r.drafted = info.drafted;
  r.accepted = info.accepted;
  r.passes = info.passes;
  counters_.finals++;
  if (info.reason == engine::FinishReason::kCancelled) counters_.cancelled++;
  log_request(LogLevel::kInfo, {j.req.id.c_str(), j.reply_topic.c_str(), engine::finish_reason_name(info.reason)},
              "request done: %d+%d tokens, %.0f ms", info.prompt_tokens, info.completion_tokens, r.total_ms);
  reply(j.reply_topic, j.has_correlation ? &j.correlation : nullptr, reply_final(j.req.id, j.text, r), j.journal_seq);
  forget_job(t, true);
}

void Server::forget_job(RequestTicket t, bool answered) {
  auto it = jobs_.find(t);
  if (it == jobs_.end()) return;
  if (it->second.running) running_--;
  if (answered) answered_.insert(it->second.key);
  by_key_.erase(it->second.key);
  jobs_.erase(it);
}

void Server::on_token(RequestTicket t, std::string_view delta) {
  auto it = jobs_.find(t);
  if (it == jobs_.end()) return;  // answered already (cancel grace ran out)
  Job& j = it->second;
  if (j.tokens++ == 0) j.first_token_ns = now_ns();
  if (delta.empty()) return;
  j.text.append(delta);
  // Chunks go at QoS 0 and are not kept while the broker is away (the final message
  // carries the whole text): what a broker outage can hold back stays bounded.
  int index = j.chunk_index++;
  if (j.req.stream && link_->connected()) {
    reply_chunk(chunk_buf_, j.req.id, delta, index);
    link_->send_chunk(j.reply_topic, chunk_buf_, j.has_correlation ? &j.correlation : nullptr);
  }
}

void Server::on_finish(RequestTicket t, const FinishInfo& info) { finish_job(t, info); }

void Server::on_error(RequestTicket t, const ErrorInfo& error) {
  auto it = jobs_.find(t);
  if (it == jobs_.end()) return;
  Job& j = it->second;
  send_error(j.reply_topic, j.has_correlation ? &j.correlation : nullptr, &j.req.id, reply_error_for(error.code),
             error.message, j.journal_seq);
  forget_job(t, true);
}

void Server::publish_status(const char* state, bool only_if_changed, const char* reason) {
  if (!mqtt_) return;
  StatusInfo s;
  s.state = state;
  s.node = node_;
  if (reason) s.reason = reason;
  s.model = info_.model;
  s.slots = info_.slots;
  s.slots_busy = running_;
  s.queued = int(queue_.size());
  s.tokens_per_s = last_stats_.tokens_per_s;
  s.has_operating_point = true;
  s.operating_point = last_stats_.operating_point;
  s.tier_name = last_stats_.tier_name;
  s.governor = last_stats_.governor;
  std::string payload = status_json(s);
  if (only_if_changed && payload == last_status_) return;
  last_status_ = payload;
  Status st = mqtt_->publish(status_topic_, payload, 1, true);
  if (!st.ok()) AIRT_LOG_WARN("status not published: %s", st.error().message.c_str());
}

void Server::publish_telemetry(int64_t now) {
  TelemetryInfo t;
  t.node = node_;
  t.now_ns = now;
  t.uptime_s = double(now - start_ns_) / 1e9;
  t.stats = last_stats_;
  t.stats.events = std::move(pending_events_);
  pending_events_.clear();
  t.mem_available_bytes = mem_available();
  t.rss_bytes = self_rss();
  t.requests_total = counters_.received;
  t.replies_final = counters_.finals;
  t.replies_error = counters_.errors;
  t.overloaded = counters_.overloaded;
  t.queued = int(queue_.size());
  Status st = mqtt_->publish(telemetry_topic_, telemetry_json(t), 0, false);
  if (!st.ok() && mqtt_->connected()) AIRT_LOG_DEBUG("telemetry not published: %s", st.error().message.c_str());
}

void Server::periodic(int64_t now, bool force) {
  bool status_due = force || now >= next_status_ns_;
  bool telemetry_due = config_.telemetry_interval_s > 0 && now >= next_telemetry_ns_;
  if (!status_due && !telemetry_due) return;
  last_stats_ = generator_.stats();
  for (GovernorEvent& e : last_stats_.events) {
    if (pending_events_.size() < kMaxPendingEvents) pending_events_.push_back(std::move(e));
  }
  last_stats_.events.clear();
  if (status_due) {
    next_status_ns_ = now + kStatusPeriodNs;
    char line[256];
    std::snprintf(line, sizeof line, "%s | %d/%d slots busy, %zu queued | %.1f tok/s | %s%s", info_.model.c_str(),
                  running_, info_.slots, queue_.size(), last_stats_.tokens_per_s,
                  last_stats_.tier_name.c_str(),
                  mqtt_ && mqtt_->connected() && link_->connected() ? "" : " | broker disconnected");
    if (notifier_ && ready_sent_ && !draining_) notifier_->status(line);
    // The retained status is republished only when it changed, so subscribers are not woken for nothing.
    if (mqtt_ && mqtt_->connected() && ready_sent_) publish_status(draining_ ? "draining" : "online", true);
  }
  if (telemetry_due) {
    next_telemetry_ns_ = now + int64_t(config_.telemetry_interval_s) * 1000 * kMs;
    if (mqtt_ && mqtt_->connected()) publish_telemetry(now);
  }
}

}  // namespace airt::service
