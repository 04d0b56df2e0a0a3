// airt perplexity: the usual figure — the text is cut into chunks of --ctx tokens, each
// starting with BOS; the second half of each chunk is scored.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/core/args.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "runtime/core/file.h"
#include "runtime/text/tokenizer.h"

namespace airt::cli {
namespace {

constexpr const char* kHelp =
    "usage: airt perplexity -m MODEL -f TEXT [--ctx N] [-t THREADS]\n"
    "Prints PPL = X for TEXT, in chunks of N tokens (default 512), each starting with BOS,\n"
    "scoring the second half of each chunk.\n";

}  // namespace

int perplexity_main(int argc, char** argv) {
  ModelOptions mo;
  mo.ctx.n_ctx = 512;
  std::string path;
  Args a("perplexity", argc, argv);
  while (a.next()) {
    if (mo.parse(a)) continue;
    if (a.str("--file", "-f", path)) continue;
    a.unknown();
  }
  if (a.help()) return std::fputs(kHelp, stdout), 0;
  if (a.ok() && mo.model_path.empty()) a.fail("missing -m MODEL");
  if (a.ok() && path.empty()) a.fail("missing -f TEXT");
  if (a.ok() && mo.ctx.n_ctx < 4) a.fail("--ctx must be at least 4 for perplexity");
  if (!a.ok()) return a.usage_error();

  auto text = read_file(path);
  if (!text.ok()) return report(text.error());
  const int32_t n_ctx = mo.ctx.n_ctx;
  mo.ctx.n_batch = n_ctx;
  mo.ctx.logits_all = true;
  auto lm = load_model(mo);
  if (!lm.ok()) return report(lm.error());
  auto tok = text::Tokenizer::from_gguf(lm->model->file());
  if (!tok.ok()) return report(tok.error());

  std::vector<int32_t> ids;
  const bool bos = (*tok)->add_bos();
  if (Status s = (*tok)->encode(*text, bos, false, ids); !s.ok()) return report(s.error());
  const size_t n_chunk = ids.size() / size_t(n_ctx);
  if (n_chunk == 0) {
    return report(errorf(Error::kRequestInvalid, "%s: %zu tokens is less than one chunk of --ctx %d", path.c_str(),
                         ids.size(), n_ctx));
  }
  model::Context& ctx = *lm->ctx;
  const int32_t first = n_ctx / 2;
  double nll = 0, nll2 = 0;
  size_t count = 0;
  std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
  for (size_t c = 0; c < n_chunk; ++c) {
    std::copy(ids.begin() + long(c * n_ctx), ids.begin() + long((c + 1) * n_ctx), chunk.begin());
    if (bos) chunk[0] = (*tok)->bos();
    ctx.truncate(0);
    if (Status s = ctx.eval(chunk); !s.ok()) return report(s.error());
    for (int32_t j = first; j < n_ctx - 1; ++j) {
      auto row = ctx.logits(j);
      float mx = row[0];
      for (float v : row) mx = v > mx ? v : mx;
      double sum = 0;
      for (float v : row) sum += std::exp(double(v) - mx);
      double lp = double(row[size_t(chunk[size_t(j) + 1])]) - mx - std::log(sum);
      nll -= lp;
      nll2 += lp * lp;
      ++count;
    }
    std::fprintf(stderr, "[%zu] %.4f\n", c + 1, std::exp(nll / double(count)));
  }
  double mean = nll / double(count);
  double var = nll2 / double(count) - mean * mean;
  double err = var > 0 && count > 1 ? std::sqrt(var / double(count - 1)) : 0;
  double ppl = std::exp(mean);
  std::printf("PPL = %.4f +/- %.5f\n", ppl, ppl * err);
  return 0;
}

}  // namespace airt::cli
