// Engine: a fixed number of sequence slots served by continuous batching over one model.
// Every command drives it: `airt serve` with many slots, `airt run`, `bench`, `logits` and
// `perplexity` with one. There is one plan, one scheduling and sampling loop and one
// session path.
//
// Each slot holds one request: its prompt tokens, sampler, stop conditions (max tokens,
// end of generation, stop strings), deadline and priority. Every step() runs ONE batched
// forward pass on the backend: the next token of every decoding sequence plus a chunk of
// prompt for sequences still prefilling (so a long prompt cannot stall the others),
// ordered by request_order.h. A full slot table or KV pool is an immediate error to the
// caller, never a wait.
//
// The operating point (governor/operating_point.h: weight tier, window, KV precision,
// threads, backend) is applied at a step boundary for every sequence; the plan is sized
// for the most expensive point the configuration allows, so apply() never allocates and
// never fails a live request.
//
// Backends: an engine on Vulkan with cpu_fallback also plans, carves and binds a CPU
// backend for the same model and KV pool (its weights are the mapping; its cost is its KV
// storage, activations and threads). A point naming the other backend moves every live
// sequence's KV blocks across at the step boundary, layer by layer through one staging
// buffer in the arena. A device lost (or out of device memory) during a step moves the engine to
// the CPU for good: the device's KV cannot be read any more, so each live sequence's KV is
// rebuilt by evaluating its token history on the CPU, and the step runs again there; no
// request is dropped. Without a fallback the requests of that step end with the error. Every step is recorded (rows, wall time, point) in a fixed ring,
// and a hook lets a controller act at each step boundary.
//
// Threading: one caller at a time (the service's loop, the CLI). Results come back
// through the Sink passed to step(), from inside step().
//
// Memory: everything — KV pool, activations, slot buffers and samplers, the tokenizer's
// workspace, step records — is carved at create() from one arena sized by plan(), to the
// byte. submit() and step() perform no heap allocation, except for a request that names a
// session file (read at submit, written when it finishes).
//
// Ownership: the Model and the Tokenizer must outlive the Engine; it owns its backend.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "governor/operating_point.h"
#include "hal/cpu/kernels.h"
#include "runtime/core/arena.h"
#include "runtime/core/memory_plan.h"
#include "runtime/core/result.h"
#include "runtime/engine/draft/draft_length.h"
#include "runtime/engine/draft/drafter.h"
#include "runtime/engine/finish_reason.h"
#include "runtime/engine/request_order.h"
#include "runtime/model/backend.h"
#include "runtime/model/kv_cache.h"
#include "runtime/model/model.h"
#include "runtime/model/repack.h"
#include "runtime/text/sampler.h"
#include "runtime/text/tokenizer.h"

