// Drafters: cheap guesses of the tokens a sequence continues with, which the engine then
// verifies in one batched pass of the target (verify.h). Every drafter proposes
// deterministically (q one-hot at its choice), so verification needs only the token.
//
// Kinds, named on the command line as DraftSpec::parse reads them:
//   ngram             the continuation of the latest earlier occurrence of the sequence's
//                     last 1..3 tokens, in the prompt or the output so far; no memory.
//   tier:NAME         a lower weight tier of the target (the ladder as a drafter): its own
//                     KV and activations, the target's mapping and threads.
//   self:skip=N       the target with N of its layers skipped (every other layer from the
//   self:layers=A,B   back), or the layers listed; its own KV, the target's weights.
//   PATH.gguf         a separate draft model; its vocabulary must be the target's.
// The engine tries its drafters in order each step and takes the first that proposes
// something (ngram first, then a model, is the usual chain).
//
// Threading: called only from the engine's step. Memory: the regions a drafter plans are
// carved from the engine's arena; draft() allocates nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hal/cpu/thread_pool.h"
#include "runtime/core/arena.h"
#include "runtime/core/memory_plan.h"
#include "runtime/core/result.h"
#include "runtime/model/backend.h"
#include "runtime/model/model.h"

namespace airt::engine {

struct DraftSpec {
  enum class Kind : uint8_t { kNgram, kTier, kSelf, kModel };
  Kind kind = Kind::kNgram;
  std::string text;                  // as given ("tier:q4_0"); names the drafter in messages
  std::string tier;                  // kTier: the tier's name
  int32_t skip = 0;                  // kSelf: layers to skip (0: `layers` lists them)
  std::vector<int32_t> layers;       // kSelf: the layers skipped
  std::string path;                  // kModel: the draft model's file
  const model::Model* model = nullptr;  // kModel: loaded by the caller, outlives the engine

  // One drafter from its command-line form; errors name the form and the ones accepted.
  static Result<DraftSpec> parse(std::string_view text);
  // A chain "ngram+tier:q4_0": the drafters in the order they are tried.
  static Result<std::vector<DraftSpec>> parse_chain(std::string_view text);
};

// What a drafter is sized for: the engine's slots, context and threads.
struct DraftParams {
  int32_t n_seq = 1;
  int32_t n_ctx = 2048;
  int32_t max_draft = 8;   // tokens one draft() proposes at most
  int32_t chunk = 64;      // rows one catch-up pass evaluates at most
  int32_t n_threads = 1;
  const hal::Kernels* kernels = nullptr;
  model::KvTypes kv_types;
  int32_t kv_block = 16;
  int32_t n_vocab = 0;     // the target's: drafted ids stay below it
  // The target's weights per tier as its CPU pass reads them (the engine's repacked
  // copies), for a drafter that evaluates the target itself (a tier, skipped layers);
  // null: the model's own.
  const std::vector<model::Weights>* target_weights = nullptr;
};

class Drafter {
 public:
  virtual ~Drafter() = default;
  // "ngram", "tier q4_0", "self skip 2", "model stories260K.gguf".
  virtual const std::string& name() const = 0;
  // Whether draft() runs a forward pass (its time is then weighed against the gain).
  virtual bool costly() const = 0;
  // Up to out.size() tokens that may follow `history`, the tokens of sequence `seq` so
  // far (its last one not yet evaluated by the target); returns how many it wrote. A
  // drafter keeps what it evaluated of the sequence and re-evaluates only from the first
  // token that changed.
  virtual Result<int32_t> draft(int32_t seq, std::span<const int32_t> history, std::span<int32_t> out) = 0;
  // The sequence in slot `seq` ended; what the drafter kept of it is stale.
  virtual void forget(int32_t seq) = 0;
  // For a costly drafter, what its passes cost before they are measured (draft_length.h):
  // the weight bytes one of its 1-row passes reads, and how many rows of `history` the
  // next draft() would evaluate before its first guess (catching up).
  virtual size_t pass_bytes() const { return 0; }
  virtual int32_t catch_up(int32_t seq, std::span<const int32_t> history) const {
    (void)seq, (void)history;
    return 0;
  }
  // The catch-up of the last draft(): rows evaluated and the time they took.
  struct CatchUp {
    int32_t rows = 0;
    int64_t ns = 0;
  };
  virtual CatchUp last_catch_up() const { return {}; }
  // Host regions from the engine's arena (what drafter_plan() planned).
  virtual Status carve(Arena& arena) = 0;
};

// Adds the regions a drafter of `spec` takes to `plan` (names prefixed "draft ").
Status drafter_plan(const DraftSpec& spec, const model::Model& target, const DraftParams& p, MemoryPlan& plan);
// The drafter; `pool` is the target backend's thread pool, which model drafters share.
Result<std::unique_ptr<Drafter>> drafter_create(const DraftSpec& spec, const model::Model& target,
                                                const DraftParams& p, hal::ThreadPool* pool);

}  // namespace airt::engine
