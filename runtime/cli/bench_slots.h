// airt bench --slots: batched decode through the engine — S sequences, each generating
// n tokens after `depth` positions of context, one batched forward pass per step.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/cli/bench_run.h"
#include "runtime/cli/common.h"
#include "runtime/core/result.h"
#include "runtime/engine/engine.h"

namespace airt::cli {

class SlotsBench {
 public:
  // Plans the engine and checks the plan against the budget of `o` (--mem-budget) first.
  static Result<std::unique_ptr<SlotsBench>> create(const model::Model& m, const text::Tokenizer& tok,
                                                    const ModelOptions& o, int32_t n_slots, int32_t n_gen,
                                                    int32_t depth);
  // One run: every slot starts from the depth prefix plus one token of its own and
  // decodes n_gen tokens (end of text ignored). Timed from the step after every slot has
  // its first token (the prefill) to the end: the aggregate decode tokens per second.
  Result<RepTiming> run(uint64_t seed);
  engine::Engine& engine() { return *engine_; }

 private:
  std::unique_ptr<engine::Engine> engine_;
  int32_t n_slots_ = 0;
  int32_t n_gen_ = 0;
  int32_t depth_ = 0;
};

}  // namespace airt::cli
