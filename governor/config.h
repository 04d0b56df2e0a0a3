// The governor's configuration as JSON (`airt governor explain --config`, and the
// service's governor section once wired):
//
//   {
//     "tiers": ["q8_0", "q4_0"],           // names, best first (index = tier)
//     "perplexity": {"q8_0": 7.9, "q4_0": 8.2},   // measured, whole window, F16 KV
//     "windows": [0, 512], "context": 2048, "sinks": 4,
//     "kv": ["f16", "q8_0"], "kv_ratio": {"q8_0": 1.004},  // ppl ratio against f16
//     "window_ratio": {"512": 1.03},
//     "draft_lens": [0], "threads": [0], "max_threads": 4,
//     "backends": ["vulkan", "cpu"],       // the engine's own first, then its CPU fallback
//     "soft_temp_c": 80, "hard_temp_c": 90, "power_cap_w": 7.5, "mem_floor_mb": 512,
//     "dwell_s": 10, "horizon_s": 5
//   }
//
// Every key is optional; a missing list is that knob's single default (tier 0, the
// whole window, F16 KV, no draft, every thread, the cpu).
#pragma once

#include <string>
#include <string_view>

#include "governor/governor.h"
#include "governor/model/quality.h"
#include "governor/model/space.h"
#include "runtime/core/result.h"

namespace airt::governor {

struct GovernorSetup {
  SpaceConfig space;
  QualityTable quality;
  GovernorConfig config;
};

// Errors name `name` and the key: "gov.json: kv[1]: KV precision 'q3' ...".
Result<GovernorSetup> parse_governor_config(std::string_view json, const std::string& name);
Result<GovernorSetup> load_governor_config(const std::string& path);

}  // namespace airt::governor
