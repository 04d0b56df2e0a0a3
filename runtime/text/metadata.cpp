#include "runtime/text/metadata.h"

#include <string>

namespace airt::text {

std::string describe_type(const gguf::Value& v) {
  if (v.is_array()) return std::string("array of ") + gguf::value_type_name(v.array_type());
  return gguf::value_type_name(v.type());
}

ErrorInfo metadata_type_error(const gguf::File& f, std::string_view key, const gguf::Value& v,
                              const char* expected) {
  return errorf(Error::kFormatInvalid, "%s: metadata key '%.*s' is %s, expected %s",
                f.path().c_str(), static_cast<int>(key.size()), key.data(),
                describe_type(v).c_str(), expected);
}

bool is_integer_type(gguf::ValueType t) {
  switch (t) {
    case gguf::ValueType::kU8:
    case gguf::ValueType::kI8:
    case gguf::ValueType::kU16:
    case gguf::ValueType::kI16:
    case gguf::ValueType::kU32:
    case gguf::ValueType::kI32:
    case gguf::ValueType::kU64:
    case gguf::ValueType::kI64: return true;
    default: return false;
  }
}

}  // namespace airt::text
