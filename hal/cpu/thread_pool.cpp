// Fork-join pool. A job is published by bumping a generation counter of each worker it
// needs; a worker spins on its own counter for a while (jobs of one token follow each
// other within microseconds) and then sleeps on it as a futex, so an idle pool costs
// nothing and a worker a job does not need is never woken. Completion is a countdown the
// caller waits on the same way. Sleepers are counted so that the common, all-spinning case
// makes no system call at all.
#include "hal/cpu/thread_pool.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

namespace airt::hal {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield" ::: "memory");
#endif
}

// Polls before sleeping. A pause is ~40-140 cycles, so this is some 50-100 µs: longer
// than the serial gaps between the parallel regions of one token, far shorter than the
// gap between requests.
constexpr int kSpinPolls = 1 << 12;

constexpr size_t scratch_stride() { return (kThreadScratchBytes + 63) & ~size_t(63); }

#if defined(__linux__)
void futex_wait(std::atomic<uint32_t>& a, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&a), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}
void futex_wake_all(std::atomic<uint32_t>& a) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&a), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}
#else
void futex_wait(std::atomic<uint32_t>& a, uint32_t expected) { a.wait(expected); }
void futex_wake_all(std::atomic<uint32_t>& a) { a.notify_all(); }
#endif

// Spins, then sleeps, until `a` differs from `old`; `sleepers` counts threads asleep on it.
uint32_t wait_change(std::atomic<uint32_t>& a, uint32_t old, std::atomic<int>& sleepers) {
  for (int i = 0; i < kSpinPolls; ++i) {
    uint32_t v = a.load(std::memory_order_acquire);
    if (v != old) return v;
    cpu_relax();
  }
  for (;;) {
    sleepers.fetch_add(1, std::memory_order_seq_cst);
    // seq_cst pairs with the publisher's store-then-read-sleepers: either it sees us
    // counted and wakes us, or our futex_wait sees its new value and returns at once.
    if (a.load(std::memory_order_seq_cst) == old) futex_wait(a, old);
    sleepers.fetch_sub(1, std::memory_order_relaxed);
    uint32_t v = a.load(std::memory_order_acquire);
    if (v != old) return v;
  }
}

// The CPUs this process may run on, in order.
std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

void pin_to(pthread_t t, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(t, sizeof set, &set);  // best effort: a refusal only costs speed
}

// One worker's wake-up word, on a cache line of its own.
struct alignas(64) Lane {
  std::atomic<uint32_t> gen{0};
  std::atomic<int> sleeping{0};
};

class Pool final : public ThreadPool {
 public:
  explicit Pool(int n) : n_(n), active_(n), lanes_(new Lane[size_t(n)]) {}

  ~Pool() override {
    stop_ = true;
    publish(n_);
    for (auto& t : threads_) t.join();
  }

  Status start(bool pin) {
    const std::vector<int> cpus = pin ? allowed_cpus() : std::vector<int>{};
    threads_.reserve(size_t(n_ - 1));
    for (int i = 1; i < n_; ++i) {
      try {
        threads_.emplace_back([this, i] { worker(i); });
      } catch (const std::system_error& e) {
        n_ = active_ = i;  // the destructor joins the ones that started
        return errorf(Error::kResourceExhausted, "thread pool: cannot start thread %d: %s", i, e.what());
      }
      if (!cpus.empty()) pin_to(threads_.back().native_handle(), cpus[size_t(i) % cpus.size()]);
    }
    if (!cpus.empty()) pin_to(pthread_self(), cpus[0]);
    return {};
  }

  int size() const override { return n_; }
  void set_active(int n) override { active_ = n < 1 ? 1 : (n > n_ ? n_ : n); }
  int active() const override { return active_; }

