#include "runtime/service/json_util.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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

bool json_has_nul(const cJSON* v) {
  return v && cJSON_IsString(v) && std::strchr(v->valuestring, kJsonNulMark) != nullptr;
}

JsonPtr json_parse_one(std::string_view text, std::string* problem, size_t* error_at) {
  // NULs become the mark (outside strings they are invalid JSON either way), and a raw
  // mark byte becomes another byte that is not UTF-8 either. A backslash
  // always starts a two-character escape, so "\\u0000" (a backslash, then "u0000") stays text.
  std::string marked;
  marked.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\0') {
      marked += kJsonNulMark;
    } else if (c == kJsonNulMark) {
      marked += '\xFE';  // keeps the mark unambiguous; still not UTF-8, rejected as such
    } else if (c == '\\' && i + 1 < text.size()) {
      if (text.compare(i + 1, 5, "u0000") == 0) {
        marked += kJsonNulMark;
        i += 5;
      } else {
        marked += c;
        marked += text[++i];
      }
    } else {
      marked += c;
    }
  }
  const char* end = nullptr;
  JsonPtr root(cJSON_ParseWithLengthOpts(marked.data(), marked.size(), &end, false));
  size_t at = end && end >= marked.data() ? size_t(end - marked.data()) : 0;
  if (error_at) *error_at = at;
  if (!root) {
    *problem = "not valid JSON";
    return nullptr;
  }
  while (at < marked.size() && (marked[at] == ' ' || marked[at] == '\t' || marked[at] == '\n' || marked[at] == '\r')) ++at;
  if (at < marked.size()) {
    std::string rest = marked.substr(at, 32);
    for (char& ch : rest)
      if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x80) ch = '?';
    *problem = "unexpected text after the JSON value (exactly one value is allowed): \"" + rest +
               (marked.size() - at > 32 ? "...\"" : "\"");
    if (error_at) *error_at = at;
    return nullptr;
  }
  return root;
}

bool json_get_float(const cJSON* v, float lo, float hi, bool lo_open, float* out) {
  if (!v || !cJSON_IsNumber(v)) return false;
  float f = static_cast<float>(v->valuedouble);
  if (!std::isfinite(f) || f > hi || f < lo || (lo_open && f == lo)) return false;
  *out = f;
  return true;
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
