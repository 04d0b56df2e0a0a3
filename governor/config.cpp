#include "governor/config.h"

#include <cjson/cJSON.h>

#include <memory>

#include "runtime/core/file.h"

namespace airt::governor {
namespace {

using Json = std::unique_ptr<cJSON, decltype(&cJSON_Delete)>;

ErrorInfo bad(const std::string& name, const std::string& key, const char* what) {
  return errorf(Error::kFormatInvalid, "%s: %s: %s", name.c_str(), key.c_str(), what);
}

Result<bool> int_list(const cJSON* root, const char* key, const std::string& name,
                      std::vector<int32_t>& out) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, key);
  if (!v) return true;
  if (!cJSON_IsArray(v) || !v->child)
    return bad(name, key, "expected a non-empty array of whole numbers >= 0");
  out.clear();
  for (const cJSON* e = v->child; e; e = e->next) {
    if (!cJSON_IsNumber(e) || e->valuedouble < 0 ||
        e->valuedouble != double(int32_t(e->valuedouble))) {
      return bad(name, key, "expected whole numbers >= 0");
    }
    out.push_back(int32_t(e->valuedouble));
  }
  return true;
}

Result<bool> number(const cJSON* root, const char* key, const std::string& name, double& out) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, key);
  if (!v) return true;
  if (!cJSON_IsNumber(v) || v->valuedouble < 0) return bad(name, key, "expected a number >= 0");
  out = v->valuedouble;
  return true;
}

Result<bool> optional_number(const cJSON* root, const char* key, const std::string& name,
                             std::optional<double>& out) {
  double v = -1;
  AIRT_TRY(number(root, key, name, v));
  if (v >= 0) out = v;
  return true;
}

// {"name": number} -> callback(name, value)
template <class F>
Result<bool> number_map(const cJSON* root, const char* key, const std::string& name, F&& put) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, key);
  if (!v) return true;
  if (!cJSON_IsObject(v)) return bad(name, key, "expected an object of names to numbers");
  for (const cJSON* e = v->child; e; e = e->next) {
    const std::string where = std::string(key) + "." + e->string;
    if (!cJSON_IsNumber(e) || e->valuedouble <= 0) return bad(name, where, "expected a number > 0");
    AIRT_TRY(put(std::string(e->string), e->valuedouble, where));
  }
  return true;
}

Result<bool> parse_lists(const cJSON* root, const std::string& name, GovernorSetup& g) {
  SpaceConfig& s = g.space;
  if (const cJSON* t = cJSON_GetObjectItemCaseSensitive(root, "tiers")) {
    if (!cJSON_IsArray(t) || !t->child)
      return bad(name, "tiers", "expected a non-empty array of names");
    s.tiers.clear();
    for (const cJSON* e = t->child; e; e = e->next) {
      if (!cJSON_IsString(e)) return bad(name, "tiers", "expected names such as \"q8_0\"");
      s.tiers.push_back(int32_t(s.tier_names.size()));
      s.tier_names.push_back(e->valuestring);
    }
  }
  AIRT_TRY(int_list(root, "windows", name, s.windows));
  AIRT_TRY(int_list(root, "draft_lens", name, s.draft_lens));
  AIRT_TRY(int_list(root, "threads", name, s.threads));
  if (const cJSON* kv = cJSON_GetObjectItemCaseSensitive(root, "kv")) {
    if (!cJSON_IsArray(kv) || !kv->child)
      return bad(name, "kv", "expected a non-empty array such as [\"f16\", \"q8_0\"]");
    s.kv.clear();
    int i = 0;
    for (const cJSON* e = kv->child; e; e = e->next, ++i) {
      const std::string where = "kv[" + std::to_string(i) + "]";
      if (!cJSON_IsString(e)) return bad(name, where, "expected a string");
      auto p = parse_kv_precision(e->valuestring);
      if (!p.ok()) return bad(name, where, p.error().message.c_str());
      s.kv.push_back(*p);
    }
  }
  if (const cJSON* b = cJSON_GetObjectItemCaseSensitive(root, "backends")) {
    if (!cJSON_IsArray(b) || !b->child)
      return bad(name, "backends", "expected a non-empty array such as [\"vulkan\", \"cpu\"]");
    s.backends.clear();
    int i = 0;
    for (const cJSON* e = b->child; e; e = e->next, ++i) {
      const std::string where = "backends[" + std::to_string(i) + "]";
      if (!cJSON_IsString(e)) return bad(name, where, "expected \"cpu\" or \"vulkan\"");
      auto k = parse_backend_kind(e->valuestring);
      if (!k.ok()) return bad(name, where, k.error().message.c_str());
      s.backends.push_back(*k);
    }
  }
  double context = 0, sinks = s.sinks, max_threads = 0;
  AIRT_TRY(number(root, "context", name, context));
  AIRT_TRY(number(root, "sinks", name, sinks));
  AIRT_TRY(number(root, "max_threads", name, max_threads));
  s.context = int32_t(context), s.sinks = int32_t(sinks), s.max_threads = int32_t(max_threads);
  return true;
}

