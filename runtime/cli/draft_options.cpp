#include "runtime/cli/draft_options.h"

#include "runtime/engine/draft/vocab_check.h"

namespace airt::cli {

bool DraftOptions::parse(Args& a) {
  std::string spec;
  if (a.str("--draft", nullptr, spec)) {
    auto chain = engine::DraftSpec::parse_chain(spec);
    if (!chain.ok()) a.fail(chain.error().message);
    else specs.push_back(spec);
    return true;
  }
  if (a.i32("--draft-max", nullptr, max, 1, 64)) return true;
  if (a.i32("--draft-len", nullptr, fixed, 0, 64)) return true;
  return false;
}

Status DraftOptions::configure(const text::Tokenizer& tok, engine::EngineConfig& c) const {
  c.drafters.clear();
  if (specs.empty()) {
    if (fixed > 0 || max > 0) {
      return errorf(Error::kRequestInvalid, "--draft-len / --draft-max need a drafter: add --draft ngram (or another)");
    }
    return {};
  }
  if (fixed == 0) return {};  // speculation off, for comparisons
  for (const std::string& s : specs) {
    for (engine::DraftSpec& d : AIRT_TRY(engine::DraftSpec::parse_chain(s))) c.drafters.push_back(std::move(d));
  }
  AIRT_TRY(engine::load_draft_models(c.drafters, tok, *models_));
  c.draft_max = fixed > 0 ? fixed : max;
  c.draft_auto = fixed < 0;
  if (fixed > 0 && max > 0 && fixed > max) {
    return errorf(Error::kRequestInvalid, "--draft-len %d exceeds --draft-max %d", fixed, max);
  }
  return {};
}

}  // namespace airt::cli
