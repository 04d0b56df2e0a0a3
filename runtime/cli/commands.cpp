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

namespace {
int serve(int argc, char** argv) { return service::serve_main(argc, argv, service::make_engine_generator); }
}  // namespace

std::span<const Command> commands() {
  static const Command kCommands[] = {
      {"run", run_main},
      {"tokenize", tokenize_main},
      {"logits", logits_main},
      {"perplexity", perplexity_main},
      {"bench", bench_main},
      {"plan", plan_main},
      {"serve", serve},
      {"config", service::config_main},
  };
  return kCommands;
}

}  // namespace airt::cli
