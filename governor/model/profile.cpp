#include "governor/model/profile.h"

#include <sys/stat.h>

#include <cerrno>

#include <cjson/cJSON.h>

#include <memory>

#include "runtime/core/file.h"

namespace airt::governor {
namespace {

using Json = std::unique_ptr<cJSON, decltype(&cJSON_Delete)>;

constexpr const char* kFormat = "airt-latency-profile";
constexpr int kVersion = 1;

Result<std::optional<double>> number(const cJSON* obj, const char* key, const std::string& where,
                                     double min, double max) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return std::optional<double>();
  if (!cJSON_IsNumber(v) || v->valuedouble < min || v->valuedouble > max) {
    return errorf(Error::kFormatInvalid, "%s.%s: expected a number from %g to %g", where.c_str(),
                  key, min, max);
  }
  return std::optional<double>(v->valuedouble);
}

Result<std::optional<int32_t>> integer(const cJSON* obj, const char* key,
                                       const std::string& where) {
  auto v = AIRT_TRY(number(obj, key, where, 0, 1 << 30));
  if (!v) return std::optional<int32_t>();
  if (*v != double(int32_t(*v)))
    return errorf(Error::kFormatInvalid, "%s.%s: expected a whole number", where.c_str(), key);
  return std::optional<int32_t>(int32_t(*v));
}

Result<double> required(const cJSON* obj, const char* key, const std::string& where) {
  auto v = AIRT_TRY(number(obj, key, where, 0, 1e9));
  if (!v)
    return errorf(Error::kFormatInvalid, "%s: no %s (milliseconds, a number >= 0)", where.c_str(),
                  key);
  return *v;
}

Result<KvPrecision> kv_key(const cJSON* e, const std::string& where) {
  const cJSON* kv = cJSON_GetObjectItemCaseSensitive(e, "kv");
  if (!cJSON_IsString(kv))
    return errorf(Error::kFormatInvalid, "%s.kv: expected a string such as \"q8_0\"", where.c_str());
  auto parsed = parse_kv_precision(kv->valuestring);
  if (!parsed.ok())
    return errorf(Error::kFormatInvalid, "%s.kv: %s", where.c_str(), parsed.error().message.c_str());
  return *parsed;
}

Result<BackendKind> backend_key(const cJSON* e, const std::string& where) {
  const cJSON* b = cJSON_GetObjectItemCaseSensitive(e, "backend");
  if (!cJSON_IsString(b))
    return errorf(Error::kFormatInvalid, "%s.backend: expected \"cpu\" or \"vulkan\"", where.c_str());
  auto parsed = parse_backend_kind(b->valuestring);
  if (!parsed.ok())
    return errorf(Error::kFormatInvalid, "%s.%s", where.c_str(), parsed.error().message.c_str());
  return *parsed;
}

Result<ProfileEntry> parse_entry(const cJSON* e, const std::string& where) {
  if (!cJSON_IsObject(e))
    return errorf(Error::kFormatInvalid, "%s: expected an object", where.c_str());
  ProfileEntry p;
  p.tier = AIRT_TRY(integer(e, "tier", where));
  p.window = AIRT_TRY(integer(e, "window", where));
  p.draft_len = AIRT_TRY(integer(e, "draft_len", where));
  p.threads = AIRT_TRY(integer(e, "threads", where));
  if (cJSON_GetObjectItemCaseSensitive(e, "kv")) p.kv = AIRT_TRY(kv_key(e, where));
  if (cJSON_GetObjectItemCaseSensitive(e, "backend")) p.backend = AIRT_TRY(backend_key(e, where));
  p.step_ms = AIRT_TRY(required(e, "step_ms", where));
  p.decode_ms_per_row = AIRT_TRY(required(e, "decode_ms_per_row", where));
  p.prefill_ms_per_row = AIRT_TRY(required(e, "prefill_ms_per_row", where));
  p.watts = AIRT_TRY(number(e, "watts", where, 0, 1e6));
  return p;
}

Result<bool> parse_tier_perplexity(const cJSON* root, const std::string& name,
                                   std::vector<double>& out) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, "tier_perplexity");
  if (!v) return true;
  if (!cJSON_IsArray(v))
    return errorf(Error::kFormatInvalid, "%s: tier_perplexity: expected an array of numbers (index = tier)",
                  name.c_str());
  int i = 0;
  for (const cJSON* e = v->child; e; e = e->next, ++i) {
    if (!cJSON_IsNumber(e) || e->valuedouble < 0)
      return errorf(Error::kFormatInvalid, "%s: tier_perplexity[%d]: expected a number >= 0 (0: not measured)",
                    name.c_str(), i);
    out.push_back(e->valuedouble);
  }
  return true;
}

