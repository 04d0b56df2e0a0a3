// Arena: one region reserved at start-up, carved into objects that live as long as
// the engine. The arena owns the memory; pointers it hands out are valid until the
// Arena is destroyed. Nothing is ever returned to it except by rewinding to a mark,
// which is how per-step scratch is reused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "runtime/core/result.h"

namespace airt {

class Arena {
 public:
  static constexpr size_t kDefaultAlign = 64;  // a cache line; also enough for AVX-512 loads

  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&& o) noexcept;
  Arena& operator=(Arena&& o) noexcept;
  ~Arena();

  // Reserves `bytes` of anonymous memory. alloc() never writes a page it hands out for
  // the first time, so a page costs resident memory only once its user writes it. With
  // `lock`, every page is mlock()ed (and so resident) at once and can never be swapped.
  static Result<Arena> reserve(size_t bytes, bool lock = false);

  // Returns `bytes` of zero-initialised memory aligned to `align`, or nullptr when the
  // arena is exhausted (a planning bug: the plan sized the arena).
  void* alloc(size_t bytes, size_t align = kDefaultAlign);

  template <class T>
  std::span<T> alloc_array(size_t n, size_t align = kDefaultAlign) {
    T* p = static_cast<T*>(alloc(n * sizeof(T), align < alignof(T) ? alignof(T) : align));
    return p ? std::span<T>(p, n) : std::span<T>();
  }

  // Marks and rewinds: everything allocated after mark() is released by rewind().
  size_t mark() const { return used_; }
  void rewind(size_t mark) { used_ = mark; }

  size_t used() const { return used_; }
  size_t capacity() const { return capacity_; }
  size_t high_water() const { return high_water_; }
  bool locked() const { return locked_; }

 private:
  uint8_t* base_ = nullptr;
  size_t capacity_ = 0;
  size_t used_ = 0;
  size_t high_water_ = 0;
  bool locked_ = false;
};

// Rounds `n` up to a multiple of `align` (a power of two).
constexpr size_t align_up(size_t n, size_t align) { return (n + align - 1) & ~(align - 1); }

}  // namespace airt
