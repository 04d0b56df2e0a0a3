// Typed metadata reads shared by the text module's GGUF adapters (tokenizer, chat
// template). A key that is present with the wrong type is an error naming the file, the
// key, the type found and the type expected, never a silent default.
#pragma once

#include <string_view>

#include "runtime/core/result.h"
#include "runtime/gguf/gguf.h"

namespace airt::text {

// "u32", "array of f32": what a value is, for messages.
std::string describe_type(const gguf::Value& v);

// kFormatInvalid: "FILE: metadata key 'KEY' is ACTUAL, expected EXPECTED" (the wording of
// gguf::File's typed getters).
ErrorInfo metadata_type_error(const gguf::File& f, std::string_view key, const gguf::Value& v,
                              const char* expected);

// The 8 integer types (bool excluded).
bool is_integer_type(gguf::ValueType t);

}  // namespace airt::text
