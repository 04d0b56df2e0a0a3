// What the CPU we run on can execute, detected once at start-up: cpuid (plus xgetbv, so
// the OS saves the wide registers) on x86-64, getauxval(AT_HWCAP) on aarch64. The kernel
// table picks its ISA variant from this; `airt info` prints it.
#pragma once

#include <string>

namespace airt::hal {

struct CpuFeatures {
  // x86-64
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512vnni = false;
  bool avxvnni = false;  // VEX-encoded VNNI (Alder Lake and later)
  bool amx_tile = false;  // cpuid: the tile registers and TILELOADD/TILESTORED
  bool amx_int8 = false;  // cpuid: TDPBSSD and its signed/unsigned forms
  // Linux hands out the 8 KiB tile state only on request (arch_prctl XTILEDATA); false
  // when the CPU has AMX but the kernel refused or predates the request.
  bool amx_granted = false;
  // aarch64
  bool asimd = false;
  bool asimddp = false;  // sdot/udot
  bool fphp = false;     // half-precision arithmetic

  // The ISA levels our kernels are built for.
  bool has_avx2_level() const { return avx2 && fma && f16c; }
  bool has_avx512_level() const {
    return has_avx2_level() && avx512f && avx512bw && avx512vl && avx512dq && avx512vnni;
  }
  // The AMX kernels also use AVX-512 for everything around the tile products.
  bool has_amx_level() const { return has_avx512_level() && amx_tile && amx_int8 && amx_granted; }
  // The dotprod kernels are compiled for armv8.2-a+dotprod+fp16, so they need both.
  bool has_dotprod_level() const { return asimd && asimddp && fphp; }

  // "avx2 fma f16c avx512f ..." for logs and `airt info`.
  std::string describe() const;
};

// Detected on first call; later calls return the same object. Where the CPU has AMX,
// the first call also asks Linux for permission to use the tile state, once per process.
const CpuFeatures& cpu_features();

}  // namespace airt::hal
