#include "runtime/engine/engine.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>

#include "runtime/core/clock.h"
#include "runtime/core/log.h"
#include "runtime/engine/engine_slot.h"
#include "runtime/engine/session.h"
#include "runtime/model/repack.h"

namespace airt::engine {
namespace {

model::KvParams kv_params(const EngineConfig& c, int32_t window, int32_t sinks) {
  model::KvParams kp;
  kp.n_seq = c.n_slots;
  kp.n_ctx = c.n_ctx;
  kp.block = c.kv_block;
  kp.types = c.kv_types;
  kp.window = window;
  kp.sinks = sinks;
  kp.n_step = std::min(std::max(c.prefill_chunk, 1 + c.draft_max), c.n_batch);
  kp.n_blocks = c.kv_blocks;
  return kp;
}

Status check_config(const EngineConfig& c) {
  if (c.n_slots < 1 || c.n_slots > 4096) {
    return errorf(Error::kRequestOutOfRange, "--slots %d is out of range (1..4096)", c.n_slots);
  }
  if (c.n_batch < c.n_slots) {
    return errorf(Error::kRequestOutOfRange, "batch of %d rows cannot decode %d slots at once", c.n_batch, c.n_slots);
  }
  if (c.n_logits < c.n_slots || c.n_logits > c.n_batch) {
    return errorf(Error::kRequestOutOfRange, "%d kept logit rows: need %d..%d (slots..batch)", c.n_logits, c.n_slots,
                  c.n_batch);
  }
  if (c.max_stop < 0 || c.max_stop_bytes < 1) return errorf(Error::kRequestOutOfRange, "stop string limits");
  if (c.max_repeat_last_n < 0 || c.max_repeat_last_n > text::Sampler::kMaxRepeatLastN) {
    return errorf(Error::kRequestOutOfRange, "max_repeat_last_n %d is out of range (0..%d)", c.max_repeat_last_n,
                  text::Sampler::kMaxRepeatLastN);
  }
  if (c.draft_max < 0 || c.draft_max > 64) {
    return errorf(Error::kRequestOutOfRange, "--draft-max %d is out of range (1..64)", c.draft_max);
  }
  if (c.max_window > 0 && c.window > c.max_window) {
    return errorf(Error::kRequestOutOfRange, "--window %d is wider than the planned maximum %d", c.window, c.max_window);
  }
  return {};
}

}  // namespace

// The KV geometry the plan holds: the widest window apply() may set.
model::KvParams planned_kv(const EngineConfig& c) {
  const int32_t w = c.max_window < 0 ? c.window : c.max_window;
  return kv_params(c, w, w > 0 ? std::max(c.sinks, 0) : 0);
}

// What repacking takes for this engine: nothing unless the whole pass runs on the CPU
// (a device backend, its split pass or its CPU fallback read the mapped rows).
model::RepackPlan repack_plan(const model::Model& m, const EngineConfig& c) {
  if (!c.repack || !c.kernels || c.backend != governor::BackendKind::kCpu) return {};
  return model::repack_plan(m, *c.kernels);
}

model::BackendParams backend_params(const EngineConfig& c) {
  model::BackendParams bp;
  bp.kind = c.backend;
  bp.gpu = c.gpu;
  bp.gpu_layers = c.gpu_layers;
  bp.masked = c.vk_masked;
  bp.n_rows = c.n_batch;
  bp.n_logits = c.n_logits;
  bp.n_threads = std::max(1, c.n_threads);
  const model::KvParams kp = planned_kv(c);
  bp.max_visible = model::KvCache::blocks_per_seq(kp) * c.kv_block;
  bp.kernels = c.kernels;
  bp.kv = kp;
  return bp;
}

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kDeadline: return "deadline";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "?";
}