Result<bool> parse_quality(const cJSON* root, const std::string& name, GovernorSetup& g) {
  AIRT_TRY(
      number_map(root, "perplexity", name,
                 [&](const std::string& tier, double v, const std::string& where) -> Result<bool> {
                   for (size_t i = 0; i < g.space.tier_names.size(); ++i) {
                     if (g.space.tier_names[i] == tier)
                       return g.quality.set_tier(int32_t(i), v), true;
                   }
                   return bad(name, where, "not one of the tiers");
                 }));
  AIRT_TRY(
      number_map(root, "kv_ratio", name,
                 [&](const std::string& kv, double v, const std::string& where) -> Result<bool> {
                   auto p = parse_kv_precision(kv);
                   if (!p.ok()) return bad(name, where, p.error().message.c_str());
                   return g.quality.set_kv_ratio(*p, v), true;
                 }));
  return number_map(root, "window_ratio", name,
                    [&](const std::string& w, double v, const std::string& where) -> Result<bool> {
                      char* end = nullptr;
                      const long window = std::strtol(w.c_str(), &end, 10);
                      if (end == w.c_str() || *end || window <= 0)
                        return bad(name, where, "expected a window in positions as the key");
                      return g.quality.set_window_ratio(int32_t(window), v), true;
                    });
}

Result<bool> parse_limits(const cJSON* root, const std::string& name, Limits& l) {
  AIRT_TRY(number(root, "soft_temp_c", name, l.soft_temp_c));
  AIRT_TRY(number(root, "hard_temp_c", name, l.hard_temp_c));
  AIRT_TRY(number(root, "temp_band_c", name, l.temp_band_c));
  AIRT_TRY(number(root, "horizon_s", name, l.horizon_s));
  AIRT_TRY(number(root, "dwell_s", name, l.dwell_s));
  AIRT_TRY(number(root, "upgrade_margin", name, l.upgrade_margin));
  AIRT_TRY(optional_number(root, "power_cap_w", name, l.power_cap_w));
  AIRT_TRY(optional_number(root, "mem_floor_mb", name, l.mem_floor_mb));
  if (l.hard_temp_c <= l.soft_temp_c) return bad(name, "hard_temp_c", "must be above soft_temp_c");
  return true;
}

constexpr const char* kKeys[] = {"tiers",          "perplexity",  "windows",     "context",
                                 "sinks",          "kv",          "kv_ratio",    "window_ratio",
                                 "draft_lens",     "threads",     "max_threads", "soft_temp_c",
                                 "hard_temp_c",    "temp_band_c", "horizon_s",   "dwell_s",
                                 "upgrade_margin", "power_cap_w", "mem_floor_mb", "backends"};

Result<bool> known_keys(const cJSON* root, const std::string& name) {
  for (const cJSON* e = root->child; e; e = e->next) {
    bool known = false;
    for (const char* k : kKeys) known = known || std::string(k) == e->string;
    if (!known) return bad(name, e->string, "unknown key (see governor/config.h for the keys)");
  }
  return true;
}

}  // namespace

Result<GovernorSetup> parse_governor_config(std::string_view json, const std::string& name) {
  Json root(cJSON_ParseWithLength(json.data(), json.size()), cJSON_Delete);
  if (!root || !cJSON_IsObject(root.get()))
    return errorf(Error::kFormatInvalid, "%s: not a JSON object", name.c_str());
  AIRT_TRY(known_keys(root.get(), name));
  GovernorSetup g;
  AIRT_TRY(parse_lists(root.get(), name, g));
  AIRT_TRY(parse_quality(root.get(), name, g));
  AIRT_TRY(parse_limits(root.get(), name, g.config.limits));
  return g;
}

Result<GovernorSetup> load_governor_config(const std::string& path) {
  std::string text = AIRT_TRY(read_file(path));
  return parse_governor_config(text, path);
}

}  // namespace airt::governor
