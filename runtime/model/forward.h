// Forward: the batched forward pass of a llama-family model over a paged KV cache.
//
// One eval() takes rows from any number of sequences (a prefill chunk of one, the next
// token of several others) and reads every weight matrix once for all of them: the
// matrix products take all rows at once; attention runs per (row, KV head) over the
// row's own sequence's blocks. A row's result does not depend on which other rows share
// its batch (the products are computed column by column with the same kernels).
//
// Activation buffers are placed by lifetime (buffer_plan.h), so the region holds the
// largest set of buffers live at one step, not their sum.
//
// Ownership: refers to a Model and a kernel table that must outlive it; its buffers
// live in the arena given to carve(). eval() performs no heap allocation.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "hal/cpu/kernels.h"
#include "hal/cpu/thread_pool.h"
#include "runtime/core/arena.h"
#include "runtime/core/memory_plan.h"
#include "runtime/core/result.h"
#include "runtime/model/backend.h"
#include "runtime/model/kv_cache.h"
#include "runtime/model/model.h"

namespace airt::model {

struct ForwardParams {
  int32_t n_rows = 512;       // most rows one eval() takes, all sequences together
  int32_t n_logits = 1;       // most rows whose logits one eval() keeps
  int32_t n_threads = 1;      // size of the thread pool eval() gets (sizes attention scratch)
  int32_t max_visible = 2048; // most positions one row attends to (KV table capacity)
  const hal::Kernels* kernels = nullptr;  // null: hal::kernels_generic()
  std::array<uint64_t, 4> skip{};  // layers eval() leaves out (bit l of skip[l / 64])
  // The layers eval() runs: from a layer after 0 it starts from the residual stream the
  // caller wrote (hidden()) instead of the embeddings; ending before the last layer it
  // leaves the stream there and computes no logits (a split pass's part).
  LayerRange layers;
};


class Forward {
 public:
  // Adds the forward pass's regions (activations by lifetime, logits) to `plan`, sized
  // for every weight tier of `m`.
  static void plan(const Model& m, const ForwardParams& p, MemoryPlan& plan);

  explicit Forward(const Model& m) : model_(m), hp_(m.hparams()), w_(&m.weights()) {}
  Forward(const Forward&) = delete;
  Forward& operator=(const Forward&) = delete;

  Status carve(Arena& arena, const ForwardParams& p);

  // The weights eval() reads from now on (a tier of the model bound at construction).
  void set_weights(const Weights& w) { w_ = &w; }
  // The host memory holding the K and V of the pass's layers, laid out as `slice` says
  // (the whole cache's storage for a whole pass: KvCache offsets index it).
  void set_kv_storage(uint8_t* base, const KvSlice& slice) {
    kv_ = base;
    slice_ = slice;
  }

  // Evaluates the batch, writing each row's K and V into the blocks `kv` assigns.
  // Requires 1 <= rows <= n_rows, logits.size() <= n_logits, valid token ids; pool null
  // or of <= n_threads.
  void eval(const Batch& b, const KvCache& kv, hal::ThreadPool* pool);

  // Logits of the i-th kept row of the last eval().
  std::span<const float> logits(int32_t i) const {
    return {logits_ + size_t(i) * size_t(hp_.n_vocab), size_t(hp_.n_vocab)};
  }
  float* logits_mut(int32_t i) { return logits_ + size_t(i) * size_t(hp_.n_vocab); }
  // The residual stream of the first `rows` rows (rows x dim): the input of a pass that
  // starts after layer 0, the output of one that ends before the last.
  std::span<float> hidden(int32_t rows) const { return {x_, size_t(rows) * size_t(hp_.dim)}; }
  const ForwardParams& params() const { return p_; }
  const hal::Kernels& kernels() const { return *k_; }

  // Bytes of one thread's attention scratch (forward_attention.cpp).
  static size_t attention_scratch(const Hparams& hp, const ForwardParams& p);

 private:
  // Rows [row0, row0 + n) of a batch that attend in one kernel call per KV head.
  struct RowRun {
    int32_t row0, n;
  };
  void layer(int l, const Batch& b, const KvCache& kv, hal::ThreadPool* pool);
  void store_kv(int l, const Batch& b, const KvCache& kv);
  // Attention of every row of the batch, on the pool (forward_attention.cpp).
  void attention(int l, const Batch& b, const KvCache& kv, hal::ThreadPool* pool);
  int32_t attention_runs(const Batch& b, const KvCache& kv);
  void attend_run(int l, const Batch& b, const KvCache& kv, RowRun run, int32_t g, int32_t split, int ith);
  void attend_row(int l, const Batch& b, const KvCache& kv, int32_t row, int32_t g, int ith);
  void matmul(hal::ThreadPool* pool, const WeightTensor& w, const float* x, int32_t n, float* out, void* xq);
  void head(const Batch& b, hal::ThreadPool* pool);
  // The K (V) rows of `layer` in pool block `id`, in this pass's storage.
  uint8_t* k_rows(const KvCache& kv, int32_t id, int layer) const { return kv_ + slice_.at(kv.k_offset(id, layer)); }
  uint8_t* v_rows(const KvCache& kv, int32_t id, int layer) const { return kv_ + slice_.at(kv.v_offset(id, layer)); }

  const Model& model_;
  const Hparams& hp_;
  const Weights* w_;          // the active tier's weights
  uint8_t* kv_ = nullptr;     // KV block storage of the pass's layers
  KvSlice slice_;             // its layout
  const hal::Kernels* k_ = nullptr;
  ForwardParams p_;
  // Activations, (rows, width) each, placed by lifetime inside one region; `_a` buffers
  // belong to the attention half of a layer, `_f` to the feed-forward half.
  float* x_ = nullptr;      // residual stream (n_rows, dim), lives the whole pass
  float* xn_a_ = nullptr;   // (n_rows, dim)
  float* q_ = nullptr;      // (n_rows, q_dim)
  float* kcur_ = nullptr;   // (n_rows, kv_dim)
  float* vcur_ = nullptr;   // (n_rows, kv_dim)
  float* att_ = nullptr;    // (n_rows, q_dim)
  float* tmp_a_ = nullptr;  // (n_rows, dim)
  float* xn_f_ = nullptr;   // (n_rows, dim)
  float* gate_ = nullptr;   // (n_rows, n_ff)
  float* up_ = nullptr;     // (n_rows, n_ff)
  float* tmp_f_ = nullptr;  // (n_rows, dim)
  float* xo_ = nullptr;     // (n_logits, dim) final norm of the kept rows
  void* xq_qkv_ = nullptr;  // activations converted to each product's vec_dot_type
  void* xq_o_ = nullptr;
  void* xq_gu_ = nullptr;
  void* xq_down_ = nullptr;
  void* xq_out_ = nullptr;
  uint8_t* attn_ = nullptr;  // per-thread attention scratch, attn_stride_ bytes each
  size_t attn_stride_ = 0;
  RowRun* runs_ = nullptr;   // (n_rows) this layer's attention runs, after the scratch
  float* logits_ = nullptr;  // (n_logits, n_vocab)
};

}  // namespace airt::model
