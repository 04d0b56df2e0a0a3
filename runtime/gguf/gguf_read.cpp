// The GGUF reader: maps a file and validates every byte it will later hand out.
//
// Every read goes through Parser::take(), which checks the length against the bytes left,
// so a hostile file can make parsing fail but never read outside the buffer. Counts from
// the file are bounded by what the remaining bytes could hold before anything is
// allocated for them.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <limits>

#include "runtime/gguf/gguf.h"
#include "runtime/gguf/gguf_internal.h"

namespace airt::gguf {

using detail::load;
using detail::printable;
using detail::strf;

namespace detail {

std::string printable(std::string_view s, size_t max) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

std::string strf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ErrorInfo e = verrorf(Error::kOk, fmt, ap);
  va_end(ap);
  return std::move(e.message);
}

// strerror_r is the GNU variant (returns the text) on glibc and the XSI one (returns 0
// and fills the buffer) on musl; these overloads take either.
[[maybe_unused]] static const char* strerror_text(const char* text, const char*) { return text; }
[[maybe_unused]] static const char* strerror_text(int rc, const char* buf) { return rc == 0 ? buf : "unknown error"; }

std::string errno_text(int e) {
  char buf[128] = {};
  return strerror_text(strerror_r(e, buf, sizeof buf), buf);
}

}  // namespace detail

namespace {

constexpr uint64_t kHeaderBytes = 4 + 4 + 8 + 8;
// The smallest possible encodings, used to bound counts by the bytes that remain.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;               // empty key, type, u8 value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, 1 dim, type, offset
constexpr uint64_t kI64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
// Containers grow from this as entries actually parse, so a file that claims many more
// entries than it holds costs no memory up front.
constexpr uint64_t kMaxReserve = 4096;

// ggml type numbers that airt does not read, for messages that say what the file holds.
const char* ggml_type_name(uint32_t raw) {
  switch (raw) {
    case 4: return "q4_2, removed from the format in 2023";
    case 5: return "q4_3, removed from the format in 2023";
    case 16: return "iq2_xxs";
    case 17: return "iq2_xs";
    case 18: return "iq3_xxs";
    case 19: return "iq1_s";
    case 20: return "iq4_nl";
    case 21: return "iq3_s";
    case 22: return "iq2_s";
    case 23: return "iq4_xs";
    case 24: return "i8";
    case 25: return "i16";
    case 26: return "i32";
    case 27: return "i64";
    case 28: return "f64";
    case 29: return "iq1_m";
    case 34: return "tq1_0";
    case 35: return "tq2_0";
    case 39: return "mxfp4";
    default: return "not a ggml type";
  }
}

std::string known_types() {
  std::string s;
  for (uint32_t i = 0; i < hal::kDTypeCount; ++i) {
    if (!hal::dtype_known(i)) continue;
    if (!s.empty()) s += ", ";
    s += hal::dtype_name(static_cast<hal::DType>(i));
  }
  return s;
}

}  // namespace

class Parser {
 public:
  Parser(File& f, const uint8_t* base, uint64_t size) : f_(f), base_(base), size_(size) {}

  Status run() {
    AIRT_TRY(read_header());
    AIRT_TRY(read_metadata());
    AIRT_TRY(read_alignment());
    AIRT_TRY(read_tensor_infos());
    return place_tensors();
  }

 private:
  uint64_t remaining() const { return size_ - pos_; }
  const char* path() const { return f_.path_.c_str(); }

  ErrorInfo truncated(const std::string& detail) const {
    return errorf(Error::kFormatTruncated, "%s: truncated in %s: %s", path(), where_.c_str(), detail.c_str());
  }
  ErrorInfo fail(Error code, const std::string& detail) const {
    return errorf(code, "%s: %s: %s", path(), where_.c_str(), detail.c_str());
  }

  // The next `n` bytes, or a truncation error naming `what` was being read.
  Result<const uint8_t*> take(uint64_t n, const char* what) {
    if (n > remaining()) {
      return truncated(strf("%s needs %" PRIu64 " bytes, only %" PRIu64 " remain", what, n, remaining()));
    }
    const uint8_t* p = base_ + pos_;
    pos_ += n;
    return p;
  }

