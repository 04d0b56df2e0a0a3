// Context: the state of evaluating one sequence on a Model — a paged KV cache with one
// sequence and the forward pass's buffers, carved from one arena sized by plan() before
// anything runs. (The engine, runtime/engine, serves many sequences with the same parts.)
//
// Ownership: a Context refers to a Model (and its kernel table, and the thread pool
// when given) that must outlive it. It owns its Arena. eval() performs no heap allocation.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "hal/cpu/kernels.h"
#include "hal/cpu/thread_pool.h"
#include "runtime/core/arena.h"
#include "runtime/core/memory_plan.h"
#include "runtime/core/result.h"
#include "runtime/model/forward.h"
#include "runtime/model/kv_cache.h"
#include "runtime/model/model.h"

namespace airt::model {

struct ContextParams {
  int32_t n_ctx = 0;        // positions held in the KV cache; 0 = min(n_ctx_train, 2048)
  int32_t n_batch = 512;    // most tokens one eval() call takes
  bool logits_all = false;  // keep logits for every evaluated position, not just the last
  bool mlock = false;
  const hal::Kernels* kernels = nullptr;  // null = hal::kernels_generic()
  KvTypes kv_types;         // K and V precision (f16, q8_0, q4_0)
  int32_t kv_block = 16;    // positions per KV block
  int32_t window = 0;       // sliding attention window; 0: the whole context
  int32_t sinks = 0;        // first positions always kept with a window
  hal::ThreadPool* pool = nullptr;  // null: one thread
};

// The context length `p` resolves to for `m`.
int32_t context_length(const Model& m, const ContextParams& p);

class Context {
 public:
  // The regions a context for `m` with `p` needs (KV cache, activations, logits).
  static MemoryPlan plan(const Model& m, const ContextParams& p);
  static Result<std::unique_ptr<Context>> create(const Model& m, const ContextParams& p);

  // Evaluates `tokens` at positions n_past() .. n_past()+n-1, appending them to the KV
  // cache. Requires 1 <= n <= n_batch and room for n positions (checked, an error).
  Status eval(std::span<const int32_t> tokens);

  // Logits of the i-th token of the last eval() (logits_all), or of its last token (i = -1).
  std::span<const float> logits(int32_t i = -1) const;

  int32_t n_past() const { return kv_.seq_pos(0); }
  int32_t n_ctx() const { return n_ctx_; }
  // Positions eval() can still append: up to n_ctx without a window, unbounded with one.
  int64_t room() const { return kv_.seq_window(0) > 0 ? INT32_MAX / 2 - n_past() : n_ctx_ - n_past(); }
  int32_t n_batch() const { return n_batch_; }
  int32_t n_vocab() const { return hp_.n_vocab; }
  // Forgets the cached positions after `n` (0 = start over).
  void truncate(int32_t n) { kv_.seq_truncate(0, n); }
  // Window and sinks from the next eval() on (0: none); see KvCache::set_window.
  void set_window(int32_t window, int32_t sinks) { kv_.set_window(0, window, sinks); }
  const Arena& arena() const { return arena_; }
  const Model& model() const { return model_; }
  const hal::Kernels& kernels() const { return forward_.kernels(); }
  KvCache& kv() { return kv_; }
  const KvCache& kv() const { return kv_; }
  // After restoring a saved sequence (kv()), its last position's logits become logits().
  void restore_logits(std::span<const float> l);

 private:
  Context(const Model& m, const ContextParams& p);
  static KvParams kv_params(const Model& m, const ContextParams& p);
  static ForwardParams forward_params(const Model& m, const ContextParams& p);

  const Model& model_;
  const Hparams& hp_;
  ContextParams params_;
  int32_t n_ctx_ = 0;
  int32_t n_batch_ = 0;
  int32_t n_logits_ = 0;  // rows held by the logits after the last eval
  Arena arena_;
  KvCache kv_;
  Forward forward_;
  // Per-eval row tables (n_batch each).
  int32_t* pos_ = nullptr;
  int32_t* seq_ = nullptr;
  int32_t* rows_ = nullptr;
};

}  // namespace airt::model
