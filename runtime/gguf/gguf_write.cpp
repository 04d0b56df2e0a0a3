// The GGUF writer: encodes metadata as it is set, lays tensors out at aligned offsets and
// writes the file atomically.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <limits>

#include "runtime/gguf/gguf.h"
#include "runtime/gguf/gguf_internal.h"

namespace airt::gguf {

using detail::strf;

namespace {

// resize + memcpy rather than vector::insert: GCC 12 reports false overflows for the
// latter on small byte ranges.
void put_bytes(std::vector<uint8_t>& out, const void* p, size_t n) {
  if (n == 0) return;
  size_t at = out.size();
  out.resize(at + n);
  std::memcpy(out.data() + at, p, n);
}

template <class T>
void put_raw(std::vector<uint8_t>& out, T v) {
  put_bytes(out, &v, sizeof v);
}

void put_string(std::vector<uint8_t>& out, std::string_view s) {
  put_raw<uint64_t>(out, s.size());
  put_bytes(out, s.data(), s.size());
}

template <class T>
std::vector<uint8_t> scalar(ValueType t, T v) {
  std::vector<uint8_t> out;
  put_raw<uint32_t>(out, static_cast<uint32_t>(t));
  put_raw<T>(out, v);
  return out;
}

std::vector<uint8_t> array_header(ValueType elem, uint64_t count) {
  std::vector<uint8_t> out;
  put_raw<uint32_t>(out, static_cast<uint32_t>(ValueType::kArray));
  put_raw<uint32_t>(out, static_cast<uint32_t>(elem));
  put_raw<uint64_t>(out, count);
  return out;
}

uint64_t align_up(uint64_t n, uint64_t a) { return n + (a - n % a) % a; }

bool valid_alignment(uint64_t a) { return a != 0 && (a & (a - 1)) == 0 && a <= detail::kMaxAlignment; }

// Writes all of `data`, retrying short writes and interrupted calls.
bool write_all(int fd, const uint8_t* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

void Writer::fail(ErrorInfo e) {
  if (first_error_.code == Error::kOk) first_error_ = std::move(e);
}

Status Writer::status() const {
  if (first_error_.code == Error::kOk) return ok_status();
  return first_error_;
}

void Writer::put(std::string key, std::vector<uint8_t> encoded) {
  if (key.empty()) return fail(errorf(Error::kRequestInvalid, "gguf writer: empty metadata key"));
  if (key == detail::kAlignmentKey) {
    // Whatever setter stores it, the key decides where tensors go: keep alignment_ in step.
    ValueType type = static_cast<ValueType>(detail::load<uint32_t>(encoded.data()));
    detail::IntValue v;
    if (detail::is_integer_type(type) && type != ValueType::kBool) v = detail::read_int(type, encoded.data() + 4);
    if (!detail::is_integer_type(type) || type == ValueType::kBool || v.negative || !valid_alignment(v.u)) {
      std::string shown = detail::is_integer_type(type) ? (v.negative ? strf("%" PRId64, v.s) : strf("%" PRIu64, v.u))
                                                        : std::string("a ") + value_type_name(type);
      return fail(errorf(Error::kRequestInvalid, "gguf writer: alignment %s is not a power of two from 1 to %" PRIu64,
                         shown.c_str(), detail::kMaxAlignment));
    }
    alignment_ = static_cast<uint32_t>(v.u);
  }
  for (Entry& e : entries_) {
    if (e.key == key) {
      e.encoded = std::move(encoded);
      return;
    }
  }
  entries_.push_back({std::move(key), std::move(encoded)});
}

void Writer::set_u8(std::string key, uint8_t v) { put(std::move(key), scalar(ValueType::kU8, v)); }
void Writer::set_i8(std::string key, int8_t v) { put(std::move(key), scalar(ValueType::kI8, v)); }
void Writer::set_u16(std::string key, uint16_t v) { put(std::move(key), scalar(ValueType::kU16, v)); }
void Writer::set_i16(std::string key, int16_t v) { put(std::move(key), scalar(ValueType::kI16, v)); }
void Writer::set_u32(std::string key, uint32_t v) { put(std::move(key), scalar(ValueType::kU32, v)); }
void Writer::set_i32(std::string key, int32_t v) { put(std::move(key), scalar(ValueType::kI32, v)); }
void Writer::set_u64(std::string key, uint64_t v) { put(std::move(key), scalar(ValueType::kU64, v)); }
void Writer::set_i64(std::string key, int64_t v) { put(std::move(key), scalar(ValueType::kI64, v)); }
void Writer::set_f32(std::string key, float v) { put(std::move(key), scalar(ValueType::kF32, v)); }
void Writer::set_f64(std::string key, double v) { put(std::move(key), scalar(ValueType::kF64, v)); }
void Writer::set_bool(std::string key, bool v) { put(std::move(key), scalar<uint8_t>(ValueType::kBool, v ? 1 : 0)); }

void Writer::set_string(std::string key, std::string v) {
  std::vector<uint8_t> out;
  put_raw<uint32_t>(out, static_cast<uint32_t>(ValueType::kString));
  put_string(out, v);
  put(std::move(key), std::move(out));
}

void Writer::set_array_string(std::string key, const std::vector<std::string>& v) {
  std::vector<uint8_t> out = array_header(ValueType::kString, v.size());
  for (const std::string& s : v) put_string(out, s);
  put(std::move(key), std::move(out));
}

void Writer::set_array(std::string key, ValueType elem, const void* data, uint64_t count) {
  size_t esize = value_type_size(elem);
  if (esize == 0) {
    return fail(errorf(Error::kRequestInvalid, "gguf writer: key '%s': set_array takes fixed-size elements, not %s",
                       detail::printable(key).c_str(), value_type_name(elem)));
  }
  if (count > 0 && data == nullptr) {
    return fail(errorf(Error::kRequestInvalid, "gguf writer: key '%s': no data for %" PRIu64 " elements",
                       detail::printable(key).c_str(), count));
  }
  std::vector<uint8_t> out = array_header(elem, count);
  put_bytes(out, data, static_cast<size_t>(count * esize));
  put(std::move(key), std::move(out));
}

void Writer::set_array_i32(std::string key, const std::vector<int32_t>& v) {
  set_array(std::move(key), ValueType::kI32, v.data(), v.size());
}
void Writer::set_array_f32(std::string key, const std::vector<float>& v) {
  set_array(std::move(key), ValueType::kF32, v.data(), v.size());
}
void Writer::set_array_u8(std::string key, const std::vector<uint8_t>& v) {
  set_array(std::move(key), ValueType::kU8, v.data(), v.size());
}

void Writer::set_value(std::string key, const Value& v) {
  switch (v.type()) {
    case ValueType::kString: return set_string(std::move(key), std::string(v.as_string()));
    case ValueType::kArray:
      if (v.array_type() == ValueType::kString) {
        std::vector<uint8_t> out = array_header(ValueType::kString, v.array_size());
        for (uint64_t i = 0; i < v.array_size(); ++i) put_string(out, v.array_string(i));
        return put(std::move(key), std::move(out));
      }
      return set_array(std::move(key), v.array_type(), v.array_data(), v.array_size());
    default: {
      // Scalars: copy the value's bytes unchanged, so every type round-trips exactly.
      size_t n = value_type_size(v.type());
      std::vector<uint8_t> out;
      put_raw<uint32_t>(out, static_cast<uint32_t>(v.type()));
      put_bytes(out, v.data_, n);
      return put(std::move(key), std::move(out));
    }
  }
}

void Writer::set_alignment(uint32_t alignment) {
  put(std::string(detail::kAlignmentKey), scalar(ValueType::kU32, alignment));
}

Status Writer::add_tensor(std::string name, hal::DType type, std::span<const int64_t> ne, const void* data) {
  return add(std::move(name), type, ne, data, true);
}

Status Writer::add_tensor_info(std::string name, hal::DType type, std::span<const int64_t> ne) {
  return add(std::move(name), type, ne, nullptr, false);
}

Status Writer::add(std::string name, hal::DType type, std::span<const int64_t> ne, const void* data, bool copy) {
  std::string shown = detail::printable(name);
  auto bad = [&](const std::string& why) -> Status {
    return errorf(Error::kRequestInvalid, "gguf writer: tensor '%s': %s", shown.c_str(), why.c_str());
  };
  if (name.empty()) return bad("empty name");
  for (const Tensor& t : tensors_) {
    if (t.name == name) return bad("duplicate name");
  }
  if (!hal::dtype_known(static_cast<uint32_t>(type))) return bad(strf("unknown type %u", static_cast<uint32_t>(type)));
  if (ne.empty() || ne.size() > 4) return bad(strf("%zu dimensions, expected 1 to 4", ne.size()));
  int64_t n = 1;
  for (int64_t d : ne) {
    if (d < 1) return bad(strf("dimension %" PRId64 " is not >= 1", d));
    if (d > std::numeric_limits<int64_t>::max() / n) return bad("element count overflows int64");
    n *= d;
  }
  const hal::DTypeInfo& info = hal::dtype_info(type);
  if (ne[0] % info.block_size != 0) {
    return bad(strf("ne[0] = %" PRId64 " is not a multiple of the %s block size %" PRId64, ne[0], info.name,
                    info.block_size));
  }
  uint64_t bytes = static_cast<uint64_t>(n / info.block_size) * info.block_bytes;
  if (bytes > std::numeric_limits<size_t>::max() / 2) return bad("too large for this system");
  if (copy && data == nullptr) return bad("no data");
  Tensor t{std::move(name), type, std::vector<int64_t>(ne.begin(), ne.end()), bytes, copy, {}};
  if (copy) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    t.data.assign(p, p + bytes);
  }
  tensors_.push_back(std::move(t));
  return ok_status();
}

std::vector<uint8_t> Writer::serialize_head() const {
  std::vector<uint8_t> out;
  put_raw<uint32_t>(out, detail::kMagic);
  put_raw<uint32_t>(out, detail::kVersion);
  put_raw<uint64_t>(out, tensors_.size());
  put_raw<uint64_t>(out, entries_.size());
  for (const Entry& e : entries_) {
    put_string(out, e.key);
    put_bytes(out, e.encoded.data(), e.encoded.size());
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(out, t.name);
    put_raw<uint32_t>(out, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) put_raw<uint64_t>(out, static_cast<uint64_t>(d));
    put_raw<uint32_t>(out, static_cast<uint32_t>(t.type));
    put_raw<uint64_t>(out, offset);
    offset = align_up(offset + t.bytes, alignment_);
  }
  // A file without tensors ends with its metadata, as vocabulary-only files do.
  if (!tensors_.empty()) out.resize(align_up(out.size(), alignment_), 0);
  return out;
}

std::vector<uint8_t> Writer::serialize() const {
  std::vector<uint8_t> out = serialize_head();
  for (const Tensor& t : tensors_) {
    put_bytes(out, t.data.data(), t.data.size());
    out.resize(align_up(out.size() + t.bytes - t.data.size(), alignment_), 0);
  }
  return out;
}

Status Writer::write(const std::string& path) const {
  AIRT_TRY(status());
  for (const Tensor& t : tensors_) {
    if (!t.has_data) {
      return errorf(Error::kRequestInvalid, "gguf writer: tensor '%s' was declared without data; write it with StreamWriter",
                    detail::printable(t.name).c_str());
    }
  }
  // Tensor data is written from the writer's buffers rather than one big image, so a
  // large model is not held twice in memory.
  auto out = AIRT_TRY(StreamWriter::begin(*this, path));
  for (const Tensor& t : tensors_) AIRT_TRY(out->append(t.data.data(), t.data.size()));
  return out->commit();
}

StreamWriter::StreamWriter(const Writer& w, std::string path, std::string tmp, int fd)
    : w_(w), path_(std::move(path)), tmp_(std::move(tmp)), fd_(fd) {}

StreamWriter::~StreamWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

Result<std::unique_ptr<StreamWriter>> StreamWriter::begin(const Writer& w, const std::string& path) {
  AIRT_TRY(w.status());
  // The temp file sits beside the target so rename() is atomic (same filesystem).
  static std::atomic<unsigned> counter{0};
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = strf("%s.tmp-%d-%u", path.c_str(), static_cast<int>(getpid()), counter++);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    int e = errno;
    Error code = e == EACCES || e == EPERM ? Error::kIoPermission : Error::kIoWrite;
    return errorf(code, "%s: cannot create temporary file %s: %s", path.c_str(), tmp.c_str(),
                  detail::errno_text(e).c_str());
  }
  std::unique_ptr<StreamWriter> s(new StreamWriter(w, path, std::move(tmp), fd));
  std::vector<uint8_t> head = w.serialize_head();
  AIRT_TRY(s->write_bytes(head.data(), head.size()));
  return s;
}

Status StreamWriter::fail_io(const char* what) {
  int e = errno;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_.c_str());
  return errorf(Error::kIoWrite, "%s: %s: %s", path_.c_str(), what, detail::errno_text(e).c_str());
}

