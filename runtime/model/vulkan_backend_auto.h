// Choosing the backend by measurement (--backend auto): each candidate — the CPU and every
// Vulkan device that is not a CPU-type device (llvmpipe and the like would only compete
// with the CPU for the same cores) — is created for a small probe plan, then one prefill
// step and a few decode steps are timed on it. The faster in decode wins; a device that
// fails (device lost, out of device memory, a missing feature) is left out with a reason.
//
// Start-up code: allocates, takes a fraction of a second per candidate on a real device.
#pragma once

#include <string>
#include <vector>

#include "runtime/model/backend.h"

namespace airt::model {

struct BackendSpeed {
  double decode_tps = 0;   // tokens per second, one row per step
  double prefill_tps = 0;  // rows per second, kProbeRows rows per step
};

struct BackendChoice {
  governor::BackendKind kind = governor::BackendKind::kCpu;
  int32_t gpu = -1;
  // What was measured and why: "vulkan: llvmpipe is a CPU device, not used";
  // "vulkan 41 t/s vs cpu 18 t/s: vulkan". One line per note.
  std::vector<std::string> notes;
};

// Times one prefill step of `prefill_rows` rows and decode steps on a fresh backend of
// `p.kind` (p's kernels, threads, gpu and KV types; the sizes are the probe's own).
Result<BackendSpeed> backend_measure(const Model& m, const BackendParams& p, int32_t prefill_rows = 32);

// The faster in decode of the CPU and the usable Vulkan devices (p.gpu >= 0: only that
// one); the CPU, unmeasured, when no device is a candidate.
BackendChoice backend_choose(const Model& m, const BackendParams& p);

}  // namespace airt::model
