#include "runtime/model/vulkan_backend_auto.h"

#include <algorithm>
#include <cstdio>

#include "runtime/core/arena.h"
#include "runtime/core/clock.h"
#include "runtime/model/kv_cache.h"
#include "runtime/model/vulkan_backend.h"

namespace airt::model {
namespace {

constexpr int32_t kDecodeSteps = 4;

// One probe: a backend of p.kind over a one-sequence cache, all in one arena.
struct Probe {
  Arena arena;
  KvCache kv;
  std::unique_ptr<Backend> backend;
};

Result<std::unique_ptr<Probe>> make_probe(const Model& m, BackendParams p, int32_t rows) {
  p.kv.n_seq = 1;
  p.kv.n_ctx = ((rows + kDecodeSteps + 15) / 16 + 1) * 16;
  p.kv.n_step = rows;
  p.kv.block = 16;
  p.kv.window = p.kv.sinks = 0;
  p.kv.n_blocks = 0;
  p.n_rows = rows;
  p.n_logits = 1;
  p.max_visible = KvCache::blocks_per_seq(p.kv) * p.kv.block;
  p.skip = {};
  AIRT_TRY(KvCache::check(m.hparams(), p.kv));
  MemoryPlan plan;
  AIRT_TRY(backend_plan(m, p, plan));
  auto probe = std::make_unique<Probe>();
  probe->arena = AIRT_TRY(Arena::reserve(plan.arena_bytes() + KvCache::arena_bytes(m.hparams(), p.kv)));
  probe->backend = AIRT_TRY(backend_create(m, p));
  AIRT_TRY(probe->backend->bind(m));
  AIRT_TRY(probe->backend->carve(probe->arena));
  AIRT_TRY(probe->kv.carve(probe->arena, m.hparams(), p.kv));
  AIRT_TRY(probe->backend->set_tier(0));
  return probe;
}

// Evaluates `n` rows of sequence 0 from its next position, keeping the last row's logits.
Result<double> timed_step(Probe& pr, const Model& m, int32_t n) {
  const int32_t pos0 = AIRT_TRY(pr.kv.seq_append(0, n));
  const size_t rows = static_cast<size_t>(n);
  std::vector<int32_t> tok(rows), pos(rows), seq(rows, 0);
  for (int32_t i = 0; i < n; ++i) {
    tok[size_t(i)] = (i * 7 + 1) % m.hparams().n_vocab;
    pos[size_t(i)] = pos0 + i;
  }
  const int32_t keep[1] = {n - 1};
  Batch b{tok, pos, seq, keep};
  const double t0 = now_ms();
  AIRT_TRY(pr.backend->eval(b, pr.kv));
  (void)pr.backend->logits(0);
  return now_ms() - t0;
}

}  // namespace

Result<BackendSpeed> backend_measure(const Model& m, const BackendParams& p, int32_t prefill_rows) {
  auto probe = AIRT_TRY(make_probe(m, p, std::max(prefill_rows, 1)));
  BackendSpeed s;
  // The first step pays for pipeline creation and command recording: it warms up.
  (void)AIRT_TRY(timed_step(*probe, m, 1));
  const double pre_ms = AIRT_TRY(timed_step(*probe, m, prefill_rows));
  double best = 1e30;
  for (int32_t i = 0; i < kDecodeSteps - 1; ++i) best = std::min(best, AIRT_TRY(timed_step(*probe, m, 1)));
  s.prefill_tps = pre_ms > 0 ? 1000.0 * prefill_rows / pre_ms : 0;
  s.decode_tps = best > 0 ? 1000.0 / best : 0;
  return s;
}

BackendChoice backend_choose(const Model& m, const BackendParams& p) {
  BackendChoice c;
  const std::vector<VulkanCandidate> devices = vulkan_candidates(p.gpu, c.notes);
  if (devices.empty()) return c;  // nothing to measure the CPU against
  BackendParams cpu = p;
  cpu.kind = governor::BackendKind::kCpu;
  auto cs = backend_measure(m, cpu);
  if (!cs.ok()) {
    c.notes.push_back("cpu: " + cs.error().message);
    return c;
  }
  double best = cs->decode_tps;
  char line[320];
  for (const VulkanCandidate& d : devices) {
    BackendParams vp = p;
    vp.kind = governor::BackendKind::kVulkan;
    vp.gpu = d.index;
    auto vs = backend_measure(m, vp);
    if (!vs.ok()) {  // device lost, out of device memory, a missing feature
      c.notes.push_back("vulkan: " + d.name + ": " + vs.error().message + "; not used");
      continue;
    }
    const bool faster = vs->decode_tps > best;
    std::snprintf(line, sizeof line, "vulkan %.0f t/s vs cpu %.0f t/s: %s (prefill %.0f vs %.0f t/s)", vs->decode_tps,
                  cs->decode_tps, faster ? "vulkan" : "cpu", vs->prefill_tps, cs->prefill_tps);
    c.notes.push_back(d.name + ": " + line);
    if (faster) {
      best = vs->decode_tps;
      c.kind = governor::BackendKind::kVulkan;
      c.gpu = d.index;
    }
  }
  return c;
}

}  // namespace airt::model