Status StreamWriter::write_bytes(const void* data, size_t n) {
  if (fd_ < 0) return errorf(Error::kIoWrite, "%s: the file was already closed after an error", path_.c_str());
  if (!write_all(fd_, static_cast<const uint8_t*>(data), n)) return fail_io("write failed");
  return ok_status();
}

// Zeros up to the next tensor's aligned offset; moves on to the next tensor.
Status StreamWriter::pad_tensor() {
  static const uint8_t kZeros[4096] = {};
  const uint64_t bytes = w_.tensors_[tensor_].bytes;
  uint64_t pad = align_up(bytes, w_.alignment_) - bytes;
  while (pad > 0) {
    size_t n = static_cast<size_t>(pad < sizeof kZeros ? pad : sizeof kZeros);
    AIRT_TRY(write_bytes(kZeros, n));
    pad -= n;
  }
  ++tensor_;
  in_tensor_ = 0;
  return ok_status();
}

Status StreamWriter::append(const void* data, size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    if (tensor_ >= w_.tensors_.size()) {
      return errorf(Error::kRequestInvalid, "%s: more tensor data than the declared tensors hold", path_.c_str());
    }
    const uint64_t left = w_.tensors_[tensor_].bytes - in_tensor_;
    const size_t take = static_cast<size_t>(n < left ? n : left);
    AIRT_TRY(write_bytes(p, take));
    p += take;
    n -= take;
    in_tensor_ += take;
    if (in_tensor_ == w_.tensors_[tensor_].bytes) AIRT_TRY(pad_tensor());
  }
  return ok_status();
}

Status StreamWriter::commit() {
  // Zero-byte tensors cannot exist (dims >= 1), so every declared tensor has been padded.
  if (tensor_ != w_.tensors_.size()) {
    return errorf(Error::kRequestInvalid, "%s: tensor '%s' has %" PRIu64 " of its %" PRIu64 " bytes", path_.c_str(),
                  detail::printable(w_.tensors_[tensor_].name).c_str(), in_tensor_, w_.tensors_[tensor_].bytes);
  }
  if (fd_ < 0) return errorf(Error::kIoWrite, "%s: the file was already closed after an error", path_.c_str());
  if (::fsync(fd_) != 0) return fail_io("fsync failed");
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) return fail_io("close failed");
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) return fail_io("cannot rename the temporary file into place");
  committed_ = true;
  // Make the rename itself durable; some filesystems refuse fsync on a directory, which
  // is harmless here because the data is already on disk.
  size_t slash = path_.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path_.substr(0, slash));
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return ok_status();
}

}  // namespace airt::gguf
