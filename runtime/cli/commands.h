// The subcommand table. Each subcommand lives in its own file and is listed in
// commands.cpp; explicit registration, no static initialisers.
#pragma once

#include <span>

#include "runtime/core/args.h"

namespace airt::cli {

struct Command {
  const char* name;
  int (*main)(int argc, char** argv);  // argv[0] is the subcommand name
  const char* summary;
};

std::span<const Command> commands();

// Exit statuses: 0 success, 1 runtime failure (bad file, out of memory), 2 usage.
using airt::kExitRuntime;
using airt::kExitUsage;

}  // namespace airt::cli
