// A draft model must speak the target's vocabulary token for token: its drafts are token
// ids the target verifies.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/core/result.h"
#include "runtime/engine/draft/drafter.h"
#include "runtime/model/model.h"
#include "runtime/text/tokenizer.h"

namespace airt::engine {

// kRequestInvalid naming the first difference (tokenizer kind, size, a special token, a
// token's text or type) between `draft` (read from `draft_path`) and `target`.
Status check_same_vocab(const text::Tokenizer& target, const text::Tokenizer& draft, const std::string& draft_path);

// Maps the draft model of every kModel spec that has none yet (once per path: `owned`
// keeps them, and must outlive the engine), checked against the target's vocabulary.
Status load_draft_models(std::vector<DraftSpec>& specs, const text::Tokenizer& target,
                         std::vector<std::unique_ptr<model::Model>>& owned);

}  // namespace airt::engine
