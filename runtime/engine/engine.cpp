#include "runtime/engine/engine.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include "runtime/core/clock.h"
#include "runtime/core/log.h"
#include "runtime/engine/session.h"
#include "runtime/engine/text_stream.h"

namespace airt::engine {
namespace {

constexpr size_t kMaxSessionPath = 1024;

// The configuration with every default resolved.
EngineConfig resolve(const model::Model& m, EngineConfig c) {
  if (c.n_ctx <= 0) c.n_ctx = std::min(m.hparams().n_ctx_train, 2048);
  c.prefill_chunk = std::max(1, std::min(c.prefill_chunk, c.n_ctx));
  if (c.n_batch <= 0) c.n_batch = c.n_slots - 1 + c.prefill_chunk;
  return c;
}

model::KvParams kv_params(const EngineConfig& c) {
  model::KvParams kp;
  kp.n_seq = c.n_slots;
  kp.n_ctx = c.n_ctx;
  kp.block = c.kv_block;
  kp.types = c.kv_types;
  kp.window = c.window;
  kp.sinks = c.sinks;
  kp.n_step = std::min(c.prefill_chunk, c.n_batch);
  kp.n_blocks = c.kv_blocks;
  return kp;
}

model::ForwardParams forward_params(const EngineConfig& c) {
  model::ForwardParams fp;
  fp.n_rows = c.n_batch;
  fp.n_logits = c.n_slots;
  fp.n_threads = c.pool ? c.pool->size() : std::max(1, c.n_threads);
  fp.max_visible = model::KvCache::blocks_per_seq(kv_params(c)) * c.kv_block;
  fp.kernels = c.kernels;
  return fp;
}

// Sampler buffers live on the heap (text::Sampler owns them): n_vocab candidates and marks.
size_t sampler_bytes(int32_t n_vocab, const text::SamplerParams& sp) {
  return size_t(n_vocab) * (3 * sizeof(float) + sizeof(uint32_t)) + size_t(std::max(0, sp.repeat_last_n)) * 4;
}

}  // namespace

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kDeadline: return "deadline";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "?";
}

struct Engine::Slot {
  enum class State : uint8_t { kFree, kPrefill, kDecode };
  State state = State::kFree;
  bool cancel = false;
  bool history_lost = false;  // more positions than the history buffer holds (windowed)
  bool ignore_eos = false;
  Ticket ticket = 0;
  int32_t* tokens = nullptr;  // prompt, then sampled tokens: the token at each position
  int32_t n_tokens = 0;
  int32_t n_prompt = 0;
  int32_t n_done = 0;    // prompt tokens in the KV cache
  int32_t n_cached = 0;  // of which restored from the session
  int32_t next = 0;      // token the next decode step feeds
  int32_t n_gen = 0;
  int32_t max_tokens = 0;
  int32_t priority = 0;
  int64_t arrival_ns = 0;
  int64_t first_deadline_ns = 0;
  int64_t deadline_ns = 0;
  int64_t first_token_ns = 0;
  char* session = nullptr;  // kMaxSessionPath bytes, NUL-terminated; "" for none
  TextStream text;
  std::unique_ptr<text::Sampler> sampler;

  OrderKey key() const {
    return {effective_deadline(first_deadline_ns, deadline_ns, first_token_ns != 0), priority, arrival_ns};
  }
};

