// Engine::Slot: one request's state inside the engine (engine.cpp, engine_step.cpp).
// Its buffers are carved from the engine's arena.
#pragma once

#include <algorithm>
#include <cstring>

#include "runtime/core/clock.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/text_stream.h"

namespace airt::engine {

constexpr size_t kMaxSessionPath = 1024;

// What the engine's drafters are sized for (engine_draft.cpp).
DraftParams draft_params(const EngineConfig& c, int32_t n_vocab);

// The KV geometry the plan holds (the widest window apply() may set) and the configured
// backend's parameters (engine.cpp).
model::KvParams planned_kv(const EngineConfig& c);
model::BackendParams backend_params(const EngineConfig& c);
// The CPU fallback (engine_backend.cpp): whether `c` plans one (vulkan with a layer on the
// device), its parameters, and its regions with what a switch uses.
bool plans_fallback(const model::Model& m, const EngineConfig& c);
model::BackendParams fallback_params(const EngineConfig& c);
Status plan_fallback(const model::Model& m, const EngineConfig& c, MemoryPlan& plan);

// Length of the common prefix of a and b.
inline int32_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return int32_t(i);
}

struct Engine::Slot {
  enum class State : uint8_t { kFree, kPrefill, kDecode };
  State state = State::kFree;
  bool cancel = false;
  bool history_lost = false;  // more positions than the history buffer holds (windowed)
  bool ignore_eos = false;
  bool logits_all = false;
  Ticket ticket = 0;
  int32_t* tokens = nullptr;  // prompt, then sampled tokens: the token at each position
  int32_t n_tokens = 0;
  int32_t n_prompt = 0;
  int32_t n_done = 0;    // prompt tokens in the KV cache
  int32_t n_cached = 0;  // of which restored from the session or kept from the last request
  int32_t n_kept = 0;    // free slot: positions of its last sequence still in the KV cache
  int32_t next = 0;      // token the next decode step feeds
  int32_t n_gen = 0;
  int32_t max_tokens = 0;
  int32_t priority = 0;
  int64_t arrival_ns = 0;
  int64_t first_deadline_ns = 0;
  int64_t deadline_ns = 0;
  int64_t first_token_ns = 0;
  char* session = nullptr;  // kMaxSessionPath bytes, NUL-terminated; "" for none
  int32_t* draft = nullptr;  // draft_max tokens: this step's guesses after `next`
  int32_t n_draft = 0;
  int32_t draft_src = -1;    // the drafter that made them
  int32_t drafted = 0;       // this request's figures (Finish)
  int32_t accepted = 0;
  int32_t passes = 0;
  TextStream text;
  text::Sampler* sampler = nullptr;  // in the arena; configured per request

  OrderKey key() const {
    return {effective_deadline(first_deadline_ns, deadline_ns, first_token_ns != 0), priority, arrival_ns};
  }
  // Positions of the kept cache this prompt can reuse.
  int32_t common_prefix(std::span<const int32_t> prompt) const {
    return engine::common_prefix({tokens, size_t(n_kept)}, prompt);
  }
  // Takes the request (prompt already validated); n_kept positions are reused.
  void start(Ticket t, const Request& r, std::span<const int32_t> prompt) {
    std::memcpy(tokens, prompt.data(), prompt.size_bytes());
    n_tokens = n_prompt = int32_t(prompt.size());
    n_done = n_cached = n_kept;
    n_kept = 0;
    n_gen = 0;
    max_tokens = r.prompt_only ? 0 : r.max_tokens;
    ignore_eos = r.ignore_eos;
    logits_all = r.logits_all;
    priority = r.priority;
    arrival_ns = r.arrival_ns > 0 ? r.arrival_ns : now_ns();
    first_deadline_ns = r.first_token_deadline_ns;
    deadline_ns = r.deadline_ns;
    first_token_ns = 0;
    n_draft = drafted = accepted = passes = 0;
    draft_src = -1;
    cancel = history_lost = false;
    ticket = t;
    if (!r.session_path.empty()) std::memcpy(session, r.session_path.data(), r.session_path.size());
    session[r.session_path.size()] = '\0';
    state = State::kPrefill;
  }
};

}  // namespace airt::engine
