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
#include "runtime/engine/engine.h"
#include "runtime/text/tokenizer.h"

namespace airt::cli {
namespace {

// Accumulates the log-likelihood of each scored position's next token.
struct ScoreSink : engine::Sink {
  std::span<const int32_t> chunk;
  int32_t first = 0;  // positions before this are context only
  double nll = 0, nll2 = 0;
  size_t count = 0;
  ErrorInfo error;
  bool failed = false;
  void on_logits(engine::Ticket, int32_t pos, std::span<const float> row) override {
    if (pos < first || pos + 1 >= int32_t(chunk.size())) return;
    float mx = row[0];
    for (float v : row) mx = v > mx ? v : mx;
    double sum = 0;
    for (float v : row) sum += std::exp(double(v) - mx);
    const double lp = double(row[size_t(chunk[size_t(pos) + 1])]) - mx - std::log(sum);
    nll -= lp;
    nll2 += lp * lp;
    ++count;
  }
  void on_token(engine::Ticket, int32_t, std::string_view) override {}
  void on_finish(engine::Ticket, const engine::Finish&) override {}
  void on_error(engine::Ticket, const ErrorInfo& e) override {
    failed = true;
    error = e;
  }
};

constexpr const char* kHelp =
    "usage: airt perplexity -m MODEL -f TEXT [--ctx N] [-t THREADS]\n"
    "Prints PPL = X for TEXT, in chunks of N tokens (default 512), each starting with BOS,\n"
    "scoring the second half of each chunk.\n";

}  // namespace

int perplexity_main(int argc, char** argv) {
  ModelOptions mo;
  mo.n_ctx = 512;
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
  if (a.ok() && mo.n_ctx < 4) a.fail("--ctx must be at least 4 for perplexity");
  if (!a.ok()) return a.usage_error();

  auto text = read_file(path);
  if (!text.ok()) return report(text.error());
  const int32_t n_ctx = mo.n_ctx;
  // A chunk is one prompt evaluated in one step, every position's logits kept.
  mo.n_batch = n_ctx;
  engine::EngineConfig c = mo.engine_config();
  c.n_logits = n_ctx;
  auto lm = load_model(mo, c);
  if (!lm.ok()) return report(lm.error());
  const text::Tokenizer& tok = *lm->tok;

  std::vector<int32_t> ids;
  const bool bos = tok.add_bos();
  if (Status s = tok.encode(*text, bos, false, ids); !s.ok()) return report(s.error());
  const size_t n_chunk = ids.size() / size_t(n_ctx);
  if (n_chunk == 0) {
    return report(errorf(Error::kRequestInvalid, "%s: %zu tokens is less than one chunk of --ctx %d", path.c_str(),
                         ids.size(), n_ctx));
  }
  ScoreSink sink;
  sink.first = n_ctx / 2;
  std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
  for (size_t c = 0; c < n_chunk; ++c) {
    std::copy(ids.begin() + long(c * n_ctx), ids.begin() + long((c + 1) * n_ctx), chunk.begin());
    if (bos) chunk[0] = tok.bos();
    sink.chunk = chunk;
    engine::Request r;
    r.prompt_tokens = chunk;
    r.prompt_only = true;
    r.logits_all = true;
    if (Status s = lm->engine->submit(engine::Ticket(c + 1), r); !s.ok()) return report(s.error());
    while (lm->engine->step(sink)) {
    }
    if (sink.failed) return report(sink.error);
    std::fprintf(stderr, "[%zu] %.4f\n", c + 1, std::exp(sink.nll / double(sink.count)));
  }
  const double nll = sink.nll, nll2 = sink.nll2;
  const size_t count = sink.count;
  double mean = nll / double(count);
  double var = nll2 / double(count) - mean * mean;
  double err = var > 0 && count > 1 ? std::sqrt(var / double(count - 1)) : 0;
  double ppl = std::exp(mean);
  std::printf("PPL = %.4f +/- %.5f\n", ppl, ppl * err);
  return 0;
}

}  // namespace airt::cli