Result<MemoryPlan> Engine::plan(const model::Model& m, const EngineConfig& cfg) {
  const EngineConfig c = resolve(m, cfg);
  const model::Hparams& hp = m.hparams();
  if (c.n_slots < 1 || c.n_slots > 4096) {
    return errorf(Error::kRequestOutOfRange, "--slots %d is out of range (1..4096)", c.n_slots);
  }
  if (c.n_batch < c.n_slots) {
    return errorf(Error::kRequestOutOfRange, "batch of %d rows cannot decode %d slots at once", c.n_batch, c.n_slots);
  }
  if (c.max_stop < 0 || c.max_stop_bytes < 1) return errorf(Error::kRequestOutOfRange, "stop string limits");
  const model::KvParams kp = kv_params(c);
  AIRT_TRY(model::KvCache::check(hp, kp));
  MemoryPlan plan;
  plan.add("weights (mapped)", m.weight_bytes(), RegionKind::kMapped, m.file().path());
  plan.add("weights (resident copies)", 0, RegionKind::kResident, "none: every matrix is used in place");
  char d[200];
  std::snprintf(d, sizeof d, "%d blocks x %d positions (%d per slot), %s, %zu B/position", model::KvCache::pool_blocks(kp),
                kp.block, model::KvCache::blocks_per_seq(kp), model::kv_types_name(kp.types).c_str(),
                model::KvCache::bytes_per_position(hp, kp.types));
  plan.add("kv pool", model::KvCache::arena_bytes(hp, kp), RegionKind::kResident, d);
  model::Forward::plan(m, forward_params(c), plan);
  const size_t a = Arena::kDefaultAlign;
  const size_t text = TextStream::arena_bytes(c.max_stop, c.max_stop_bytes, 256);
  const size_t per_slot = align_up(size_t(c.n_ctx) * sizeof(int32_t), a) + align_up(kMaxSessionPath, a) + text;
  std::snprintf(d, sizeof d, "%d x (%d tokens, %d stop strings of %d B, session path)", c.n_slots, c.n_ctx, c.max_stop,
                c.max_stop_bytes);
  plan.add("slots", align_up(size_t(c.n_slots) * sizeof(Slot), a) + size_t(c.n_slots) * per_slot,
           RegionKind::kResident, d);
  plan.add("step tables", 4 * align_up(size_t(c.n_slots) * sizeof(int32_t), a) +
                              3 * align_up(size_t(c.n_batch) * sizeof(int32_t), a));
  std::snprintf(d, sizeof d, "%d x n_vocab %d; heap, made per request", c.n_slots, hp.n_vocab);
  plan.add("samplers (heap)", size_t(c.n_slots) * sampler_bytes(hp.n_vocab, text::SamplerParams{}),
           RegionKind::kResident, d);
  return plan;
}

Engine::Engine(const model::Model& m, const text::Tokenizer& tok, const EngineConfig& c)
    : model_(m), tok_(tok), cfg_(resolve(m, c)), forward_(m) {}

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
  // The samplers' region is heap, not arena.
  size_t heap = 0;
  for (const Region& r : plan.regions())
    if (r.name == "samplers (heap)") heap = align_up(r.bytes, Arena::kDefaultAlign);
  e->arena_ = AIRT_TRY(Arena::reserve(plan.arena_bytes() - heap, e->cfg_.mlock));
  AIRT_TRY(e->carve());
  for (int32_t i = 0; i < e->cfg_.n_slots; ++i) {
    e->slots_[i].sampler = AIRT_TRY(text::Sampler::create(m.hparams().n_vocab, text::SamplerParams{}));
  }
  e->stats_.slots_total = e->cfg_.n_slots;
  return e;
}