EngineConfig Engine::resolve(const model::Model& m, EngineConfig c) {
  if (c.n_ctx <= 0) c.n_ctx = std::min(m.hparams().n_ctx_train, 2048);
  c.prefill_chunk = std::max(1, std::min(c.prefill_chunk, c.n_ctx));
  if (c.drafters.empty()) c.draft_max = 0;
  else if (c.draft_max <= 0) c.draft_max = 8;
  if (c.n_batch <= 0) c.n_batch = std::max(c.n_slots - 1 + c.prefill_chunk, c.n_slots * (1 + c.draft_max));
  if (c.n_logits <= 0) c.n_logits = std::min(c.n_batch, c.n_slots * (1 + c.draft_max));
  c.max_prompt_bytes = std::max(c.max_prompt_bytes, std::max(4096, 4 * c.n_ctx));
  c.n_threads = std::max(1, c.n_threads);
  return c;
}

Result<MemoryPlan> Engine::plan(const model::Model& m, const EngineConfig& cfg) {
  const EngineConfig c = resolve(m, cfg);
  const model::Hparams& hp = m.hparams();
  AIRT_TRY(check_config(c));
  const model::KvParams kp = planned_kv(c);
  AIRT_TRY(model::KvCache::check(hp, kp));
  MemoryPlan plan;
  const model::RepackPlan rp = repack_plan(m, c);
  for (int32_t t = 0; t < m.n_tiers(); ++t) {
    const model::Tier& tier = m.tier(t);
    const size_t copied = rp.tensors ? rp.tier_bytes[size_t(t)] : 0;
    const std::string what = copied ? tier.file->path() + " (less the rows repacked below)" : tier.file->path();
    plan.add(t == 0 ? "weights (mapped)" : "weights " + std::string(m.tier_name(t)) + " (mapped)",
             tier.weight_bytes - std::min(copied, tier.weight_bytes), RegionKind::kMapped, what);
  }
  if (rp.tensors) {
    char d[160];
    std::snprintf(d, sizeof d, "%d matrices repacked for the CPU kernels (their mapped pages dropped)", rp.tensors);
    plan.add("weights (resident copies)", rp.bytes, RegionKind::kResident, d);
  } else {
    plan.add("weights (resident copies)", 0, RegionKind::kResident, "none: every matrix is used in place");
  }
  plan.add("kv tables", model::KvCache::arena_bytes(hp, kp), RegionKind::kResident, "block types, free list, per-slot tables");
  AIRT_TRY(model::backend_plan(m, backend_params(c), plan));
  if (plans_fallback(m, c)) AIRT_TRY(plan_fallback(m, c, plan));
  const size_t a = Arena::kDefaultAlign;
  const size_t text = TextStream::arena_bytes(c.max_stop, c.max_stop_bytes, 256);
  const size_t per_slot = align_up(size_t(c.n_ctx) * sizeof(int32_t), a) + align_up(kMaxSessionPath, a) + text +
                          (c.draft_max > 0 ? align_up(size_t(c.draft_max) * sizeof(int32_t), a) : 0);
  char d[200];
  std::snprintf(d, sizeof d, "%d x (%d tokens, %d stop strings of %d B, session path)", c.n_slots, c.n_ctx, c.max_stop,
                c.max_stop_bytes);
  plan.add("slots", align_up(size_t(c.n_slots) * sizeof(Slot), a) + size_t(c.n_slots) * per_slot,
           RegionKind::kResident, d);
  plan.add("step tables", 2 * align_up(size_t(c.n_slots) * sizeof(int32_t), a) +
                              3 * align_up(size_t(c.n_logits) * sizeof(int32_t), a) +
                              3 * align_up(size_t(c.n_batch) * sizeof(int32_t), a));
  std::snprintf(d, sizeof d, "the last %d steps (rows, wall time, operating point)", kStepRing);
  plan.add("step records", align_up(sizeof(governor::StepRecord) * kStepRing, a), RegionKind::kResident, d);
  std::snprintf(d, sizeof d, "%d x (n_vocab %d, repeat window up to %d)", c.n_slots, hp.n_vocab,
                c.max_repeat_last_n);
  plan.add("samplers", size_t(c.n_slots) * text::Sampler::arena_bytes(hp.n_vocab, c.max_repeat_last_n),
           RegionKind::kResident, d);
  std::snprintf(d, sizeof d, "prompts of up to %d bytes, staged as %d tokens", c.max_prompt_bytes, c.n_ctx);
  plan.add("tokenizer workspace",
           text::Tokenizer::Workspace::bytes(size_t(c.max_prompt_bytes)) + align_up(size_t(c.n_ctx) * 4, a),
           RegionKind::kResident, d);
  if (!c.drafters.empty()) {
    const DraftParams dp = draft_params(c, hp.n_vocab);
    for (const DraftSpec& spec : c.drafters) AIRT_TRY(drafter_plan(spec, m, dp, plan));
    std::snprintf(d, sizeof d, "pass cost by rows (1..%d), drafts of up to %d tokens", c.n_batch, c.draft_max);
    plan.add("draft length model", DraftLength::arena_bytes(c.n_batch), RegionKind::kResident, d);
  }
  return plan;
}