Result<double> ratio_of(const cJSON* e, const std::string& where) {
  auto r = AIRT_TRY(number(e, "ratio", where, 0, 1e6));
  if (!r || !(*r > 0))
    return errorf(Error::kFormatInvalid, "%s.ratio: expected a perplexity ratio > 0", where.c_str());
  return *r;
}

// window_ratio: [{"window": W, "ratio": r}] and kv_ratio: [{"kv": "q8_0", "ratio": r}].
Result<bool> parse_ratios(const cJSON* root, const std::string& name, Profile& p) {
  for (const char* key : {"window_ratio", "kv_ratio"}) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) continue;
    const bool window = key[0] == 'w';
    if (!cJSON_IsArray(v))
      return errorf(Error::kFormatInvalid, "%s: %s: expected an array of {\"%s\": ..., \"ratio\": r}",
                    name.c_str(), key, window ? "window" : "kv");
    int i = 0;
    for (const cJSON* e = v->child; e; e = e->next, ++i) {
      const std::string where = name + ": " + key + "[" + std::to_string(i) + "]";
      if (!cJSON_IsObject(e)) return errorf(Error::kFormatInvalid, "%s: expected an object", where.c_str());
      if (window) {
        auto w = AIRT_TRY(integer(e, "window", where));
        if (!w || *w < 1)
          return errorf(Error::kFormatInvalid, "%s.window: expected a window of 1 or more positions", where.c_str());
        p.window_ratio.push_back({*w, AIRT_TRY(ratio_of(e, where))});
      } else {
        const KvPrecision kv = AIRT_TRY(kv_key(e, where));
        p.kv_ratio.push_back({kv, AIRT_TRY(ratio_of(e, where))});
      }
    }
  }
  return true;
}

void add_ratios(cJSON* root, const Profile& p) {
  if (!p.window_ratio.empty()) {
    cJSON* arr = cJSON_AddArrayToObject(root, "window_ratio");
    for (const WindowRatio& w : p.window_ratio) {
      cJSON* o = cJSON_CreateObject();
      cJSON_AddNumberToObject(o, "window", w.window);
      cJSON_AddNumberToObject(o, "ratio", w.ratio);
      cJSON_AddItemToArray(arr, o);
    }
  }
  if (!p.kv_ratio.empty()) {
    cJSON* arr = cJSON_AddArrayToObject(root, "kv_ratio");
    for (const KvRatio& k : p.kv_ratio) {
      cJSON* o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "kv", kv_precision_name(k.kv).c_str());
      cJSON_AddNumberToObject(o, "ratio", k.ratio);
      cJSON_AddItemToArray(arr, o);
    }
  }
}

}  // namespace

bool ProfileEntry::matches(const OperatingPoint& p) const {
  return (!tier || *tier == p.tier) && (!window || *window == p.window) &&
         (!draft_len || *draft_len == p.draft_len) && (!threads || *threads == p.threads) &&
         (!kv || *kv == KvPrecision{p.kv_k, p.kv_v}) && (!backend || *backend == p.backend);
}

int ProfileEntry::keys() const {
  return int(tier.has_value()) + int(window.has_value()) + int(draft_len.has_value()) +
         int(threads.has_value()) + int(kv.has_value()) + int(backend.has_value());
}

const ProfileEntry* Profile::find(const OperatingPoint& p) const {
  const ProfileEntry* best = nullptr;
  for (const ProfileEntry& e : points) {
    if (e.matches(p) && (!best || e.keys() > best->keys())) best = &e;
  }
  return best;
}

