#include "runtime/engine/draft/vocab_check.h"

#include <string_view>

namespace airt::engine {
namespace {

const char* kind_name(text::VocabKind k) { return k == text::VocabKind::kSpm ? "SentencePiece" : "BPE"; }

}  // namespace

Status check_same_vocab(const text::Tokenizer& t, const text::Tokenizer& d, const std::string& path) {
  const char* p = path.c_str();
  if (t.kind() != d.kind()) {
    return errorf(Error::kRequestInvalid, "draft model %s: its tokenizer is %s, the target's %s; a draft must share the "
                  "target's vocabulary", p, kind_name(d.kind()), kind_name(t.kind()));
  }
  if (t.n_vocab() != d.n_vocab()) {
    return errorf(Error::kRequestInvalid, "draft model %s: %d tokens, the target has %d; a draft must share the target's "
                  "vocabulary", p, d.n_vocab(), t.n_vocab());
  }
  const struct {
    const char* name;
    int32_t target, draft;
  } specials[] = {{"BOS", t.bos(), d.bos()}, {"EOS", t.eos(), d.eos()}, {"EOT", t.eot(), d.eot()},
                  {"UNK", t.unk(), d.unk()}};
  for (const auto& s : specials) {
    if (s.target != s.draft) {
      return errorf(Error::kRequestInvalid, "draft model %s: special token %s is %d, the target's is %d", p, s.name,
                    s.draft, s.target);
    }
  }
  for (int32_t id = 0; id < t.n_vocab(); ++id) {
    const std::string_view a = t.text(id), b = d.text(id);
    if (a != b || t.type(id) != d.type(id)) {
      return errorf(Error::kRequestInvalid, "draft model %s: token %d is '%.*s', the target's is '%.*s'", p, id,
                    int(b.size()), b.data(), int(a.size()), a.data());
    }
  }
  return {};
}

Status load_draft_models(std::vector<DraftSpec>& specs, const text::Tokenizer& target,
                         std::vector<std::unique_ptr<model::Model>>& owned) {
  for (DraftSpec& d : specs) {
    if (d.kind != DraftSpec::Kind::kModel || d.model) continue;
    for (const auto& m : owned)
      if (m->file().path() == d.path) d.model = m.get();
    if (d.model) continue;
    auto m = AIRT_TRY(model::Model::load(d.path));
    auto tok = AIRT_TRY(text::Tokenizer::from_gguf(m->file()));
    AIRT_TRY(check_same_vocab(target, *tok, d.path));
    d.model = m.get();
    owned.push_back(std::move(m));
  }
  return {};
}

}  // namespace airt::engine
