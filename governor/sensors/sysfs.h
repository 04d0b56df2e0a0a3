// Small readers for sysfs and procfs attribute files, shared by the sensor sources.
// An attribute is opened once (at construction of a source) and re-read with pread at
// offset 0 into a stack buffer, so sampling a source never allocates.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace airt::governor {

// `abs` ("/sys/class/thermal") under `root` ("/" on a live system, a fixture tree in tests).
std::string sysfs_path(const std::string& root, const char* abs);

// The first line of a small text file, trailing whitespace removed; empty when unreadable.
std::string sysfs_read_line(const std::string& path);

// One attribute file held open. Move-only; closes on destruction.
class SysfsAttr {
 public:
  SysfsAttr() = default;
  explicit SysfsAttr(const std::string& path);
  SysfsAttr(SysfsAttr&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  SysfsAttr& operator=(SysfsAttr&& o) noexcept;
  SysfsAttr(const SysfsAttr&) = delete;
  SysfsAttr& operator=(const SysfsAttr&) = delete;
  ~SysfsAttr();

  bool is_open() const { return fd_ >= 0; }
  // The file's leading integer in `base` (16 accepts an optional 0x); nullopt when the
  // file cannot be read or holds no number (a thermal zone whose sensor is off).
  std::optional<long long> read_int(int base = 10) const;

 private:
  int fd_ = -1;
};

// Opens `path` and reads its integer once (start-up and tool paths).
std::optional<long long> sysfs_read_int(const std::string& path, int base = 10);

}  // namespace airt::governor
