// Value accessors and File's typed lookups. Parsing is in gguf_read.cpp.
#include "runtime/gguf/gguf.h"

#include <sys/mman.h>

#include <bit>
#include <cinttypes>
#include <cstring>
#include <limits>

#include "runtime/gguf/gguf_internal.h"

namespace airt::gguf {

static_assert(std::endian::native == std::endian::little,
              "GGUF data is used in place; airt targets little-endian hosts");

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::kU8: return "u8";
    case ValueType::kI8: return "i8";
    case ValueType::kU16: return "u16";
    case ValueType::kI16: return "i16";
    case ValueType::kU32: return "u32";
    case ValueType::kI32: return "i32";
    case ValueType::kF32: return "f32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kArray: return "array";
    case ValueType::kU64: return "u64";
    case ValueType::kI64: return "i64";
    case ValueType::kF64: return "f64";
  }
  return "unknown";
}

size_t value_type_size(ValueType t) {
  switch (t) {
    case ValueType::kU8: case ValueType::kI8: case ValueType::kBool: return 1;
    case ValueType::kU16: case ValueType::kI16: return 2;
    case ValueType::kU32: case ValueType::kI32: case ValueType::kF32: return 4;
    case ValueType::kU64: case ValueType::kI64: case ValueType::kF64: return 8;
    case ValueType::kString: case ValueType::kArray: return 0;
  }
  return 0;
}

namespace detail {

bool is_integer_type(ValueType t) {
  switch (t) {
    case ValueType::kU8: case ValueType::kI8: case ValueType::kU16: case ValueType::kI16:
    case ValueType::kU32: case ValueType::kI32: case ValueType::kU64: case ValueType::kI64:
    case ValueType::kBool:
      return true;
    default:
      return false;
  }
}

IntValue read_int(ValueType t, const uint8_t* p) {
  IntValue v;
  auto from_unsigned = [&v](uint64_t u) {
    v.u = u;
    v.s = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
              ? std::numeric_limits<int64_t>::max()
              : static_cast<int64_t>(u);
  };
  auto from_signed = [&v](int64_t s) {
    v.s = s;
    v.negative = s < 0;
    v.u = s < 0 ? 0 : static_cast<uint64_t>(s);
  };
  switch (t) {
    case ValueType::kU8: case ValueType::kBool: from_unsigned(load<uint8_t>(p)); break;
    case ValueType::kU16: from_unsigned(load<uint16_t>(p)); break;
    case ValueType::kU32: from_unsigned(load<uint32_t>(p)); break;
    case ValueType::kU64: from_unsigned(load<uint64_t>(p)); break;
    case ValueType::kI8: from_signed(load<int8_t>(p)); break;
    case ValueType::kI16: from_signed(load<int16_t>(p)); break;
    case ValueType::kI32: from_signed(load<int32_t>(p)); break;
    case ValueType::kI64: from_signed(load<int64_t>(p)); break;
    default: break;
  }
  return v;
}

double read_f64(ValueType t, const uint8_t* p) {
  if (t == ValueType::kF32) return load<float>(p);
  if (t == ValueType::kF64) return load<double>(p);
  IntValue v = read_int(t, p);
  return v.negative ? static_cast<double>(v.s) : static_cast<double>(v.u);
}

}  // namespace detail

using detail::is_integer_type;
using detail::read_int;

// data_ is null only in a default-constructed Value, which never comes from a File.
bool Value::is_integer() const { return is_integer_type(type_) && data_ != nullptr; }

int64_t Value::as_i64() const {
  AIRT_DCHECK(is_integer());
  return is_integer() ? read_int(type_, data_).s : 0;
}

uint64_t Value::as_u64() const {
  AIRT_DCHECK(is_integer());
  return is_integer() ? read_int(type_, data_).u : 0;
}

double Value::as_f64() const {
  bool ok = is_integer() || (is_float() && data_ != nullptr);
  AIRT_DCHECK(ok);
  return ok ? detail::read_f64(type_, data_) : 0.0;
}

bool Value::as_bool() const {
  AIRT_DCHECK(is_integer());
  if (!is_integer()) return false;
  detail::IntValue v = read_int(type_, data_);
  return v.negative || v.u != 0;
}

std::string_view Value::as_string() const {
  AIRT_DCHECK(is_string());
  if (!is_string()) return {};
  return {reinterpret_cast<const char*>(data_), static_cast<size_t>(count_)};
}

std::string_view Value::array_string(uint64_t i) const {
  bool ok = is_array() && elem_type_ == ValueType::kString && i < count_ && string_offsets_ != nullptr;
  AIRT_DCHECK(ok);
  if (!ok) return {};
  const uint8_t* p = data_ + string_offsets_[i];
  return {reinterpret_cast<const char*>(p + 8), static_cast<size_t>(detail::load<uint64_t>(p))};
}

