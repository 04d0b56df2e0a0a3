#include "governor/sensors/sysfs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "runtime/core/file.h"

namespace airt::governor {

std::string sysfs_path(const std::string& root, const char* abs) {
  if (root.empty() || root == "/") return abs;
  return (std::filesystem::path(root) / (abs[0] == '/' ? abs + 1 : abs)).string();
}

std::string sysfs_read_line(const std::string& path) {
  auto text = read_file(path);
  if (!text.ok()) return {};
  std::string s = *text;
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  return s;
}

SysfsAttr::SysfsAttr(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}

SysfsAttr& SysfsAttr::operator=(SysfsAttr&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

SysfsAttr::~SysfsAttr() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<long long> SysfsAttr::read_int(int base) const {
  if (fd_ < 0) return std::nullopt;
  char buf[64];
  ssize_t n = ::pread(fd_, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  char* end = nullptr;
  long long v = std::strtoll(buf, &end, base);  // base 16 skips a leading 0x itself
  if (end == buf) return std::nullopt;
  return v;
}

std::optional<long long> sysfs_read_int(const std::string& path, int base) {
  return SysfsAttr(path).read_int(base);
}

}  // namespace airt::governor
