// Speculative verification: whether the target keeps a drafted token, by the lossless
// rule, so that the tokens speculation emits are distributed exactly as the target's own
// samples (Leviathan et al. 2023; Chen et al. 2023).
//
// For a token x the drafter proposed with probability q(x) (q the drafter's distribution),
// and the target's distribution p at that position (what the sampler would draw from):
// keep x with probability min(1, p(x) / q(x)); otherwise the position takes a token drawn
// from norm(max(0, p - q)), and the rest of the draft is discarded. A drafter that picks
// deterministically (argmax, n-gram lookup) has q = one-hot at x: x is kept with
// probability p(x), and a rejection draws from p without x. Under greedy decoding p is
// one-hot at the target's argmax, so the rule keeps x exactly when it equals the argmax
// and the output is token for token the plain greedy output.
#pragma once

#include <cstdint>
#include <span>

#include "runtime/text/sampler.h"

namespace airt::engine {

struct Verdict {
  bool accepted = false;
  int32_t token = 0;  // x when accepted, else the token drawn for this position
};

// `p`: the target's distribution at the position (Sampler::distribution; each id once).
// `q`: the drafter's probabilities over the whole vocabulary, or empty for a
// deterministic drafter (one-hot at x). Draws at most two uniforms from `rng`.
Verdict verify_draft(std::span<const text::Sampler::Candidate> p, int32_t x, std::span<const float> q, text::Rng& rng);

// A draw from `p` (the bonus token after a fully accepted draft).
int32_t draw_from(std::span<const text::Sampler::Candidate> p, text::Rng& rng);

}  // namespace airt::engine
