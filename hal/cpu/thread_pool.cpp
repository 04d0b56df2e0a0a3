// Fork-join pool. A job is published by bumping a generation counter; workers spin on it
// for a while (jobs of one token follow each other within microseconds) and then sleep on
// a futex, so an idle pool costs nothing. Completion is a countdown the caller waits on
// the same way. Sleepers are counted so that the common, all-spinning case makes no
// system call at all.
#include "hal/cpu/thread_pool.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

class Pool final : public ThreadPool {
 public:
  explicit Pool(int n) : n_(n) {}

  ~Pool() override {
    stop_ = true;
    publish();
    for (auto& t : threads_) t.join();
    std::free(scratch_);
  }

  Status start(bool pin) {
    scratch_ = static_cast<uint8_t*>(std::aligned_alloc(64, kThreadScratchBytes * size_t(n_)));
    if (!scratch_) {
      return errorf(Error::kResourceOutOfMemory, "thread pool: cannot allocate %zu bytes of per-thread scratch",
                    kThreadScratchBytes * size_t(n_));
    }
    std::memset(scratch_, 0, kThreadScratchBytes * size_t(n_));
    const std::vector<int> cpus = pin ? allowed_cpus() : std::vector<int>{};
    threads_.reserve(size_t(n_ - 1));
    for (int i = 1; i < n_; ++i) {
      try {
        threads_.emplace_back([this, i] { worker(i); });
      } catch (const std::system_error& e) {
        n_ = i;  // the destructor joins the ones that started
        return errorf(Error::kResourceExhausted, "thread pool: cannot start thread %d: %s", i, e.what());
      }
      if (!cpus.empty()) pin_to(threads_.back().native_handle(), cpus[size_t(i) % cpus.size()]);
    }
    if (!cpus.empty()) pin_to(pthread_self(), cpus[0]);
    return {};
  }

  int size() const override { return n_; }
  void* scratch(int ith) override { return scratch_ + size_t(ith) * kThreadScratchBytes; }

  void run(void (*fn)(void*, int, int), void* ctx) override {
    if (n_ == 1) {
      fn(ctx, 0, 1);
      return;
    }
    fn_ = fn;
    ctx_ = ctx;
    pending_.store(uint32_t(n_ - 1), std::memory_order_relaxed);
    publish();
    fn(ctx, 0, n_);
    uint32_t left = pending_.load(std::memory_order_acquire);
    while (left != 0) left = wait_change(pending_, left, caller_sleeping_);
  }

 private:
  void publish() {
    gen_.fetch_add(1, std::memory_order_seq_cst);
    if (workers_sleeping_.load(std::memory_order_seq_cst) > 0) futex_wake_all(gen_);
  }

  void worker(int ith) {
    uint32_t seen = 0;
    for (;;) {
      seen = wait_change(gen_, seen, workers_sleeping_);
      if (stop_) return;
      fn_(ctx_, ith, n_);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1 &&
          caller_sleeping_.load(std::memory_order_seq_cst) > 0) {
        futex_wake_all(pending_);
      }
    }
  }

  int n_;
  uint8_t* scratch_ = nullptr;
  std::vector<std::thread> threads_;
  // The job; written by the caller before gen_ is bumped, read by workers after.
  void (*fn_)(void*, int, int) = nullptr;
  void* ctx_ = nullptr;
  bool stop_ = false;
  alignas(64) std::atomic<uint32_t> gen_{0};
  std::atomic<int> workers_sleeping_{0};
  alignas(64) std::atomic<uint32_t> pending_{0};
  std::atomic<int> caller_sleeping_{0};
};

}  // namespace

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
