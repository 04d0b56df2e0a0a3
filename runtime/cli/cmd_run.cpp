// airt run: generate text from a prompt, streaming it to stdout. Everything that is
// not the generated text (timings, warnings) goes to stderr.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/core/args.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "runtime/cli/generate.h"
#include "runtime/core/clock.h"
#include "runtime/core/file.h"

namespace airt::cli {
namespace {

constexpr const char* kHelp =
    "usage: airt run -m MODEL [-p PROMPT | -f FILE] [-n N] [options]\n"
    "Generates text from PROMPT (or from BOS when none is given) and streams it to stdout.\n"
    "  -m, --model FILE      GGUF model\n"
    "  -p, --prompt TEXT     prompt text\n"
    "  -f, --file FILE       read the prompt from FILE\n"
    "  -n, --n-predict N     tokens to generate (default 128; stops early at end of text)\n"
    "  -c, --ctx N           context length (default: the model's, at most 2048)\n"
    "  -t, --threads N       threads (default: physical cores)\n"
    "  --temp T              temperature (default 0.8; 0 = greedy)\n"
    "  --top-k K             keep the K most likely tokens (default 40; 0 = off)\n"
    "  --top-p P             nucleus sampling (default 0.95; 1 = off)\n"
    "  --min-p P             drop tokens below P x the most likely (default 0.05; 0 = off)\n"
    "  --repeat-penalty R    penalise the last --repeat-last-n tokens (default 1.0 = off)\n"
    "  --repeat-last-n N     window of the repetition penalty (default 64)\n"
    "  --seed S              random seed (default: from the clock)\n"
    "  --chat                interactive conversation using the model's chat template\n"
    "  --chat-template NAME  override the template (chatml, llama-2, llama-3, mistral, phi-3, gemma, zephyr)\n"
    "  --system TEXT         system message for --chat\n"
    "  --kv-type T           KV cache precision: f16 (default), q8_0, q4_0, or k=T,v=T\n"
    "  --kv-block N          positions per KV block (default 16)\n"
    "  --window W            attend to the last W positions only (plus --sinks); 0 = all\n"
    "  --sinks S             with --window: the first S positions stay visible\n"
    "  --session FILE        resume the conversation saved in FILE (if it exists), save it at exit\n"
    "  --mem-budget MB       refuse to start when the memory plan exceeds MB\n"
    "  --ladder F[,F...]     the same model at other quantizations (weight tiers), all mapped\n"
    "  --tier NAME           the tier to start on: q4_0, a file of the ladder, or an index\n"
    "  --backend B           where the pass runs: cpu (default), vulkan, or auto (timed at start-up)\n"
    "  --gpu N               vulkan: the device index (see airt info)\n"
    "  --gpu-layers N        vulkan: the last N layers on the device, the rest on the CPU\n"
    "  --backend-fallback F  vulkan: cpu also plans a CPU backend, which a lost device falls back to\n"
    "                        and the governor may move to; none: not (auto plans it on vulkan)\n"
    "                        (default: 90% of MemAvailable or the cgroup's memory.max)\n"
    "  --mlock               lock the arena in memory\n"
    "  --no-repack           multiply the mapped Q4_0 rows as they are (default: repacked once at\n"
    "                        start-up where the CPU kernels are faster on a repacked copy)\n"
    "  --print-plan          print the memory plan to stderr\n"
    "Speculative decoding:\n";

}  // namespace

int run_main(int argc, char** argv) {
  GenerateOptions go;
  std::string prompt_file;
  bool have_prompt = false;
  bool have_seed = false;
  Args a("run", argc, argv);
  while (a.next()) {
    if (go.model.parse(a)) continue;
    if (a.str("--prompt", "-p", go.prompt)) {
      have_prompt = true;
      continue;
    }
    if (a.str("--file", "-f", prompt_file)) continue;
    if (a.i32("--n-predict", "-n", go.n_predict, 0, 1 << 24)) continue;
    if (go.parse_sampling(a, have_seed)) continue;
    if (a.flag("--chat", go.chat)) continue;
    if (a.str("--chat-template", nullptr, go.chat_template)) continue;
    if (a.str("--system", nullptr, go.system)) continue;
    if (a.str("--session", nullptr, go.session)) continue;
    if (go.governor.parse(a)) continue;
    a.unknown();
  }
  if (a.help()) {
    std::fputs(kHelp, stdout);
    std::fputs(DraftOptions::kHelp, stdout);
    return std::fputs(RunGovernorOptions::kHelp, stdout), 0;
  }
  if (a.ok() && go.model.model_path.empty()) a.fail("missing -m MODEL");
  if (a.ok() && have_prompt && !prompt_file.empty()) a.fail("give either -p or -f, not both");
  if (a.ok() && go.chat && !go.session.empty()) a.fail("--session works without --chat (one prompt per run)");
  if (!a.ok()) return a.usage_error();
  if (!have_seed) go.sampling.seed = uint64_t(now_ns());
  if (!prompt_file.empty()) {
    auto text = read_file(prompt_file);
    if (!text.ok()) return report(text.error());
    go.prompt = std::move(text.value());
  }
  return go.chat ? chat_loop(go) : generate_once(go);
}

}  // namespace airt::cli
