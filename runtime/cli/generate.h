// The generation loop behind `airt run` (one prompt, or an interactive chat).
#pragma once

#include <string>

#include "runtime/core/args.h"
#include "runtime/cli/common.h"
#include "runtime/cli/run_governor.h"
#include "runtime/text/sampler.h"

namespace airt::cli {

struct GenerateOptions {
  ModelOptions model;
  std::string prompt;
  int32_t n_predict = 128;
  text::SamplerParams sampling;
  bool chat = false;
  std::string chat_template;
  std::string system;
  std::string session;  // --session FILE: resume from it when it exists, save to it at exit
  RunGovernorOptions governor;  // --governor ...

  // --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n, --seed.
  bool parse_sampling(Args& a, bool& have_seed);
};

int generate_once(const GenerateOptions& o);
int chat_loop(const GenerateOptions& o);

}  // namespace airt::cli