Result<Profile> parse_profile(std::string_view json, const std::string& name) {
  Json root(cJSON_ParseWithLength(json.data(), json.size()), cJSON_Delete);
  if (!root || !cJSON_IsObject(root.get()))
    return errorf(Error::kFormatInvalid, "%s: not a JSON object", name.c_str());
  const cJSON* format = cJSON_GetObjectItemCaseSensitive(root.get(), "format");
  if (!cJSON_IsString(format) || std::string(format->valuestring) != kFormat) {
    return errorf(Error::kFormatInvalid,
                  "%s: format is not \"%s\" (write one with airt bench --calibrate)", name.c_str(),
                  kFormat);
  }
  auto version = AIRT_TRY(integer(root.get(), "version", name));
  if (version.value_or(0) != kVersion) {
    return errorf(Error::kFormatBadVersion, "%s: version %d, this airt reads version %d",
                  name.c_str(), version.value_or(0), kVersion);
  }
  Profile p;
  p.cpu_mhz = AIRT_TRY(number(root.get(), "cpu_mhz", name, 0, 1e6)).value_or(0);
  p.cpu_max_mhz = AIRT_TRY(number(root.get(), "cpu_max_mhz", name, 0, 1e6)).value_or(0);
  p.accept_rate = AIRT_TRY(number(root.get(), "accept_rate", name, 0, 0.99)).value_or(0.7);
  AIRT_TRY(parse_tier_perplexity(root.get(), name, p.tier_perplexity));
  AIRT_TRY(parse_ratios(root.get(), name, p));
  const cJSON* points = cJSON_GetObjectItemCaseSensitive(root.get(), "points");
  if (!cJSON_IsArray(points))
    return errorf(Error::kFormatInvalid, "%s: no \"points\" array", name.c_str());
  int i = 0;
  for (const cJSON* e = points->child; e; e = e->next, ++i) {
    p.points.push_back(AIRT_TRY(parse_entry(e, name + ": points[" + std::to_string(i) + "]")));
  }
  return p;
}

Result<Profile> load_profile(const std::string& path) {
  std::string text = AIRT_TRY(read_file(path));
  return parse_profile(text, path);
}

Result<std::optional<Profile>> load_profile_if_present(const std::string& path) {
  struct stat st;
  if (path.empty() || (::stat(path.c_str(), &st) != 0 && errno == ENOENT)) return std::optional<Profile>();
  Profile p = AIRT_TRY(load_profile(path));
  return std::optional<Profile>(std::move(p));
}

std::string profile_to_json(const Profile& p) {
  Json root(cJSON_CreateObject(), cJSON_Delete);
  cJSON_AddStringToObject(root.get(), "format", kFormat);
  cJSON_AddNumberToObject(root.get(), "version", kVersion);
  if (p.cpu_mhz > 0) cJSON_AddNumberToObject(root.get(), "cpu_mhz", p.cpu_mhz);
  if (p.cpu_max_mhz > 0) cJSON_AddNumberToObject(root.get(), "cpu_max_mhz", p.cpu_max_mhz);
  cJSON_AddNumberToObject(root.get(), "accept_rate", p.accept_rate);
  if (!p.tier_perplexity.empty()) {
    cJSON* ppl = cJSON_AddArrayToObject(root.get(), "tier_perplexity");
    for (double v : p.tier_perplexity) cJSON_AddItemToArray(ppl, cJSON_CreateNumber(v));
  }
  add_ratios(root.get(), p);
  cJSON* arr = cJSON_AddArrayToObject(root.get(), "points");
  for (const ProfileEntry& e : p.points) {
    cJSON* o = cJSON_CreateObject();
    if (e.tier) cJSON_AddNumberToObject(o, "tier", *e.tier);
    if (e.window) cJSON_AddNumberToObject(o, "window", *e.window);
    if (e.kv) cJSON_AddStringToObject(o, "kv", kv_precision_name(*e.kv).c_str());
    if (e.draft_len) cJSON_AddNumberToObject(o, "draft_len", *e.draft_len);
    if (e.threads) cJSON_AddNumberToObject(o, "threads", *e.threads);
    if (e.backend) cJSON_AddStringToObject(o, "backend", backend_kind_name(*e.backend));
    cJSON_AddNumberToObject(o, "step_ms", e.step_ms);
    cJSON_AddNumberToObject(o, "decode_ms_per_row", e.decode_ms_per_row);
    cJSON_AddNumberToObject(o, "prefill_ms_per_row", e.prefill_ms_per_row);
    if (e.watts) cJSON_AddNumberToObject(o, "watts", *e.watts);
    cJSON_AddItemToArray(arr, o);
  }
  std::unique_ptr<char, decltype(&cJSON_free)> text(cJSON_Print(root.get()), cJSON_free);
  return text ? std::string(text.get()) + "\n" : std::string();
}

void profile_quality(const Profile& p, QualityTable& q) {
  for (size_t t = 0; t < p.tier_perplexity.size(); ++t) {
    if (p.tier_perplexity[t] > 0) q.set_tier(int32_t(t), p.tier_perplexity[t]);
  }
  for (const WindowRatio& w : p.window_ratio) q.set_window_ratio(w.window, w.ratio);
  for (const KvRatio& k : p.kv_ratio) q.set_kv_ratio(k.kv, k.ratio);
}

}  // namespace airt::governor
