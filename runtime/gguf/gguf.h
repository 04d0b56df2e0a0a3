// GGUF (v2 and v3) files: a strict reader over mmap and a writer.
//
// The reader validates everything before anything is used: magic, version, counts,
// string and array lengths against the file size, dimensions and element counts
// without overflow, known tensor types, alignment, and that every tensor's data lies
// inside the file without overlapping another's. After File::open succeeds, accessors
// cannot read out of bounds. Memory the reader allocates is bounded by the file size,
// never by counts the file claims.
//
// Choices where the format leaves room (each refusal is one clear error):
// - Version 1 (32-bit counts) is refused; so are big-endian files.
// - Every dimension must be >= 1: airt has no use for empty tensors, and refusing them
//   keeps byte counts and offsets strictly increasing.
// - Nested arrays (arrays of arrays) are refused; no model airt runs uses them.
// - Bools must be 0 or 1. Keys and tensor names must be non-empty and unique.
// - general.alignment may be any integer type holding a power of two from 1 to 1 MiB.
// - A file without tensors may end right after its metadata (vocabulary-only files do).
//
// Ownership: File owns the mapping. Every string_view, Value and tensor data pointer it
// hands out points into the mapping (or the caller's buffer for parse()) and is valid
// while the File lives. A File is immutable after open and safe to share across threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hal/dtype.h"
#include "runtime/core/result.h"

namespace airt::gguf {

enum class ValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
constexpr uint32_t kValueTypeCount = 13;
// "u32", "string", ...; "unknown" for numbers outside the enum.
const char* value_type_name(ValueType t);
// Bytes of one element of a fixed-size type; 0 for string, array and unknown types.
size_t value_type_size(ValueType t);

// A metadata value, viewed in place in the mapping. Accessors used on the wrong kind
// return 0 / empty (and fail AIRT_DCHECK in debug builds); check the type first, or use
// File's typed getters, which report mistakes as errors.
class Value {
 public:
  ValueType type() const { return type_; }
  bool is_integer() const;  // any of the 8 integer types or bool
  bool is_float() const { return type_ == ValueType::kF32 || type_ == ValueType::kF64; }
  bool is_string() const { return type_ == ValueType::kString; }
  bool is_array() const { return type_ == ValueType::kArray; }

  // Scalars. as_i64 saturates u64 values above INT64_MAX; as_u64 gives 0 for negative
  // values (File::get_u64/get_i64 report both as errors instead).
  int64_t as_i64() const;
  uint64_t as_u64() const;
  double as_f64() const;  // integers convert too
  bool as_bool() const;   // bool, or an integer != 0
  std::string_view as_string() const;

  // Arrays (array_size() is 0 for non-arrays; indexes past the end give 0 / empty).
  ValueType array_type() const { return elem_type_; }
  uint64_t array_size() const { return type_ == ValueType::kArray ? count_ : 0; }
  std::string_view array_string(uint64_t i) const;  // O(1): offsets indexed at open
  int64_t array_i64(uint64_t i) const;              // any integer element type
  double array_f64(uint64_t i) const;               // any numeric element type
  // The raw elements of a fixed-size array, unaligned, little-endian (nullptr for
  // string arrays and non-arrays). Copy out with memcpy.
  const void* array_data() const {
    return type_ == ValueType::kArray && elem_type_ != ValueType::kString ? data_ : nullptr;
  }

 private:
  friend class File;
  friend class Parser;
  friend class Writer;
  ValueType type_ = ValueType::kU8;
  ValueType elem_type_ = ValueType::kU8;
  uint64_t count_ = 0;                       // array elements, or string bytes
  const uint8_t* data_ = nullptr;            // scalar bytes, string bytes or array elements
  const uint64_t* string_offsets_ = nullptr; // string arrays: offset from data_ of each length prefix
};

struct KeyValue {
  std::string_view key;
  Value value;
};

struct TensorInfo {
  std::string_view name;
  uint32_t n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the contiguous (row) dimension, as in ggml
  hal::DType type = hal::DType::kF32;
  uint64_t offset = 0;           // relative to the data section
  size_t bytes = 0;
  const void* data = nullptr;    // into the mapping; for open(), aligned to min(alignment, page size)

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }  // checked at open
};

