#include "runtime/core/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace airt {

static Error io_error(int err) {
  if (err == ENOENT || err == ENOTDIR) return Error::kIoNotFound;
  if (err == EACCES || err == EPERM || err == EROFS) return Error::kIoPermission;
  return Error::kIoRead;
}

Result<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errorf(io_error(errno), "%s: cannot open: %s", path.c_str(), std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return errorf(Error::kIoRead, "%s: is a directory, expected a file", path.c_str());
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return errorf(Error::kIoRead, "%s: read failed: %s", path.c_str(), std::strerror(e));
    }
    if (n == 0) break;
    out.append(buf, size_t(n));
  }
  ::close(fd);
  return out;
}

Status write_file_atomic(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp-XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) return errorf(Error::kIoWrite, "%s: cannot create a temporary file beside it: %s", path.c_str(), std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return errorf(Error::kIoWrite, "%s: write failed: %s", path.c_str(), std::strerror(e));
    }
    off += size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return errorf(Error::kIoWrite, "%s: write failed: %s", path.c_str(), std::strerror(e));
  }
  ::chmod(tmp.c_str(), 0644);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return errorf(Error::kIoWrite, "%s: cannot rename the finished file into place: %s", path.c_str(), std::strerror(e));
  }
  return {};
}

}  // namespace airt
