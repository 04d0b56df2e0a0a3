// The latency profile `airt bench --calibrate` writes and the governor's cost model is
// seeded from. JSON:
//
//   {
//     "format": "airt-latency-profile", "version": 1,
//     "cpu_mhz": 2400, "cpu_max_mhz": 2400,   // the clock the figures were measured at
//     "accept_rate": 0.7,                      // drafted tokens accepted, for draft_len > 0
//     "tier_perplexity": [7.91, 8.24],         // optional: each tier's measured perplexity
//     "window_ratio": [{"window": 64, "ratio": 1.08}],  // optional: ppl(window) / ppl(whole)
//     "kv_ratio": [{"kv": "q8_0", "ratio": 1.002}],     // optional: ppl(kv) / ppl(f16)
//     "points": [
//       {"tier": 0, "kv": "f16", "threads": 4,
//        "step_ms": 48.0, "decode_ms_per_row": 5.5, "prefill_ms_per_row": 3.9, "watts": 6.8},
//       {"tier": 1, "step_ms": 27.0, "decode_ms_per_row": 4.0, "prefill_ms_per_row": 2.1},
//       {"tier": 0, "backend": "vulkan", "step_ms": 20.0, "decode_ms_per_row": 1.0, ...}
//     ]
//   }
//
// A step costs step_ms + decode_ms_per_row x decode rows + prefill_ms_per_row x prompt
// rows. An entry's tier, window, kv, draft_len, threads and backend select the points it applies
// to; a key left out matches any value, and the entry naming the most keys wins. watts is
// optional (boards without a power meter). Points no entry matches take the defaults.
// tier_perplexity (index = tier; 0 where not measured) is what the ladder's quality cache
// measured on the same files (engine/tier_quality.h), so the profile carries both halves
// of a point's figures: what it costs and what it loses. window_ratio and kv_ratio are
// the perplexity of the same text at each window (with the space's sinks) and KV
// precision against the whole window with F16 KV, measured on the first tier; the
// governor composes them with the tier figures (quality.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "governor/model/quality.h"
#include "governor/model/space.h"
#include "runtime/core/result.h"

namespace airt::governor {

struct ProfileEntry {
  std::optional<int32_t> tier, window, draft_len, threads;
  std::optional<KvPrecision> kv;
  std::optional<BackendKind> backend;  // "cpu" / "vulkan": figures measured on that backend
  double step_ms = 0, decode_ms_per_row = 0, prefill_ms_per_row = 0;
  std::optional<double> watts;

  bool matches(const OperatingPoint& p) const;
  int keys() const;  // how specific: the number of selecting keys given
};

struct WindowRatio {
  int32_t window = 0;
  double ratio = 1;  // ppl(window) / ppl(whole window), > 0
};
struct KvRatio {
  KvPrecision kv;
  double ratio = 1;  // ppl(kv) / ppl(f16), > 0
};

struct Profile {
  double cpu_mhz = 0, cpu_max_mhz = 0;  // 0: measured at the maximum
  double accept_rate = 0.7;
  std::vector<double> tier_perplexity;  // index = tier; 0: not measured
  std::vector<WindowRatio> window_ratio;
  std::vector<KvRatio> kv_ratio;
  std::vector<ProfileEntry> points;

  // The most specific entry matching p; nullptr when none does.
  const ProfileEntry* find(const OperatingPoint& p) const;
};

// Errors name `name` (the file), the entry and the key: "p.json: points[2].step_ms: ...".
Result<Profile> parse_profile(std::string_view json, const std::string& name);
Result<Profile> load_profile(const std::string& path);
// load_profile where the file exists; nullopt where it does not (a calibration not yet
// run), an error where it exists but cannot be read or parsed (one silently ignored would
// be a surprise).
Result<std::optional<Profile>> load_profile_if_present(const std::string& path);
std::string profile_to_json(const Profile& p);
// Sets the tier perplexities and window and KV ratios the profile measured into `q`;
// figures it did not measure keep whatever `q` had, placeholders included.
void profile_quality(const Profile& p, QualityTable& q);

}  // namespace airt::governor