class File {
 public:
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  // Maps and validates `path`. Errors name the file and what is wrong.
  static Result<std::unique_ptr<File>> open(const std::string& path);
  // Validates a buffer the caller keeps alive (tests, fuzzing). `name` is used in errors.
  static Result<std::unique_ptr<File>> parse(const void* data, size_t size, std::string name);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  size_t file_bytes() const { return size_; }
  size_t data_offset() const { return data_offset_; }  // may be > file_bytes() with no tensors
  size_t alignment() const { return alignment_; }

  std::span<const KeyValue> metadata() const { return kvs_; }
  const Value* find(std::string_view key) const;  // O(1); nullptr when absent

  // Typed lookups whose errors (kFormatInvalid) name the file, the key and the expected
  // and actual type ("m.gguf: metadata key 'llama.block_count' is string, expected a
  // non-negative integer"); a missing key is an error too. Read every key through these
  // (or the *_or / find_* forms): find() plus as_*() turns a mistyped value into 0.
  // Integers are the 8 integer types; a bool is not an integer here, nor a number.
  Result<uint64_t> get_u64(std::string_view key) const;  // any integer holding a value >= 0
  Result<int64_t> get_i64(std::string_view key) const;   // any integer that fits int64
  Result<double> get_f64(std::string_view key) const;    // any integer or float
  Result<bool> get_bool(std::string_view key) const;     // a bool
  Result<std::string_view> get_string(std::string_view key) const;
  // An array whose elements are exactly of type `elem`.
  Result<const Value*> get_array(std::string_view key, ValueType elem) const;
  // An array of any of the 8 integer types (token types: i32 in most files, u8 in some);
  // read it with array_i64().
  Result<const Value*> get_int_array(std::string_view key) const;
  // Lookups with a default when the key is absent (still an error if present and mistyped).
  Result<uint64_t> get_u64_or(std::string_view key, uint64_t dflt) const;
  Result<int64_t> get_i64_or(std::string_view key, int64_t dflt) const;
  Result<double> get_f64_or(std::string_view key, double dflt) const;
  Result<bool> get_bool_or(std::string_view key, bool dflt) const;
  Result<std::string_view> get_string_or(std::string_view key, std::string_view dflt) const;
  // Optional arrays: nullptr when the key is absent, an error when it is present with
  // another type, else the array.
  Result<const Value*> find_array(std::string_view key, ValueType elem) const;
  Result<const Value*> find_int_array(std::string_view key) const;

  std::span<const TensorInfo> tensors() const { return tensors_; }
  const TensorInfo* tensor(std::string_view name) const;  // O(1); nullptr when absent

 private:
  friend class Parser;
  File() = default;
  Status load(const uint8_t* data, size_t size);
  ErrorInfo key_error(std::string_view key, const Value* v, const char* expected) const;

  std::string path_;
  void* map_ = nullptr;   // owned mapping (null for parse())
  size_t map_size_ = 0;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  size_t data_offset_ = 0;
  std::vector<KeyValue> kvs_;
  std::vector<TensorInfo> tensors_;
  std::vector<uint64_t> string_offsets_;  // backing store for string arrays' index
  std::unordered_map<std::string_view, size_t> kv_index_;      // key -> kvs_ index
  std::unordered_map<std::string_view, size_t> tensor_index_;  // name -> tensors_ index
};

// Builds a GGUF v3 file in memory and writes it atomically (temp file + fsync + rename),
// so a failed write never leaves a half-written file behind.
//
// Setting a key that is already set replaces its value in place (the key keeps its
// position). Mistakes in set_* calls (an empty key, a bad alignment) are remembered:
// status() and write() report the first one.
class Writer {
 public:
  void set_u8(std::string key, uint8_t v);
  void set_i8(std::string key, int8_t v);
  void set_u16(std::string key, uint16_t v);
  void set_i16(std::string key, int16_t v);
  void set_u32(std::string key, uint32_t v);
  void set_i32(std::string key, int32_t v);
  void set_u64(std::string key, uint64_t v);
  void set_i64(std::string key, int64_t v);
  void set_f32(std::string key, float v);
  void set_f64(std::string key, double v);
  void set_bool(std::string key, bool v);
  void set_string(std::string key, std::string v);
  void set_array_string(std::string key, const std::vector<std::string>& v);
  void set_array_i32(std::string key, const std::vector<int32_t>& v);
  void set_array_f32(std::string key, const std::vector<float>& v);
  void set_array_u8(std::string key, const std::vector<uint8_t>& v);
  // An array of `count` fixed-size elements of type `elem` (not string/array), given as
  // the little-endian element bytes.
  void set_array(std::string key, ValueType elem, const void* data, uint64_t count);
  // Copies a value (any type, arrays included) from another file's metadata. Setting
  // general.alignment by any setter sets the alignment, as set_alignment does.
  void set_value(std::string key, const Value& v);
  void set_alignment(uint32_t alignment);  // a power of two 1..1 MiB; writes general.alignment too

