// ThreadPool: worker threads created once at start-up; fork-join over a function with
// a spin-then-sleep barrier. The calling thread takes part as thread 0. run() performs
// no allocation and creates no thread.
//
// Each thread also owns a fixed scratch buffer (kThreadScratchBytes, allocated with the
// pool) for kernels that pack a tile of their operands, e.g. the tiled matrix product.
//
// Ownership: the pool owns its threads and scratch; destroying it joins them. One caller
// at a time: run() must not be called concurrently or from inside a job.
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

  virtual int size() const = 0;
  // Calls fn(ctx, ith, nth) once on each of nth = size() threads and returns when all
  // have finished.
  virtual void run(void (*fn)(void* ctx, int ith, int nth), void* ctx) = 0;
  // kThreadScratchBytes of 64-byte aligned memory that only thread ith uses during run().
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