  Status attach_scratch(void* mem, size_t bytes) override {
    const size_t need = scratch_bytes(n_);
    if (!mem || reinterpret_cast<uintptr_t>(mem) % 64 != 0) {
      return errorf(Error::kRequestInvalid, "thread pool: scratch at %p is not 64-byte aligned; plan it with 64-byte alignment",
                    mem);
    }
    if (bytes < need) {
      return errorf(Error::kResourceOutOfMemory,
                    "thread pool: scratch of %zu bytes is too small for %d threads; it needs %zu (%d x %zu)", bytes,
                    n_, need, n_, kThreadScratchBytes);
    }
    scratch_ = static_cast<uint8_t*>(mem);
    return {};
  }
  void* scratch(int ith) override { return scratch_ ? scratch_ + size_t(ith) * scratch_stride() : nullptr; }

  void run(void (*fn)(void*, int, int), void* ctx) override {
    const int nth = active_;
    if (nth == 1) {
      fn(ctx, 0, 1);
      return;
    }
    fn_ = fn;
    ctx_ = ctx;
    nth_ = nth;
    pending_.store(uint32_t(nth - 1), std::memory_order_relaxed);
    publish(nth);
    fn(ctx, 0, nth);
    uint32_t left = pending_.load(std::memory_order_acquire);
    while (left != 0) left = wait_change(pending_, left, caller_sleeping_);
  }

 private:
  // Wakes workers 1..nth-1.
  void publish(int nth) {
    for (int i = 1; i < nth; ++i) {
      Lane& l = lanes_[size_t(i)];
      l.gen.fetch_add(1, std::memory_order_seq_cst);
      if (l.sleeping.load(std::memory_order_seq_cst) > 0) futex_wake_all(l.gen);
    }
  }

  void worker(int ith) {
    Lane& lane = lanes_[size_t(ith)];
    uint32_t seen = 0;
    for (;;) {
      seen = wait_change(lane.gen, seen, lane.sleeping);
      if (stop_) return;
      fn_(ctx_, ith, nth_);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1 &&
          caller_sleeping_.load(std::memory_order_seq_cst) > 0) {
        futex_wake_all(pending_);
      }
    }
  }

  int n_;
  int active_;
  std::unique_ptr<Lane[]> lanes_;
  uint8_t* scratch_ = nullptr;  // attached, not owned
  std::vector<std::thread> threads_;
  // The job; written by the caller before the lanes are bumped, read by workers after.
  void (*fn_)(void*, int, int) = nullptr;
  void* ctx_ = nullptr;
  int nth_ = 1;
  bool stop_ = false;
  alignas(64) std::atomic<uint32_t> pending_{0};
  std::atomic<int> caller_sleeping_{0};
};

}  // namespace

size_t ThreadPool::scratch_bytes(int n_threads) {
  return n_threads < 1 ? 0 : size_t(n_threads) * scratch_stride();
}

Result<std::unique_ptr<ThreadPool>> ThreadPool::create(int n_threads, bool pin) {
  if (n_threads < 1 || n_threads > 1024) {
    return errorf(Error::kRequestOutOfRange, "thread count %d is out of range (1..1024)", n_threads);
  }
  auto p = std::make_unique<Pool>(n_threads);
  AIRT_TRY(p->start(pin));
  return std::unique_ptr<ThreadPool>(std::move(p));
}

int physical_cores() {
  // (package, core) pairs of the CPUs we may run on; SMT siblings share a pair.
  std::set<std::pair<int, int>> cores;
  for (int cpu : allowed_cpus()) {
    auto read_int = [cpu](const char* what) {
      std::string path = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/" + what;
      FILE* f = std::fopen(path.c_str(), "r");
      int v = -1;
      if (f) {
        if (std::fscanf(f, "%d", &v) != 1) v = -1;
        std::fclose(f);
      }
      return v;
    };
    int core = read_int("core_id");
    int pkg = read_int("physical_package_id");
    cores.insert(core < 0 ? std::pair{-1, cpu} : std::pair{pkg, core});
  }
  if (!cores.empty()) return int(cores.size());
  unsigned hc = std::thread::hardware_concurrency();
  return hc > 0 ? int(hc) : 1;
}

}  // namespace airt::hal