int64_t Value::array_i64(uint64_t i) const {
  bool ok = is_array() && is_integer_type(elem_type_) && i < count_;
  AIRT_DCHECK(ok);
  return ok ? read_int(elem_type_, data_ + i * value_type_size(elem_type_)).s : 0;
}

double Value::array_f64(uint64_t i) const {
  bool ok = is_array() && value_type_size(elem_type_) != 0 && i < count_;
  AIRT_DCHECK(ok);
  return ok ? detail::read_f64(elem_type_, data_ + i * value_type_size(elem_type_)) : 0.0;
}

File::~File() {
  if (map_) munmap(map_, map_size_);
}

const Value* File::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
}

const TensorInfo* File::tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

ErrorInfo File::key_error(std::string_view key, const Value* v, const char* expected) const {
  std::string k = detail::printable(key);
  if (!v) return errorf(Error::kFormatInvalid, "%s: missing metadata key '%s' (%s)", path_.c_str(), k.c_str(), expected);
  std::string actual = value_type_name(v->type());
  if (v->is_array()) actual = std::string("array of ") + value_type_name(v->array_type());
  return errorf(Error::kFormatInvalid, "%s: metadata key '%s' is %s, expected %s", path_.c_str(), k.c_str(),
                actual.c_str(), expected);
}

// Integers for the typed getters: a bool holding 1 is a flag, never a count or an id.
static bool is_number_integer(const Value* v) { return v && v->is_integer() && v->type() != ValueType::kBool; }

Result<uint64_t> File::get_u64(std::string_view key) const {
  const char* expected = "a non-negative integer";
  const Value* v = find(key);
  if (!is_number_integer(v)) return key_error(key, v, expected);
  detail::IntValue i = read_int(v->type(), v->data_);
  if (i.negative) {
    return errorf(Error::kFormatInvalid, "%s: metadata key '%s' is %" PRId64 ", expected %s", path_.c_str(),
                  detail::printable(key).c_str(), i.s, expected);
  }
  return i.u;
}

Result<int64_t> File::get_i64(std::string_view key) const {
  const char* expected = "an integer";
  const Value* v = find(key);
  if (!is_number_integer(v)) return key_error(key, v, expected);
  detail::IntValue i = read_int(v->type(), v->data_);
  if (!i.negative && i.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return errorf(Error::kFormatInvalid, "%s: metadata key '%s' is %" PRIu64 ", expected an integer below 2^63",
                  path_.c_str(), detail::printable(key).c_str(), i.u);
  }
  return i.s;
}

Result<double> File::get_f64(std::string_view key) const {
  const Value* v = find(key);
  if (!(is_number_integer(v) || (v && v->is_float()))) return key_error(key, v, "a number");
  return v->as_f64();
}

Result<bool> File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (!v || v->type() != ValueType::kBool) return key_error(key, v, "a bool");
  return v->as_bool();
}

Result<std::string_view> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v || !v->is_string()) return key_error(key, v, "a string");
  return v->as_string();
}

Result<const Value*> File::get_array(std::string_view key, ValueType elem) const {
  const Value* v = find(key);
  if (!v || !v->is_array() || v->array_type() != elem) {
    std::string expected = std::string("an array of ") + value_type_name(elem);
    return key_error(key, v, expected.c_str());
  }
  return v;
}

Result<const Value*> File::get_int_array(std::string_view key) const {
  const Value* v = find(key);
  if (!v || !v->is_array() || !is_integer_type(v->array_type()) || v->array_type() == ValueType::kBool)
    return key_error(key, v, "an array of integers");
  return v;
}

Result<const Value*> File::find_array(std::string_view key, ValueType elem) const {
  if (!find(key)) return static_cast<const Value*>(nullptr);
  return get_array(key, elem);
}

Result<const Value*> File::find_int_array(std::string_view key) const {
  if (!find(key)) return static_cast<const Value*>(nullptr);
  return get_int_array(key);
}

Result<int64_t> File::get_i64_or(std::string_view key, int64_t dflt) const {
  if (!find(key)) return dflt;
  return get_i64(key);
}

Result<bool> File::get_bool_or(std::string_view key, bool dflt) const {
  if (!find(key)) return dflt;
  return get_bool(key);
}

Result<std::string_view> File::get_string_or(std::string_view key, std::string_view dflt) const {
  if (!find(key)) return dflt;
  return get_string(key);
}

Result<uint64_t> File::get_u64_or(std::string_view key, uint64_t dflt) const {
  if (!find(key)) return dflt;
  return get_u64(key);
}

Result<double> File::get_f64_or(std::string_view key, double dflt) const {
  if (!find(key)) return dflt;
  return get_f64(key);
}

}  // namespace airt::gguf