Engine::Engine(const model::Model& m, const text::Tokenizer& tok, const EngineConfig& c)
    : model_(m), tok_(tok), cfg_(resolve(m, c)) {}

Engine::~Engine() {
  if (slots_)
    for (int32_t i = 0; i < cfg_.n_slots; ++i) slots_[i].~Slot();
}

Result<std::unique_ptr<Engine>> Engine::create(const model::Model& m, const text::Tokenizer& tok,
                                               const EngineConfig& c) {
  MemoryPlan plan = AIRT_TRY(Engine::plan(m, c));
  if (tok.n_vocab() > m.hparams().n_vocab) {
    return errorf(Error::kFormatInvalid, "vocabulary of %d tokens exceeds the model's %d", tok.n_vocab(),
                  m.hparams().n_vocab);
  }
  if (tok.max_piece_bytes() > 256) {
    return errorf(Error::kFormatUnsupported, "token pieces of %zu bytes exceed 256", tok.max_piece_bytes());
  }
  auto e = std::unique_ptr<Engine>(new Engine(m, tok, c));
  model::BackendParams bp = backend_params(e->cfg_);
  e->repack_ = repack_plan(m, e->cfg_);
  if (e->repack_.tensors) bp.tier_weights = &e->cpu_weights_;
  e->main_ = AIRT_TRY(model::backend_create(m, bp));
  AIRT_TRY(e->main_->bind(m));
  e->backend_ = e->main_.get();
  if (plans_fallback(m, e->cfg_)) {
    e->fallback_ = AIRT_TRY(model::backend_create(m, fallback_params(e->cfg_)));
    AIRT_TRY(e->fallback_->bind(m));
  }
  e->arena_ = AIRT_TRY(Arena::reserve(plan.arena_bytes(), e->cfg_.mlock));
  AIRT_TRY(e->carve());
  e->stats_.slots_total = e->cfg_.n_slots;
  const model::KvParams kp = planned_kv(e->cfg_);
  e->plan_window_ = kp.window;
  e->plan_sinks_ = kp.sinks;
  e->point_.window = e->cfg_.window;
  e->point_.sinks = e->cfg_.window > 0 ? e->cfg_.sinks : 0;
  e->point_.kv_k = e->cfg_.kv_types.k;
  e->point_.kv_v = e->cfg_.kv_types.v;
  e->point_.threads = e->backend_->threads();
  e->point_.backend = e->cfg_.backend;
  e->point_.draft_len = e->cfg_.draft_max;
  AIRT_TRY(e->backend_->set_tier(0));
  if (e->fallback_) AIRT_TRY(e->fallback_->set_tier(0));
  return e;
}

