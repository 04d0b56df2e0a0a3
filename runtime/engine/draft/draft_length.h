// How many tokens to draft, chosen every step from what the engine measured: the cost of
// a decode pass of r rows (EWMA per row count, from the steps that ran no prefill), each
// drafter's time per drafted token, and its running acceptance rate. With acceptance rate
// a, k drafted tokens yield E(k) = (1 - a^(k+1)) / (1 - a) tokens per verify pass (the
// accepted run plus the target's own token), so for m decoding sequences
//
//   rate(k) = m E(k) / (cost(m (k+1)) + m k draft_ms)
//
// and the chosen k maximises it; k = 0 (plain decoding) unless some k beats rate(0) by a
// margin, so speculation switches itself off where it does not pay. A drafter that was
// off for kProbeEvery rounds is tried once with k = 1 so its acceptance can recover; each
// probe that does not turn it back on doubles the wait (up to kProbeMax rounds), since a
// model drafter's probe first catches up with every token it missed.
// A costly drafter's time per token starts from a prior until it is measured: its share
// of the target's weight bytes times the 1-row cost; and a sequence it has not seen yet
// (a new prompt) must first be caught up, rows priced at that share of a wide pass (until
// a catch-up was measured), the cost spread over the tokens the request still wants:
//
//   rate(k) = m E(k) / (cost(m (k+1)) + m k draft_ms + m catch_up_ms E(k) / tokens_left)
//
// so a drafter that cannot pay for its own catch-up within the request is not started.
// A probe is taken only when its predicted cost (catch-up, one draft, the wider pass) is
// within kMargin of the plain decoding time since the drafter was last on, so probing
// costs at most ~3% where speculation never pays.
// Row counts not measured yet are interpolated (or extrapolated from the measured slope,
// else a prior of +8% of the 1-row cost per row). A pass that took over 3x the running
// figure (the process was preempted) counts as 3x. While drafting, plain passes stop
// being measured, so every kRefreshEvery passes one is plain to keep rate(0) current.
// Costs belong to one operating point: reset_costs() when the tier or threads change.
//
// Memory: two tables of max_rows + 1 entries carved from the engine's arena.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/core/arena.h"
#include "runtime/core/result.h"

namespace airt::engine {

class DraftLength {
 public:
  static constexpr int32_t kMaxDrafters = 4;
  static constexpr int32_t kProbeEvery = 128;
  static constexpr int32_t kProbeMax = 4096;
  static constexpr int32_t kRefreshEvery = 32;
  static constexpr double kMargin = 0.03;      // rate(k) must beat rate(0) by 3%
  static constexpr double kPriorSlope = 0.08;  // unmeasured: +8% of cost(1) per row
  static constexpr int32_t kHorizon = 128;     // tokens a request wants, when not known

  static size_t arena_bytes(int32_t max_rows);
  Status carve(Arena& arena, int32_t max_rows);

  // A decode pass of `rows` rows took `ms` (drafting excluded).
  void step(int32_t rows, double ms);
  // Drafter d proposed `tokens` in `ms` (costly drafters only).
  void drafted(int32_t d, int32_t tokens, double ms);
  // Drafter d caught up `rows` rows (one wide pass or a few) in `ms`.
  void caught_up(int32_t d, int32_t rows, double ms);
  // Of `drafted` tokens from drafter d, the first `accepted` were kept.
  void verified(int32_t d, int32_t drafted, int32_t accepted);
  // Drafter d's passes read `share` of the bytes a target pass reads (its prior costs).
  void set_share(int32_t d, double share);
  void reset_costs();

  // The best k in 0..cap for m decoding sequences drafting with d, where the sequence
  // asking needs `catch_up` rows caught up first and wants `tokens_left` more tokens
  // (0: unknown, taken as kHorizon).
  int32_t choose(int32_t d, int32_t m, int32_t cap, int32_t catch_up = 0, int32_t tokens_left = 0);
  // Predicted ms of a decode pass of `rows` rows; 0 before any pass was measured.
  double cost(int32_t rows) const;
  double acceptance(int32_t d) const;
  // Predicted ms per drafted token, and of catching up `rows` rows (measured, else prior).
  double draft_ms(int32_t d) const;
  double catch_up_ms(int32_t d, int32_t rows) const;

 private:
  struct Drafter {
    double kept = 1, missed = 1;  // decayed counts: a prior acceptance of 1/2
    double ms_per_token = 0;      // measured; 0: not yet (share * cost(1) stands in)
    double ms_per_row = 0;        // catching up, measured; 0: not yet
    double share = 0;             // of the target's weight bytes per pass
    int32_t idle = 0;             // rounds chosen off since the last draft
    int32_t probe_every = kProbeEvery;
  };
  float* ms_ = nullptr;     // max_rows + 1: EWMA ms per row count
  uint32_t* n_ = nullptr;   // max_rows + 1: passes measured
  uint32_t* last_ = nullptr;  // max_rows + 1: passes_ when last measured
  uint32_t passes_ = 0;
  int32_t max_rows_ = 0;
  Drafter d_[kMaxDrafters];
};

}  // namespace airt::engine
