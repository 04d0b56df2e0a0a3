// airt bench's measured runs on an engine: one repetition of a pp, tg or pp+tg test at a
// context depth, timed with the Sink's token timestamps.
//
// Depth: the engine keeps a finished request's KV (keep_cache), so every repetition's
// prompt starts with the same `depth` tokens and differs after them; the warm-up run
// fills those positions once and the measured runs evaluate only what follows them.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/cli/bench_sweep.h"
#include "runtime/core/result.h"
#include "runtime/engine/engine.h"

namespace airt::cli {

// Token timestamps (now_ns) per ticket 1..n, reserved up front.
struct TimingSink : engine::Sink {
  std::vector<std::vector<int64_t>> stamps;
  ErrorInfo error;
  bool failed = false;
  int32_t finished = 0;
  TimingSink(int32_t n_tickets, int32_t n_tokens);
  void on_token(engine::Ticket t, int32_t, std::string_view) override;
  void on_finish(engine::Ticket, const engine::Finish&) override { ++finished; }
  void on_error(engine::Ticket, const ErrorInfo& e) override {
    failed = true;
    error = e;
  }
};

// What one repetition measured.
struct RepTiming {
  double seconds = 0;   // the timed part
  int64_t tokens = 0;   // tokens it evaluated or generated (over every sequence)
  double ttft_ms = 0;   // submit to first token (pp: the prompt's time)
  std::vector<double> gaps_ms;  // inter-token gaps, per sequence
  double tokens_per_s() const { return seconds > 0 ? double(tokens) / seconds : 0; }
};

// Random but valid token ids, the same for the same seed.
std::vector<int32_t> bench_tokens(int32_t n, int32_t n_vocab, uint64_t seed);

// The positions a single-sequence engine needs for `t` at `depth`.
int32_t bench_ctx_needed(const BenchTest& t, int32_t depth);

// One repetition of `t` on a one-slot engine (keep_cache when depth > 0). `rep` picks the
// tokens after the depth prefix, so no two repetitions share more than the prefix.
// pp: the prompt evaluated, nothing generated; tg: n greedy tokens after one prompt token
// (end of text ignored); pp+tg: both in one request, t/s over all of their tokens.
Result<RepTiming> bench_run_rep(engine::Engine& e, const BenchTest& t, int32_t depth, uint64_t rep);

}  // namespace airt::cli
