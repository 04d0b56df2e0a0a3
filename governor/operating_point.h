// The operating point: every knob the governor can turn, as one value the engine applies
// at a step boundary for every sequence. The engine's plan is sized for the most
// expensive point its configuration allows, so applying any allowed point never
// allocates and never fails a live request.
//
// StepRecord is what one engine step cost at the point it ran with; the governor's
// latency model learns from a ring of them.
#pragma once

#include <cstdint>

#include "hal/dtype.h"

namespace airt::governor {

enum class BackendKind : uint8_t { kCpu, kVulkan };
const char* backend_kind_name(BackendKind b);  // "cpu", "vulkan"

struct OperatingPoint {
  int32_t tier = 0;      // weight tier: index into the model's tiers (0: the first file)
  int32_t window = 0;    // sliding attention window in positions; 0: the whole context
  int32_t sinks = 0;     // with a window: the first positions that stay visible
  hal::DType kv_k = hal::DType::kF16;  // precision of KV blocks written from now on
  hal::DType kv_v = hal::DType::kF16;
  int32_t draft_len = 0;  // speculative tokens drafted per step; 0: off
  int32_t threads = 0;    // threads a step runs on; 0: every thread the engine owns
  BackendKind backend = BackendKind::kCpu;

  bool operator==(const OperatingPoint&) const = default;
};

struct StepRecord {
  int64_t start_ns = 0;       // now_ns() clock
  int32_t rows_prefill = 0;   // prompt rows evaluated
  int32_t rows_decode = 0;    // decode rows evaluated (one per decoding sequence)
  int32_t sequences = 0;      // sequences that took part
  float wall_ms = 0;          // the whole step: scheduling, forward pass, sampling
  OperatingPoint point;       // what the step ran with
};

}  // namespace airt::governor
