// The model drafter: a smaller forward pass run ahead of the target, greedily — a separate
// draft model, a lower weight tier of the target, or the target with layers skipped. It
// keeps its own KV cache and activations (regions of the engine's plan) and runs on the
// target's threads. Each draft() first catches up with the tokens the target accepted
// since the last call (re-evaluating from the first token that differs from what it
// evaluated, which rolls back its rejected guesses), then proposes one token per pass.
//
// Catching up is bounded: where more than kMaxCatchUp tokens are new to the drafter (the
// prompt, or the output of a stretch it was switched off for), it starts over on the last
// kWindow tokens of the history, at its positions 0.. (RoPE sees only relative positions),
// so a first draft after a long prompt costs at most a pass of kWindow rows rather than a
// second prefill of all of it. Its guesses then see that window and what follows (a
// shorter window drafts worse: 48 tokens cut the acceptance of a 123-token prompt on
// TinyLlama from 100% to 6%); verification keeps the output the target's either way.
#pragma once

#include "runtime/engine/draft/drafter.h"
#include "runtime/model/kv_cache.h"

namespace airt::engine {

class ModelDrafter final : public Drafter {
 public:
  // The model this drafter evaluates and the backend parameters it runs with.
  static Result<model::BackendParams> backend_params(const DraftSpec& spec, const model::Model& target,
                                                     const DraftParams& p, hal::ThreadPool* pool);
  static const model::Model& evaluated(const DraftSpec& spec, const model::Model& target) {
    return spec.kind == DraftSpec::Kind::kModel ? *spec.model : target;
  }
  static model::KvParams kv_params(const DraftParams& p);
  static void plan_tables(const DraftParams& p, MemoryPlan& plan);

  static constexpr int32_t kMaxCatchUp = 256;
  static constexpr int32_t kWindow = 256;

  static Result<std::unique_ptr<ModelDrafter>> create(const DraftSpec& spec, const model::Model& target,
                                                      const DraftParams& p, hal::ThreadPool* pool);

  const std::string& name() const override { return name_; }
  bool costly() const override { return true; }
  Result<int32_t> draft(int32_t seq, std::span<const int32_t> history, std::span<int32_t> out) override;
  void forget(int32_t seq) override;
  Status carve(Arena& arena) override;
  size_t pass_bytes() const override { return pass_bytes_; }
  int32_t catch_up(int32_t seq, std::span<const int32_t> history) const override;
  CatchUp last_catch_up() const override { return last_; }

 private:
  ModelDrafter(const model::Model& m, const DraftParams& p) : m_(m), p_(p) {}
  // Evaluates tokens at positions pos0.. of seq (at most chunk), keeping the last row's
  // logits; returns the argmax there.
  Result<int32_t> eval(int32_t seq, const int32_t* tokens, int32_t n, int32_t pos0);
  int32_t argmax() const;
  // Where the next draft() of `seq` over `full` starts: the history index of its position
  // 0 (offset) and the tokens it keeps.
  struct Start {
    int32_t offset = 0;
    int32_t keep = 0;
    int32_t n = 0;  // history tokens from offset on
  };
  Start start(int32_t seq, std::span<const int32_t> full) const;

  const model::Model& m_;
  DraftParams p_;
  std::string name_;
  int32_t tier_ = 0;
  size_t pass_bytes_ = 0;
  CatchUp last_;
  std::unique_ptr<model::Backend> backend_;
  model::KvCache kv_;
  int32_t* done_ = nullptr;    // n_seq x n_ctx: the tokens evaluated, per sequence
  int32_t* n_done_ = nullptr;  // n_seq
  int32_t* offset_ = nullptr;  // n_seq: the history index of the drafter's position 0
  int32_t* row_tok_ = nullptr;  // chunk each: one pass's rows
  int32_t* row_pos_ = nullptr;
  int32_t* row_seq_ = nullptr;
};

}  // namespace airt::engine