Status Engine::carve() {
  const model::Hparams& hp = model_.hparams();
  model::KvParams kp = planned_kv(cfg_);
  AIRT_TRY(kv_.carve(arena_, hp, kp));
  for (int32_t i = 0; i < cfg_.n_slots; ++i) kv_.set_window(i, cfg_.window, cfg_.window > 0 ? cfg_.sinks : 0);
  AIRT_TRY(main_->carve(arena_));
  if (repack_.tensors) {
    void* copies = arena_.alloc(repack_.bytes, 64);
    if (!copies) return errorf(Error::kInternal, "engine: the arena is smaller than its plan");
    cpu_weights_ = model::repack(model_, *cfg_.kernels, copies);
  }
  if (fallback_) AIRT_TRY(carve_fallback());
  void* mem = arena_.alloc(size_t(cfg_.n_slots) * sizeof(Slot), alignof(Slot) > 64 ? alignof(Slot) : 64);
  if (!mem) return errorf(Error::kInternal, "engine: the arena is smaller than its plan");
  slots_ = static_cast<Slot*>(mem);
  for (int32_t i = 0; i < cfg_.n_slots; ++i) new (&slots_[i]) Slot();
  for (int32_t i = 0; i < cfg_.n_slots; ++i) {
    Slot& s = slots_[i];
    s.tokens = arena_.alloc_array<int32_t>(size_t(cfg_.n_ctx)).data();
    s.session = static_cast<char*>(arena_.alloc(kMaxSessionPath));
    if (!s.tokens || !s.session) return errorf(Error::kInternal, "engine: the arena is smaller than its plan");
    if (cfg_.draft_max > 0) {
      s.draft = arena_.alloc_array<int32_t>(size_t(cfg_.draft_max)).data();
      if (!s.draft) return errorf(Error::kInternal, "engine: the arena is smaller than its plan");
    }
    AIRT_TRY(s.text.carve(arena_, cfg_.max_stop, cfg_.max_stop_bytes, 256));
  }
  order_ = arena_.alloc_array<int32_t>(size_t(cfg_.n_slots)).data();
  take_ = arena_.alloc_array<int32_t>(size_t(cfg_.n_slots)).data();
  logit_rows_ = arena_.alloc_array<int32_t>(size_t(cfg_.n_logits)).data();
  logit_slot_ = arena_.alloc_array<int32_t>(size_t(cfg_.n_logits)).data();
  logit_pos_ = arena_.alloc_array<int32_t>(size_t(cfg_.n_logits)).data();
  tok_rows_ = arena_.alloc_array<int32_t>(size_t(cfg_.n_batch)).data();
  pos_rows_ = arena_.alloc_array<int32_t>(size_t(cfg_.n_batch)).data();
  seq_rows_ = arena_.alloc_array<int32_t>(size_t(cfg_.n_batch)).data();
  ring_ = arena_.alloc_array<governor::StepRecord>(size_t(kStepRing)).data();
  if (!seq_rows_ || !ring_) return errorf(Error::kInternal, "engine: the arena is smaller than its plan");
  for (int32_t i = 0; i < cfg_.n_slots; ++i) {
    slots_[i].sampler = AIRT_TRY(text::Sampler::carve(arena_, hp.n_vocab, cfg_.max_repeat_last_n));
  }
  ws_ = AIRT_TRY(text::Tokenizer::Workspace::carve(arena_, size_t(cfg_.max_prompt_bytes)));
  staging_ = arena_.alloc_array<int32_t>(size_t(cfg_.n_ctx)).data();
  if (!staging_) return errorf(Error::kInternal, "engine: the arena is smaller than its plan");
  return create_drafters();
}

// The free slot whose kept cache shares the longest prefix with `prompt` (any free slot
// without keep_cache); submit() checked that one is free.
Engine::Slot* Engine::pick_slot(std::span<const int32_t> prompt) {
  Slot* best = nullptr;
  int32_t best_common = -1;
  for (int32_t i = 0; i < cfg_.n_slots; ++i) {
    Slot& s = slots_[i];
    if (s.state != Slot::State::kFree) continue;
    const int32_t common = s.common_prefix(prompt);
    if (common > best_common) best = &s, best_common = common;
  }
  return best;
}

// Encodes `text` into the staging buffer at `at`; returns the tokens written.
Result<size_t> Engine::encode_into(std::string_view text, bool bos, bool special, size_t at) {
  if (text.size() > ws_.max_text_bytes()) {
    return errorf(Error::kRequestTooLarge, "prompt of %zu bytes is longer than the %zu bytes this engine tokenizes",
                  text.size(), ws_.max_text_bytes());
  }
  auto n = tok_.encode(text, bos, special, std::span<int32_t>(staging_ + at, size_t(cfg_.n_ctx) - at), ws_);
  if (!n.ok() && n.error().code == Error::kRequestTooLarge) {
    return errorf(Error::kRequestTooLarge, "prompt is longer than the context of %d tokens: %s", cfg_.n_ctx,
                  n.error().message.c_str());
  }
  return n;
}