namespace airt::engine {

// Chosen by the caller, unique among live requests; echoed in every callback.
using Ticket = uint64_t;


struct Request {
  std::string_view prompt;                 // text; tokenized with the vocabulary's BOS habit
  bool parse_special = true;               // control-token text (chat templates) becomes tokens
  std::span<const int32_t> prompt_tokens;  // used instead of `prompt` when not empty
  int32_t max_tokens = 256;                // generated tokens at most (>= 1)
  bool prompt_only = false;                // evaluate the prompt, generate nothing (max_tokens unused)
  bool logits_all = false;                 // Sink::on_logits for every prompt position (scoring)
  text::SamplerParams sampling;
  std::span<const std::string> stop;       // stop strings; the stop text is not emitted
  bool ignore_eos = false;                 // keep going past end-of-generation tokens
  int32_t priority = 5;                    // higher runs first among equal deadlines
  int64_t arrival_ns = 0;                  // now_ns() at arrival; 0: at submit()
  int64_t first_token_deadline_ns = 0;     // absolute, now_ns() clock; 0: none
  int64_t deadline_ns = 0;                 // absolute; 0: none. Past it: FinishReason::kDeadline
  std::string_view session_path;           // resume a matching prefix from it; save to it at the end
  bool continue_session = false;           // the prompt continues the saved tokens (no BOS)
};

struct Finish {
  FinishReason reason = FinishReason::kStop;
  int32_t prompt_tokens = 0;
  int32_t cached_tokens = 0;      // prompt tokens restored from the session file
  int32_t completion_tokens = 0;
  std::string_view tail;          // text held back (a possible stop-string start) now final
  double first_token_ms = 0;      // from arrival
  double total_ms = 0;
  // Speculative decoding: tokens drafted and kept, and the target passes that produced
  // the completion (passes / completion_tokens < 1 where speculation paid).
  int32_t drafted = 0;
  int32_t accepted = 0;
  int32_t passes = 0;
};

// Called only from inside Engine::step().
class Sink {
 public:
  virtual ~Sink() = default;
  // Once per generated token that is part of the output (not for the end-of-generation
  // token). `delta` is the text that became final: whole UTF-8 sequences, never a
  // possible start of a stop string; it may be empty. Valid during the call only.
  virtual void on_token(Ticket ticket, int32_t token, std::string_view delta) = 0;
  // For a Request with logits_all: the logits after prompt position `pos` (n_vocab
  // values, valid during the call), once per prompt position not restored from a session.
  virtual void on_logits(Ticket ticket, int32_t pos, std::span<const float> logits) {
    (void)ticket, (void)pos, (void)logits;
  }
  // Exactly once per accepted request, after its last on_token; the slot is free again.
  virtual void on_finish(Ticket ticket, const Finish& info) = 0;
  // Instead of on_finish when the request failed after it was accepted (e.g. the KV pool
  // ran out: kResourceExhausted).
  virtual void on_error(Ticket ticket, const ErrorInfo& error) = 0;
};

struct EngineConfig {
  int32_t n_slots = 1;          // requests that run at once
  int32_t n_ctx = 0;            // positions per sequence; 0: min(n_ctx_train, 2048)
  int32_t prefill_chunk = 64;   // prompt tokens one sequence prefills per step at most
  int32_t n_batch = 0;          // rows per step; 0: n_slots - 1 + prefill_chunk
  int32_t n_logits = 0;         // rows whose logits a step keeps; 0: n_slots (one per
                                // sequence). logits_all requests need one per prompt row.
  model::KvTypes kv_types;      // precision of K and V (the pool is sized for these)
  int32_t kv_block = 16;        // positions per KV block
  int32_t kv_blocks = 0;        // KV pool size; 0: every slot's worst case
  int32_t window = 0;           // sliding attention window; 0: whole context
  int32_t sinks = 0;            // first positions kept with a window
  int32_t max_window = -1;      // widest window apply() may set (the plan is sized for it);
                                // -1: `window`; 0: the whole context
  int32_t max_stop = 4;         // stop strings per request
  int32_t max_stop_bytes = 64;  // bytes per stop string
  int32_t max_repeat_last_n = 256;  // longest repetition-penalty window a request may ask for
  int32_t max_prompt_bytes = 0;     // longest prompt text tokenized at submit (at least max(4096, 4 x n_ctx))
  bool mlock = false;
  // Repack the weight matrices whose CPU kernels multiply a repacked layout faster
  // (model/repack.h: Q4_0 in 16-row panels on AVX-512), when the whole pass runs on the CPU.
  bool repack = true;
  // A finished request's KV stays in its slot until the slot or its blocks are needed; a
  // later request reuses its longest common prefix (a conversation on a one-slot engine).
  bool keep_cache = false;
  governor::BackendKind backend = governor::BackendKind::kCpu;
  int32_t gpu = -1;                       // vulkan: device index; -1: the first usable one
  int32_t gpu_layers = -1;                // vulkan: the last layers on the device (-1: all; split_backend.h)
  uint32_t vk_masked = 0;                 // vulkan: features masked off (portable shaders)
  const hal::Kernels* kernels = nullptr;  // cpu: null = hal::kernels_generic()
  int32_t n_threads = 1;                  // threads the backend owns; a step may use fewer
  // vulkan: also plan a CPU backend (the CPU fallback, --backend-fallback cpu; --backend
  // auto sets it when it chooses vulkan), which points may name and which a device loss
  // moves to. Ignored on the cpu backend.
  bool cpu_fallback = false;
  // Speculative decoding (draft/drafter.h): drafters tried in order at each step, the
  // longest draft per sequence the plan holds (its rows and logits; 0 with no drafter:
  // 8), and whether the engine chooses the length each step (draft/draft_length.h) or
  // drafts the point's draft_len whenever a drafter has that many.
  std::vector<DraftSpec> drafters;
  int32_t draft_max = 0;
  bool draft_auto = true;
};

struct EngineStats {
  int32_t slots_busy = 0;
  int32_t slots_total = 0;
  int32_t kv_blocks_used = 0;
  int32_t kv_blocks_total = 0;
  int64_t steps = 0;
  int64_t tokens_generated = 0;   // since create()
  int64_t tokens_prefilled = 0;
  double decode_tokens_per_s = 0;  // over all slots, recent (exponential average per step)
  int32_t window = 0;              // the point's window, sinks and KV types
  int32_t sinks = 0;
  model::KvTypes kv_types;         // for new blocks
  governor::OperatingPoint point;  // in effect now
  const char* tier_name = "";      // the point's weight tier ("q8_0")
  int64_t drafted = 0;             // speculative tokens drafted and kept, since create()
  int64_t accepted = 0;
  int32_t draft_k = 0;             // the longest draft of the last step
};

// One active request as a controller sees it at a step boundary (Engine::active_requests).
struct ActiveRequest {
  Ticket ticket = 0;
  int32_t tokens_left = 0;              // tokens it may still generate
  int32_t prefill_left = 0;             // prompt rows still to evaluate
  int64_t first_token_deadline_ns = 0;  // absolute; 0: none, or the first token is out
  int64_t deadline_ns = 0;              // absolute; 0: none
};

// Called at the end of every step that ran a forward pass, with that step's record; it
// may call Engine::apply() (taking effect at the next step).
using StepHook = void (*)(void* ctx, class Engine& engine, const governor::StepRecord& step);


class Engine {
 public:
  // Every region create() will take, checked against nothing: callers compare it with
  // their budget first. Errors for settings the model cannot take (e.g. q4_0 KV rows).
  static Result<MemoryPlan> plan(const model::Model& m, const EngineConfig& c);
  // The configuration with every default resolved (what plan() and create() use).
  static EngineConfig resolve(const model::Model& m, EngineConfig c);
  static Result<std::unique_ptr<Engine>> create(const model::Model& m, const text::Tokenizer& tok,
                                                const EngineConfig& c);
  ~Engine();

