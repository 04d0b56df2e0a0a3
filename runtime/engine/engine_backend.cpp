// Moving between the configured backend and the CPU fallback (engine.h, "Backends"): a
// point that names the other backend, and a device lost during a step.
#include <algorithm>
#include <cstdio>
#include <string_view>

#include "runtime/core/log.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/engine_slot.h"

namespace airt::engine {
namespace {

// What a device error says happened, without its advice (the fallback is taking it) or
// the backend's name in front (the log line names it): "llvmpipe: vkQueueSubmit: the
// device was lost (VK_ERROR_DEVICE_LOST: driver reset or hang)".
std::string_view cause_of(std::string_view message, std::string_view backend) {
  if (message.substr(0, backend.size()) == backend && message.substr(backend.size(), 2) == ": ")
    message.remove_prefix(backend.size() + 2);
  return message.substr(0, message.find("; use "));
}

}  // namespace

// Whether the engine plans a CPU fallback: Vulkan with at least one layer on the device.
bool plans_fallback(const model::Model& m, const EngineConfig& c) {
  return c.cpu_fallback && c.backend == governor::BackendKind::kVulkan &&
         model::device_layers(m.hparams(), backend_params(c)) > 0;
}

model::BackendParams fallback_params(const EngineConfig& c) {
  model::BackendParams bp = backend_params(c);
  bp.kind = governor::BackendKind::kCpu;
  bp.gpu = -1;
  bp.gpu_layers = -1;
  bp.masked = 0;
  return bp;
}

// Bytes of one layer of one KV block: what a switch stages per copy (a split pass keeps
// its layers in two stores, so a copy never spans layers).
size_t staging_bytes(const model::Model& m, const EngineConfig& c) {
  return model::KvCache::block_bytes(m.hparams(), planned_kv(c)) / size_t(std::max(1, m.hparams().n_layer));
}

// The CPU fallback's regions (its weights are the mapping the plan already holds) and
// what a switch uses: the staging and a position count per slot.
Status plan_fallback(const model::Model& m, const EngineConfig& c, MemoryPlan& plan) {
  MemoryPlan cpu;
  AIRT_TRY(model::backend_plan(m, fallback_params(c), cpu));
  for (const Region& r : cpu.regions()) plan.add("cpu fallback " + r.name, r.bytes, r.kind, r.detail);
  const size_t a = Arena::kDefaultAlign, stage = staging_bytes(m, c);
  char d[160];
  std::snprintf(d, sizeof d, "one layer of a KV block (%zu B) staged per copy between the backends; %d rebuild lengths",
                stage, c.n_slots);
  plan.add("backend switch", align_up(stage, a) + align_up(size_t(c.n_slots) * sizeof(int32_t), a),
           RegionKind::kResident, d);
  return {};
}

Status Engine::carve_fallback() {
  AIRT_TRY(fallback_->carve(arena_));
  kv_staging_bytes_ = staging_bytes(model_, cfg_);
  kv_staging_ = static_cast<uint8_t*>(arena_.alloc(kv_staging_bytes_));
  rebuild_pos_ = arena_.alloc_array<int32_t>(size_t(cfg_.n_slots)).data();
  if (!kv_staging_ || !rebuild_pos_) return errorf(Error::kInternal, "engine: the arena is smaller than its plan");
  return {};
}

model::Backend* Engine::backend_for(governor::BackendKind kind) const {
  if (kind == cfg_.backend && !main_lost_) return main_.get();
  if (fallback_ && kind == governor::BackendKind::kCpu) return fallback_.get();
  return nullptr;
}

// Copies every held KV block of every sequence (live, or a kept cache) from the current
// backend's storage to `to`'s, layer by layer (a split pass keeps its layers in two
// stores) through the staging buffer, then evaluates on `to`. The block tables stay as
// they are: both stores take the cache's offsets. A copy that fails (a device that can no
// longer be read) rebuilds instead.
void Engine::switch_backend(model::Backend& to, Sink& sink) {
  model::Backend& from = *backend_;
  const size_t layer = kv_staging_bytes_;
  int32_t blocks = 0, seqs = 0;
  Status st;
  for (int32_t i = 0; i < cfg_.n_slots && st.ok(); ++i) {
    const std::span<const model::KvBlockRef> held = kv_.seq_blocks(i);
    seqs += !held.empty();
    for (const model::KvBlockRef& b : held) {
      for (int32_t l = 0; l < kv_.n_layer() && st.ok(); ++l) {
        const size_t off = kv_.k_offset(b.id, l);
        st = from.kv_read(off, kv_staging_, layer);
        if (st.ok()) st = to.kv_write(off, kv_staging_, layer);
      }
      if (!st.ok()) break;
      ++blocks;
    }
  }
  backend_ = &to;
  if (st.ok()) {
    AIRT_LOG_INFO("backend: %s -> %s at a step boundary (%d KV blocks of %d sequences copied)",
                  from.name(), to.name(), blocks, seqs);
    return;
  }
  if (&from == main_.get() && st.error().code == Error::kBackendDeviceLost) main_lost_ = true;
  AIRT_LOG_WARN("backend: %s -> %s: the KV could not be copied (%s); rebuilding it from the tokens",
                from.name(), to.name(), st.error().message.c_str());
  for (int32_t i = 0; i < cfg_.n_slots; ++i) rebuild_pos_[i] = kv_.seq_pos(i);
  rebuild_all(sink);
}

// A step's eval() failed. With a CPU fallback and the device the reason (lost, or out of
// device memory at submit), the engine moves to the CPU for good: this step's rows are
// taken back (the step runs again), every live sequence's KV is rebuilt there from its
// tokens. Returns false, changing nothing, when that does not apply.
bool Engine::leave_device(const ErrorInfo& e, int32_t n, Sink& sink) {
  const bool lost = e.code == Error::kBackendDeviceLost;
  if (!fallback_ || backend_ != main_.get() || !(lost || e.code == Error::kResourceOutOfMemory))
    return false;
  for (int32_t i = 0; i < cfg_.n_slots; ++i) rebuild_pos_[i] = kv_.seq_pos(i);
  for (int32_t k = 0; k < n; ++k) {
    Slot& s = slots_[order_[k]];
    if (take_[k] == 0 || s.state == Slot::State::kFree) continue;
    rebuild_pos_[order_[k]] -= take_[k];
    if (s.state == Slot::State::kPrefill) {
      s.n_done -= take_[k];
      stats_.tokens_prefilled -= take_[k];
    }
  }
  const std::string_view why = cause_of(e.message, main_->name());
  AIRT_LOG_WARN("%s: %s (%.*s); continuing on the CPU", main_->name(),
                lost ? "device lost" : "out of device memory", int(why.size()), why.data());
  main_lost_ = true;
  backend_ = fallback_.get();
  (void)backend_->set_tier(point_.tier);
  point_.backend = governor::BackendKind::kCpu;
  point_.threads = backend_->threads();
  draft_len_.reset_costs();
  rebuild_all(sink);
  return true;
}

// Evaluates positions [0, rebuild_pos_[i]) of every live sequence i again on the current
// backend, from its token history; kept caches of idle slots are dropped. A sequence whose
// history no longer reaches back to position 0 cannot be rebuilt: it ends with an error.
void Engine::rebuild_all(Sink& sink) {
  for (int32_t i = 0; i < cfg_.n_slots; ++i) {
    kv_.seq_clear(i);
    if (slots_[i].state == Slot::State::kFree) slots_[i].n_kept = 0;
  }
  int32_t seqs = 0, positions = 0;
  for (int32_t i = 0; i < cfg_.n_slots; ++i) {
    Slot& s = slots_[i];
    const int32_t np = rebuild_pos_[i];
    if (s.state == Slot::State::kFree || np == 0) continue;
    Status st =
        s.history_lost || np > s.n_tokens
            ? Status(errorf(
                  Error::kBackendDeviceLost,
                  "%s: the device's KV is lost and this sequence outgrew its token history, so "
                  "the cpu cannot rebuild it",
                  main_->name()))
            : rebuild_seq(i, s.tokens, np);
    if (!st.ok()) {
      fail(s, sink, st.error());
      continue;
    }
    ++seqs;
    positions += np;
  }
  AIRT_LOG_INFO("%s: the KV of %d sequence%s (%d positions) rebuilt from their tokens",
                backend_->name(), seqs, seqs == 1 ? "" : "s", positions);
}

// Sequence `seq` (empty) evaluated over tokens[0, n_pos) in prefill-sized chunks, through
// the step's row tables (the step that needs this schedules again afterwards).
Status Engine::rebuild_seq(int32_t seq, const int32_t* tokens, int32_t n_pos) {
  const int32_t chunk = std::max(1, std::min(cfg_.prefill_chunk, cfg_.n_batch));
  for (int32_t p = 0; p < n_pos; p += chunk) {
    const int32_t n = std::min(chunk, n_pos - p);
    const int32_t at = AIRT_TRY(kv_.seq_append(seq, n));
    for (int32_t i = 0; i < n; ++i) {
      tok_rows_[i] = tokens[p + i];
      pos_rows_[i] = at + i;
      seq_rows_[i] = seq;
    }
    logit_rows_[0] = n - 1;
    const model::Batch b{
        {tok_rows_, size_t(n)}, {pos_rows_, size_t(n)}, {seq_rows_, size_t(n)}, {logit_rows_, 1}};
    AIRT_TRY(backend_->eval(b, kv_));
  }
  return {};
}

}  // namespace airt::engine