// The request's prompt tokens: given, or encoded into the staging buffer (after a saved
// session's tokens with continue_session).
Result<std::span<const int32_t>> Engine::prompt_of(const Request& r) {
  size_t n = 0;
  if (r.continue_session && !r.session_path.empty()) {
    auto sess = Session::read(std::string(r.session_path), model_, kv_);
    if (!sess.ok() && sess.error().code != Error::kIoNotFound) return sess.error();
    if (sess.ok()) {
      auto saved = sess->tokens();
      if (saved.size() > size_t(cfg_.n_ctx)) {
        return errorf(Error::kRequestTooLarge, "session of %zu tokens is longer than the context of %d", saved.size(),
                      cfg_.n_ctx);
      }
      std::copy(saved.begin(), saved.end(), staging_);
      n = saved.size();
    }
  } else if (!r.prompt_tokens.empty()) {
    return r.prompt_tokens;
  }
  if (!r.prompt_tokens.empty()) {
    if (n + r.prompt_tokens.size() > size_t(cfg_.n_ctx)) {
      return errorf(Error::kRequestTooLarge, "prompt of %zu tokens is longer than the context of %d",
                    n + r.prompt_tokens.size(), cfg_.n_ctx);
    }
    std::copy(r.prompt_tokens.begin(), r.prompt_tokens.end(), staging_ + n);
    n += r.prompt_tokens.size();
  } else {
    n += AIRT_TRY(encode_into(r.prompt, tok_.add_bos() && n == 0, r.parse_special, n));
  }
  if (n == 0 && tok_.bos() >= 0) staging_[n++] = tok_.bos();
  return std::span<const int32_t>(staging_, n);
}

Status Engine::submit(Ticket ticket, const Request& r) {
  if (r.max_tokens < 1 && !r.prompt_only) {
    return errorf(Error::kRequestInvalid, "max_tokens %d must be >= 1", r.max_tokens);
  }
  if (r.session_path.size() >= kMaxSessionPath) {
    return errorf(Error::kRequestInvalid, "session path of %zu bytes is too long", r.session_path.size());
  }
  for (int32_t i = 0; i < cfg_.n_slots; ++i) {
    if (slots_[i].state != Slot::State::kFree && slots_[i].ticket == ticket) {
      return errorf(Error::kRequestInvalid, "ticket %llu is already running", (unsigned long long)ticket);
    }
  }
  if (n_busy_ == cfg_.n_slots) return errorf(Error::kResourceExhausted, "all %d slots are busy", cfg_.n_slots);
  std::span<const int32_t> prompt = AIRT_TRY(prompt_of(r));
  Slot* s = pick_slot(prompt);
  if (prompt.empty()) return errorf(Error::kRequestInvalid, "empty prompt and the model has no BOS token");
  if (int64_t(prompt.size()) > cfg_.n_ctx) {
    return errorf(Error::kRequestTooLarge, "prompt of %zu tokens is longer than the context of %d", prompt.size(),
                  cfg_.n_ctx);
  }
  if (r.logits_all && cfg_.n_logits < std::min(cfg_.prefill_chunk, cfg_.n_batch)) {
    return errorf(Error::kRequestTooLarge, "logits of every position need %d kept rows; the plan keeps %d",
                  std::min(cfg_.prefill_chunk, cfg_.n_batch), cfg_.n_logits);
  }
  for (int32_t t : prompt) {
    if (t < 0 || t >= model_.hparams().n_vocab) {
      return errorf(Error::kRequestInvalid, "prompt token id %d is outside the vocabulary", t);
    }
  }
  AIRT_TRY(s->text.reset(r.stop));
  AIRT_TRY(s->sampler->configure(r.sampling));
  const int32_t id = int32_t(s - slots_);
  reuse_prefix(*s, id, prompt, r);
  s->start(ticket, r, prompt);
  if (s->session[0] && s->n_done == 0 && !r.logits_all) {
    auto sess = Session::read(s->session, model_, kv_);
    if (!sess.ok() && sess.error().code != Error::kIoNotFound) {
      kv_.seq_clear(id);
      s->state = Slot::State::kFree;
      s->n_kept = 0;
      return sess.error();
    }
    if (sess.ok()) {
      // Reuse the longest common prefix, leaving at least one prompt token to evaluate.
      const int32_t n = std::min({common_prefix(sess->tokens(), prompt), s->n_prompt - 1, sess->positions()});
      if (n > 0 && sess->restore(kv_, *backend_, id, n).ok()) s->n_done = s->n_cached = n;
    }
  }
  for (int32_t t : prompt) s->sampler->accept(t);
  ++n_busy_;
  return {};
}