Status Engine::carve() {
  const model::Hparams& hp = model_.hparams();
  AIRT_TRY(kv_.carve(arena_, hp, kv_params(cfg_)));
  AIRT_TRY(forward_.carve(arena_, forward_params(cfg_)));
  void* mem = arena_.alloc(size_t(cfg_.n_slots) * sizeof(Slot), alignof(Slot) > 64 ? alignof(Slot) : 64);
  if (!mem) return errorf(Error::kInternal, "engine: the arena is smaller than its plan");
  slots_ = static_cast<Slot*>(mem);
  for (int32_t i = 0; i < cfg_.n_slots; ++i) new (&slots_[i]) Slot();
  for (int32_t i = 0; i < cfg_.n_slots; ++i) {
    Slot& s = slots_[i];
    s.tokens = arena_.alloc_array<int32_t>(size_t(cfg_.n_ctx)).data();
    s.session = static_cast<char*>(arena_.alloc(kMaxSessionPath));
    if (!s.tokens || !s.session) return errorf(Error::kInternal, "engine: the arena is smaller than its plan");
    AIRT_TRY(s.text.carve(arena_, cfg_.max_stop, cfg_.max_stop_bytes, 256));
  }
  order_ = arena_.alloc_array<int32_t>(size_t(cfg_.n_slots)).data();
  take_ = arena_.alloc_array<int32_t>(size_t(cfg_.n_slots)).data();
  logit_rows_ = arena_.alloc_array<int32_t>(size_t(cfg_.n_slots)).data();
  logit_slot_ = arena_.alloc_array<int32_t>(size_t(cfg_.n_slots)).data();
  tok_rows_ = arena_.alloc_array<int32_t>(size_t(cfg_.n_batch)).data();
  pos_rows_ = arena_.alloc_array<int32_t>(size_t(cfg_.n_batch)).data();
  seq_rows_ = arena_.alloc_array<int32_t>(size_t(cfg_.n_batch)).data();
  if (!seq_rows_) return errorf(Error::kInternal, "engine: the arena is smaller than its plan");
  return {};
}

Status Engine::submit(Ticket ticket, const Request& r) {
  Slot* s = nullptr;
  for (int32_t i = 0; i < cfg_.n_slots; ++i) {
    if (slots_[i].state != Slot::State::kFree && slots_[i].ticket == ticket) {
      return errorf(Error::kRequestInvalid, "ticket %llu is already running", (unsigned long long)ticket);
    }
    if (!s && slots_[i].state == Slot::State::kFree) s = &slots_[i];
  }
  if (!s) return errorf(Error::kResourceExhausted, "all %d slots are busy", cfg_.n_slots);
  if (r.max_tokens < 1) return errorf(Error::kRequestInvalid, "max_tokens %d must be >= 1", r.max_tokens);
  if (r.session_path.size() >= kMaxSessionPath) {
    return errorf(Error::kRequestInvalid, "session path of %zu bytes is too long", r.session_path.size());
  }
  std::vector<int32_t> encoded;
  std::span<const int32_t> prompt = r.prompt_tokens;
  if (prompt.empty()) {
    AIRT_TRY(tok_.encode(r.prompt, tok_.add_bos(), r.parse_special, encoded));
    if (encoded.empty() && tok_.bos() >= 0) encoded.push_back(tok_.bos());
    prompt = encoded;
  }
  if (prompt.empty()) return errorf(Error::kRequestInvalid, "empty prompt and the model has no BOS token");
  if (int64_t(prompt.size()) > cfg_.n_ctx) {
    return errorf(Error::kRequestTooLarge, "prompt of %zu tokens is longer than the context of %d", prompt.size(),
                  cfg_.n_ctx);
  }
  for (int32_t t : prompt) {
    if (t < 0 || t >= model_.hparams().n_vocab) {
      return errorf(Error::kRequestInvalid, "prompt token id %d is outside the vocabulary", t);
    }
  }
  AIRT_TRY(s->text.reset(r.stop));
  // A slot's sampler is rebuilt for each request's parameters (validated by create()).
  s->sampler.reset();
  s->sampler = AIRT_TRY(text::Sampler::create(model_.hparams().n_vocab, r.sampling));

  std::memcpy(s->tokens, prompt.data(), prompt.size_bytes());
  s->n_tokens = s->n_prompt = int32_t(prompt.size());
  s->n_done = s->n_cached = 0;
  s->n_gen = 0;
  s->max_tokens = r.max_tokens;
  s->ignore_eos = r.ignore_eos;
  s->priority = r.priority;
  s->arrival_ns = r.arrival_ns > 0 ? r.arrival_ns : now_ns();
  s->first_deadline_ns = r.first_token_deadline_ns;
  s->deadline_ns = r.deadline_ns;
  s->first_token_ns = 0;
  s->cancel = s->history_lost = false;
  s->ticket = ticket;
  if (!r.session_path.empty()) std::memcpy(s->session, r.session_path.data(), r.session_path.size());
  s->session[r.session_path.size()] = '\0';
  const int32_t id = int32_t(s - slots_);
  kv_.seq_clear(id);
  kv_.set_window(id, cfg_.window, cfg_.sinks);
  if (s->session[0]) {
    auto sess = Session::read(s->session, model_, kv_);
    if (!sess.ok() && sess.error().code != Error::kIoNotFound) return sess.error();
    if (sess.ok()) {
      // Reuse the longest common prefix, leaving at least one prompt token to evaluate.
      auto saved = sess->tokens();
      int32_t n = 0;
      while (n < s->n_prompt - 1 && n < int32_t(saved.size()) && saved[size_t(n)] == prompt[size_t(n)]) ++n;
      if (n > 0 && sess->restore(kv_, id, n).ok()) s->n_done = s->n_cached = n;
    }
  }
  for (int32_t t : prompt) s->sampler->accept(t);
  s->state = Slot::State::kPrefill;
  ++n_busy_;
  return {};
}

