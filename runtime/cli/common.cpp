#include "runtime/cli/common.h"

#include <cstdio>

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
  return false;
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
  cp.pool = lm.pool.get();
  if (o.print_plan) std::fputs(model::Context::plan(*lm.model, cp).to_string().c_str(), stderr);
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
