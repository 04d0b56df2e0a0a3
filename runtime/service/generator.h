// The boundary between the MQTT service and the inference engine.
//
// The service (server.cpp) owns the loop: it admits requests, calls Generator::submit,
// then calls Generator::step() repeatedly while work remains. The engine delivers every
// generated piece of text and exactly one final outcome per accepted request through the
// GenerateSink passed to step(). Everything runs on the server thread: the engine needs
// no locks for this interface, and the service pings the systemd watchdog between steps,
// so a hung step is caught by systemd.
//
// The engine implements this through an adapter over its own types (kept in
// runtime/service/ or runtime/cli/) so that the module arrows keep pointing down:
// service -> engine, never the reverse.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "governor/operating_point.h"
#include "runtime/core/result.h"
#include "runtime/engine/finish_reason.h"

namespace airt::service {

struct ServiceConfig;

// Chosen by the service, unique for the process lifetime; the engine echoes it back.
using RequestTicket = uint64_t;

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// A validated request. Views are valid only during submit(): the engine copies what it
// keeps into its slot's fixed buffers.
struct GenerateRequest {
  std::string_view id;                      // for logs only; the ticket identifies it
  std::string_view prompt;                  // empty when `messages` is used
  std::span<const ChatMessage> messages;    // empty when `prompt` is used; apply the chat template
  int max_tokens = 256;                     // already capped by limits.max_tokens_cap
  float temperature = 0.8f;                 // 0: greedy
  float top_p = 0.95f;                      // (0, 1]
  int top_k = 40;                           // 0: off
  bool has_seed = false;
  uint64_t seed = 0;
  std::span<const std::string> stop;        // stop strings; the stop text is not emitted
  int priority = 5;                         // 0 (lowest) .. 9 (highest)
  int ttft_ms = 0;                          // time-to-first-token deadline; 0: none
  int deadline_ms = 0;                      // total deadline; 0: none
  bool best_effort = false;                 // run even when a deadline cannot be met
  std::string_view session;                 // named KV session; empty: none
  int64_t arrival_ns = 0;                   // now_ns() when the service received it; deadlines count from here
};

// Why a request ended and the operating point it ran at are the engine's and the
// governor's types: the service only names them in its JSON (replies, status).
struct FinishInfo {
  engine::FinishReason reason = engine::FinishReason::kStop;
  int prompt_tokens = 0;      // after the chat template
  int completion_tokens = 0;
  governor::OperatingPoint operating_point;  // at the end of the request
  std::string tier_name;                     // the point's weight tier as users know it, e.g. "Q8_0"
  int drafted = 0;   // speculative tokens drafted, and kept
  int accepted = 0;
  int passes = 0;    // target passes that produced the completion
};

// How the engine reports back. Called only from inside Generator::step().
class GenerateSink {
 public:
  virtual ~GenerateSink() = default;
  // Once per generated token. `delta` is the text that token made final; it may be empty
  // (an incomplete UTF-8 sequence, text held back while it may still match a stop string).
  // Deltas are whole UTF-8 sequences. The service counts calls for time-to-first-token
  // and streams non-empty deltas.
  virtual void on_token(RequestTicket ticket, std::string_view delta) = 0;
  // Exactly once per accepted request, after its last on_token. Frees nothing on the
  // service side that the engine still needs.
  virtual void on_finish(RequestTicket ticket, const FinishInfo& info) = 0;
  // Instead of on_finish, when the request failed after it was accepted (error.code is
  // mapped like submit()'s errors, see reply_error_for()).
  virtual void on_error(RequestTicket ticket, const ErrorInfo& error) = 0;
};

struct GovernorEvent {
  int64_t time_ns = 0;  // now_ns() clock
  std::string what;     // "weights Q8_0 -> Q4_0"
  std::string reason;   // "temperature 78.5 C above soft limit 75"
};

struct GeneratorInfo {
  std::string model;       // model name (general.name, else the file stem)
  int slots = 0;           // requests that can run at once
  bool has_chat_template = false;
};

struct GeneratorStats {
  int slots_busy = 0;
  double tokens_per_s = 0;  // recent decode rate over all slots
  governor::OperatingPoint operating_point;
  std::string tier_name;  // e.g. "Q8_0"
  int64_t drafted = 0;         // speculative tokens since start, and kept
  int64_t accepted = 0;
  int draft_k = 0;             // the longest draft of the last step
  double temperature_c = NAN;  // NAN: unknown
  double power_w = NAN;
  std::vector<GovernorEvent> events;  // since the previous stats() call
  std::string governor;  // with a governor: {"point", "shedding", "total", "events"} as JSON; empty: none
};

class Generator {
 public:
  virtual ~Generator() = default;

  virtual GeneratorInfo info() const = 0;

  // Takes a request into a free slot (or the engine's own queue). Errors, by code:
  //   kResourceExhausted   no free slot now: the service keeps the request queued and
  //                        tries again after a request finishes (not an error reply)
  //   kRequestTooLarge     prompt longer than limits.max_prompt_tokens / the context
  //   kRequestInvalid      e.g. `messages` for a model without a chat template
  //   kResourceOverBudget  a deadline that cannot be met (and not best_effort)
  //   anything else        internal
  // On success the engine later calls the sink's on_finish or on_error exactly once.
  virtual Status submit(RequestTicket ticket, const GenerateRequest& request) = 0;

  // Whether the request may be taken at all, asked once when it arrives (before it waits
  // for a slot). Errors: kResourceOverBudget (a deadline no operating point meets, and
  // not best_effort: `deadline_unmeetable`), kResourceExhausted (the node sheds load:
  // `overloaded`). Without a governor every request may be taken.
  virtual Status admit(RequestTicket ticket, const GenerateRequest& request) {
    (void)ticket, (void)request;
    return {};
  }

  // Asks a running request to stop. The engine answers through on_finish with
  // engine::FinishReason::kCancelled at its next step (with the text produced so far). Unknown or
  // finished tickets are ignored.
  virtual void cancel(RequestTicket ticket) = 0;

  // Runs one scheduling step (a prefill chunk and/or one batched decode step) and
  // reports through `sink`. Returns true while any request is still active. Must return
  // in bounded time (one step), because the service serves MQTT and the watchdog between
  // steps.
  virtual bool step(GenerateSink& sink) = 0;

  // A snapshot for status, telemetry and the systemd STATUS= line; called every few
  // seconds, not per token.
  virtual GeneratorStats stats() = 0;
};

// How `airt serve` makes its generator once the config is final (loads the model). Given
// to serve_main() by the CLI, which knows the engine.
using GeneratorFactory = std::function<Result<std::unique_ptr<Generator>>(const ServiceConfig&)>;

}  // namespace airt::service
