#include "runtime/cli/commands.h"

namespace airt::cli {

int run_main(int argc, char** argv);
int tokenize_main(int argc, char** argv);
int logits_main(int argc, char** argv);
int perplexity_main(int argc, char** argv);
int bench_main(int argc, char** argv);
int info_main(int argc, char** argv);

std::span<const Command> commands() {
  static const Command kCommands[] = {
      {"run", run_main},
      {"tokenize", tokenize_main},
      {"logits", logits_main},
      {"perplexity", perplexity_main},
      {"bench", bench_main},
      {"info", info_main},
  };
  return kCommands;
}

}  // namespace airt::cli
