#include "runtime/cli/common.h"

#include <cstdio>

#include "governor/sensors/memory.h"
#include "runtime/cli/commands.h"
#include "runtime/core/clock.h"

namespace airt::cli {

bool ModelOptions::parse(Args& a) {
  if (a.str("--model", "-m", model_path)) return true;
  if (a.i32("--threads", "-t", threads, 1, 1024)) return true;
  if (a.i32("--ctx", "-c", ctx.n_ctx, 1, 1 << 20)) return true;
  if (a.i32("--batch", "-b", ctx.n_batch, 1, 1 << 16)) return true;
  if (a.flag("--mlock", ctx.mlock)) return true;
  if (a.flag("--print-plan", print_plan)) return true;
  if (a.i32("--kv-block", nullptr, ctx.kv_block, 1, 4096)) return true;
  if (a.i32("--window", nullptr, ctx.window, 0, 1 << 30)) return true;
  if (a.i32("--sinks", nullptr, ctx.sinks, 0, 1 << 30)) return true;
  int32_t mib = 0;
  if (a.i32("--mem-budget", nullptr, mib, 1, 1 << 30)) {
    mem_budget_mib = mib;
    return true;
  }
  std::string kv;
  if (a.str("--kv-type", nullptr, kv)) {
    auto t = model::kv_types_parse(kv);
    if (!t.ok()) a.fail("--kv-type: " + t.error().message);
    else ctx.kv_types = *t;
    return true;
  }
  return false;
}

Result<engine::MemoryBudget> memory_budget(const ModelOptions& o) {
  if (o.mem_budget_mib > 0) return engine::memory_budget_fixed(size_t(o.mem_budget_mib));
  auto mem = governor::read_memory();
  if (!mem.ok()) {
    return errorf(mem.error().code, "%s (give --mem-budget MB)", mem.error().message.c_str());
  }
  return engine::memory_budget_of(mem->headroom(), mem->headroom_source());
}

Status check_budget(const MemoryPlan& plan, const engine::MemoryBudget& budget, const PlanSettings& now,
                    const Planner& replan) {
  std::string msg = engine::over_budget_message(plan, budget);
  if (msg.empty()) return {};
  auto fits = [&](const PlanSettings& s) {
    auto p = replan(s);
    return p.ok() && engine::plan_cost(*p) <= budget.bytes;
  };
  std::string hints;
  auto hint = [&](const std::string& h) { hints += (hints.empty() ? "" : "; ") + h; };
  // The largest context that fits, rounded down to a round number.
  PlanSettings s = now;
  int32_t lo = 0, hi = now.n_ctx - 1;
  while (lo < hi) {
    int32_t mid = lo + (hi - lo + 1) / 2;
    s.n_ctx = mid;
    if (fits(s)) lo = mid;
    else hi = mid - 1;
  }
  if (lo >= 1) {
    int32_t round = lo >= 1024 ? 256 : lo >= 128 ? 64 : lo >= 16 ? 16 : 1;
    hint("--ctx " + std::to_string(lo / round * round) + " fits");
  }
  if (now.n_slots > 1) {
    s = now;
    for (s.n_slots = now.n_slots - 1; s.n_slots >= 1; --s.n_slots)
      if (fits(s)) {
        hint("--slots " + std::to_string(s.n_slots) + " fits");
        break;
      }
  }
  for (hal::DType t : {hal::DType::kQ8_0, hal::DType::kQ4_0}) {
    s = now;
    s.kv = {t, t};
    if (hal::dtype_row_bytes(t, 32) < hal::dtype_row_bytes(now.kv.k, 32) && fits(s)) {
      hint(std::string("--kv-type ") + hal::dtype_name(t) + " fits");
      break;
    }
  }
  if (hints.empty()) {
    size_t mapped = plan.mapped_bytes();
    hints = mapped > budget.bytes ? "the weights alone (" + format_bytes(mapped) + ") exceed it; use a smaller model"
                                  : "no smaller --ctx fits";
  }
  return errorf(Error::kResourceOverBudget, "%s; %s; nothing was allocated", msg.c_str(), hints.c_str());
}

Result<LoadedModel> load_model(const ModelOptions& o) {
  LoadedModel lm;
  double t0 = now_ms();
  lm.model = AIRT_TRY(model::Model::load(o.model_path));
  const auto& hp = lm.model->hparams();
  if (o.ctx.n_ctx > hp.n_ctx_train && hp.n_ctx_train > 0) {
    std::fprintf(stderr, "airt: warning: --ctx %d exceeds the %d positions the model was trained on\n", o.ctx.n_ctx,
                 hp.n_ctx_train);
  }
  model::ContextParams cp = o.ctx;
  if (!cp.kernels) cp.kernels = AIRT_TRY(hal::kernels_best());
  lm.pool = AIRT_TRY(hal::ThreadPool::create(o.threads > 0 ? o.threads : hal::physical_cores()));
  const size_t scratch_bytes = hal::ThreadPool::scratch_bytes(lm.pool->size());
  lm.pool_scratch = AIRT_TRY(Arena::reserve(scratch_bytes));
  AIRT_TRY(lm.pool->attach_scratch(lm.pool_scratch.alloc(scratch_bytes), scratch_bytes));
  cp.pool = lm.pool.get();
  AIRT_TRY(model::KvCache::check(hp, {1, model::context_length(*lm.model, cp), cp.kv_block, cp.kv_types, cp.window,
                                      cp.sinks, std::max(1, cp.n_batch), 0}));
  MemoryPlan plan = model::Context::plan(*lm.model, cp);
  if (o.print_plan) std::fputs(plan.to_string().c_str(), stderr);
  engine::MemoryBudget budget = AIRT_TRY(memory_budget(o));
  const model::Model& m = *lm.model;
  AIRT_TRY(check_budget(plan, budget, {model::context_length(m, cp), 1, cp.kv_types},
                        [&](const PlanSettings& s) -> Result<MemoryPlan> {
                          model::ContextParams p = cp;
                          p.n_ctx = s.n_ctx;
                          p.kv_types = s.kv;
                          AIRT_TRY(model::KvCache::check(m.hparams(), {1, s.n_ctx, p.kv_block, s.kv, p.window, p.sinks,
                                                                       std::max(1, p.n_batch), 0}));
                          return model::Context::plan(m, p);
                        }));
  lm.ctx = AIRT_TRY(model::Context::create(*lm.model, cp));
  lm.load_ms = now_ms() - t0;
  return lm;
}

int report(const ErrorInfo& e) {
  std::fprintf(stderr, "airt: %s\n", e.message.c_str());
  switch (e.code) {
    case Error::kRequestInvalid:
    case Error::kRequestOutOfRange:
    case Error::kRequestTooLarge:
      return kExitUsage;
    default:
      return kExitRuntime;
  }
}

}  // namespace airt::cli
