// The quality figure of an operating point: a perplexity (lower is better) of its tier,
// window and KV precision on a text. Figures are measured and passed in (the model
// ladder measures and caches tier perplexities; airt bench --calibrate measures window
// and KV ratios into the latency profile, profile.h); this table only looks them up.
//
// Where the exact tier/window/KV combination was measured, that figure is used. Where
// only figures per knob exist -- a tier's perplexity at the whole window with F16 KV, and
// a window's or a KV precision's perplexity ratio against that -- they are composed
// multiplicatively (ppl = tier x window ratio x KV ratio), which assumes the knobs'
// losses are independent; figure().composed says when that happened. Draft length and
// threads do not change the output distribution (speculative decoding verifies every
// drafted token), so they do not enter the figure.
//
// With no figure at all for a tier, tiers are taken as ordered best first, each 5%
// worse than the one before, an unmeasured window ratio as 1.02 and KV ratio as 1.01 (so
// a cheaper knob is not taken as free): placeholders, reported as `measured == false`.
#pragma once

#include <vector>

#include "governor/model/space.h"

namespace airt::governor {

class QualityTable {
 public:
  void set_combo(int32_t tier, int32_t window, KvPrecision kv, double ppl);
  void set_tier(int32_t tier, double ppl);              // whole window, F16 KV
  void set_window_ratio(int32_t window, double ratio);  // ppl(window) / ppl(whole)
  void set_kv_ratio(KvPrecision kv, double ratio);      // ppl(kv) / ppl(f16)

  struct Figure {
    double ppl = 0;
    bool composed = false;  // built from per-knob figures
    bool measured = true;   // false: a placeholder for a tier nobody measured
  };
  Figure figure(const OperatingPoint& p) const;

 private:
  struct Combo {
    int32_t tier, window;
    KvPrecision kv;
    double ppl;
  };
  std::vector<Combo> combos_;
  std::vector<std::pair<int32_t, double>> tiers_, windows_;
  std::vector<std::pair<KvPrecision, double>> kv_;
};

}  // namespace airt::governor
