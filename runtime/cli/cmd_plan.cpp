// airt plan: the memory plan for a configuration — every region with its bytes and the
// totals — built from the model's metadata without reading tensor data, and checked
// against the memory budget (exit status 1 when it does not fit).
#include <cstdio>
#include <string>

#include "runtime/core/args.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "hal/cpu/thread_pool.h"
#include "runtime/engine/engine.h"

namespace airt::cli {
namespace {

constexpr const char* kHelp =
    "usage: airt plan -m MODEL [--ctx N] [--slots S] [--kv-type T] [--window W] [--sinks S]\n"
    "                 [--draft SPEC] [--mem-budget MB] [-t THREADS]\n"
    "Prints the memory plan of an engine with S sequence slots: mapped weights, KV pool,\n"
    "activations (placed by lifetime), logits, slots, step tables; exits 1 when it exceeds\n"
    "the budget (default: 90% of MemAvailable or the cgroup's memory.max).\n"
    "  --slots S          sequences decoded together (default 1)\n"
    "  --prefill-chunk N  prompt tokens one sequence prefills per step (default 64)\n"
    "  --kv-type T        f16 (default), q8_0, q4_0, or k=T,v=T\n"
    "  --kv-block N       positions per KV block (default 16)\n"
    "  --kv-blocks N      KV pool size in blocks (default: every slot's worst case)\n"
    "  --draft SPEC       add a speculative drafter's regions (a draft model's weights, its\n"
    "                     KV pool and activations; see airt run --help)\n";

// The engine configuration the planned command would run: one slot is the CLI's engine
// (prompt chunks of -b, as airt run builds it); more slots are a server's.
engine::EngineConfig plan_config(const ModelOptions& mo, const engine::EngineConfig& flags, const hal::Kernels* k) {
  engine::EngineConfig ec = mo.engine_config();
  ec.n_slots = flags.n_slots;
  ec.kv_blocks = flags.kv_blocks;
  if (flags.n_slots > 1) {
    ec.prefill_chunk = flags.prefill_chunk;
    ec.n_batch = 0;
  }
  ec.kernels = k;
  ec.n_threads = mo.threads > 0 ? mo.threads : hal::physical_cores();
  return ec;
}

// The engine's regions for `s` (a drafter's among them).
Result<MemoryPlan> plan_for(const model::Model& m, engine::EngineConfig c, const PlanSettings& s) {
  c.n_ctx = s.n_ctx;
  c.n_slots = s.n_slots;
  c.kv_types = s.kv;
  return engine::Engine::plan(m, c);
}

}  // namespace

int plan_main(int argc, char** argv) {
  ModelOptions mo;
  engine::EngineConfig flags;
  Args a("plan", argc, argv);
  while (a.next()) {
    if (mo.parse(a)) continue;
    if (a.i32("--slots", nullptr, flags.n_slots, 1, 4096)) continue;
    if (a.i32("--prefill-chunk", nullptr, flags.prefill_chunk, 1, 1 << 16)) continue;
    if (a.i32("--kv-blocks", nullptr, flags.kv_blocks, 1, 1 << 30)) continue;
    a.unknown();
  }
  if (a.help()) return std::fputs(kHelp, stdout), 0;
  if (a.ok() && mo.model_path.empty()) a.fail("missing -m MODEL");
  if (!a.ok()) return a.usage_error();

  auto m = model::Model::load(mo.model_path);
  if (!m.ok()) return report(m.error());
  auto kernels = hal::kernels_best();
  if (!kernels.ok()) return report(kernels.error());
  engine::EngineConfig ec = plan_config(mo, flags, *kernels);
  auto tok = text::Tokenizer::from_gguf((*m)->file());
  if (!tok.ok()) return report(tok.error());
  if (Status st = mo.draft.configure(**tok, ec); !st.ok()) return report(st.error());
  auto build = [&](const PlanSettings& s) { return plan_for(**m, ec, s); };
  PlanSettings now{engine::Engine::resolve(**m, ec).n_ctx, ec.n_slots, ec.kv_types};
  auto plan = build(now);
  if (!plan.ok()) return report(plan.error());
  std::printf("memory plan for %s: %d slots x %d positions, KV %s, block %d%s\n", mo.model_path.c_str(), now.n_slots,
              now.n_ctx, model::kv_types_name(now.kv).c_str(), ec.kv_block,
              ec.window > 0 ? (", window " + std::to_string(ec.window) + " + " + std::to_string(ec.sinks) + " sinks").c_str()
                            : "");
  std::fputs(plan->to_string().c_str(), stdout);
  auto budget = memory_budget(mo);
  if (!budget.ok()) return report(budget.error());
  std::printf("%-28s %-9s %14zu  %s, budget %s (%s)\n", "total", "", engine::plan_cost(*plan),
              format_bytes(engine::plan_cost(*plan)).c_str(), format_bytes(budget->bytes).c_str(),
              budget->source.c_str());
  if (Status s = check_budget(*plan, *budget, now, build); !s.ok()) return report(s.error());
  std::printf("fits\n");
  return 0;
}

}  // namespace airt::cli