  // `data` must hold dtype_row_bytes(type, ne[0]) * ne[1] * ne[2] * ne[3] bytes; it is
  // copied. Refuses (kRequestInvalid) empty or duplicate names, unknown types, 0 or more
  // than 4 dims, dims < 1, ne[0] not a multiple of the block size.
  Status add_tensor(std::string name, hal::DType type, std::span<const int64_t> ne, const void* data);
  // Declares a tensor whose data is not held here but streamed later through a
  // StreamWriter (same checks as add_tensor). write() refuses a writer holding such
  // tensors; serialize() gives them zero bytes.
  Status add_tensor_info(std::string name, hal::DType type, std::span<const int64_t> ne);

  // The first mistake made in a set_* call, or ok.
  Status status() const;
  // The complete file image.
  std::vector<uint8_t> serialize() const;
  // Writes the image to `path` atomically; errors (kIoWrite, ...) name the path.
  Status write(const std::string& path) const;

 private:
  struct Entry {
    std::string key;
    std::vector<uint8_t> encoded;  // type tag + value, already in GGUF encoding
  };
  friend class StreamWriter;
  struct Tensor {
    std::string name;
    hal::DType type;
    std::vector<int64_t> ne;
    uint64_t bytes = 0;
    bool has_data = false;      // false: declared by add_tensor_info, streamed later
    std::vector<uint8_t> data;  // bytes long when has_data
  };
  void put(std::string key, std::vector<uint8_t> encoded);
  void fail(ErrorInfo e);
  Status add(std::string name, hal::DType type, std::span<const int64_t> ne, const void* data, bool copy);
  // Header, metadata, tensor infos and the padding up to the data section.
  std::vector<uint8_t> serialize_head() const;
  std::vector<Entry> entries_;
  std::vector<Tensor> tensors_;
  uint32_t alignment_ = 32;
  ErrorInfo first_error_{Error::kOk, {}};
};

// Writes the file a Writer describes with tensor data supplied piece by piece, so a
// file larger than memory can be produced (the quantizer streams one tensor at a time).
// begin() creates a temporary file beside `path` and writes the header; append() takes
// the tensors' bytes in declaration order, in pieces of any size, and adds the alignment
// padding between tensors; commit() checks every byte arrived, fsyncs and renames the
// temporary file onto `path`. A StreamWriter destroyed before commit() (an error, a
// cancelled run) removes its temporary file, so no half-written file is ever left.
//
// The Writer must outlive the StreamWriter and not change while it writes.
class StreamWriter {
 public:
  // Errors (kIoWrite, kIoPermission) name `path`: a missing directory, no permission.
  static Result<std::unique_ptr<StreamWriter>> begin(const Writer& w, const std::string& path);
  ~StreamWriter();
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;

  // The next n bytes of tensor data; more bytes than the tensors declare is an error.
  Status append(const void* data, size_t n);
  Status commit();
  const std::string& temp_path() const { return tmp_; }

 private:
  StreamWriter(const Writer& w, std::string path, std::string tmp, int fd);
  Status fail_io(const char* what);
  Status write_bytes(const void* data, size_t n);
  Status pad_tensor();
  const Writer& w_;
  std::string path_, tmp_;
  int fd_ = -1;
  size_t tensor_ = 0;      // index of the tensor being written
  uint64_t in_tensor_ = 0; // bytes of it written so far
  bool committed_ = false;
};

}  // namespace airt::gguf
