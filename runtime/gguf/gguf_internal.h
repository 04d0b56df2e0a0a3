// Helpers shared by the GGUF reader and writer; not part of the module's interface.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "runtime/gguf/gguf.h"

namespace airt::gguf::detail {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMaxAlignment = uint64_t{1} << 20;
constexpr std::string_view kAlignmentKey = "general.alignment";

// Unaligned little-endian load; memcpy keeps it defined behaviour on every target.
template <class T>
inline T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// An integer value of any GGUF integer type, seen both ways: `s` saturates values above
// INT64_MAX, `u` is 0 for negative values.
struct IntValue {
  bool negative = false;
  uint64_t u = 0;
  int64_t s = 0;
};
bool is_integer_type(ValueType t);
IntValue read_int(ValueType t, const uint8_t* p);
double read_f64(ValueType t, const uint8_t* p);  // any numeric type

// `s` made safe for an error message: non-printable bytes escaped, long text cut.
std::string printable(std::string_view s, size_t max = 80);
std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string errno_text(int e);

}  // namespace airt::gguf::detail
