#include "runtime/cli/commands.h"

namespace airt::cli {

int logits_main(int argc, char** argv);

std::span<const Command> commands() {
  static const Command kCommands[] = {
      {"logits", logits_main},
  };
  return kCommands;
}

}  // namespace airt::cli