void Engine::cancel(Ticket ticket) {
  for (int32_t i = 0; i < cfg_.n_slots; ++i)
    if (slots_[i].state != Slot::State::kFree && slots_[i].ticket == ticket) slots_[i].cancel = true;
}

void Engine::release(Slot& s) {
  kv_.seq_clear(int32_t(&s - slots_));
  s.state = Slot::State::kFree;
  --n_busy_;
}

void Engine::finish(Slot& s, Sink& sink, FinishReason why, std::string_view tail) {
  const int64_t now = now_ns();
  const int32_t id = int32_t(&s - slots_);
  if (s.session[0]) {
    // Positions in the cache are exactly the history's first seq_pos tokens.
    Status st = s.history_lost ? Status(errorf(Error::kRequestTooLarge, "the sequence outgrew its token history"))
                               : session_save(s.session, model_, kv_, id, {s.tokens, size_t(s.n_tokens)}, {});
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
  const Ticket t = s.ticket;
  release(s);
  sink.on_finish(t, f);
}

void Engine::fail(Slot& s, Sink& sink, const ErrorInfo& e) {
  const Ticket t = s.ticket;
  release(s);
  sink.on_error(t, e);
}

// Samples the slot's next token from `logits` and reports it.
void Engine::emit(Slot& s, Sink& sink, std::span<const float> logits, int64_t now) {
  const int32_t id = s.sampler->sample(logits);
  if (s.first_token_ns == 0) s.first_token_ns = now;
  if (!s.ignore_eos && tok_.is_eog(id)) return finish(s, sink, FinishReason::kStop, s.text.flush());
  s.sampler->accept(id);
  ++s.n_gen;
  ++stats_.tokens_generated;
  // The view form: Tokenizer::piece(id, buf, cap) hands memcpy a null pointer for hidden
  // (control) tokens, which UBSan rejects.
  TextStream::Delta d = s.text.push(tok_.piece(id));
  sink.on_token(s.ticket, id, d.text);
  if (d.stopped) return finish(s, sink, FinishReason::kStop, {});
  const int32_t seq = int32_t(&s - slots_);
  const bool full = kv_.seq_window(seq) <= 0 && kv_.seq_pos(seq) >= cfg_.n_ctx;
  if (s.n_gen >= s.max_tokens || full) return finish(s, sink, FinishReason::kLength, s.text.flush());
  if (s.n_tokens < cfg_.n_ctx) s.tokens[s.n_tokens++] = id;
  else s.history_lost = true;
  s.next = id;
  s.state = Slot::State::kDecode;
}

bool Engine::step(Sink& sink) {
  const int64_t t0 = now_ns();
  for (int32_t i = 0; i < cfg_.n_slots; ++i) {
    Slot& s = slots_[i];
    if (s.state == Slot::State::kFree) continue;
    if (s.cancel) finish(s, sink, FinishReason::kCancelled, s.text.flush());
    else if (s.deadline_ns > 0 && t0 >= s.deadline_ns) finish(s, sink, FinishReason::kDeadline, s.text.flush());
  }
  if (n_busy_ == 0) return false;

  // Run order: insertion sort of the busy slots (a handful) by deadline and priority.
  int32_t n = 0;
  for (int32_t i = 0; i < cfg_.n_slots; ++i) {
    if (slots_[i].state == Slot::State::kFree) continue;
    int32_t j = n++;
    while (j > 0 && runs_before(slots_[i].key(), slots_[order_[j - 1]].key())) {
      order_[j] = order_[j - 1];
      --j;
    }
    order_[j] = i;
  }
  // Every decoding sequence gets its row; prefill chunks share what is left, in order.
  int32_t budget = cfg_.n_batch;
  for (int32_t k = 0; k < n; ++k) {
    take_[k] = slots_[order_[k]].state == Slot::State::kDecode ? 1 : 0;
    budget -= take_[k];
  }
  for (int32_t k = 0; k < n; ++k) {
    const Slot& s = slots_[order_[k]];
    if (s.state != Slot::State::kPrefill) continue;
    take_[k] = std::min({s.n_prompt - s.n_done, cfg_.prefill_chunk, budget});
    budget -= take_[k];
  }
  int32_t rows = 0, nl = 0;
  for (int32_t k = 0; k < n; ++k) {
    if (take_[k] == 0) continue;
    Slot& s = slots_[order_[k]];
    const int32_t seq = order_[k];
    auto pos0 = kv_.seq_append(seq, take_[k]);
    if (!pos0.ok()) {
      take_[k] = 0;
      fail(s, sink, pos0.error());
      continue;
    }
    const bool decode = s.state == Slot::State::kDecode;
    for (int32_t i = 0; i < take_[k]; ++i) {
      tok_rows_[rows + i] = decode ? s.next : s.tokens[s.n_done + i];
      pos_rows_[rows + i] = *pos0 + i;
      seq_rows_[rows + i] = seq;
    }
    rows += take_[k];
    if (decode || s.n_done + take_[k] == s.n_prompt) {
      logit_rows_[nl] = rows - 1;
      logit_slot_[nl++] = seq;
    }
    if (!decode) {
      s.n_done += take_[k];
      stats_.tokens_prefilled += take_[k];
    }
  }
  if (rows > 0) {
    model::Batch b{{tok_rows_, size_t(rows)}, {pos_rows_, size_t(rows)}, {seq_rows_, size_t(rows)},
                   {logit_rows_, size_t(nl)}};
    forward_.eval(b, kv_, cfg_.pool);
    const int64_t now = now_ns();
    for (int32_t k = 0; k < nl; ++k) emit(slots_[logit_slot_[k]], sink, forward_.logits(k), now);
    const double dt = double(now_ns() - t0) / 1e9;
    if (nl > 0 && dt > 0) {
      const double rate = double(nl) / dt;
      stats_.decode_tokens_per_s =
          stats_.decode_tokens_per_s > 0 ? 0.8 * stats_.decode_tokens_per_s + 0.2 * rate : rate;
    }
    ++stats_.steps;
  }
  return n_busy_ > 0;
}

EngineStats Engine::stats() const {
  EngineStats st = stats_;
  st.slots_busy = n_busy_;
  st.kv_blocks_total = kv_.blocks_total();
  st.kv_blocks_used = kv_.blocks_total() - kv_.blocks_free();
  st.window = cfg_.window;
  st.sinks = cfg_.sinks;
  st.kv_types = kv_.types();
  return st;
}

void Engine::set_window(int32_t window, int32_t sinks) {
  cfg_.window = std::max(0, window);
  cfg_.sinks = std::max(0, sinks);
  for (int32_t i = 0; i < cfg_.n_slots; ++i)
    if (slots_[i].state != Slot::State::kFree) kv_.set_window(i, cfg_.window, cfg_.sinks);
}

Status Engine::set_kv_types(model::KvTypes t) { return kv_.set_types(t); }

}  // namespace airt::engine
