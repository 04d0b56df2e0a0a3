#include "runtime/service/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "runtime/core/log.h"

namespace airt::service {
namespace {

constexpr uint32_t kMagic = 0x4A524941;  // "AIRJ" little-endian
constexpr size_t kHeaderBytes = 12;
constexpr uint8_t kRequest = 1, kDone = 2, kFinal = 3, kReleased = 4;

uint32_t crc32(std::string_view data) {
  static const std::array<uint32_t, 256> kTable = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (char ch : data) c = kTable[(c ^ static_cast<uint8_t>(ch)) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

template <typename T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

void put_bytes(std::string& out, std::string_view s) {
  put<uint32_t>(out, uint32_t(s.size()));
  out.append(s);
}

// Reads from a body; any overrun sets ok_ false (a record that passed its CRC but does
// not decode is treated like a torn one).
struct Reader {
  std::string_view s;
  bool ok_ = true;
  template <typename T>
  T get() {
    T v{};
    if (s.size() < sizeof(T)) {
      ok_ = false;
      return v;
    }
    std::memcpy(&v, s.data(), sizeof(T));
    s.remove_prefix(sizeof(T));
    return v;
  }
  std::string bytes() {
    uint32_t n = get<uint32_t>();
    if (!ok_ || s.size() < n) {
      ok_ = false;
      return {};
    }
    std::string out(s.substr(0, n));
    s.remove_prefix(n);
    return out;
  }
};

ErrorInfo io_error(const std::string& path, const char* what) {
  return errorf(Error::kIoWrite, "journal %s: %s: %s (set journal.path to a writable file, or \"\" to run without one)",
                path.c_str(), what, std::strerror(errno));
}

}  // namespace

std::string Journal::encode(uint8_t type, const JournalEntry& e) {
  std::string body;
  put<uint8_t>(body, type);
  put<uint64_t>(body, e.seq);
  if (type == kRequest) {
    put<int64_t>(body, e.arrival_wall_ns);
    put<uint8_t>(body, e.has_correlation ? 1 : 0);
    put_bytes(body, e.reply_topic);
    put_bytes(body, e.correlation);
    put_bytes(body, e.payload);
  }
  if (type == kFinal) {
    put_bytes(body, e.final_payload);
    put<uint16_t>(body, e.packet_id);
  }
  std::string rec;
  rec.reserve(kHeaderBytes + body.size());
  put<uint32_t>(rec, kMagic);
  put<uint32_t>(rec, uint32_t(body.size()));
  put<uint32_t>(rec, crc32(body));
  rec += body;
  return rec;
}

Result<std::unique_ptr<Journal>> Journal::open(const std::string& path, const JournalLimits& limits) {
  std::unique_ptr<Journal> j(new Journal(path, limits));
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  j->fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);  // prompts are private
  if (j->fd_ < 0) return io_error(path, "cannot open");
  AIRT_TRY(j->load());
  return j;
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

Status Journal::load() {
  std::string data;
  char buf[65536];
  for (ssize_t n; (n = ::pread(fd_, buf, sizeof buf, off_t(data.size()))) != 0;) {
    if (n < 0) return io_error(path_, "cannot read");
    data.append(buf, size_t(n));
  }
  std::unordered_map<uint64_t, JournalEntry> open;
  size_t pos = 0;
  while (pos < data.size()) {
    std::string_view rest(data.data() + pos, data.size() - pos);
    Reader h{rest};
    uint32_t magic = h.get<uint32_t>(), len = h.get<uint32_t>(), crc = h.get<uint32_t>();
    bool whole = h.ok_ && magic == kMagic && h.s.size() >= len && crc32(h.s.substr(0, len)) == crc;
    Reader b{whole ? h.s.substr(0, len) : std::string_view()};
    uint8_t type = b.get<uint8_t>();
    JournalEntry e;
    e.seq = b.get<uint64_t>();
    if (whole && type == kRequest) {
      e.arrival_wall_ns = b.get<int64_t>();
      e.has_correlation = b.get<uint8_t>() != 0;
      e.reply_topic = b.bytes();
      e.correlation = b.bytes();
      e.payload = b.bytes();
    }
    if (whole && type == kFinal) {
      e.final_payload = b.bytes();
      if (b.s.size() >= sizeof(uint16_t)) e.packet_id = b.get<uint16_t>();
    }
    if (!whole || !b.ok_ || type < kRequest || type > kReleased) {
      ++torn_;
      AIRT_LOG_WARN("journal %s: record at byte %zu is cut short or corrupt (a crash while writing it); "
                    "dropping the last %zu bytes", path_.c_str(), pos, rest.size());
      if (::ftruncate(fd_, off_t(pos)) != 0) return io_error(path_, "cannot drop the torn record");
      data.resize(pos);
      break;
    }
    next_seq_ = std::max(next_seq_, e.seq + 1);
    if (type == kRequest) {
      open[e.seq] = std::move(e);
    } else if (type == kFinal) {
      if (auto it = open.find(e.seq); it != open.end()) {
        it->second.final_payload = std::move(e.final_payload);
        it->second.has_final = true;
        it->second.packet_id = e.packet_id;
        it->second.released = false;
      }
    } else if (type == kReleased) {
      if (auto it = open.find(e.seq); it != open.end() && it->second.has_final) it->second.released = true;
    } else {
      open.erase(e.seq);
    }
    pos += kHeaderBytes + len;
  }
  size_ = data.size();
  for (auto& [seq, e] : open) {
    live_[seq] = encode(kRequest, e) + (e.has_final ? encode(kFinal, e) : std::string()) +
                 (e.released ? encode(kReleased, e) : std::string());
    live_bytes_ += live_[seq].size();
    recovered_.push_back(std::move(e));
  }
  std::sort(recovered_.begin(), recovered_.end(), [](auto& a, auto& b) { return a.seq < b.seq; });
  if (live_.empty() && size_ > 0) return compact();
  return ok_status();
}

std::vector<JournalEntry> Journal::take_recovered() { return std::move(recovered_); }

Status Journal::write_record(const std::string& rec, bool sync) {
  size_t done = 0;
  while (done < rec.size()) {
    ssize_t n = ::write(fd_, rec.data() + done, rec.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ErrorInfo e = io_error(path_, "cannot append");
      // Leave no half record behind for the next start to trip over.
      if (::ftruncate(fd_, off_t(size_)) != 0) AIRT_LOG_ERROR("journal %s: cannot undo a partial write", path_.c_str());
      return e;
    }
    done += size_t(n);
  }
  if (sync && ::fdatasync(fd_) != 0) return io_error(path_, "cannot sync");
  size_ += rec.size();
  return ok_status();
}

Result<uint64_t> Journal::append(JournalEntry e) {
  if (live_.size() >= limits_.max_live)
    return errorf(Error::kResourceExhausted, "journal: %zu requests are open (the planned maximum)", live_.size());
  e.seq = next_seq_;
  std::string rec = encode(kRequest, e);
  if (rec.size() > limits_.max_record_bytes)
    return errorf(Error::kResourceExhausted, "journal: a %zu-byte record is over the planned %zu bytes", rec.size(),
                  limits_.max_record_bytes);
  AIRT_TRY(write_record(rec, true));
  ++next_seq_;
  live_bytes_ += rec.size();
  live_[e.seq] = std::move(rec);
  return e.seq;
}

// Appends a record of an open request (written, not synced); compaction keeps it with
// the request. Unknown seqs are ignored.
Status Journal::append_to_open(uint8_t type, const JournalEntry& e) {
  auto it = live_.find(e.seq);
  if (it == live_.end()) return ok_status();
  const std::string rec = encode(type, e);
  AIRT_TRY(write_record(rec, false));
  it->second += rec;
  live_bytes_ += rec.size();
  return ok_status();
}

Status Journal::mark_sent(uint64_t seq, std::string_view reply, uint16_t packet_id) {
  JournalEntry e;
  e.seq = seq;
  e.final_payload = std::string(reply);
  e.packet_id = packet_id;
  return append_to_open(kFinal, e);
}

Status Journal::mark_released(uint64_t seq) {
  JournalEntry e;
  e.seq = seq;
  return append_to_open(kReleased, e);
}

Status Journal::mark_done(uint64_t seq) {
  auto it = live_.find(seq);
  if (it == live_.end()) return ok_status();
  live_bytes_ -= it->second.size();
  live_.erase(it);
  // Compact when nothing is open, or when the file is long and mostly done records, so
  // its length stays within max(compact_bytes, 2 x the open records).
  if (live_.empty() || (size_ > limits_.compact_bytes && size_ > 2 * live_bytes_)) return compact();
  // Not synced: a process crash keeps it (the page cache survives); only a power cut can
  // lose it, and then the request runs again, which finals already allow (at least once).
  JournalEntry e;
  e.seq = seq;
  return write_record(encode(kDone, e), false);
}

// Nothing open: truncate. Else write the open records to a new file and rename it over
// the old one, so a crash during compaction leaves one complete journal or the other.
Status Journal::compact() {
  if (live_.empty()) {
    // Not synced, like a done mark: a power cut at worst brings the done requests back.
    if (::ftruncate(fd_, 0) != 0) return io_error(path_, "cannot truncate");
    size_ = 0;
    return ok_status();
  }
  std::vector<uint64_t> seqs;
  for (auto& [seq, rec] : live_) seqs.push_back(seq);
  std::sort(seqs.begin(), seqs.end());
  std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return io_error(tmp, "cannot create");
  int old = fd_;
  fd_ = fd;
  uint64_t old_size = size_;
  size_ = 0;
  for (uint64_t seq : seqs) {
    if (Status st = write_record(live_[seq], false); !st.ok()) {
      ::close(fd);
      fd_ = old;
      size_ = old_size;
      return st;
    }
  }
  if (::fdatasync(fd_) != 0 || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    ::close(fd);
    fd_ = old;
    size_ = old_size;
    return io_error(path_, "cannot replace with the compacted journal");
  }
  ::close(old);
  std::string dir = std::filesystem::path(path_).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return ok_status();
}

}  // namespace airt::service
