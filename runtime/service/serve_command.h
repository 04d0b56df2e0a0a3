// `airt serve` and `airt config`, ready for the CLI's command table:
//   {"serve", [](int c, char** v) { return service::serve_main(c, v, make_engine_generator); }},
//   {"config", service::config_main},
// argv[0] is the subcommand name. Exit status: 0 ok, 1 runtime failure, 2 usage.
#pragma once

#include "runtime/service/generator.h"

namespace airt::service {

// airt serve -m MODEL --broker HOST:PORT --node NAME [--config FILE] [--slots S] ...
// Loads the config, applies the flags, makes the generator with `factory` (loads the
// model), serves until SIGTERM/SIGINT (graceful drain), reloads on SIGHUP.
int serve_main(int argc, char** argv, const GeneratorFactory& factory);

// airt config check FILE | airt config defaults
int config_main(int argc, char** argv);

}  // namespace airt::service
