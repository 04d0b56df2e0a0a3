#include "runtime/service/json_util.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace airt::service {

std::string json_describe(const cJSON* v) {
  if (!v || cJSON_IsNull(v)) return "null";
  if (cJSON_IsTrue(v)) return "true";
  if (cJSON_IsFalse(v)) return "false";
  if (cJSON_IsObject(v)) return "an object";
  if (cJSON_IsArray(v)) return "an array";
  if (cJSON_IsNumber(v)) {
    std::string s;
    json_append_number(s, v->valuedouble);
    return s;
  }
  if (cJSON_IsString(v)) {
    std::string_view s = v->valuestring;
    constexpr size_t kMax = 32;
    std::string out;
    bool cut = s.size() > kMax;
    if (cut) {
      s = s.substr(0, kMax);
      // Do not cut inside a UTF-8 sequence.
      while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.remove_suffix(1);
      if (!s.empty() && static_cast<unsigned char>(s.back()) >= 0xC0) s.remove_suffix(1);
    }
    if (!utf8_valid(s)) return "a string that is not UTF-8";
    json_append_string(out, s);
    if (cut) out.insert(out.size() - 1, "...");
    return out;
  }
  return "an invalid value";
}

bool json_get_int(const cJSON* v, int64_t min, int64_t max, int64_t* out) {
  if (!v || !cJSON_IsNumber(v)) return false;
  double d = v->valuedouble;
  if (!std::isfinite(d) || d != std::floor(d)) return false;
  if (d < static_cast<double>(min) || d > static_cast<double>(max)) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

bool utf8_valid(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07;
    else return false;
    if (i + size_t(len) > n) return false;
    for (int k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += size_t(len);
  }
  return true;
}

void json_append_string(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

std::string json_print(const cJSON* j) {
  char* s = cJSON_PrintUnformatted(j);
  if (!s) return {};
  std::string out = s;
  cJSON_free(s);
  return out;
}

void json_append_number(std::string& out, double v) {
  char buf[32];
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  } else {
    std::snprintf(buf, sizeof buf, "%.6g", v);
  }
  out += buf;
}

}  // namespace airt::service
