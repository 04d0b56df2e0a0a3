// A draft model must speak the target's vocabulary token for token: its drafts are token
// ids the target verifies.
#pragma once

#include <string>

#include "runtime/core/result.h"
#include "runtime/text/tokenizer.h"

namespace airt::engine {

// kRequestInvalid naming the first difference (tokenizer kind, size, a special token, a
// token's text or type) between `draft` (read from `draft_path`) and `target`.
Status check_same_vocab(const text::Tokenizer& target, const text::Tokenizer& draft, const std::string& draft_path);

}  // namespace airt::engine