  template <class T>
  Result<T> read(const char* what) {
    const uint8_t* p = AIRT_TRY(take(sizeof(T), what));
    return load<T>(p);
  }

  Result<std::string_view> read_string(const char* what) {
    uint64_t len = AIRT_TRY(read<uint64_t>(what));
    if (len > remaining()) {
      return truncated(strf("%s length %" PRIu64 " exceeds remaining %" PRIu64 " bytes", what, len, remaining()));
    }
    const uint8_t* p = base_ + pos_;
    pos_ += len;
    return std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(len));
  }

  Status read_header() {
    where_ = "header";
    if (size_ < 4) {
      return errorf(Error::kFormatTruncated, "%s: file is %" PRIu64 " bytes, too short for a GGUF header (%" PRIu64 ")",
                    path(), size_, kHeaderBytes);
    }
    uint32_t magic = AIRT_TRY(read<uint32_t>("magic"));
    if (magic != detail::kMagic) {
      std::string got = printable(std::string_view(reinterpret_cast<const char*>(base_), 4));
      return errorf(Error::kFormatBadMagic, "%s: not a GGUF file (starts with '%s', expected 'GGUF')", path(), got.c_str());
    }
    uint32_t version = AIRT_TRY(read<uint32_t>("version"));
    uint32_t swapped = __builtin_bswap32(version);
    if (version == 1) {
      return errorf(Error::kFormatBadVersion,
                    "%s: GGUF version 1 is not supported (it predates 64-bit counts); "
                    "convert the model again with a current converter",
                    path());
    }
    if (swapped == 2 || swapped == 3) {
      return errorf(Error::kFormatUnsupported, "%s: big-endian GGUF (version %u) is not supported; use the little-endian file",
                    path(), swapped);
    }
    if (version != 2 && version != 3) {
      return errorf(Error::kFormatBadVersion, "%s: GGUF version %u is not supported (airt reads versions 2 and 3)", path(),
                    version);
    }
    f_.version_ = version;
    tensor_count_ = AIRT_TRY(read<uint64_t>("tensor count"));
    kv_count_ = AIRT_TRY(read<uint64_t>("metadata key count"));
    // Both sections follow the header, so neither count can exceed what the rest holds.
    if (kv_count_ > remaining() / kMinKvBytes) {
      return truncated(strf("%" PRIu64 " metadata keys claimed, but the remaining %" PRIu64
                            " bytes hold at most %" PRIu64,
                            kv_count_, remaining(), remaining() / kMinKvBytes));
    }
    if (tensor_count_ > remaining() / kMinTensorInfoBytes) {
      return truncated(strf("%" PRIu64 " tensors claimed, but the remaining %" PRIu64 " bytes hold at most %" PRIu64
                            " tensor infos",
                            tensor_count_, remaining(), remaining() / kMinTensorInfoBytes));
    }
    return ok_status();
  }

  Status read_metadata() {
    f_.kvs_.reserve(std::min(kv_count_, kMaxReserve));
    f_.kv_index_.reserve(std::min(kv_count_, kMaxReserve));
    std::vector<std::pair<size_t, size_t>> string_arrays;  // (kv index, first offset index)
    for (uint64_t i = 0; i < kv_count_; ++i) {
      where_ = strf("metadata key %" PRIu64, i);
      std::string_view key = AIRT_TRY(read_string("key"));
      if (key.empty()) return fail(Error::kFormatInvalid, "empty key");
      where_ = strf("metadata key %" PRIu64 " ('%s')", i, printable(key).c_str());
      auto [it, inserted] = f_.kv_index_.emplace(key, f_.kvs_.size());
      if (!inserted) return fail(Error::kFormatInvalid, strf("duplicate key (also metadata key %zu)", it->second));
      uint32_t type = AIRT_TRY(read<uint32_t>("value type"));
      size_t first_offset = f_.string_offsets_.size();
      Value v = AIRT_TRY(read_value(type));
      if (v.is_array() && v.elem_type_ == ValueType::kString) string_arrays.emplace_back(f_.kvs_.size(), first_offset);
      f_.kvs_.push_back({key, v});
    }
    // Only now is the offsets store final, so only now can values point into it.
    for (auto [kv, first] : string_arrays) f_.kvs_[kv].value.string_offsets_ = f_.string_offsets_.data() + first;
    return ok_status();
  }

  Result<Value> read_value(uint32_t raw_type) {
    if (raw_type >= kValueTypeCount) {
      return fail(Error::kFormatInvalid, strf("unknown value type %u (GGUF defines 0..12)", raw_type));
    }
    Value v;
    v.type_ = static_cast<ValueType>(raw_type);
    if (v.type_ == ValueType::kString) {
      std::string_view s = AIRT_TRY(read_string("string"));
      v.data_ = reinterpret_cast<const uint8_t*>(s.data());
      v.count_ = s.size();
    } else if (v.type_ == ValueType::kArray) {
      AIRT_TRY(read_array(v));
    } else {
      v.data_ = AIRT_TRY(take(value_type_size(v.type_), value_type_name(v.type_)));
      if (v.type_ == ValueType::kBool && *v.data_ > 1) {
        return fail(Error::kFormatInvalid, strf("bool value %u is neither 0 nor 1", *v.data_));
      }
    }
    return v;
  }

  Status read_array(Value& v) {
    uint32_t raw_elem = AIRT_TRY(read<uint32_t>("array element type"));
    if (raw_elem == static_cast<uint32_t>(ValueType::kArray)) {
      return fail(Error::kFormatUnsupported, "nested arrays (arrays of arrays) are not supported");
    }
    if (raw_elem >= kValueTypeCount) {
      return fail(Error::kFormatInvalid, strf("unknown array element type %u (GGUF defines 0..12)", raw_elem));
    }
    v.elem_type_ = static_cast<ValueType>(raw_elem);
    v.count_ = AIRT_TRY(read<uint64_t>("array length"));
    v.data_ = base_ + pos_;
    if (v.elem_type_ == ValueType::kString) return index_strings(v);
    uint64_t esize = value_type_size(v.elem_type_);
    if (v.count_ > remaining() / esize) {
      return truncated(strf("array of %" PRIu64 " %s (%" PRIu64 " bytes each) exceeds remaining %" PRIu64 " bytes",
                            v.count_, value_type_name(v.elem_type_), esize, remaining()));
    }
    if (v.elem_type_ == ValueType::kBool) {
      for (uint64_t j = 0; j < v.count_; ++j) {
        if (v.data_[j] > 1) return fail(Error::kFormatInvalid, strf("element %" PRIu64 ": bool value %u is neither 0 nor 1", j, v.data_[j]));
      }
    }
    pos_ += v.count_ * esize;
    return ok_status();
  }

  // Records where each string starts so array_string(i) is O(1) (vocabularies hold
  // 32000-150000 strings and tokenizers look them up at random).
  Status index_strings(Value& v) {
    if (v.count_ > remaining() / 8) {
      return truncated(strf("array of %" PRIu64 " strings (8 bytes or more each) exceeds remaining %" PRIu64 " bytes",
                            v.count_, remaining()));
    }
    f_.string_offsets_.reserve(f_.string_offsets_.size() + std::min(v.count_, kMaxReserve * 64));
    const uint64_t start = pos_;
    for (uint64_t j = 0; j < v.count_; ++j) {
      if (remaining() < 8) {
        return truncated(strf("element %" PRIu64 ": string length needs 8 bytes, only %" PRIu64 " remain", j, remaining()));
      }
      uint64_t len = load<uint64_t>(base_ + pos_);
      if (len > remaining() - 8) {
        return truncated(strf("element %" PRIu64 ": string length %" PRIu64 " exceeds remaining %" PRIu64 " bytes", j, len,
                              remaining() - 8));
      }
      f_.string_offsets_.push_back(pos_ - start);
      pos_ += 8 + len;
    }
    return ok_status();
  }

  Status read_alignment() {
    const Value* a = f_.find(detail::kAlignmentKey);
    if (!a) return ok_status();
    where_ = strf("metadata key '%s'", detail::kAlignmentKey.data());
    if (!a->is_integer() || a->type() == ValueType::kBool) {
      return fail(Error::kFormatInvalid, strf("is %s, expected an integer (u32)", value_type_name(a->type())));
    }
    detail::IntValue v = detail::read_int(a->type(), a->data_);
    if (v.negative || v.u == 0 || (v.u & (v.u - 1)) != 0 || v.u > detail::kMaxAlignment) {
      std::string shown = v.negative ? strf("%" PRId64, v.s) : strf("%" PRIu64, v.u);
      return fail(Error::kFormatInvalid, strf("alignment %s is not a power of two from 1 to %" PRIu64, shown.c_str(),
                                              detail::kMaxAlignment));
    }
    f_.alignment_ = static_cast<size_t>(v.u);
    return ok_status();
  }

  Status read_tensor_infos() {
    f_.tensors_.reserve(std::min(tensor_count_, kMaxReserve));
    f_.tensor_index_.reserve(std::min(tensor_count_, kMaxReserve));
    for (uint64_t i = 0; i < tensor_count_; ++i) {
      where_ = strf("tensor info %" PRIu64, i);
      TensorInfo t;
      t.name = AIRT_TRY(read_string("name"));
      if (t.name.empty()) return fail(Error::kFormatInvalid, "empty tensor name");
      where_ = strf("tensor info %" PRIu64 " ('%s')", i, printable(t.name).c_str());
      auto [it, inserted] = f_.tensor_index_.emplace(t.name, f_.tensors_.size());
      if (!inserted) return fail(Error::kFormatInvalid, strf("duplicate tensor name (also tensor info %zu)", it->second));
      AIRT_TRY(read_shape(t));
      uint32_t raw_type = AIRT_TRY(read<uint32_t>("tensor type"));
      if (!hal::dtype_known(raw_type)) {
        return fail(Error::kFormatUnsupported, strf("tensor type %u (%s) is not supported; airt reads %s", raw_type,
                                                    ggml_type_name(raw_type), known_types().c_str()));
      }
      t.type = static_cast<hal::DType>(raw_type);
      AIRT_TRY(size_tensor(t));
      t.offset = AIRT_TRY(read<uint64_t>("data offset"));
      if (t.offset % f_.alignment_ != 0) {
        return fail(Error::kFormatInvalid, strf("data offset %" PRIu64 " is not a multiple of the alignment %zu", t.offset,
                                                f_.alignment_));
      }
      f_.tensors_.push_back(t);
    }
    return ok_status();
  }

  Status read_shape(TensorInfo& t) {
    t.n_dims = AIRT_TRY(read<uint32_t>("dimension count"));
    if (t.n_dims < 1 || t.n_dims > 4) return fail(Error::kFormatInvalid, strf("%u dimensions, expected 1 to 4", t.n_dims));
    uint64_t n = 1;
    for (uint32_t d = 0; d < t.n_dims; ++d) {
      uint64_t dim = AIRT_TRY(read<uint64_t>("dimension"));
      if (dim == 0) {
        return fail(Error::kFormatUnsupported, strf("dimension %u is 0 (empty tensors are not supported)", d));
      }
      if (dim > kI64Max / n) {
        return fail(Error::kFormatInvalid,
                    strf("dimension %u (%" PRIu64 ") makes the element count overflow 2^63", d, dim));
      }
      n *= dim;
      t.ne[d] = static_cast<int64_t>(dim);
    }
    return ok_status();
  }

  Status size_tensor(TensorInfo& t) {
    const hal::DTypeInfo& info = hal::dtype_info(t.type);
    if (t.ne[0] % info.block_size != 0) {
      return fail(Error::kFormatInvalid, strf("row length ne[0] = %" PRId64 " is not a multiple of the %s block size %" PRId64,
                                              t.ne[0], info.name, info.block_size));
    }
    // Element count < 2^63 and block_bytes <= block_size * 4 keep this within 64 bits,
    // but check rather than rely on it.
    uint64_t blocks = static_cast<uint64_t>(t.n_elements() / info.block_size);
    if (blocks > std::numeric_limits<uint64_t>::max() / info.block_bytes ||
        blocks * info.block_bytes > size_) {
      return errorf(Error::kFormatTruncated, "%s: tensor '%s' (%s, %" PRId64 " elements) needs more bytes than the whole file (size %" PRIu64 ")",
                    path(), printable(t.name).c_str(), info.name, t.n_elements(), size_);
    }
    t.bytes = static_cast<size_t>(blocks * info.block_bytes);
    return ok_status();
  }

  Status place_tensors() {
    uint64_t align = f_.alignment_;
    uint64_t data_offset = pos_ + (align - pos_ % align) % align;  // pos_ <= size_, align <= 1 MiB
    f_.data_offset_ = data_offset <= std::numeric_limits<size_t>::max() ? static_cast<size_t>(data_offset) : f_.size_;
    for (TensorInfo& t : f_.tensors_) {
      bool inside = data_offset <= size_ && t.offset <= size_ - data_offset && t.bytes <= size_ - data_offset - t.offset;
      if (!inside) {
        std::string at = t.offset <= UINT64_MAX - data_offset ? strf("%" PRIu64, data_offset + t.offset)
                                                              : strf("%" PRIu64 " + %" PRIu64, data_offset, t.offset);
        return errorf(Error::kFormatTruncated, "%s: tensor '%s' data [offset %s, %zu bytes] extends past end of file (size %" PRIu64 ")",
                      path(), printable(t.name).c_str(), at.c_str(), t.bytes, size_);
      }
      t.data = base_ + data_offset + t.offset;
    }
    // Overlapping tensors mean a corrupt offset; writing one would silently change another.
    std::vector<const TensorInfo*> order;
    order.reserve(f_.tensors_.size());
    for (const TensorInfo& t : f_.tensors_) order.push_back(&t);
    std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < order.size(); ++i) {
      const TensorInfo& a = *order[i - 1];
      const TensorInfo& b = *order[i];
      if (a.offset + a.bytes > b.offset) {
        return errorf(Error::kFormatInvalid, "%s: tensor '%s' data [offset %" PRIu64 ", %zu bytes] overlaps tensor '%s' [offset %" PRIu64 "]",
                      path(), printable(a.name).c_str(), data_offset + a.offset, a.bytes, printable(b.name).c_str(),
                      data_offset + b.offset);
      }
    }
    return ok_status();
  }

  File& f_;
  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t tensor_count_ = 0;
  uint64_t kv_count_ = 0;
  std::string where_;
};

