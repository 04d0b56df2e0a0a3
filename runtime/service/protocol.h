// The MQTT request/response protocol of `airt serve` (documented in
// runtime/service/README.md): parsing and validating a request payload into a plain
// struct, and building the reply, stream chunk, error, status and telemetry payloads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/result.h"
#include "runtime/service/generator.h"

namespace airt::service {

// The error codes of the protocol ({"error": {"code": ...}}).
enum class ReplyError { kBadRequest, kTooLarge, kOverloaded, kDeadlineUnmeetable, kInternal };
const char* reply_error_name(ReplyError e);  // "bad_request", "too_large", ...
// Maps an airt::Error (from parsing or from the Generator) to the protocol code.
ReplyError reply_error_for(Error e);

struct RequestLimits {
  int max_payload_bytes = 65536;
  int max_tokens_cap = 1024;
  int default_max_tokens = 256;
};

// A parsed request; owns its strings. view() borrows from it for Generator::submit.
struct Request {
  std::string id;
  std::string reply_to;  // MQTT 3.1.1 clients; v5 clients use the Response Topic
  std::string model;     // optional: the model the client expects
  std::string prompt;
  std::vector<ChatMessage> messages;
  int max_tokens = 0;
  float temperature = 0.8f;
  float top_p = 0.95f;
  int top_k = 40;
  bool has_seed = false;
  uint64_t seed = 0;
  std::vector<std::string> stop;
  bool stream = false;
  int priority = 5;
  int ttft_ms = 0;
  int deadline_ms = 0;
  bool best_effort = false;
  std::string session;

  GenerateRequest view(int64_t arrival_ns) const;
};

// Parses and validates `payload`. On failure `out->id` and `out->reply_to` hold whatever
// could be read (so the error reply can be addressed) and the error names the field:
// "max_tokens: must be an integer 1..1024, got \"ten\"". Codes: kRequestTooLarge for a
// payload over the limit or max_tokens over the cap, kRequestInvalid otherwise.
// Unknown fields are ignored.
Status request_parse(std::string_view payload, const RequestLimits& limits, Request* out);

// {"id": ...} on the cancel topic; reply_to optional (restricts the match to that client).
Status cancel_parse(std::string_view payload, std::string* id, std::string* reply_to);

// True when `topic` may receive replies: a valid MQTT topic name without wildcards,
// not a $SYS/$share topic.
bool reply_topic_valid(std::string_view topic);

struct FinalReply {
  engine::FinishReason reason = engine::FinishReason::kStop;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  double ttft_ms = 0;
  double total_ms = 0;
  double tokens_per_s = 0;
  governor::OperatingPoint operating_point;
  std::string tier_name;
  int drafted = 0;  // speculative decoding: tokens drafted, kept, and target passes
  int accepted = 0;
  int passes = 0;
};

// {"id","text","finish_reason","usage":{...},"timings":{...},"operating_point":{...}}
std::string reply_final(std::string_view id, std::string_view text, const FinalReply& r);
// Appends {"id","delta","index"} to `out` (which the caller reuses: no allocation once
// its capacity has grown).
void reply_chunk(std::string& out, std::string_view id, std::string_view delta, int index);
// {"id": id or null, "error": {"code", "message"}}
std::string reply_error(const std::string* id, ReplyError code, std::string_view message);

struct StatusInfo {
  std::string state;  // "online", "draining", "offline"
  std::string node;
  std::string reason;  // offline only: "stopped" (airt's own) or "connection lost" (the Last Will); empty: omitted
  std::string model;
  int slots = 0;
  int slots_busy = 0;
  int queued = 0;
  double tokens_per_s = 0;
  bool has_operating_point = false;
  governor::OperatingPoint operating_point;
  std::string tier_name;
  std::string governor;  // GeneratorStats::governor (JSON); empty: left out
};
std::string status_json(const StatusInfo& s);

struct TelemetryInfo {
  std::string node;
  int64_t now_ns = 0;  // governor event ages are measured from here
  double uptime_s = 0;
  GeneratorStats stats;
  int64_t mem_available_bytes = -1;  // -1: unknown
  int64_t rss_bytes = -1;
  uint64_t requests_total = 0, replies_final = 0, replies_error = 0, overloaded = 0;
  int queued = 0;
};
std::string telemetry_json(const TelemetryInfo& t);

}  // namespace airt::service
