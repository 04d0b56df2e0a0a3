// airt: one program, one subcommand per file in this folder.
#include <cstdio>
#include <cstring>

#include "runtime/cli/commands.h"

namespace {

void usage(FILE* f) {
  std::fprintf(f, "usage: airt <command> [options]\ncommands:\n");
  for (const airt::cli::Command& c : airt::cli::commands()) std::fprintf(f, "  %-11s %s\n", c.name, c.summary);
  std::fprintf(f, "run 'airt <command> --help' for its options\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char* cmd = argv[1];
  if (!std::strcmp(cmd, "-h") || !std::strcmp(cmd, "--help") || !std::strcmp(cmd, "help")) {
    usage(stdout);
    return 0;
  }
  for (const airt::cli::Command& c : airt::cli::commands()) {
    if (!std::strcmp(cmd, c.name)) return c.main(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "airt: unknown command '%s' (run 'airt --help' for the list)\n", cmd);
  return 2;
}