// Keeps the KV of the slot's previous sequence for the longest common prefix with
// `prompt` (keep_cache), else starts the sequence empty.
void Engine::reuse_prefix(Slot& s, int32_t id, std::span<const int32_t> prompt, const Request& r) {
  const int32_t common = cfg_.keep_cache && r.session_path.empty() && !r.logits_all
                             ? std::min(s.common_prefix(prompt), int32_t(prompt.size()) - 1)
                             : 0;
  if (common > 0) kv_.seq_truncate(id, common);
  else kv_.seq_clear(id);
  kv_.set_window(id, point_.window, point_.sinks);
  s.n_kept = common;
}

void Engine::cancel(Ticket ticket) {
  for (int32_t i = 0; i < cfg_.n_slots; ++i)
    if (slots_[i].state != Slot::State::kFree && slots_[i].ticket == ticket) slots_[i].cancel = true;
}

void Engine::release(Slot& s) {
  const int32_t id = int32_t(&s - slots_);
  // A kept cache must be exactly the slot's first seq_pos tokens.
  s.n_kept = cfg_.keep_cache && !s.history_lost && kv_.seq_window(id) <= 0 ? std::min(kv_.seq_pos(id), s.n_tokens) : 0;
  if (s.n_kept == 0) kv_.seq_clear(id);
  s.state = Slot::State::kFree;
  --n_busy_;
}

bool Engine::drop_kept_caches() {
  bool dropped = false;
  for (int32_t i = 0; i < cfg_.n_slots; ++i) {
    Slot& s = slots_[i];
    if (s.state == Slot::State::kFree && s.n_kept > 0) {
      kv_.seq_clear(i);
      s.n_kept = 0;
      dropped = true;
    }
  }
  return dropped;
}

void Engine::finish(Slot& s, Sink& sink, FinishReason why, std::string_view tail) {
  const int64_t now = now_ns();
  const int32_t id = int32_t(&s - slots_);
  // A verify pass that ended the request mid-draft leaves positions past its last token.
  if (!s.history_lost && kv_.seq_pos(id) > s.n_tokens) kv_.seq_truncate(id, s.n_tokens);
  if (s.session[0]) {
    // Positions in the cache are the history's first seq_pos tokens; a last sampled token
    // not yet evaluated follows them.
    Status st = s.history_lost ? Status(errorf(Error::kRequestTooLarge, "the sequence outgrew its token history"))
                               : session_save(s.session, model_, kv_, *backend_, id, {s.tokens, size_t(s.n_tokens)}, {});
    if (!st.ok()) AIRT_LOG_WARN("session %s not saved: %s", s.session, st.error().message.c_str());
  }
  Finish f;
  f.reason = why;
  f.prompt_tokens = s.n_prompt;
  f.cached_tokens = s.n_cached;
  f.completion_tokens = s.n_gen;
  f.tail = tail;
  f.first_token_ms = s.first_token_ns ? double(s.first_token_ns - s.arrival_ns) / 1e6 : 0;
  f.total_ms = double(now - s.arrival_ns) / 1e6;
  f.drafted = s.drafted;
  f.accepted = s.accepted;
  f.passes = s.passes;
  const Ticket t = s.ticket;
  release(s);
  sink.on_finish(t, f);
}

void Engine::fail(Slot& s, Sink& sink, const ErrorInfo& e) {
  const Ticket t = s.ticket;
  s.history_lost = true;  // keep nothing of a failed sequence
  release(s);
  sink.on_error(t, e);
}

}  // namespace airt::engine
