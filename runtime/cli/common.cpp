#include "runtime/cli/common.h"

#include <algorithm>
#include <cstdio>

#include "governor/sensors/memory.h"
#include "hal/cpu/thread_pool.h"
#include "runtime/cli/commands.h"
#include "runtime/core/clock.h"
#include "runtime/model/vulkan_backend_auto.h"

namespace airt::cli {

bool ModelOptions::parse(Args& a) {
  if (a.str("--model", "-m", model_path)) return true;
  if (a.i32("--threads", "-t", threads, 1, 1024)) return true;
  if (a.i32("--ctx", "-c", n_ctx, 1, 1 << 20)) return true;
  if (a.i32("--batch", "-b", n_batch, 1, 1 << 16)) return true;
  if (a.flag("--mlock", mlock)) return true;
  if (a.flag("--no-repack", no_repack)) return true;
  if (a.flag("--print-plan", print_plan)) return true;
  if (draft.parse(a)) return true;
  if (a.i32("--kv-block", nullptr, kv_block, 1, 4096)) return true;
  if (a.i32("--window", nullptr, window, 0, 1 << 30)) return true;
  if (a.i32("--sinks", nullptr, sinks, 0, 1 << 30)) return true;
  int32_t mib = 0;
  if (a.i32("--mem-budget", nullptr, mib, 1, 1 << 30)) {
    mem_budget_mib = mib;
    return true;
  }
  std::string list;
  if (a.str("--ladder", nullptr, list)) {
    for (size_t at = 0; at <= list.size();) {
      size_t comma = std::min(list.find(',', at), list.size());
      if (comma > at) ladder.push_back(list.substr(at, comma - at));
      at = comma + 1;
    }
    if (list.empty()) a.fail("--ladder needs one or more GGUF files, comma-separated");
    return true;
  }
  if (a.str("--tier", nullptr, tier)) return true;
  if (a.str("--backend", nullptr, backend)) {
    if (backend != "auto" && backend != "cpu" && backend != "vulkan")
      a.fail("--backend " + backend + ": use auto, cpu or vulkan");
    return true;
  }
  if (a.str("--backend-fallback", nullptr, backend_fallback)) {
    if (backend_fallback != "cpu" && backend_fallback != "none")
      a.fail("--backend-fallback " + backend_fallback + ": use cpu or none");
    return true;
  }
  if (a.i32("--gpu", nullptr, gpu, 0, 63)) return true;
  if (a.i32("--gpu-layers", "-ngl", gpu_layers, 0, 1 << 20)) return true;
  std::string kv;
  if (a.str("--kv-type", nullptr, kv)) {
    auto t = model::kv_types_parse(kv);
    if (!t.ok()) a.fail("--kv-type: " + t.error().message);
    else kv_types = *t;
    return true;
  }
  return false;
}

engine::EngineConfig ModelOptions::engine_config() const {
  engine::EngineConfig c;
  c.n_slots = 1;
  c.n_ctx = n_ctx;
  c.prefill_chunk = std::max(1, n_batch);
  c.n_batch = c.prefill_chunk;
  c.kv_types = kv_types;
  c.kv_block = kv_block;
  c.window = window;
  c.sinks = sinks;
  c.mlock = mlock;
  c.repack = !no_repack;
  c.backend = backend == "vulkan" ? governor::BackendKind::kVulkan : governor::BackendKind::kCpu;
  c.gpu = gpu;
  c.gpu_layers = gpu_layers;
  c.cpu_fallback = backend_fallback == "cpu";
  return c;
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
  if (now.kv_bytes_per_position > 0) {
    hint("the kv cache holds " + std::to_string(now.n_slots) + " x " + std::to_string(now.n_ctx) + " positions of " +
         format_bytes(now.kv_bytes_per_position));
  }
  return errorf(Error::kResourceOverBudget, "%s; %s; nothing was allocated", msg.c_str(), hints.c_str());
}

namespace {

// --backend auto: measures the CPU and each usable Vulkan device on `m`, says what it found
// and sets c.backend / c.gpu to the faster.
void choose_backend(const ModelOptions& o, const model::Model& m, engine::EngineConfig& c) {
  model::BackendParams bp;
  bp.kernels = c.kernels;
  bp.n_threads = std::max(1, c.n_threads);
  bp.gpu = o.gpu;
  bp.gpu_layers = c.gpu_layers;  // a vulkan candidate is measured as the split it would run
  bp.kv.types = c.kv_types;
  model::BackendChoice choice = model::backend_choose(m, bp);
  for (const std::string& note : choice.notes) std::fprintf(stderr, "airt: %s\n", note.c_str());
  c.backend = choice.kind;
  c.gpu = choice.gpu;
  c.cpu_fallback = c.backend == governor::BackendKind::kVulkan && o.backend_fallback != "none";
  if (c.backend == governor::BackendKind::kCpu && c.gpu_layers > 0)
    std::fprintf(stderr, "airt: --gpu-layers %d: auto chose the cpu, which runs every layer\n", c.gpu_layers);
}

// --gpu-layers places layers on a Vulkan device: with the cpu backend forced there is none.
Status check_gpu_layers(const ModelOptions& o, const engine::EngineConfig& c) {
  if (c.gpu_layers <= 0 || o.backend != "cpu") return {};
  return errorf(Error::kRequestInvalid,
                "--gpu-layers %d runs layers on a Vulkan device, but the backend is cpu: add --backend vulkan "
                "(or auto), or leave --gpu-layers out",
                c.gpu_layers);
}

}  // namespace

Result<std::unique_ptr<engine::Engine>> make_engine(const ModelOptions& o, const model::Model& m,
                                                    const text::Tokenizer& tok, engine::EngineConfig c) {
  const auto& hp = m.hparams();
  if (c.n_ctx > hp.n_ctx_train && hp.n_ctx_train > 0) {
    std::fprintf(stderr, "airt: warning: --ctx %d exceeds the %d positions the model was trained on\n", c.n_ctx,
                 hp.n_ctx_train);
  }
  c.kernels = o.kernels ? o.kernels : AIRT_TRY(hal::kernels_best());
  c.n_threads = o.threads > 0 ? o.threads : hal::physical_cores();
  if (c.drafters.empty()) AIRT_TRY(o.draft.configure(tok, c));
  AIRT_TRY(check_gpu_layers(o, c));
  if (o.backend == "auto") choose_backend(o, m, c);
  MemoryPlan plan = AIRT_TRY(engine::Engine::plan(m, c));
  if (o.backend == "auto" && o.backend_fallback.empty() && c.cpu_fallback &&
      c.backend == governor::BackendKind::kVulkan) {
    // The fallback is auto's own addition: the device alone is tried before giving up.
    engine::MemoryBudget b = AIRT_TRY(memory_budget(o));
    if (!engine::over_budget_message(plan, b).empty()) {
      std::fprintf(stderr, "airt: vulkan: the cpu fallback does not fit the memory budget; running without it\n");
      c.cpu_fallback = false;
      plan = AIRT_TRY(engine::Engine::plan(m, c));
    }
  }
  if (o.print_plan) std::fputs(plan.to_string().c_str(), stderr);
  engine::MemoryBudget budget = AIRT_TRY(memory_budget(o));
  const engine::EngineConfig resolved = engine::Engine::resolve(m, c);
  PlanSettings now{resolved.n_ctx, resolved.n_slots, c.kv_types, model::KvCache::bytes_per_position(hp, c.kv_types)};
  AIRT_TRY(check_budget(plan, budget, now, [&](const PlanSettings& s) -> Result<MemoryPlan> {
    engine::EngineConfig v = c;
    v.n_ctx = s.n_ctx;
    v.n_slots = s.n_slots;
    if (v.n_batch > 0) v.n_batch = std::max(v.n_batch, s.n_slots);
    v.n_logits = v.n_logits > 0 ? std::max(v.n_logits, s.n_slots) : 0;
    v.kv_types = s.kv;
    return engine::Engine::plan(m, v);
  }));
  auto created = engine::Engine::create(m, tok, c);
  if (!created.ok() && o.backend == "auto" && c.backend != governor::BackendKind::kCpu) {
    // Out of device memory or a device lost between the measurement and now: the CPU.
    std::fprintf(stderr, "airt: vulkan: %s; falling back to the cpu\n", created.error().message.c_str());
    ModelOptions cpu = o;
    cpu.backend = "cpu";
    c.backend = governor::BackendKind::kCpu;
    return make_engine(cpu, m, tok, c);
  }
  auto e = AIRT_TRY(std::move(created));
  if (c.backend == governor::BackendKind::kVulkan && c.gpu_layers >= 0)  // what the N placed where
    std::fprintf(stderr, "airt: --gpu-layers %d: %s\n", c.gpu_layers, e->backend().describe().c_str());
  if (!o.tier.empty()) {
    governor::OperatingPoint p = e->point();
    p.tier = AIRT_TRY(find_tier(m, o.tier));
    AIRT_TRY(e->apply(p));
  }
  return e;
}

Status add_ladder(model::Model& m, const ModelOptions& o) {
  for (const std::string& path : o.ladder) AIRT_TRY(m.add_tier(path));
  return {};
}

Result<int32_t> find_tier(const model::Model& m, const std::string& name) {
  auto base = [](const std::string& p) { return p.substr(p.rfind('/') == std::string::npos ? 0 : p.rfind('/') + 1); };
  if (int32_t i = m.find_tier(name); i >= 0) return i;
  for (int32_t i = 0; i < m.n_tiers(); ++i) {
    const std::string& path = m.tier(i).file->path();
    if (name == path || name == base(path)) return i;
  }
  if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos && name.size() < 6 &&
      std::stoi(name) < m.n_tiers()) {
    return std::stoi(name);
  }
  std::string known;
  for (int32_t i = 0; i < m.n_tiers(); ++i) {
    if (i) known += ", ";
    known += std::to_string(i);
    known += std::string(": ") + m.tier_name(i) + " (" + base(m.tier(i).file->path()) + ")";
  }
  return errorf(Error::kRequestInvalid, "--tier %s: no such tier; the ladder has %s", name.c_str(), known.c_str());
}

Result<LoadedModel> load_model(const ModelOptions& o, engine::EngineConfig c) {
  LoadedModel lm;
  double t0 = now_ms();
  lm.model = AIRT_TRY(model::Model::load(o.model_path));
  AIRT_TRY(add_ladder(*lm.model, o));
  lm.tok = AIRT_TRY(text::Tokenizer::from_gguf(lm.model->file()));
  lm.engine = AIRT_TRY(make_engine(o, *lm.model, *lm.tok, c));
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
