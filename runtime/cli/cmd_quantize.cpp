// airt quantize IN OUT TYPE: write IN (f32/f16/bf16, or q8_0) quantized to TYPE, for the
// quantization ladder. Progress on a terminal; the tensors that fall back to another type
// are named; Ctrl-C or an error leaves no output behind.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "runtime/core/args.h"
#include "runtime/gguf/gguf.h"
#include "runtime/model/quantize.h"

namespace airt::cli {
namespace {

constexpr const char* kHelp =
    "usage: airt quantize IN.gguf OUT.gguf TYPE [-t N]\n"
    "  TYPE   q8_0, q4_0, q5_0, q4_k, q6_k or q4_k_m (q4_k with attn_v and ffn_down of\n"
    "         some layers at q6_k); the output matrix is q6_k (q8_0 for TYPE q8_0)\n"
    "  -t N   threads (default: physical cores)\n"
    "IN holds f32, f16 or bf16 weights (or q8_0, requantized). Norms and biases stay as\n"
    "they are; matrices whose rows do not fit TYPE's blocks fall back to a type that fits.\n";

volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_interrupt(int) { g_interrupted = 1; }

// A one-line bar redrawn in place; only on a terminal.
class ProgressBar {
 public:
  explicit ProgressBar(bool on) : on_(on) {}
  void update(uint64_t done, uint64_t total, std::string_view tensor) {
    if (!on_ || total == 0) return;
    const int pct = int(done * 100 / total);
    if (pct == last_pct_ && tensor == last_) return;
    last_pct_ = pct;
    last_.assign(tensor);
    constexpr int kWidth = 30;
    const int fill = int(done * kWidth / total);
    std::fprintf(stderr, "\r[%.*s%*s] %3d%% %-40.40s", fill, "==============================", kWidth - fill, "",
                 pct, last_.c_str());
    std::fflush(stderr);
  }
  void finish() {
    if (on_ && last_pct_ >= 0) std::fputs("\r\033[K", stderr);
  }

 private:
  bool on_;
  int last_pct_ = -1;
  std::string last_;
};

struct Options {
  std::string in, out, type;
  int32_t threads = 0;
};

// Positional IN OUT TYPE around the flags; 2 (usage) on mistakes, 0 for --help, -1 to go on.
int parse(int argc, char** argv, Options& o) {
  std::vector<char*> flags{argv[0]};
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 1 && a[0] == '-') {
      flags.push_back(argv[i]);
      if ((a == "-t" || a == "--threads") && i + 1 < argc) flags.push_back(argv[++i]);
    } else {
      pos.push_back(a);
    }
  }
  Args a("quantize", int(flags.size()), flags.data());
  while (a.next()) {
    if (a.i32("--threads", "-t", o.threads, 1, 1024)) continue;
    a.unknown();
  }
  if (a.help()) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (a.ok() && pos.size() != 3) a.fail("expected IN.gguf OUT.gguf TYPE, got " + std::to_string(pos.size()) + " arguments");
  if (a.ok()) {
    o.in = pos[0], o.out = pos[1], o.type = pos[2];
    if (!model::quant_recipe_find(o.type)) {
      a.fail("unknown type '" + o.type + "' (known: " + model::quant_recipe_names() + ")");
    } else if (o.in == o.out) {
      a.fail("OUT is IN: write the quantized file under another name");
    }
  }
  if (!a.ok()) return a.usage_error();
  return -1;
}

}  // namespace

int quantize_main(int argc, char** argv) {
  Options o;
  if (int rc = parse(argc, argv, o); rc >= 0) return rc;
  const model::QuantRecipe& recipe = *model::quant_recipe_find(o.type);
  auto in = gguf::File::open(o.in);
  if (!in.ok()) return report(in.error());
  auto plan = model::quant_plan(**in, recipe);
  if (!plan.ok()) return report(plan.error());
  for (const model::TensorChoice& c : *plan) {
    if (!c.note.empty()) std::fprintf(stderr, "airt quantize: %s\n", c.note.c_str());
  }
  ProgressBar bar(isatty(2) != 0);
  model::QuantizeOptions qo;
  qo.threads = o.threads;
  qo.cancel = &g_interrupted;
  qo.progress = [&bar](uint64_t done, uint64_t total, std::string_view t) { bar.update(done, total, t); };
  // Ctrl-C stops between chunks so the temporary file is removed, not left half-written.
  struct sigaction sa = {}, old_int = {}, old_term = {};
  sa.sa_handler = on_interrupt;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  const auto t0 = std::chrono::steady_clock::now();
  auto st = model::quantize_file(**in, *plan, recipe, o.out, qo);
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  bar.finish();
  if (!st.ok()) return report(st.error());
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "airt quantize: %s: %s, %d tensors (%d converted), %.1f MiB -> %.1f MiB in %.1f s\n",
               o.out.c_str(), recipe.name, st->n_tensors, st->n_converted, double(st->in_bytes) / (1 << 20),
               double(st->out_bytes) / (1 << 20), s);
  return 0;
}

}  // namespace airt::cli