  // Takes a request into a free slot. Errors, nothing kept: kResourceExhausted (no free
  // slot), kRequestTooLarge (prompt longer than the context, or logits_all rows beyond
  // the plan's n_logits), kRequestInvalid (empty prompt, a ticket in use, bad sampling
  // parameters or stop strings).
  Status submit(Ticket ticket, const Request& r);
  // The request finishes with FinishReason::kCancelled at the next step. Unknown or
  // finished tickets are ignored.
  void cancel(Ticket ticket);
  // One scheduling step: cancellations and deadlines, one batched forward pass, sampling,
  // callbacks. Returns true while any request is active.
  bool step(Sink& sink);

  bool busy() const { return n_busy_ > 0; }
  int32_t free_slots() const { return cfg_.n_slots - n_busy_; }
  EngineStats stats() const;
  const EngineConfig& config() const { return cfg_; }
  const model::Model& model() const { return model_; }
  const text::Tokenizer& tokenizer() const { return tok_; }
  const Arena& arena() const { return arena_; }
  // The backend the point runs on now; the configured one unless the point moved it.
  const model::Backend& backend() const { return *backend_; }
  // The CPU fallback, when planned (EngineConfig::cpu_fallback), else null.
  const model::Backend* fallback_backend() const { return fallback_.get(); }
  // Whether the configured device was lost: the engine runs on the CPU from then on.
  bool device_lost() const { return main_lost_; }
  int32_t n_vocab() const { return model_.hparams().n_vocab; }
  // Positions a sequence can hold; an unbounded sequence with a window.
  int32_t n_ctx() const { return cfg_.n_ctx; }

  // The operating point from the next step on, for every sequence. Checked against the
  // plan (kRequestOutOfRange naming the knob and what the plan allows); nothing changes
  // on error and no live request is affected either way. A point's backend must be one the
  // engine planned (its own, or the CPU fallback) and not a lost device; threads 0 means
  // every thread of that backend.
  Status apply(const governor::OperatingPoint& point);
  const governor::OperatingPoint& point() const { return point_; }
  // Convenience forms of apply() for one knob.
  Status set_window(int32_t window, int32_t sinks);
  Status set_kv_types(model::KvTypes t);

  // The last min(n, steps recorded, kStepRing) step records, oldest first, copied into `out`.
  static constexpr int32_t kStepRing = 256;
  size_t recent_steps(std::span<governor::StepRecord> out) const;
  void set_step_hook(StepHook hook, void* ctx) { hook_ = hook, hook_ctx_ = ctx; }
  // The requests in the slots (up to out.size()), in slot order; returns how many were
  // written. Read-only and allocation-free: callable from the step hook.
  size_t active_requests(std::span<ActiveRequest> out) const;

  // For tests and sessions: the cache bookkeeping and the backend's block storage.
  const model::KvCache& kv() const { return kv_; }
  // The drafters (in the order tried) and the draft-length model.
  int32_t n_drafters() const { return n_drafters_; }
  const Drafter& drafter(int32_t i) const { return *drafters_[i]; }
  const DraftLength& draft_length() const { return draft_len_; }