Status File::load(const uint8_t* data, size_t size) {
  base_ = data;
  size_ = size;
  return Parser(*this, data, size).run();
}

Result<std::unique_ptr<File>> File::parse(const void* data, size_t size, std::string name) {
  std::unique_ptr<File> f(new File());
  f->path_ = std::move(name);
  if (size == 0 || data == nullptr) {
    return errorf(Error::kFormatTruncated, "%s: empty file (0 bytes), expected a GGUF file", f->path_.c_str());
  }
  AIRT_TRY(f->load(static_cast<const uint8_t*>(data), size));
  return f;
}

Result<std::unique_ptr<File>> File::open(const std::string& path) {
  std::unique_ptr<File> f(new File());
  f->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    Error code = (e == ENOENT || e == ENOTDIR) ? Error::kIoNotFound
                 : (e == EACCES || e == EPERM) ? Error::kIoPermission
                                               : Error::kIoRead;
    return errorf(code, "%s: cannot open: %s", path.c_str(), detail::errno_text(e).c_str());
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return errorf(Error::kIoRead, "%s: cannot stat: %s", path.c_str(), detail::errno_text(e).c_str());
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return errorf(Error::kIoRead, "%s: %s, expected a GGUF file", path.c_str(),
                  S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    return errorf(Error::kFormatTruncated, "%s: empty file (0 bytes), expected a GGUF file", path.c_str());
  }
  if (static_cast<uint64_t>(st.st_size) > std::numeric_limits<size_t>::max()) {
    ::close(fd);
    return errorf(Error::kIoMap, "%s: %" PRIu64 " bytes is too large to map on this system", path.c_str(),
                  static_cast<uint64_t>(st.st_size));
  }
  size_t size = static_cast<size_t>(st.st_size);
  // Private read-only mapping: pages load on first touch, so opening reads only the
  // metadata, and tensor data is used in place.
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  ::close(fd);
  if (map == MAP_FAILED) {
    return errorf(Error::kIoMap, "%s: cannot map %zu bytes: %s", path.c_str(), size, detail::errno_text(e).c_str());
  }
  f->map_ = map;
  f->map_size_ = size;
  AIRT_TRY(f->load(static_cast<const uint8_t*>(map), size));
  return f;
}

}  // namespace airt::gguf
