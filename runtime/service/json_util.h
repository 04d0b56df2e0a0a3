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

// cJSON's strings are NUL-terminated, so a NUL inside a JSON string (a raw 0 byte or a
// \u0000 escape) would silently cut the value short. json_parse_one() turns each one
// into this byte first, which never occurs in valid UTF-8: a string holding it is
// rejected by the readers (json_has_nul), whole, never cut.
constexpr char kJsonNulMark = '\xFF';
bool json_has_nul(const cJSON* string_value);

// Parses exactly one JSON value: only whitespace may follow it. On failure returns null
// and sets `problem` ("not valid JSON" / "unexpected text after the JSON value: ...")
// and `error_at` (byte offset where parsing stopped).
JsonPtr json_parse_one(std::string_view text, std::string* problem, size_t* error_at = nullptr);

// A JSON number as the float it is stored in, checked after the conversion (1e-300 is
// 0 as a float, 1e39 is infinite): true when that float lies in [lo, hi] (above lo, not
// at it, when lo_open).
bool json_get_float(const cJSON* v, float lo, float hi, bool lo_open, float* out);

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
