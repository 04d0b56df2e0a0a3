// Context: the state of evaluating one sequence on a Model — its KV cache and every
// activation buffer, carved from one arena sized by plan() before anything runs.
//
// Ownership: a Context refers to a Model (and its kernel table) that must outlive it.
// It owns its Arena. eval() performs no heap allocation.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "hal/cpu/kernels.h"
#include "hal/cpu/thread_pool.h"
#include "runtime/core/arena.h"
#include "runtime/core/memory_plan.h"
#include "runtime/core/result.h"
#include "runtime/model/model.h"

namespace airt::model {

struct ContextParams {
  int32_t n_ctx = 0;        // positions held in the KV cache; 0 = min(n_ctx_train, 2048)
  int32_t n_batch = 512;    // most tokens one eval() call takes
  bool logits_all = false;  // keep logits for every evaluated position, not just the last
  bool mlock = false;
  const hal::Kernels* kernels = nullptr;  // null = hal::kernels_best() (generic if that fails)
  hal::ThreadPool* pool = nullptr;        // null = one thread; must outlive the Context
};

class Context {
 public:
  // The regions a context for `m` with `p` needs (KV cache, activations, logits).
  static MemoryPlan plan(const Model& m, const ContextParams& p);
  static Result<std::unique_ptr<Context>> create(const Model& m, const ContextParams& p);

  // Evaluates `tokens` at positions n_past() .. n_past()+n-1, appending them to the KV
  // cache. Requires 1 <= n <= n_batch and n_past()+n <= n_ctx (checked, an error).
  Status eval(std::span<const int32_t> tokens);

  // Logits of the i-th token of the last eval() (logits_all), or of its last token (i = -1).
  std::span<const float> logits(int32_t i = -1) const;

  int32_t n_past() const { return n_past_; }
  int32_t n_ctx() const { return n_ctx_; }
  int32_t n_batch() const { return n_batch_; }
  int32_t n_vocab() const { return hp_.n_vocab; }
  // Forgets the cached positions after `n` (0 = start over).
  void truncate(int32_t n) { n_past_ = n < n_past_ ? n : n_past_; }
  const Arena& arena() const { return arena_; }
  const Model& model() const { return model_; }
  const hal::Kernels& kernels() const { return k_; }

 private:
  Context(const Model& m, const ContextParams& p);
  Status carve();
  void layer(int l, int32_t n, int32_t pos0);
  void attention(int l, int32_t n, int32_t pos0);
  void matmul(const WeightTensor& w, const float* x, int32_t n, float* out);

  const Model& model_;
  const Hparams& hp_;
  const hal::Kernels& k_;
  ContextParams params_;
  int32_t n_ctx_ = 0;
  int32_t n_batch_ = 0;
  int32_t n_past_ = 0;
  int32_t n_logits_ = 0;  // rows held by logits_ after the last eval
  Arena arena_;

  // KV cache, f16: k_[l] is (n_ctx, kv_dim), likewise v_[l].
  uint16_t* kv_ = nullptr;
  size_t kv_layer_elems_ = 0;
  // Activations, (n_batch, width) each.
  float* x_ = nullptr;     // residual stream (n_batch, dim)
  float* xn_ = nullptr;    // normed input (n_batch, dim)
  float* q_ = nullptr;     // (n_batch, q_dim)
  float* kcur_ = nullptr;  // (n_batch, kv_dim)
  float* vcur_ = nullptr;  // (n_batch, kv_dim)
  float* att_ = nullptr;   // attention output (n_batch, q_dim)
  float* gate_ = nullptr;  // (n_batch, n_ff)
  float* up_ = nullptr;    // (n_batch, n_ff)
  float* tmp_ = nullptr;   // projection output (n_batch, dim)
  void* xq_ = nullptr;     // activations converted to a weight's vec_dot_type
  // Attention scratch, one slice of attn_scratch_floats_ per pool thread.
  float* scores_ = nullptr;
  size_t attn_scratch_floats_ = 0;
  float* logits_ = nullptr;  // (n_batch or 1, n_vocab)
};

}  // namespace airt::model
