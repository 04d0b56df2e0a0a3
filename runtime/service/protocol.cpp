#include "runtime/service/protocol.h"

#include <cctype>
#include <cmath>
#include <cstring>

#include <mosquitto.h>

#include "runtime/service/json_util.h"

namespace airt::service {
namespace {

constexpr size_t kMaxIdBytes = 128;
constexpr size_t kMaxStops = 16;
constexpr size_t kMaxStopBytes = 128;
constexpr size_t kMaxMessages = 256;
constexpr size_t kMaxSessionBytes = 64;
constexpr int kMaxDeadlineMs = 86400000;
constexpr int kMaxTopK = 100000;
constexpr double kMaxSeed = 9007199254740991.0;  // 2^53 - 1: exact in a JSON number
// A payload over the limit is still parsed (for its id and reply_to) up to this size.
constexpr size_t kAddressableBytes = 16u << 20;

ErrorInfo invalid(const char* field, const std::string& problem, const cJSON* got) {
  return errorf(Error::kRequestInvalid, "%s: %s, got %s", field, problem.c_str(), json_describe(got).c_str());
}

bool has_control(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  return false;
}

// Strings: type, UTF-8, byte length. The problem text names the accepted shape.
Status read_string(const cJSON* v, const char* field, size_t min, size_t max, std::string* out) {
  char shape[96];
  if (min > 0) std::snprintf(shape, sizeof shape, "must be a string of %zu..%zu bytes", min, max);
  else std::snprintf(shape, sizeof shape, "must be a string of at most %zu bytes", max);
  if (!cJSON_IsString(v)) return invalid(field, shape, v);
  if (json_has_nul(v)) return errorf(Error::kRequestInvalid, "%s: must not contain NUL characters (\\u0000)", field);
  size_t n = std::strlen(v->valuestring);
  if (!utf8_valid({v->valuestring, n})) return invalid(field, "must be valid UTF-8", v);
  if (n < min || n > max) {
    return errorf(Error::kRequestInvalid, "%s: %s, got %zu bytes", field, shape, n);
  }
  out->assign(v->valuestring, n);
  return ok_status();
}

Status read_int(const cJSON* v, const char* field, int64_t min, int64_t max, int64_t* out) {
  if (json_get_int(v, min, max, out)) return ok_status();
  char shape[96];
  std::snprintf(shape, sizeof shape, "must be an integer %lld..%lld", static_cast<long long>(min),
                static_cast<long long>(max));
  return invalid(field, shape, v);
}

Status read_bool(const cJSON* v, const char* field, bool* out) {
  if (!cJSON_IsBool(v)) return invalid(field, "must be true or false", v);
  *out = cJSON_IsTrue(v);
  return ok_status();
}

bool session_name_ok(std::string_view s) {
  if (s.empty() || s[0] == '.') return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

// id and reply_to come first so that every later error can be addressed; each is kept
// when valid even if the other is not.
Status read_id(const cJSON* root, Request* out) {
  const cJSON* id = cJSON_GetObjectItemCaseSensitive(root, "id");
  if (!id) return errorf(Error::kRequestInvalid, "id: required (a string of 1..%zu bytes)", kMaxIdBytes);
  std::string text;
  AIRT_TRY(read_string(id, "id", 1, kMaxIdBytes, &text));
  if (has_control(text)) return invalid("id", "must not contain control characters", id);
  out->id = std::move(text);
  return ok_status();
}

Status read_reply_to(const cJSON* root, Request* out) {
  const cJSON* reply_to = cJSON_GetObjectItemCaseSensitive(root, "reply_to");
  if (!reply_to) return ok_status();
  std::string topic;
  AIRT_TRY(read_string(reply_to, "reply_to", 1, 1024, &topic));
  if (!reply_topic_valid(topic))
    return invalid("reply_to", "must be a topic name without wildcards, not starting with '$'", reply_to);
  out->reply_to = std::move(topic);
  return ok_status();
}

Status read_address(const cJSON* root, Request* out) {
  Status id = read_id(root, out);
  Status reply_to = read_reply_to(root, out);
  return !id.ok() ? id : reply_to;
}

Status read_messages(const cJSON* v, Request* out) {
  if (!cJSON_IsArray(v)) return invalid("messages", "must be an array of {\"role\", \"content\"} objects", v);
  int n = cJSON_GetArraySize(v);
  if (n < 1 || size_t(n) > kMaxMessages)
    return errorf(Error::kRequestInvalid, "messages: must hold 1..%zu messages, got %d", kMaxMessages, n);
  out->messages.reserve(size_t(n));
  int i = 0;
  for (const cJSON* m = v->child; m; m = m->next, ++i) {
    std::string field = "messages[" + std::to_string(i) + "]";
    if (!cJSON_IsObject(m)) return invalid(field.c_str(), "must be an object {\"role\", \"content\"}", m);
    ChatMessage msg;
    std::string role_field = field + ".role", content_field = field + ".content";
    const cJSON* role = cJSON_GetObjectItemCaseSensitive(m, "role");
    const cJSON* content = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (!role) return errorf(Error::kRequestInvalid, "%s: required", role_field.c_str());
    if (!content) return errorf(Error::kRequestInvalid, "%s: required", content_field.c_str());
    if (!cJSON_IsString(role) || (std::strcmp(role->valuestring, "system") && std::strcmp(role->valuestring, "user") &&
                                  std::strcmp(role->valuestring, "assistant")))
      return invalid(role_field.c_str(), "must be \"system\", \"user\" or \"assistant\"", role);
    msg.role = role->valuestring;
    AIRT_TRY(read_string(content, content_field.c_str(), 0, kAddressableBytes, &msg.content));
    out->messages.push_back(std::move(msg));
  }
  return ok_status();
}

Status read_stop(const cJSON* v, Request* out) {
  if (!cJSON_IsArray(v)) return invalid("stop", "must be an array of strings", v);
  int n = cJSON_GetArraySize(v);
  if (size_t(n) > kMaxStops)
    return errorf(Error::kRequestInvalid, "stop: must hold at most %zu strings, got %d", kMaxStops, n);
  int i = 0;
  for (const cJSON* s = v->child; s; s = s->next, ++i) {
    std::string field = "stop[" + std::to_string(i) + "]";
    std::string text;
    AIRT_TRY(read_string(s, field.c_str(), 1, kMaxStopBytes, &text));
    out->stop.push_back(std::move(text));
  }
  return ok_status();
}

// Sampling fields. Numbers are checked as the type they are stored in: top_p 1e-300 is
// 0 as a float, which is out of range.
Status read_sampling(const cJSON* root, const RequestLimits& limits, Request* out) {
  auto item = [&](const char* name) { return cJSON_GetObjectItemCaseSensitive(root, name); };
  out->max_tokens = limits.default_max_tokens;
  int64_t x;
  if (const cJSON* v = item("max_tokens")) {
    if (cJSON_IsNumber(v) && json_get_int(v, limits.max_tokens_cap + int64_t{1}, INT64_MAX / 2, &x))
      return errorf(Error::kRequestTooLarge, "max_tokens: %lld is above this node's cap of %d",
                    static_cast<long long>(x), limits.max_tokens_cap);
    AIRT_TRY(read_int(v, "max_tokens", 1, limits.max_tokens_cap, &x));
    out->max_tokens = int(x);
  }
  if (const cJSON* v = item("temperature"); v && !json_get_float(v, 0, 2, false, &out->temperature))
    return invalid("temperature", "must be a number 0..2", v);
  if (const cJSON* v = item("top_p"); v && !json_get_float(v, 0, 1, true, &out->top_p))
    return invalid("top_p", "must be a number above 0, at most 1", v);
  if (const cJSON* v = item("top_k")) {
    AIRT_TRY(read_int(v, "top_k", 0, kMaxTopK, &x));
    out->top_k = int(x);
  }
  if (const cJSON* v = item("seed")) {
    AIRT_TRY(read_int(v, "seed", 0, int64_t(kMaxSeed), &x));
    out->has_seed = true;
    out->seed = uint64_t(x);
  }
  if (const cJSON* v = item("stop")) AIRT_TRY(read_stop(v, out));
  return ok_status();
}

Status read_scheduling(const cJSON* root, Request* out) {
  auto item = [&](const char* name) { return cJSON_GetObjectItemCaseSensitive(root, name); };
  int64_t x;
  if (const cJSON* v = item("stream")) AIRT_TRY(read_bool(v, "stream", &out->stream));
  if (const cJSON* v = item("priority")) {
    AIRT_TRY(read_int(v, "priority", 0, 9, &x));
    out->priority = int(x);
  }
  if (const cJSON* v = item("ttft_ms")) {
    AIRT_TRY(read_int(v, "ttft_ms", 1, kMaxDeadlineMs, &x));
    out->ttft_ms = int(x);
  }
  if (const cJSON* v = item("deadline_ms")) {
    AIRT_TRY(read_int(v, "deadline_ms", 1, kMaxDeadlineMs, &x));
    out->deadline_ms = int(x);
  }
  if (out->ttft_ms && out->deadline_ms && out->ttft_ms > out->deadline_ms)
    return errorf(Error::kRequestInvalid, "ttft_ms: %d is above deadline_ms (%d)", out->ttft_ms, out->deadline_ms);
  if (const cJSON* v = item("best_effort")) AIRT_TRY(read_bool(v, "best_effort", &out->best_effort));
  if (const cJSON* v = item("session")) {
    AIRT_TRY(read_string(v, "session", 1, kMaxSessionBytes, &out->session));
    if (!session_name_ok(out->session))
      return invalid("session", "must use only letters, digits, '-', '_' and '.', not starting with '.'", v);
  }
  return ok_status();
}

Status read_body(const cJSON* root, const RequestLimits& limits, Request* out) {
  auto item = [&](const char* name) { return cJSON_GetObjectItemCaseSensitive(root, name); };
  const cJSON* prompt = item("prompt");
  const cJSON* messages = item("messages");
  if (prompt && messages)
    return errorf(Error::kRequestInvalid, "prompt: give either prompt or messages, not both");
  if (!prompt && !messages)
    return errorf(Error::kRequestInvalid, "prompt: required (a string), or messages (an array)");
  if (prompt) AIRT_TRY(read_string(prompt, "prompt", 1, kAddressableBytes, &out->prompt));
  if (messages) AIRT_TRY(read_messages(messages, out));
  if (const cJSON* v = item("model")) AIRT_TRY(read_string(v, "model", 1, 256, &out->model));
  AIRT_TRY(read_sampling(root, limits, out));
  return read_scheduling(root, out);
}

// The JSON names predate the governor's struct and are kept for clients: weights is
// the tier's name, attention_window the window.
void append_operating_point(std::string& out, const governor::OperatingPoint& op, std::string_view tier_name) {
  out += "{\"weights\":";
  json_append_string(out, tier_name);
  out += ",\"attention_window\":";
  json_append_number(out, op.window);
  out += ",\"draft_len\":";
  json_append_number(out, op.draft_len);
  out += ",\"threads\":";
  json_append_number(out, op.threads);
  out += ",\"backend\":";
  json_append_string(out, governor::backend_kind_name(op.backend));
  out += '}';
}

void append_field(std::string& out, const char* name) {
  if (out.back() != '{') out += ',';
  out += '"';
  out += name;
  out += "\":";
}

double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

}  // namespace

const char* reply_error_name(ReplyError e) {
  switch (e) {
    case ReplyError::kBadRequest: return "bad_request";
    case ReplyError::kTooLarge: return "too_large";
    case ReplyError::kOverloaded: return "overloaded";
    case ReplyError::kDeadlineUnmeetable: return "deadline_unmeetable";
    case ReplyError::kInternal: return "internal";
  }
  return "internal";
}

ReplyError reply_error_for(Error e) {
  switch (e) {
    case Error::kRequestTooLarge: return ReplyError::kTooLarge;
    case Error::kResourceExhausted: return ReplyError::kOverloaded;
    case Error::kResourceOverBudget: return ReplyError::kDeadlineUnmeetable;
    case Error::kRequestInvalid:
    case Error::kRequestOutOfRange:
    case Error::kFormatInvalid:
    case Error::kFormatUnsupported: return ReplyError::kBadRequest;
    default: return ReplyError::kInternal;
  }
}

GenerateRequest Request::view(int64_t arrival_ns) const {
  GenerateRequest g;
  g.id = id;
  g.prompt = prompt;
  g.messages = messages;
  g.max_tokens = max_tokens;
  g.temperature = temperature;
  g.top_p = top_p;
  g.top_k = top_k;
  g.has_seed = has_seed;
  g.seed = seed;
  g.stop = stop;
  g.priority = priority;
  g.ttft_ms = ttft_ms;
  g.deadline_ms = deadline_ms;
  g.best_effort = best_effort;
  g.session = session;
  g.arrival_ns = arrival_ns;
  return g;
}

bool reply_topic_valid(std::string_view topic) {
  if (topic.empty() || topic.size() > 65535 || topic[0] == '$') return false;
  return mosquitto_pub_topic_check2(topic.data(), topic.size()) == MOSQ_ERR_SUCCESS &&
         utf8_valid(topic) && topic.find('\0') == std::string_view::npos;
}

Status request_parse(std::string_view payload, const RequestLimits& limits, Request* out) {
  *out = Request{};
  bool too_large = payload.size() > size_t(limits.max_payload_bytes);
  if (too_large && payload.size() > kAddressableBytes)
    return errorf(Error::kRequestTooLarge, "payload: %zu bytes is over this node's limit of %d bytes",
                  payload.size(), limits.max_payload_bytes);
  std::string problem;
  JsonPtr root = json_parse_one(payload, &problem);
  if (too_large) {
    // Address the error reply if we can; the request itself is not read.
    if (root && cJSON_IsObject(root.get())) (void)read_address(root.get(), out);
    return errorf(Error::kRequestTooLarge, "payload: %zu bytes is over this node's limit of %d bytes",
                  payload.size(), limits.max_payload_bytes);
  }
  if (!root) return errorf(Error::kRequestInvalid, "payload: %s", problem.c_str());
  if (!cJSON_IsObject(root.get()))
    return errorf(Error::kRequestInvalid, "payload: must be a JSON object, got %s", json_describe(root.get()).c_str());
  AIRT_TRY(read_address(root.get(), out));
  return read_body(root.get(), limits, out);
}

Status cancel_parse(std::string_view payload, std::string* id, std::string* reply_to) {
  if (payload.size() > 4096) return errorf(Error::kRequestTooLarge, "cancel: %zu bytes is too large", payload.size());
  std::string problem;
  JsonPtr root = json_parse_one(payload, &problem);
  if (!root) return errorf(Error::kRequestInvalid, "cancel: %s", problem.c_str());
  if (!cJSON_IsObject(root.get())) return errorf(Error::kRequestInvalid, "cancel: must be a JSON object");
  Request r;
  AIRT_TRY(read_address(root.get(), &r));
  *id = std::move(r.id);
  *reply_to = std::move(r.reply_to);
  return ok_status();
}

std::string reply_final(std::string_view id, std::string_view text, const FinalReply& r) {
  std::string out;
  out.reserve(text.size() + id.size() + 320);
  out += "{\"id\":";
  json_append_string(out, id);
  out += ",\"text\":";
  json_append_string(out, text);
  out += ",\"finish_reason\":";
  json_append_string(out, engine::finish_reason_name(r.reason));
  out += ",\"usage\":{\"prompt_tokens\":";
  json_append_number(out, r.prompt_tokens);
  out += ",\"completion_tokens\":";
  json_append_number(out, r.completion_tokens);
  out += ",\"draft_tokens\":";
  json_append_number(out, r.drafted);
  out += ",\"accepted_draft_tokens\":";
  json_append_number(out, r.accepted);
  out += ",\"target_passes\":";
  json_append_number(out, r.passes);
  out += "},\"timings\":{\"ttft_ms\":";
  json_append_number(out, round3(r.ttft_ms));
  out += ",\"total_ms\":";
  json_append_number(out, round3(r.total_ms));
  out += ",\"tokens_per_s\":";
  json_append_number(out, round3(r.tokens_per_s));
  out += "},\"operating_point\":";
  append_operating_point(out, r.operating_point, r.tier_name);
  out += '}';
  return out;
}

void reply_chunk(std::string& out, std::string_view id, std::string_view delta, int index) {
  out.clear();
  out += "{\"id\":";
  json_append_string(out, id);
  out += ",\"delta\":";
  json_append_string(out, delta);
  out += ",\"index\":";
  json_append_number(out, index);
  out += '}';
}

std::string reply_error(const std::string* id, ReplyError code, std::string_view message) {
  std::string out = "{\"id\":";
  if (id && !id->empty()) json_append_string(out, *id);
  else out += "null";
  out += ",\"error\":{\"code\":";
  json_append_string(out, reply_error_name(code));
  out += ",\"message\":";
  // Messages may quote request bytes: keep the reply valid JSON whatever they hold.
  json_append_string(out, utf8_valid(message) ? message : std::string_view("(message not UTF-8)"));
  out += "}}";
  return out;
}

std::string status_json(const StatusInfo& s) {
  std::string out = "{";
  append_field(out, "state");
  json_append_string(out, s.state);
  append_field(out, "node");
  json_append_string(out, s.node);
  if (!s.reason.empty()) {
    append_field(out, "reason");
    json_append_string(out, s.reason);
  }
  if (s.state != "offline") {
    append_field(out, "model");
    json_append_string(out, s.model);
    append_field(out, "slots");
    json_append_number(out, s.slots);
    append_field(out, "slots_busy");
    json_append_number(out, s.slots_busy);
    append_field(out, "queued");
    json_append_number(out, s.queued);
    append_field(out, "tokens_per_s");
    json_append_number(out, round3(s.tokens_per_s));
    if (s.has_operating_point) {
      append_field(out, "operating_point");
      append_operating_point(out, s.operating_point, s.tier_name);
    }
    if (!s.governor.empty()) {
      append_field(out, "governor");
      out += s.governor;
    }
  }
  out += '}';
  return out;
}

std::string telemetry_json(const TelemetryInfo& t) {
  std::string out = "{";
  append_field(out, "node");
  json_append_string(out, t.node);
  append_field(out, "uptime_s");
  json_append_number(out, round3(t.uptime_s));
  append_field(out, "temperature_c");
  json_append_number(out, t.stats.temperature_c);  // NAN prints null
  append_field(out, "power_w");
  json_append_number(out, t.stats.power_w);
  append_field(out, "memory");
  out += "{\"available_bytes\":";
  if (t.mem_available_bytes >= 0) json_append_number(out, double(t.mem_available_bytes));
  else out += "null";
  out += ",\"rss_bytes\":";
  if (t.rss_bytes >= 0) json_append_number(out, double(t.rss_bytes));
  else out += "null";
  out += '}';
  append_field(out, "tokens_per_s");
  json_append_number(out, round3(t.stats.tokens_per_s));
  append_field(out, "slots_busy");
  json_append_number(out, t.stats.slots_busy);
  append_field(out, "speculative");
  out += "{\"drafted\":";
  json_append_number(out, double(t.stats.drafted));
  out += ",\"accepted\":";
  json_append_number(out, double(t.stats.accepted));
  out += ",\"acceptance\":";
  json_append_number(out, t.stats.drafted > 0 ? round3(double(t.stats.accepted) / double(t.stats.drafted)) : 0.0);
  out += ",\"draft_len\":";
  json_append_number(out, t.stats.draft_k);
  out += '}';
  append_field(out, "queued");
  json_append_number(out, t.queued);
  append_field(out, "requests");
  out += "{\"total\":";
  json_append_number(out, double(t.requests_total));
  out += ",\"final\":";
  json_append_number(out, double(t.replies_final));
  out += ",\"error\":";
  json_append_number(out, double(t.replies_error));
  out += ",\"overloaded\":";
  json_append_number(out, double(t.overloaded));
  out += '}';
  append_field(out, "operating_point");
  append_operating_point(out, t.stats.operating_point, t.stats.tier_name);
  append_field(out, "governor_events");
  out += '[';
  for (size_t i = 0; i < t.stats.events.size(); ++i) {
    const GovernorEvent& e = t.stats.events[i];
    if (i) out += ',';
    out += "{\"age_ms\":";
    json_append_number(out, std::round(double(t.now_ns - e.time_ns) / 1e6));
    out += ",\"what\":";
    json_append_string(out, e.what);
    out += ",\"reason\":";
    json_append_string(out, e.reason);
    out += '}';
  }
  out += ']';
  if (!t.stats.governor.empty()) {
    append_field(out, "governor");
    out += t.stats.governor;
  }
  out += '}';
  return out;
}

}  // namespace airt::service
