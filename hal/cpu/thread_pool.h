// ThreadPool: worker threads created once at start-up; fork-join over a function with
// a spin-then-sleep barrier. The calling thread takes part as thread 0. run() performs
// no allocation and creates no thread.
//
// A step may run on fewer threads than the pool owns (set_active): the others stay asleep
// and are not woken, so a governor can trade speed for power at a step boundary without
// creating or destroying threads.
//
// Each thread also has a fixed scratch slice (kThreadScratchBytes) for kernels that pack
// a tile of their operands, e.g. the tiled matrix product. The pool does not allocate it:
// the owner plans scratch_bytes(size()) of memory and attaches it before the first run()
// whose jobs use scratch().
//
// Ownership: the pool owns its threads and joins them when destroyed; the attached scratch
// belongs to the caller and must outlive the pool's last run(). One caller at a time:
// run(), set_active() and attach_scratch() must not be called concurrently or from inside
// a job.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "runtime/core/result.h"

namespace airt::hal {

// Bytes of per-thread kernel scratch (hal::matmul's packed weight panel).
constexpr size_t kThreadScratchBytes = 160 * 1024;

class ThreadPool {
 public:
  // n_threads >= 1 (1 = run everything on the caller). With `pin`, thread i is pinned
  // to the i-th CPU this process may run on (best effort; the caller is pinned too).
  static Result<std::unique_ptr<ThreadPool>> create(int n_threads, bool pin = false);
  virtual ~ThreadPool() = default;

  // Threads the pool owns (the caller included).
  virtual int size() const = 0;
  // Threads the next run() uses: 1..size(); size() after create(). Threads ith >= n are
  // not woken (they spin out and sleep) until a run needs them again. No allocation, no
  // thread creation; n outside 1..size() is clamped.
  virtual void set_active(int n) = 0;
  virtual int active() const = 0;
  // Calls fn(ctx, ith, nth) once on each of nth = active() threads and returns when all
  // have finished.
  virtual void run(void (*fn)(void* ctx, int ith, int nth), void* ctx) = 0;

  // Bytes of scratch a pool of n_threads needs: one 64-byte aligned slice of
  // kThreadScratchBytes per thread.
  static size_t scratch_bytes(int n_threads);
  // Uses `mem` (64-byte aligned, at least scratch_bytes(size()) bytes, owned by the
  // caller) as the threads' scratch from now on.
  virtual Status attach_scratch(void* mem, size_t bytes) = 0;
  // Thread ith's kThreadScratchBytes slice of the attached memory, 64-byte aligned, which
  // only thread ith uses during run(); null before attach_scratch().
  virtual void* scratch(int ith) = 0;

  // run() over a callable taken by reference (no std::function, no allocation):
  // f(int ith, int nth).
  template <class F>
  void parallel(F& f) {
    run([](void* c, int ith, int nth) { (*static_cast<F*>(c))(ith, nth); }, &f);
  }
};

// Physical cores this process may run on (threads sharing a core counted once); >= 1.
int physical_cores();

// The range [begin, end) of n items that thread ith of nth takes, in chunks of `align`.
inline void split_range(int64_t n, int ith, int nth, int64_t align, int64_t& begin, int64_t& end) {
  int64_t chunks = (n + align - 1) / align;
  int64_t per = chunks / nth, extra = chunks % nth;
  int64_t c0 = ith * per + (ith < extra ? ith : extra);
  int64_t c1 = c0 + per + (ith < extra ? 1 : 0);
  begin = c0 * align < n ? c0 * align : n;
  end = c1 * align < n ? c1 * align : n;
}

}  // namespace airt::hal
