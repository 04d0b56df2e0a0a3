// The n-gram drafter: the sequence's last n tokens (n = 4, then 3, then 2) looked up in
// its own earlier tokens, the prompt and the output so far; the tokens that followed the
// latest earlier occurrence are the draft. Text that repeats itself (code, reformatted
// JSON, a quoted passage) drafts well; free prose rarely finds a match, and then this
// drafter proposes nothing and costs nothing. It keeps no table: the scan over the slot's
// history (at most the context) is cheaper than the smallest forward pass.
#pragma once

#include "runtime/engine/draft/drafter.h"

namespace airt::engine {

class NgramDrafter final : public Drafter {
 public:
  static constexpr int32_t kMaxN = 4;
  static constexpr int32_t kMinN = 2;

  const std::string& name() const override { return name_; }
  bool costly() const override { return false; }
  Result<int32_t> draft(int32_t seq, std::span<const int32_t> history, std::span<int32_t> out) override;
  void forget(int32_t) override {}
  Status carve(Arena&) override { return {}; }

 private:
  std::string name_ = "ngram";
};

}  // namespace airt::engine
