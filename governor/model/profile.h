// The latency profile `airt bench --calibrate` writes and the governor's cost model is
// seeded from. JSON:
//
//   {
//     "format": "airt-latency-profile", "version": 1,
//     "cpu_mhz": 2400, "cpu_max_mhz": 2400,   // the clock the figures were measured at
//     "accept_rate": 0.7,                      // drafted tokens accepted, for draft_len > 0
//     "tier_perplexity": [7.91, 8.24],         // optional: each tier's measured perplexity
//     "points": [
//       {"tier": 0, "kv": "f16", "threads": 4,
//        "step_ms": 48.0, "decode_ms_per_row": 5.5, "prefill_ms_per_row": 3.9, "watts": 6.8},
//       {"tier": 1, "step_ms": 27.0, "decode_ms_per_row": 4.0, "prefill_ms_per_row": 2.1}
//     ]
//   }
//
// A step costs step_ms + decode_ms_per_row x decode rows + prefill_ms_per_row x prompt
// rows. An entry's tier, window, kv, draft_len and threads select the points it applies
// to; a key left out matches any value, and the entry naming the most keys wins. watts is
// optional (boards without a power meter). Points no entry matches take the defaults.
// tier_perplexity (index = tier; 0 where not measured) is what the ladder's quality cache
// measured on the same files (engine/tier_quality.h), so the profile carries both halves
// of a point's figures: what it costs and what it loses.
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
  double step_ms = 0, decode_ms_per_row = 0, prefill_ms_per_row = 0;
  std::optional<double> watts;

  bool matches(const OperatingPoint& p) const;
  int keys() const;  // how specific: the number of selecting keys given
};

struct Profile {
  double cpu_mhz = 0, cpu_max_mhz = 0;  // 0: measured at the maximum
  double accept_rate = 0.7;
  std::vector<double> tier_perplexity;  // index = tier; 0: not measured
  std::vector<ProfileEntry> points;

  // The most specific entry matching p; nullptr when none does.
  const ProfileEntry* find(const OperatingPoint& p) const;
};

// Errors name `name` (the file), the entry and the key: "p.json: points[2].step_ms: ...".
Result<Profile> parse_profile(std::string_view json, const std::string& name);
Result<Profile> load_profile(const std::string& path);
std::string profile_to_json(const Profile& p);
// Sets the tier perplexities the profile measured into `q`; other figures (windows, KV
// precisions, unmeasured tiers) keep whatever `q` had, placeholders included.
void profile_quality(const Profile& p, QualityTable& q);

}  // namespace airt::governor
