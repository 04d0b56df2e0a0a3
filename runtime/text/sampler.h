// Token sampling: one fixed chain over the logits of the last position.
//
//   repetition penalty (distinct tokens among the last repeat_last_n accepted)
//   -> temp <= 0: argmax, done
//   -> top-k -> softmax -> top-p -> min-p -> temperature -> draw with the seeded RNG
//
// Top-p and min-p cut on the temperature-1 distribution and temperature reshapes only what
// survives (the order llama.cpp's default chain uses), so --temp does not change which
// tokens are allowed, only how likely each is. Ties are broken by the lower token id, so a
// run is reproducible from its seed on any platform with the same float results.
//
// Memory: every buffer is sized for n_vocab (and the longest repetition window) when the
// sampler is made. A sampler carved from an engine's arena is reconfigured per request with
// configure(), which never allocates; sample() and accept() never allocate either.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "runtime/core/arena.h"
#include "runtime/core/result.h"

namespace airt::text {

struct SamplerParams {
  float temp = 0.8f;            // <= 0: greedy
  int32_t top_k = 40;           // <= 0: off
  float top_p = 0.95f;          // 1: off
  float min_p = 0.05f;          // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off; > 1 discourages repeats
  int32_t repeat_last_n = 64;   // how many accepted tokens the penalty looks back over
  uint64_t seed = 0x61697274;   // "airt"
};

// xoshiro256** seeded through splitmix64: small, fast, and the same sequence everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { seed_with(seed); }
  void seed_with(uint64_t seed);
  uint64_t next();
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)

 private:
  uint64_t s_[4];
};

class Sampler {
 public:
  // One token of a distribution: its (penalised) logit, probability and id.
  struct Candidate {
    float logit;
    float p;
    int32_t id;
  };

  // The longest repetition window a sampler can be sized for.
  static constexpr int32_t kMaxRepeatLastN = 1 << 20;

  // Bytes carve() takes from an arena: one 64-byte-aligned block of exactly this size
  // (a multiple of 64) holding the Sampler and its buffers, for n_vocab candidates and a
  // repetition window of up to max_repeat_last_n tokens.
  static size_t arena_bytes(int32_t n_vocab, int32_t max_repeat_last_n);
  // Places a sampler in `arena`; it lives as long as the arena (never destroyed: it owns
  // nothing else). It samples greedily until configure() is called.
  static Result<Sampler*> carve(Arena& arena, int32_t n_vocab, int32_t max_repeat_last_n);
  // Validates the parameters (ranges, n_vocab > 0) and allocates on the heap, sized for
  // params.repeat_last_n (start-up code and tests).
  static Result<std::unique_ptr<Sampler>> create(int32_t n_vocab, const SamplerParams& params);

  // Takes new parameters (checked as create() checks them, and repeat_last_n against the
  // carved maximum), forgets the history and restarts the RNG from the seed. On error the
  // sampler is unchanged. No allocation.
  Status configure(const SamplerParams& params);

  // Picks the next token from `logits` (n_vocab values, left unchanged). No allocation.
  int32_t sample(std::span<const float> logits);
  // The distribution sample() draws from for `logits`, as the tokens it can pick with
  // their probabilities (summing to 1), most likely first: after the penalty, top-k,
  // top-p, min-p and temperature; greedy gives the one argmax token with p = 1. Valid
  // until the next call; draws nothing from the RNG. No allocation. Speculative
  // verification weighs drafted tokens with it.
  std::span<const Candidate> distribution(std::span<const float> logits);
  // The RNG sample() draws from (verification draws its acceptances from it too).
  Rng& rng() { return rng_; }

  // Records a token that became part of the sequence (prompt tokens too, if the penalty
  // should see them).
  void accept(int32_t id);
  // Forgets the history and restarts the RNG from the seed.
  void reset();

  const SamplerParams& params() const { return params_; }
  int32_t n_vocab() const { return n_vocab_; }
  int32_t max_repeat_last_n() const { return max_repeat_last_n_; }

 private:
  Sampler() = default;
  static Status check_size(int32_t n_vocab, int32_t max_repeat_last_n);
  static Status check_params(const SamplerParams& p);
  static size_t buffer_bytes(int32_t n_vocab, int32_t max_repeat_last_n);
  // Points the buffers into `mem` (buffer_bytes() zeroed bytes, 64-byte aligned).
  void bind(std::byte* mem, int32_t n_vocab, int32_t max_repeat_last_n);
  void apply_penalty();
  std::span<Candidate> survivors(std::span<const float> logits, bool& decided);
  // Fills cand_ from the logits and applies the penalty; returns the candidates.
  size_t load(std::span<const float> logits);
  size_t truncate(size_t k);
  // Temperature on the k survivors: their weights (unnormalised) and their sum.
  double weigh(size_t k);
  int32_t draw(size_t k);

  SamplerParams params_;
  int32_t n_vocab_ = 0;
  int32_t max_repeat_last_n_ = 0;
  Rng rng_;
  std::span<Candidate> cand_;       // n_vocab
  std::span<int32_t> history_buf_;  // max_repeat_last_n
  std::span<int32_t> history_;      // its first repeat_last_n: ring of the last accepted ids
  size_t history_next_ = 0;
  size_t history_size_ = 0;
  std::span<uint32_t> seen_;  // n_vocab; == stamp_ when already penalised this call
  uint32_t stamp_ = 0;
  std::unique_ptr<std::byte[]> owned_;  // create()'s buffers; null when carved
};

}  // namespace airt::text
