#include "runtime/core/arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace airt {

Arena::Arena(Arena&& o) noexcept { *this = std::move(o); }

Arena& Arena::operator=(Arena&& o) noexcept {
  if (this != &o) {
    this->~Arena();
    base_ = std::exchange(o.base_, nullptr);
    capacity_ = std::exchange(o.capacity_, 0);
    used_ = std::exchange(o.used_, 0);
    high_water_ = std::exchange(o.high_water_, 0);
    locked_ = std::exchange(o.locked_, false);
  }
  return *this;
}

Arena::~Arena() {
  if (base_) munmap(base_, capacity_);
  base_ = nullptr;
}

Result<Arena> Arena::reserve(size_t bytes, bool lock) {
  Arena a;
  if (bytes == 0) return a;
  bytes = align_up(bytes, 4096);
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return errorf(Error::kResourceOutOfMemory, "arena: cannot reserve %zu bytes: %s", bytes,
                  std::strerror(errno));
  }
  a.base_ = static_cast<uint8_t*>(p);
  a.capacity_ = bytes;
  if (lock) {
    if (mlock(p, bytes) != 0) {
      return errorf(Error::kResourceOutOfMemory,
                    "arena: mlock of %zu bytes failed: %s (raise LimitMEMLOCK / ulimit -l, or drop --mlock)",
                    bytes, std::strerror(errno));
    }
    a.locked_ = true;
  }
  return a;
}

void* Arena::alloc(size_t bytes, size_t align) {
  size_t start = align_up(used_, align);
  if (start > capacity_ || bytes > capacity_ - start) return nullptr;
  // Anonymous pages start zeroed and are only backed when first written, so only the part
  // below the high-water mark (memory reused after rewind()) is cleared: a page beyond it
  // is never touched here.
  if (start < high_water_) std::memset(base_ + start, 0, std::min(bytes, high_water_ - start));
  used_ = start + bytes;
  if (used_ > high_water_) high_water_ = used_;
  return base_ + start;
}

}  // namespace airt
