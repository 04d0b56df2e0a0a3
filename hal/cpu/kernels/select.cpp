// Choosing the kernel table: each ISA table starts as a copy of the next lower one and
// overrides what it speeds up (generic -> avx2 -> avx512 -> amx, generic -> neon -> dotprod), so
// every entry is always filled. The choice is made from the detected CPU features, never
// assumed from the build.
#include <cstdlib>
#include <cstring>

#include "hal/cpu/features.h"
#include "hal/cpu/kernels.h"
#include "hal/cpu/kernels/isa.h"

namespace airt::hal {
namespace {

struct Variant {
  const char* name;
  bool (*runs_here)();
  const Kernels* (*table)();
};

#if defined(__x86_64__)
const Kernels* avx2_table() {
  static const Kernels table = [] {
    Kernels k = kernels_generic();
    avx2::fill(k);
    return k;
  }();
  return &table;
}

const Kernels* avx512_table() {
  static const Kernels table = [] {
    Kernels k = *avx2_table();
    avx512::fill(k);
    return k;
  }();
  return &table;
}

const Kernels* amx_table() {
  static const Kernels table = [] {
    Kernels k = *avx512_table();
    amx::fill(k);
    return k;
  }();
  return &table;
}
#endif

#if defined(__aarch64__)
const Kernels* neon_table() {
  static const Kernels table = [] {
    Kernels k = kernels_generic();
    neon::fill(k);
    return k;
  }();
  return &table;
}

const Kernels* dotprod_table() {
  static const Kernels table = [] {
    Kernels k = *neon_table();
    dotprod::fill(k);
    return k;
  }();
  return &table;
}
#endif

const Kernels* generic_table() { return &kernels_generic(); }

// Lowest first; "auto" takes the last one that runs here.
constexpr Variant kVariants[] = {
    {"generic", [] { return true; }, generic_table},
#if defined(__x86_64__)
    {"avx2", [] { return cpu_features().has_avx2_level(); }, avx2_table},
    {"avx512", [] { return cpu_features().has_avx512_level(); }, avx512_table},
    {"amx", [] { return cpu_features().has_amx_level(); }, amx_table},
#endif
#if defined(__aarch64__)
    {"neon", [] { return cpu_features().asimd; }, neon_table},
    {"dotprod", [] { return cpu_features().has_dotprod_level(); }, dotprod_table},
#endif
};

// Names airt knows on some build, for a precise message when one is not in this build.
constexpr const char* kKnownIsas[] = {"generic", "avx2", "avx512", "amx", "neon", "dotprod"};

}  // namespace

std::string kernels_available() {
  std::string s;
  for (const Variant& v : kVariants) {
    if (!v.runs_here()) continue;
    if (!s.empty()) s += ' ';
    s += v.name;
  }
  return s;
}

Result<const Kernels*> kernels_select(std::string_view isa) {
  if (isa.empty() || isa == "auto") {
    const Kernels* best = nullptr;
    for (const Variant& v : kVariants) {
      if (v.runs_here()) best = v.table();
    }
    return best;
  }
  for (const Variant& v : kVariants) {
    if (isa != v.name) continue;
    if (!v.runs_here()) {
      return errorf(Error::kBackendUnsupported,
                    "CPU kernels '%s': this CPU lacks the instructions (it has: %s); use one of: %s",
                    v.name, cpu_features().describe().c_str(), kernels_available().c_str());
    }
    return v.table();
  }
  for (const char* known : kKnownIsas) {
    if (isa == known) {
      return errorf(Error::kBackendUnsupported,
                    "CPU kernels '%s' are not built for this architecture; use one of: auto %s", known,
                    kernels_available().c_str());
    }
  }
  return errorf(Error::kBackendUnsupported,
                "CPU kernels '%.*s': unknown ISA; use one of: auto generic avx2 avx512 amx neon dotprod",
                static_cast<int>(isa.size()), isa.data());
}

Result<const Kernels*> kernels_best() {
  const char* env = std::getenv("AIRT_CPU_ISA");
  if (env == nullptr || *env == '\0') return kernels_select("auto");
  auto r = kernels_select(env);
  if (!r.ok()) {
    return errorf(r.error().code, "AIRT_CPU_ISA=%s: %s", env, r.error().message.c_str());
  }
  return r;
}

}  // namespace airt::hal
