#include "hal/cpu/features.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#elif defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace airt::hal {
namespace {

#if defined(__x86_64__)
// XCR0 says which register state the OS saves on a context switch: instructions on YMM or
// ZMM registers are only usable if it does, whatever cpuid claims.
uint64_t read_xcr0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

// The tile data state is off for a process until it asks (Linux 5.16+); an AMX
// instruction before that is SIGILL. XCR0 bits 17 and 18 say the OS manages the state
// at all.
bool request_tile_state(uint64_t xcr0) {
  constexpr uint64_t kTileBits = (1ull << 17) | (1ull << 18);
  if ((xcr0 & kTileBits) != kTileBits) return false;
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

void detect(CpuFeatures& f) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return;
  const bool osxsave = c & (1u << 27);
  const bool avx = c & (1u << 28);
  f.fma = c & (1u << 12);
  f.f16c = c & (1u << 29);
  if (!osxsave || !avx) {
    f.fma = f.f16c = false;
    return;
  }
  const uint64_t xcr0 = read_xcr0();
  const bool ymm_saved = (xcr0 & 0x6) == 0x6;         // SSE and AVX state
  const bool zmm_saved = (xcr0 & 0xe6) == 0xe6;       // plus opmask and ZMM state
  if (!ymm_saved) {
    f.fma = f.f16c = false;
    return;
  }
  if (__get_cpuid_max(0, nullptr) < 7) return;
  __cpuid_count(7, 0, a, b, c, d);
  f.avx2 = b & (1u << 5);
  if (zmm_saved) {
    f.avx512f = b & (1u << 16);
    f.avx512dq = b & (1u << 17);
    f.avx512bw = b & (1u << 30);
    f.avx512vl = b & (1u << 31);
    f.avx512vnni = c & (1u << 11);
  }
  f.amx_tile = d & (1u << 24);
  f.amx_int8 = d & (1u << 25);
  if (f.amx_tile && f.amx_int8) f.amx_granted = request_tile_state(xcr0);
  __cpuid_count(7, 1, a, b, c, d);
  f.avxvnni = a & (1u << 4);
}
#elif defined(__aarch64__)
void detect(CpuFeatures& f) {
  const unsigned long hw = getauxval(AT_HWCAP);
  f.asimd = hw & HWCAP_ASIMD;
#ifdef HWCAP_ASIMDDP
  f.asimddp = hw & HWCAP_ASIMDDP;
#endif
#ifdef HWCAP_FPHP
  f.fphp = (hw & HWCAP_FPHP) && (hw & HWCAP_ASIMDHP);
#endif
}
#else
void detect(CpuFeatures&) {}
#endif

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = [] {
    CpuFeatures f;
    detect(f);
    return f;
  }();
  return features;
}

std::string CpuFeatures::describe() const {
  std::string s;
  auto add = [&s](bool on, const char* name) {
    if (!on) return;
    if (!s.empty()) s += ' ';
    s += name;
  };
  add(avx2, "avx2");
  add(fma, "fma");
  add(f16c, "f16c");
  add(avx512f, "avx512f");
  add(avx512bw, "avx512bw");
  add(avx512vl, "avx512vl");
  add(avx512dq, "avx512dq");
  add(avx512vnni, "avx512vnni");
  add(avxvnni, "avxvnni");
  add(amx_tile, "amx-tile");
  add(amx_int8, "amx-int8");
  add(amx_tile && !amx_granted, "(amx: no OS permission)");
  add(asimd, "asimd");
  add(asimddp, "asimddp");
  add(fphp, "fphp");
  return s.empty() ? "none" : s;
}

}  // namespace airt::hal