 private:
  struct Slot;
  Engine(const model::Model& m, const text::Tokenizer& tok, const EngineConfig& c);
  Status carve();
  // submit() parts.
  Slot* pick_slot(std::span<const int32_t> prompt);
  Result<std::span<const int32_t>> prompt_of(const Request& r);
  Result<size_t> encode_into(std::string_view text, bool bos, bool special, size_t at);
  void reuse_prefix(Slot& s, int32_t id, std::span<const int32_t> prompt, const Request& r);
  // step() parts.
  void expire(Sink& sink, int64_t now);
  int32_t schedule();
  int32_t gather(int32_t n, Sink& sink, int32_t& n_logits);
  void deliver(Sink& sink, int32_t n_logits, int64_t now);
  void record(int64_t t0, int32_t rows, int32_t decoded, int32_t n_seq);
  void apply_pending(Sink& sink);
  // Backends (engine_backend.cpp): the one a point's backend names (null: not planned),
  // moving the live KV to another at a step boundary, and leaving a lost device.
  Status carve_fallback();
  model::Backend* backend_for(governor::BackendKind kind) const;
  void switch_backend(model::Backend& to, Sink& sink);
  bool leave_device(const ErrorInfo& e, int32_t n, Sink& sink);
  void rebuild_all(Sink& sink);
  Status rebuild_seq(int32_t seq, const int32_t* tokens, int32_t n_pos);
  bool drop_kept_caches();
  void finish(Slot& s, Sink& sink, FinishReason why, std::string_view tail);
  void fail(Slot& s, Sink& sink, const ErrorInfo& e);
  void release(Slot& s);
  void emit(Slot& s, Sink& sink, std::span<const float> logits, int64_t now);
  bool take(Slot& s, Sink& sink, int32_t id, int32_t next_pos, int64_t now);
  // Speculative decoding (engine_draft.cpp).
  Status create_drafters();
  void propose(int32_t n, int32_t& budget, int32_t& logit_budget);
  void verify(Slot& s, Sink& sink, int32_t k0, int64_t now);

  const model::Model& model_;
  const text::Tokenizer& tok_;
  EngineConfig cfg_;
  Arena arena_;
  model::KvCache kv_;
  std::unique_ptr<model::Backend> main_;      // the configured backend
  std::unique_ptr<model::Backend> fallback_;  // the CPU fallback, when planned
  model::RepackPlan repack_;                  // what the plan holds of repacked copies (none: tensors 0)
  std::vector<model::Weights> cpu_weights_;   // with repacking: each tier's, the copies in the arena
  model::Backend* backend_ = nullptr;         // the one the point runs on: main_ or fallback_
  bool main_lost_ = false;                    // main_'s device was lost
  uint8_t* kv_staging_ = nullptr;             // with a fallback: one layer of a KV block, for switching
  size_t kv_staging_bytes_ = 0;
  int32_t* rebuild_pos_ = nullptr;            // with a fallback: per slot, positions to rebuild
  Slot* slots_ = nullptr;  // n_slots, in the arena
  int32_t n_busy_ = 0;
  // Per-step tables in the arena.
  int32_t* order_ = nullptr;   // slot indices in run order (n_slots)
  int32_t* take_ = nullptr;    // rows each slot takes this step (n_slots)
  int32_t* tok_rows_ = nullptr;  // n_batch each
  int32_t* pos_rows_ = nullptr;
  int32_t* seq_rows_ = nullptr;
  int32_t* logit_rows_ = nullptr;  // n_logits: rows whose logits are kept
  int32_t* logit_slot_ = nullptr;  // n_logits: the slot each kept row belongs to
  int32_t* logit_pos_ = nullptr;   // n_logits: the position of each kept row
  int32_t* staging_ = nullptr;     // n_ctx: a submitted prompt's tokens before it has a slot
  text::Tokenizer::Workspace ws_;  // tokenizes prompts in submit() without allocating
  // The operating point, the one waiting for the next step, and the step records.
  governor::OperatingPoint point_;
  governor::OperatingPoint pending_;
  bool has_pending_ = false;
  int32_t plan_window_ = 0;  // widest window the plan holds; 0: the whole context
  int32_t plan_sinks_ = 0;
  governor::StepRecord* ring_ = nullptr;  // kStepRing, in the arena
  int64_t n_records_ = 0;
  StepHook hook_ = nullptr;
  void* hook_ctx_ = nullptr;
  EngineStats stats_;
  // Speculative decoding: the drafters, the draft-length model, this step's figures.
  std::unique_ptr<Drafter> drafters_[DraftLength::kMaxDrafters];
  int32_t n_drafters_ = 0;
  DraftLength draft_len_;
  int64_t step_draft_ns_ = 0;
  int32_t step_tokens_ = 0;
  int32_t step_drafted_ = 0;
  int32_t step_accepted_ = 0;
  int32_t step_k_ = 0;
};

}  // namespace airt::engine
