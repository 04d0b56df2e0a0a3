// The speculative-decoding flags every generating command shares (run, bench, serve's
// command line): --draft SPEC (repeatable, or chained with '+'), --draft-max N and
// --draft-len K. Draft models are loaded once, checked against the target's vocabulary,
// and kept here for the life of the command.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/args.h"
#include "runtime/engine/engine.h"

namespace airt::cli {

struct DraftOptions {
  std::vector<std::string> specs;  // --draft, in the order given
  int32_t max = 0;                 // --draft-max: the longest draft the plan holds (0: 8)
  int32_t fixed = -1;              // --draft-len: draft exactly this many (0: speculation off)

  // Handles --draft, --draft-max, --draft-len.
  bool parse(Args& a);
  // Sets c's drafters: parses the specs, loads each draft model (its vocabulary checked
  // against `tok`). Errors name the spec and the fix.
  Status configure(const text::Tokenizer& tok, engine::EngineConfig& c) const;

  static constexpr const char* kHelp =
      "  --draft SPEC   speculative decoding: ngram, tier:NAME (a --ladder tier), self:skip=N,\n"
      "                 self:layers=A,B,... or a draft model's .gguf (same vocabulary); repeat\n"
      "                 or chain with '+' to try a cheap drafter first (ngram+tier:q4_0)\n"
      "  --draft-max N  longest draft per step (default 8); the length is chosen each step\n"
      "                 from measured costs and acceptance, 0 where drafting does not pay\n"
      "  --draft-len K  draft exactly K tokens whenever a drafter has them (0: off)\n";

 private:
  // Draft models, by first use; copies of the options share them.
  std::shared_ptr<std::vector<std::unique_ptr<model::Model>>> models_ =
      std::make_shared<std::vector<std::unique_ptr<model::Model>>>();
};

}  // namespace airt::cli
