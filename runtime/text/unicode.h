// UTF-8 helpers and the byte-level alphabet of GPT-2-style BPE vocabularies.
//
// Tokenizer input is arbitrary bytes: invalid UTF-8 is never an error here, it is carried
// as single bytes so that encode/decode round-trips whatever the caller gave.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace airt::text {

// Length in bytes of the UTF-8 sequence starting at s[i], 1 for an invalid or truncated
// sequence (the byte then stands alone).
size_t utf8_char_len(std::string_view s, size_t i);

// Writes the UTF-8 encoding of code point `cp` (must be <= 0x10FFFF) to out[0..4) and
// returns its length (1 to 4).
size_t utf8_encode(uint32_t cp, char* out);
// Appends the UTF-8 encoding of code point `cp` (must be <= 0x10FFFF).
void utf8_append(std::string& out, uint32_t cp);

// Decodes one well-formed sequence at s[i]; returns false (and leaves cp alone) when the
// bytes there are not a complete, minimal, valid sequence.
bool utf8_decode(std::string_view s, size_t i, uint32_t& cp, size_t& len);

// GPT-2's reversible byte <-> code point mapping: printable Latin-1 bytes map to
// themselves, the other 68 bytes to U+0100.. in byte order, so every byte has a visible
// character and BPE can run on text.
uint32_t byte_to_cp(uint8_t b);
// The byte for a code point of that alphabet, or -1 when cp is not in it.
int cp_to_byte(uint32_t cp);

}  // namespace airt::text
