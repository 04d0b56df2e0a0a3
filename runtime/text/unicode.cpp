#include "runtime/text/unicode.h"

#include <array>

namespace airt::text {

size_t utf8_char_len(std::string_view s, size_t i) {
  uint32_t cp;
  size_t len;
  return utf8_decode(s, i, cp, len) ? len : 1;
}

size_t utf8_encode(uint32_t cp, char* out) {
  if (cp < 0x80) {
    out[0] = static_cast<char>(cp);
    return 1;
  }
  if (cp < 0x800) {
    out[0] = static_cast<char>(0xC0 | (cp >> 6));
    out[1] = static_cast<char>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = static_cast<char>(0xE0 | (cp >> 12));
    out[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<char>(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = static_cast<char>(0xF0 | (cp >> 18));
  out[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
  out[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  out[3] = static_cast<char>(0x80 | (cp & 0x3F));
  return 4;
}

void utf8_append(std::string& out, uint32_t cp) {
  char buf[4];
  out.append(buf, utf8_encode(cp, buf));
}

bool utf8_decode(std::string_view s, size_t i, uint32_t& cp, size_t& len) {
  const auto at = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const size_t avail = s.size() - i;
  const uint8_t b0 = at(0);
  uint32_t c;
  size_t n;
  uint32_t min;
  if (b0 < 0x80) {
    cp = b0;
    len = 1;
    return true;
  } else if ((b0 & 0xE0) == 0xC0) {
    c = b0 & 0x1F, n = 2, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    c = b0 & 0x0F, n = 3, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    c = b0 & 0x07, n = 4, min = 0x10000;
  } else {
    return false;
  }
  if (avail < n) return false;
  for (size_t k = 1; k < n; ++k) {
    if ((at(k) & 0xC0) != 0x80) return false;
    c = (c << 6) | (at(k) & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8.
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
  cp = c;
  len = n;
  return true;
}

namespace {

struct ByteAlphabet {
  std::array<uint16_t, 256> to_cp{};
  std::array<int16_t, 324> to_byte{};  // code points 0..323 cover the whole alphabet
  ByteAlphabet() {
    to_byte.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      to_cp[b] = static_cast<uint16_t>(printable ? b : next++);
      to_byte[to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};

const ByteAlphabet& alphabet() {
  static const ByteAlphabet a;
  return a;
}

}  // namespace

uint32_t byte_to_cp(uint8_t b) { return alphabet().to_cp[b]; }

int cp_to_byte(uint32_t cp) { return cp < alphabet().to_byte.size() ? alphabet().to_byte[cp] : -1; }

}  // namespace airt::text
