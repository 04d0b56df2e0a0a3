// Test helpers that evaluate a model the way every command does: through the engine (a
// one-slot scoring request keeps every prompt position's logits), or, for forward-level
// tests, through a backend over a hand-fed KV cache.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "runtime/core/arena.h"
#include "runtime/engine/engine.h"
#include "runtime/model/backend.h"
#include "runtime/model/kv_cache.h"
#include "runtime/model/model.h"
#include "runtime/text/tokenizer.h"

namespace airt::test {

// A model, its tokenizer and an engine on them: what the backend tests build, each with
// its own configuration.
struct Loaded {
  std::unique_ptr<model::Model> model;
  std::unique_ptr<text::Tokenizer> tok;
  std::unique_ptr<engine::Engine> engine;
};
// The model at `path` and its tokenizer; what failed is a test failure, and stays null.
Loaded load_model(const std::string& path);
// The engine of config `c` on l's model (a test failure, and null, when it cannot be made).
void make_engine(Loaded& l, const engine::EngineConfig& c);

// A one-slot engine configuration that scores prompts of up to n_batch tokens per step
// (every row's logits kept) in a context of n_ctx.
engine::EngineConfig scoring_config(int32_t n_ctx, int32_t n_batch);

// The logits of every position of `ids` (ids.size() x n_vocab), evaluated as one request
// in chunks of the engine's prefill chunk; with n_greedy > 0 the request then generates
// that many greedy tokens (end of text ignored) into *greedy. Empty (and a test failure)
// on error.
std::vector<float> engine_logits(engine::Engine& e, std::span<const int32_t> ids, int32_t n_greedy = 0,
                                 std::vector<int32_t>* greedy = nullptr);

// A KV cache of n_seq sequences and a CPU backend over it, in one arena, fed by hand.
struct BackendRig {
  Arena arena;
  model::KvCache kv;
  std::unique_ptr<model::Backend> backend;
  // n_rows rows per eval, every one's logits kept; `threads` threads.
  BackendRig(const model::Model& m, int32_t n_seq, int32_t n_ctx, int32_t n_rows, model::KvTypes t, int threads = 1);
  // Appends the rows to their sequences' caches and evaluates them.
  Status eval(std::span<const int32_t> token, std::span<const int32_t> pos, std::span<const int32_t> seq,
              std::span<const int32_t> keep);
};

}  // namespace airt::test
