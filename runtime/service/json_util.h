// Small JSON helpers shared by the config loader and the request protocol: describing a
// value in an error message, strict integer checks, UTF-8 validation, and a string
// escaper that appends to a caller-owned buffer (so the streaming path reuses one).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <cjson/cJSON.h>

namespace airt::service {

struct JsonDeleter {
  void operator()(cJSON* j) const { cJSON_Delete(j); }
};
using JsonPtr = std::unique_ptr<cJSON, JsonDeleter>;

// "\"big\"", "true", "3.5", "null", "an object", "an array" — strings cut at 32 bytes,
// so an error message never echoes a whole prompt back.
std::string json_describe(const cJSON* v);

// True when `v` is a number with an integral value in [min, max] (a JSON 3.0 counts;
// 3.5, "3" and true do not).
bool json_get_int(const cJSON* v, int64_t min, int64_t max, int64_t* out);

// Validates UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool utf8_valid(std::string_view s);

// Appends `s` as a quoted JSON string (control characters as \u00XX). `s` must be valid
// UTF-8; bytes are copied, not re-encoded.
void json_append_string(std::string& out, std::string_view s);

// cJSON_PrintUnformatted into a std::string ("" when printing fails for lack of memory).
std::string json_print(const cJSON* j);

// Number formatting that keeps integers integral and doubles short ("12", "0.25").
void json_append_number(std::string& out, double v);

}  // namespace airt::service
