#include "runtime/cli/commands.h"

#include "runtime/service/engine_generator.h"
#include "runtime/service/serve_command.h"

namespace airt::cli {

int run_main(int argc, char** argv);
int tokenize_main(int argc, char** argv);
int logits_main(int argc, char** argv);
int perplexity_main(int argc, char** argv);
int bench_main(int argc, char** argv);
int plan_main(int argc, char** argv);
int info_main(int argc, char** argv);
int quantize_main(int argc, char** argv);
int governor_main(int argc, char** argv);

namespace {
int serve(int argc, char** argv) { return service::serve_main(argc, argv, service::make_engine_generator); }
}  // namespace

std::span<const Command> commands() {
  static const Command kCommands[] = {
      {"run", run_main, "generate text from a prompt (or chat with --chat)"},
      {"serve", serve, "answer MQTT requests as a (systemd) service"},
      {"bench", bench_main, "measure prompt and generation speed"},
      {"info", info_main, "what this board has: CPU, ISA chosen, caches, memory"},
      {"quantize", quantize_main, "write a model quantized to q8_0, q4_0, q5_0, q4_k, q6_k or q4_k_m"},
      {"plan", plan_main, "print the memory plan for a model and settings"},
      {"config", service::config_main, "check or print the service configuration"},
      {"tokenize", tokenize_main, "print the token ids of a text"},
      {"logits", logits_main, "write the logits of token sequences (to check against a reference)"},
      {"perplexity", perplexity_main, "perplexity of a text file"},
      {"governor", governor_main, "replay a sensor trace through the governor and explain its decisions"},
  };
  return kCommands;
}

}  // namespace airt::cli
