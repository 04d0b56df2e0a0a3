#include "runtime/cli/commands.h"

namespace airt::cli {

std::span<const Command> commands() {
  static const Command kCommands[] = {
      {"version", [](int, char**) { return 0; }},
  };
  return kCommands;
}

}  // namespace airt::cli
