// What each operating point costs: a latency model (ms per step as a + b x decode rows +
// c x prompt rows, at the CPU's maximum clock) and, where a power meter exists, a power
// model (watts, the same form), one pair per point of the Space.
//
// Seeded from a latency profile (profile.h) or, without one, from the defaults below;
// learned online from the engine's StepRecords by exponentially weighted least squares
// (ewls.h). Times are corrected by the CPU clock: a step measured at cur MHz is stored as
// wall_ms x cur / max, and predicted as stored x max / cur -- which assumes a step's time
// scales with the clock (compute bound); memory-bound decode scales less, so at a low
// clock the model errs on the slow, safe side.
#pragma once

#include <optional>
#include <vector>

#include "governor/model/ewls.h"
#include "governor/model/profile.h"
#include "governor/model/space.h"

namespace airt::governor {

// Placeholders until a calibration profile exists: a ~1B-parameter model at Q8_0 on a
// four-core board (decode is bound by reading the weights once a step, so most of a
// step's cost is per step, not per row). Tiers scale every cost by tier_cost; threads by
// max_threads / threads; a KV precision and window scale the per-row decode cost by the
// KV bytes read (kv_memory_fraction); a draft adds draft_step_fraction of a step per drafted token.
struct CostDefaults {
  double step_ms = 50.0;
  double decode_ms_per_row = 6.0;
  double prefill_ms_per_row = 4.0;
  std::vector<double> tier_cost{1.0, 0.55, 0.35};  // past the end: the last x 0.7 per tier
  double draft_step_fraction = 0.1;
  double accept_rate = 0.7;
};

class CostModel {
 public:
  // `profile` may be null. The space must outlive the model.
  CostModel(const Space& space, const Profile* profile, const CostDefaults& defaults = {});

  // Learns from one step at freq_ratio = cur/max MHz (1 when unknown) and, where a power
  // meter exists, the board's watts during it. False when the step's point is not in the
  // space (then nothing is learned). Never allocates.
  bool observe(const StepRecord& step, double freq_ratio, std::optional<double> watts);

  double step_ms(size_t point, double rows_decode, double rows_prefill, double freq_ratio) const;
  // Tokens a decoding sequence gains per step: 1 + the expected accepted drafts.
  double tokens_per_step(size_t point) const;
  // ms until each of `batch` decoding sequences has one more token.
  double decode_ms_per_token(size_t point, int batch, double freq_ratio) const;
  // Predicted watts with `batch` sequences decoding; nullopt with no profile figure and
  // fewer than kMinPowerObservations steps seen.
  std::optional<double> watts(size_t point, int batch) const;

  static constexpr long kMinPowerObservations = 8;
  const Space& space() const { return *space_; }

 private:
  Ewls3::Vec seed(size_t point, const Profile* profile, const CostDefaults& d) const;
  double rows_per_sequence(size_t point) const { return 1.0 + (*space_)[point].draft_len; }

  const Space* space_;
  double accept_rate_;
  std::vector<Ewls3> latency_, power_;
  std::vector<bool> power_seeded_;
};

}  // namespace airt::governor
