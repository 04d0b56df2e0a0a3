#include "runtime/service/config.h"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <mosquitto.h>

#include "runtime/service/json_util.h"

namespace airt::service {
namespace {

enum class Type { kString, kInt, kInt64, kDouble, kBool, kEnum, kStringList };

// Returns nullptr when the string is acceptable, else the problem ("must be ...").
using StringCheck = const char* (*)(const std::string&);

struct Field {
  const char* path;  // "limits.max_payload_bytes"
  Type type;
  void* (*ref)(ServiceConfig&);
  double min, max;          // numbers: range; strings: length range
  const char* choices;      // enums: "a|b|c"
  StringCheck check;
  bool live;                // SIGHUP can apply it without a restart
  const char* doc;
};

#define AIRT_REF(m) [](ServiceConfig& c) -> void* { return &c.m; }

const char* check_node(const std::string& s) {
  for (char c : s) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return "must use only letters, digits, '-', '_' and '.' (it becomes a topic level)";
  }
  return nullptr;
}

const char* check_topic(const std::string& s) {
  if (s.find_first_of("+#") != std::string::npos) return "must not contain the wildcards '+' or '#'";
  if (!s.empty() && s[0] == '$') return "must not start with '$' (use topics.share_group for $share)";
  if (!utf8_valid(s)) return "must be UTF-8";
  return nullptr;
}

const char* check_share_group(const std::string& s) {
  if (s.find_first_of("/+#") != std::string::npos) return "must not contain '/', '+' or '#'";
  return nullptr;
}

const char* check_client_id(const std::string& s) {
  if (!utf8_valid(s)) return "must be UTF-8";
  return nullptr;
}

constexpr double kMaxPayload = 16777216;

const Field kFields[] = {
    {"node", Type::kString, AIRT_REF(node), 0, 64, nullptr, check_node, false,
     "Name of this board in topics (airt/<node>/...); empty: the host name. --node overrides."},
    {"slots", Type::kInt, AIRT_REF(slots), 1, 256, nullptr, nullptr, false,
     "Sequences generated at once (continuous batching). --slots overrides."},
    {"telemetry_interval_s", Type::kInt, AIRT_REF(telemetry_interval_s), 0, 86400, nullptr, nullptr, true,
     "Seconds between telemetry messages; 0 turns telemetry off."},
    {"drain_timeout_ms", Type::kInt, AIRT_REF(drain_timeout_ms), 0, 3600000, nullptr, nullptr, true,
     "On SIGTERM, how long in-flight requests may run before they are cancelled; keep below the unit's TimeoutStopSec."},
    {"log_level", Type::kEnum, AIRT_REF(log_level), 0, 0, "debug|info|warning|error", nullptr, true,
     "Least severe log level written (journald when run by systemd, else stderr)."},

    {"broker.host", Type::kString, AIRT_REF(broker.host), 1, 253, nullptr, nullptr, false,
     "MQTT broker host name or address. --broker HOST:PORT or mqtts://HOST:PORT overrides."},
    {"broker.port", Type::kInt, AIRT_REF(broker.port), 1, 65535, nullptr, nullptr, false,
     "Broker TCP port (1883 plain, usually 8883 with TLS)."},
    {"broker.tls", Type::kBool, AIRT_REF(broker.tls), 0, 0, nullptr, nullptr, false,
     "Connect with TLS (mqtts)."},
    {"broker.ca_file", Type::kString, AIRT_REF(broker.ca_file), 0, 4096, nullptr, nullptr, false,
     "PEM file of CA certificates that sign the broker's certificate; empty with ca_path empty: the system store."},
    {"broker.ca_path", Type::kString, AIRT_REF(broker.ca_path), 0, 4096, nullptr, nullptr, false,
     "Directory of hashed CA certificates (alternative to ca_file)."},
    {"broker.cert_file", Type::kString, AIRT_REF(broker.cert_file), 0, 4096, nullptr, nullptr, false,
     "Client certificate (PEM) for TLS client authentication; needs key_file."},
    {"broker.key_file", Type::kString, AIRT_REF(broker.key_file), 0, 4096, nullptr, nullptr, false,
     "Private key (PEM, unencrypted) of cert_file."},
    {"broker.username", Type::kString, AIRT_REF(broker.username), 0, 256, nullptr, nullptr, false,
     "MQTT user name; empty: anonymous."},
    {"broker.password", Type::kString, AIRT_REF(broker.password), 0, 256, nullptr, nullptr, false,
     "MQTT password; prefer password_file so the secret is not in this file."},
    {"broker.password_file", Type::kString, AIRT_REF(broker.password_file), 0, 4096, nullptr, nullptr, false,
     "File whose first line is the MQTT password (works with systemd LoadCredential=)."},
    {"broker.client_id", Type::kString, AIRT_REF(broker.client_id), 0, 128, nullptr, check_client_id, false,
     "MQTT client id; keep it stable so the persistent sessions survive restarts (replies go on a second "
     "connection, <id>-replies). Empty: airt-<node>."},
    {"broker.protocol", Type::kEnum, AIRT_REF(broker.protocol), 0, 0, "mqttv5|mqttv311", nullptr, false,
     "Protocol airt speaks to the broker. Clients may use either; 3.1.1 clients put reply_to in the request."},
    {"broker.keepalive_s", Type::kInt, AIRT_REF(broker.keepalive_s), 5, 65535, nullptr, nullptr, false,
     "MQTT keepalive in seconds."},
    {"broker.session_expiry_s", Type::kInt64, AIRT_REF(broker.session_expiry_s), 0, 4294967295.0, nullptr, nullptr, false,
     "How long the broker keeps airt's session (and requests queued for it) while airt is away."},
    {"broker.reconnect_min_ms", Type::kInt, AIRT_REF(broker.reconnect_min_ms), 100, 600000, nullptr, nullptr, false,
     "First delay before reconnecting after the broker goes away; doubles each failed attempt."},
    {"broker.reconnect_max_ms", Type::kInt, AIRT_REF(broker.reconnect_max_ms), 100, 3600000, nullptr, nullptr, false,
     "Longest delay between reconnect attempts."},

    {"topics.request", Type::kString, AIRT_REF(topics.request), 1, 1024, nullptr, check_topic, false,
     "Topic requests arrive on; {node} is replaced by the node name."},
    {"topics.cancel", Type::kString, AIRT_REF(topics.cancel), 1, 1024, nullptr, check_topic, false,
     "Topic of cancel messages {\"id\": ...}."},
    {"topics.status", Type::kString, AIRT_REF(topics.status), 1, 1024, nullptr, check_topic, false,
     "Retained status topic (online, model, slots, operating point); the Last Will sets it offline."},
    {"topics.telemetry", Type::kString, AIRT_REF(topics.telemetry), 1, 1024, nullptr, check_topic, false,
     "Telemetry topic (temperature, power, memory, tokens/s, governor events)."},
    {"topics.share_group", Type::kString, AIRT_REF(topics.share_group), 0, 128, nullptr, check_share_group, false,
     "When set, requests are read through $share/<group>/<request> so several boards share one stream."},

    {"limits.max_payload_bytes", Type::kInt, AIRT_REF(limits.max_payload_bytes), 1, kMaxPayload, nullptr, nullptr, true,
     "Largest request payload; larger ones get a too_large error."},
    {"limits.max_prompt_tokens", Type::kInt, AIRT_REF(limits.max_prompt_tokens), 1, 1048576, nullptr, nullptr, true,
     "Longest prompt after tokenization (chat template included); longer ones get too_large."},
    {"limits.max_tokens_cap", Type::kInt, AIRT_REF(limits.max_tokens_cap), 1, 1048576, nullptr, nullptr, true,
     "Largest max_tokens a request may ask for; more is rejected as too_large."},
    {"limits.default_max_tokens", Type::kInt, AIRT_REF(limits.default_max_tokens), 1, 1048576, nullptr, nullptr, true,
     "max_tokens of a request that does not say."},
    {"limits.queue_depth", Type::kInt, AIRT_REF(limits.queue_depth), 0, 65536, nullptr, nullptr, true,
     "Requests that may wait for a free slot; beyond that, an immediate overloaded error."},
    {"limits.rate_limit_per_s", Type::kDouble, AIRT_REF(limits.rate_limit_per_s), 0, 1e6, nullptr, nullptr, true,
     "Requests per second one client (reply topic) may send; 0 turns the limit off."},
    {"limits.rate_limit_burst", Type::kInt, AIRT_REF(limits.rate_limit_burst), 1, 1000000, nullptr, nullptr, true,
     "Requests a client may send at once before rate_limit_per_s applies."},
    {"limits.dedup_window", Type::kInt, AIRT_REF(limits.dedup_window), 16, 1048576, nullptr, nullptr, true,
     "How many answered request ids are remembered so a redelivered request is not run twice."},

    {"model.path", Type::kString, AIRT_REF(model.path), 0, 4096, nullptr, nullptr, false,
     "GGUF model file; required to serve. -m overrides."},
    {"model.ladder", Type::kStringList, AIRT_REF(model.ladder), 1, 4096, nullptr, nullptr, false,
     "Further GGUF files of the same model at other quantizations (weight tiers, e.g. a q4_0 file beside a q8_0 "
     "model.path), all mapped and checked to match; the operating point switches between them. --ladder overrides."},
    {"model.ctx", Type::kInt, AIRT_REF(model.ctx), 16, 1048576, nullptr, nullptr, false,
     "Context length (tokens) of each slot."},
    {"model.threads", Type::kInt, AIRT_REF(model.threads), 0, 1024, nullptr, nullptr, false,
     "CPU threads; 0: one per core."},
    {"model.backend", Type::kEnum, AIRT_REF(model.backend), 0, 0, "auto|cpu|vulkan", nullptr, false,
     "Where the forward pass runs: cpu, vulkan (an error names the device or feature missing), or auto (the CPU "
     "and each non-CPU Vulkan device are timed at start-up; the faster serves)."},
    {"model.backend_fallback", Type::kEnum, AIRT_REF(model.backend_fallback), 0, 0, "auto|cpu|none", nullptr,
     false,
     "On vulkan: cpu also plans a CPU backend over the same KV pool, which the governor may move to and which a "
     "lost device falls back to (every request completes); none: not; auto: cpu when model.backend is auto, none "
     "when vulkan is forced."},
    {"model.gpu", Type::kInt, AIRT_REF(model.gpu), -1, 63, nullptr, nullptr, false,
     "Vulkan device index (airt info lists them); -1: the first usable one."},
    {"model.gpu_layers", Type::kInt, AIRT_REF(model.gpu_layers), -1, 1 << 20, nullptr, nullptr, false,
     "Partial offload (llama.cpp's -ngl): the last N transformer layers and the output head run on the Vulkan "
     "device, the embeddings and the layers before them on the CPU; -1 (or N >= the model's layers): all on the "
     "device; 0: the CPU only. Needs model.backend vulkan or auto."},
    {"model.draft", Type::kString, AIRT_REF(model.draft), 0, 4096, nullptr, nullptr, false,
     "Speculative decoding: drafters tried in order, joined by '+': ngram, tier:NAME, self:skip=N, "
     "self:layers=A,B or a draft model's .gguf path (same vocabulary). Empty: off."},
    {"model.draft_max", Type::kInt, AIRT_REF(model.draft_max), 1, 64, nullptr, nullptr, false,
     "Longest draft per step; the length is chosen each step from measured costs (0 where drafting does not pay)."},
    {"model.repack", Type::kBool, AIRT_REF(model.repack), 0, 0, nullptr, nullptr, false,
     "Q4_0 weights copied once at start-up into the layout the CPU kernels multiply fastest, where they do "
     "(AVX-512; the copies replace the mapped rows in the plan); false: the mapped rows as they are "
     "(airt run --no-repack)."},

    {"sessions.max_count", Type::kInt, AIRT_REF(sessions.max_count), 0, 65536, nullptr, nullptr, false,
     "Named sessions whose KV cache stays in memory; older ones are saved compressed and restored on use."},
    {"sessions.state_dir", Type::kString, AIRT_REF(sessions.state_dir), 1, 4096, nullptr, nullptr, false,
     "Where evicted sessions are saved (the unit's StateDirectory)."},

    {"journal.path", Type::kString, AIRT_REF(journal.path), 0, 4096, nullptr, nullptr, false,
     "Request journal: each request is written here before it runs and run again (or answered with an error) "
     "after a crash. Empty: no journal (a crash loses the requests in flight)."},

    {"governor.enabled", Type::kBool, AIRT_REF(governor.enabled), 0, 0, nullptr, nullptr, false,
     "Run under the governor: the operating point (weight tier of model.ladder, KV precision, draft length) follows "
     "temperature, power, memory and the requests' deadlines; impossible deadlines get deadline_unmeetable at once."},
    {"governor.soft_temp_c", Type::kDouble, AIRT_REF(governor.soft_temp_c), -50, 200, nullptr, nullptr, false,
     "Above this temperature (or predicted above it within 5 s) the governor derates to cheaper points."},
    {"governor.hard_temp_c", Type::kDouble, AIRT_REF(governor.hard_temp_c), -50, 200, nullptr, nullptr, false,
     "At or above this temperature the governor sheds load: the cheapest point, and new requests get overloaded."},
    {"governor.power_cap_w", Type::kDouble, AIRT_REF(governor.power_cap_w), 0, 100000, nullptr, nullptr, false,
     "Board power cap in watts (where a power sensor exists); 0: none."},
    {"governor.mem_floor_mb", Type::kDouble, AIRT_REF(governor.mem_floor_mb), 0, 1e9, nullptr, nullptr, false,
     "Below this much available memory (MB) the KV precision and the attention window (to a half, then a quarter "
     "of model.ctx) shrink while requests run, and grow back when memory returns; 0: none."},
    {"governor.dwell_s", Type::kDouble, AIRT_REF(governor.dwell_s), 0, 3600, nullptr, nullptr, false,
     "Least seconds between switches no limit or deadline forces (hysteresis)."},
    {"governor.trace", Type::kString, AIRT_REF(governor.trace), 0, 4096, nullptr, nullptr, false,
     "Replay this sensor trace (CSV t_s,temp_c,power_w,mem_avail_mb,cpu_mhz) from start-up instead of reading "
     "the board's sensors: for tests and demos. Empty: the board's sensors."},
    {"governor.sysfs_root", Type::kString, AIRT_REF(governor.sysfs_root), 1, 4096, nullptr, nullptr, false,
     "Where the board's sensors are read (/sys/class/thermal, hwmon, power_supply, cpufreq below it)."},
    {"governor.profile", Type::kString, AIRT_REF(governor.profile), 0, 4096, nullptr, nullptr, false,
     "Latency profile written by airt bench --calibrate, read at start when present (a file that is there but "
     "cannot be read refuses the start); without one the cost model starts from defaults and learns online. "
     "Empty: none."},
};

#undef AIRT_REF

const char* kSections[] = {"broker", "topics", "limits", "model", "sessions", "journal", "governor"};

const Field* find_field(const std::string& path) {
  for (const Field& f : kFields)
    if (path == f.path) return &f;
  return nullptr;
}

bool is_section(const std::string& name) {
  for (const char* s : kSections)
    if (name == s) return true;
  return false;
}

std::string range_text(const Field& f) {
  char buf[128];
  switch (f.type) {
    case Type::kInt:
    case Type::kInt64:
      std::snprintf(buf, sizeof buf, "must be an integer %.0f..%.0f", f.min, f.max);
      return buf;
    case Type::kDouble:
      std::snprintf(buf, sizeof buf, "must be a number %g..%g", f.min, f.max);
      return buf;
    case Type::kBool: return "must be true or false";
    case Type::kEnum: {
      std::string s = "must be one of ";
      for (const char* c = f.choices; *c; ++c) s += (*c == '|') ? std::string(", ") : std::string(1, *c);
      return s;
    }
    case Type::kStringList:
      std::snprintf(buf, sizeof buf, "must be a list of strings of %.0f..%.0f bytes", f.min, f.max);
      return buf;
    case Type::kString:
      if (f.min > 0) {
        std::snprintf(buf, sizeof buf, "must be a string of %.0f..%.0f bytes", f.min, f.max);
      } else {
        std::snprintf(buf, sizeof buf, "must be a string of at most %.0f bytes", f.max);
      }
      return buf;
  }
  return "invalid";
}

bool enum_has(const char* choices, const std::string& v) {
  std::string_view all = choices;
  size_t start = 0;
  while (start <= all.size()) {
    size_t bar = all.find('|', start);
    if (bar == std::string_view::npos) bar = all.size();
    if (all.substr(start, bar - start) == v) return true;
    start = bar + 1;
  }
  return false;
}

// Sets the field from JSON; on failure returns the problem (without the field name).
std::string apply_field(const Field& f, const cJSON* v, ServiceConfig& c) {
  void* p = f.ref(c);
  auto bad = [&] { return range_text(f) + ", got " + json_describe(v); };
  switch (f.type) {
    case Type::kInt: {
      int64_t x;
      if (!json_get_int(v, int64_t(f.min), int64_t(f.max), &x)) return bad();
      *static_cast<int*>(p) = static_cast<int>(x);
      return {};
    }
    case Type::kInt64: {
      int64_t x;
      if (!json_get_int(v, int64_t(f.min), int64_t(f.max), &x)) return bad();
      *static_cast<int64_t*>(p) = x;
      return {};
    }
    case Type::kDouble:
      if (!cJSON_IsNumber(v) || v->valuedouble < f.min || v->valuedouble > f.max) return bad();
      *static_cast<double*>(p) = v->valuedouble;
      return {};
    case Type::kBool:
      if (!cJSON_IsBool(v)) return bad();
      *static_cast<bool*>(p) = cJSON_IsTrue(v);
      return {};
    case Type::kEnum:
      if (!cJSON_IsString(v) || json_has_nul(v) || !enum_has(f.choices, v->valuestring)) return bad();
      *static_cast<std::string*>(p) = v->valuestring;
      return {};
    case Type::kStringList: {
      if (!cJSON_IsArray(v)) return bad();
      std::vector<std::string> list;
      for (const cJSON* e = v->child; e; e = e->next) {
        if (!cJSON_IsString(e) || json_has_nul(e)) return bad();
        list.emplace_back(e->valuestring);
        if (double(list.back().size()) < f.min || double(list.back().size()) > f.max) return bad();
      }
      *static_cast<std::vector<std::string>*>(p) = std::move(list);
      return {};
    }
    case Type::kString: {
      if (!cJSON_IsString(v)) return bad();
      if (json_has_nul(v)) return "must not contain NUL characters (\\u0000)";
      std::string s = v->valuestring;
      if (double(s.size()) < f.min || double(s.size()) > f.max) return bad();
      if (f.check) {
        if (const char* problem = f.check(s)) return std::string(problem) + ", got " + json_describe(v);
      }
      *static_cast<std::string*>(p) = std::move(s);
      return {};
    }
  }
  return "invalid";
}

// The field's value as JSON text, for the documented defaults and for comparisons.
std::string field_json(const Field& f, const ServiceConfig& cc) {
  auto& c = const_cast<ServiceConfig&>(cc);  // ref() is shared with the setters; read only here
  const void* p = f.ref(c);
  std::string out;
  switch (f.type) {
    case Type::kInt: json_append_number(out, *static_cast<const int*>(p)); break;
    case Type::kInt64: json_append_number(out, double(*static_cast<const int64_t*>(p))); break;
    case Type::kDouble: json_append_number(out, *static_cast<const double*>(p)); break;
    case Type::kBool: out = *static_cast<const bool*>(p) ? "true" : "false"; break;
    case Type::kEnum:
    case Type::kString: json_append_string(out, *static_cast<const std::string*>(p)); break;
    case Type::kStringList: {
      out = "[";
      for (const std::string& e : *static_cast<const std::vector<std::string>*>(p)) {
        if (out.size() > 1) out += ", ";
        json_append_string(out, e);
      }
      out += "]";
      break;
    }
  }
  return out;
}

std::string line_col(const std::string& text, size_t pos) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < pos && i < text.size(); ++i) {
    if (text[i] == '\n') ++line, col = 1;
    else ++col;
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

void walk(const cJSON* obj, const std::string& prefix, ServiceConfig& c, std::set<std::string>& seen,
          std::vector<std::string>& problems) {
  for (const cJSON* item = obj->child; item; item = item->next) {
    std::string key = item->string ? item->string : "";
    if (!key.empty() && key[0] == '_') continue;  // comment
    std::string path = prefix.empty() ? key : prefix + "." + key;
    if (!seen.insert(path).second) {
      problems.push_back(path + ": given twice");
      continue;
    }
    if (prefix.empty() && is_section(key)) {
      if (!cJSON_IsObject(item)) {
        problems.push_back(path + ": must be an object, got " + json_describe(item));
        continue;
      }
      walk(item, path, c, seen, problems);
      continue;
    }
    const Field* f = find_field(path);
    if (!f) {
      problems.push_back(path + ": unknown field (see packaging/config/airt.json for the list)");
      continue;
    }
    std::string problem = apply_field(*f, item, c);
    if (!problem.empty()) problems.push_back(path + ": " + problem);
  }
}

Status join_problems(const std::string& origin, const std::vector<std::string>& problems) {
  if (problems.empty()) return ok_status();
  std::string msg;
  for (const std::string& p : problems) {
    if (!msg.empty()) msg += '\n';
    msg += origin + ": " + p;
  }
  return errorf(Error::kFormatInvalid, "%s", msg.c_str());
}

std::string replace_node(const std::string& pattern, const std::string& node) {
  std::string out = pattern;
  for (size_t at = out.find("{node}"); at != std::string::npos; at = out.find("{node}", at + node.size()))
    out.replace(at, 6, node);
  return out;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "airt";
  std::string s = buf;
  for (char& ch : s)
    if (!(isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.')) ch = '-';
  return s.substr(0, 64);
}

}  // namespace

std::string ServiceConfig::node_resolved() const { return node.empty() ? host_name() : node; }

std::string ServiceConfig::topic(const std::string& pattern) const { return replace_node(pattern, node_resolved()); }

std::string ServiceConfig::request_subscription() const {
  std::string t = topic(topics.request);
  return topics.share_group.empty() ? t : "$share/" + topics.share_group + "/" + t;
}

std::string ServiceConfig::client_id_resolved() const {
  return broker.client_id.empty() ? "airt-" + node_resolved() : broker.client_id;
}

Result<ServiceConfig> config_parse(const std::string& text, const std::string& origin) {
  std::string problem;
  size_t pos = 0;
  JsonPtr root = json_parse_one(text, &problem, &pos);
  if (!root)
    return errorf(Error::kFormatInvalid, "%s: %s: %s", origin.c_str(), line_col(text, pos).c_str(), problem.c_str());
  if (!cJSON_IsObject(root.get()))
    return errorf(Error::kFormatInvalid, "%s: the top level must be a JSON object, got %s", origin.c_str(),
                  json_describe(root.get()).c_str());
  ServiceConfig c;
  std::set<std::string> seen;
  std::vector<std::string> problems;
  walk(root.get(), "", c, seen, problems);
  AIRT_TRY(join_problems(origin, problems));
  return c;
}

Result<ServiceConfig> config_load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    int e = errno;
    return errorf(e == ENOENT ? Error::kIoNotFound : Error::kIoRead, "%s: cannot open: %s", path.c_str(),
                  std::strerror(e));
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return config_parse(ss.str(), path);
}

Status config_finalize(ServiceConfig& c, const std::string& origin) {
  std::vector<std::string> problems;
  auto add = [&](std::string p) { problems.push_back(std::move(p)); };
  if (const char* p = check_node(c.node)) add("node: " + std::string(p));
  if (c.limits.default_max_tokens > c.limits.max_tokens_cap)
    add("limits.default_max_tokens: " + std::to_string(c.limits.default_max_tokens) +
        " is above limits.max_tokens_cap (" + std::to_string(c.limits.max_tokens_cap) + ")");
  if (c.limits.max_prompt_tokens > c.model.ctx)
    add("limits.max_prompt_tokens: " + std::to_string(c.limits.max_prompt_tokens) + " is above model.ctx (" +
        std::to_string(c.model.ctx) + ")");
  if (c.governor.soft_temp_c >= c.governor.hard_temp_c) {
    char msg[160];
    std::snprintf(msg, sizeof msg, "governor.soft_temp_c: %g is not below governor.hard_temp_c (%g)",
                  c.governor.soft_temp_c, c.governor.hard_temp_c);
    add(msg);
  }
  if (c.model.gpu_layers > 0 && c.model.backend == "cpu")
    add("model.gpu_layers: " + std::to_string(c.model.gpu_layers) +
        " layers on a Vulkan device, but model.backend is cpu (set it to vulkan or auto, or remove gpu_layers)");
  if (c.broker.reconnect_min_ms > c.broker.reconnect_max_ms)
    add("broker.reconnect_min_ms: " + std::to_string(c.broker.reconnect_min_ms) +
        " is above broker.reconnect_max_ms (" + std::to_string(c.broker.reconnect_max_ms) + ")");
  if (c.broker.cert_file.empty() != c.broker.key_file.empty())
    add("broker.cert_file: cert_file and key_file go together (give both or neither)");
  if ((!c.broker.cert_file.empty() || !c.broker.ca_file.empty() || !c.broker.ca_path.empty()) && !c.broker.tls)
    add("broker.tls: certificate files are set but tls is false (set \"tls\": true or use mqtts://)");
  if (!c.broker.password.empty() && !c.broker.password_file.empty())
    add("broker.password_file: give password or password_file, not both");
  if ((!c.broker.password.empty() || !c.broker.password_file.empty()) && c.broker.username.empty())
    add("broker.username: a password is set but no username");
  if (!c.broker.password_file.empty()) {
    std::ifstream f(c.broker.password_file);
    std::string line;
    if (!f || !std::getline(f, line)) {
      add("broker.password_file: cannot read " + c.broker.password_file + ": " + std::strerror(errno));
    } else {
      while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
      c.broker.password = line;
    }
  }
  const std::pair<const char*, const std::string*> topics[] = {{"topics.request", &c.topics.request},
                                                               {"topics.cancel", &c.topics.cancel},
                                                               {"topics.status", &c.topics.status},
                                                               {"topics.telemetry", &c.topics.telemetry}};
  std::set<std::string> distinct;
  for (auto& [name, pattern] : topics) {
    std::string t = c.topic(*pattern);
    if (mosquitto_pub_topic_check(t.c_str()) != MOSQ_ERR_SUCCESS)
      add(std::string(name) + ": \"" + t + "\" is not a valid MQTT topic");
    if (!distinct.insert(t).second) add(std::string(name) + ": \"" + t + "\" is used for two purposes");
  }
  return join_problems(origin, problems);
}

std::string config_defaults_json() {
  ServiceConfig d;
  // Lines of one object, joined with ",\n" once complete so commas come out right.
  auto close = [](std::vector<std::string>& lines, const std::string& indent) {
    std::string s;
    for (size_t i = 0; i < lines.size(); ++i) s += indent + lines[i] + (i + 1 < lines.size() ? ",\n" : "\n");
    lines.clear();
    return s;
  };
  std::vector<std::string> top, inner;
  top.push_back(
      "\"_comment\": \"airt serve configuration (/etc/airt/airt.json). Every field is optional; the values "
      "shown are the defaults. Keys starting with '_' are comments: \\\"_x\\\" documents \\\"x\\\". "
      "Command-line flags override this file; SIGHUP reloads the fields marked (live). "
      "Check a file with: airt config check FILE\"");
  std::string section;
  auto flush_section = [&] {
    if (section.empty()) return;
    top.push_back("\"" + section + "\": {\n" + close(inner, "    ") + "  }");
  };
  for (const Field& f : kFields) {
    std::string path = f.path;
    size_t dot = path.find('.');
    std::string sec = dot == std::string::npos ? "" : path.substr(0, dot);
    std::string key = dot == std::string::npos ? path : path.substr(dot + 1);
    if (sec != section) {
      flush_section();
      section = sec;
    }
    std::string doc = std::string(f.doc) + " Must " + range_text(f).substr(5) + (f.live ? ". (live)" : ".");
    std::string doc_json;
    json_append_string(doc_json, doc);
    auto& lines = sec.empty() ? top : inner;
    lines.push_back("\"_" + key + "\": " + doc_json);
    lines.push_back("\"" + key + "\": " + field_json(f, d));
  }
  flush_section();
  return "{\n" + close(top, "  ") + "}\n";
}

Status config_set_broker_url(BrokerConfig& b, const std::string& url) {
  std::string rest = url;
  bool tls = b.tls;
  bool scheme = false;
  if (rest.rfind("mqtts://", 0) == 0) tls = true, scheme = true, rest = rest.substr(8);
  else if (rest.rfind("mqtt://", 0) == 0) tls = false, scheme = true, rest = rest.substr(7);
  else if (rest.find("://") != std::string::npos)
    return errorf(Error::kRequestInvalid, "--broker %s: unknown scheme (use mqtt:// or mqtts://)", url.c_str());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  std::string host = rest, port_text;
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos)
      return errorf(Error::kRequestInvalid, "--broker %s: missing ']' after an IPv6 address", url.c_str());
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':')
        return errorf(Error::kRequestInvalid, "--broker %s: expected ':PORT' after ']'", url.c_str());
      port_text = rest.substr(close + 2);
    }
  } else if (size_t colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port_text = rest.substr(colon + 1);
  }
  if (host.empty() || host.size() > 253)
    return errorf(Error::kRequestInvalid, "--broker %s: the host is missing (expected HOST:PORT)", url.c_str());
  int port = tls ? 8883 : 1883;
  if (!port_text.empty()) {
    char* end = nullptr;
    long p = std::strtol(port_text.c_str(), &end, 10);
    if (*end || p < 1 || p > 65535)
      return errorf(Error::kRequestInvalid, "--broker %s: the port must be 1..65535", url.c_str());
    port = int(p);
  } else if (!scheme && !b.tls) {
    port = 1883;
  }
  b.host = host;
  b.port = port;
  b.tls = tls;
  return ok_status();
}

std::vector<std::string> config_restart_fields(const ServiceConfig& a, const ServiceConfig& b) {
  std::vector<std::string> out;
  for (const Field& f : kFields) {
    if (!f.live && field_json(f, a) != field_json(f, b)) out.push_back(f.path);
  }
  return out;
}

}  // namespace airt::service
