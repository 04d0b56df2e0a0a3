// The GGUF side of Tokenizer: reads tokenizer.ggml.* into a VocabSpec. Every key is type
// checked; a mistyped one is an error naming the key, the type found and the type expected.
#include "runtime/gguf/gguf.h"
#include "runtime/text/metadata.h"
#include "runtime/text/tokenizer.h"

namespace airt::text {
namespace {

// An optional token id. Files write "none" in several ways (absent key, -1, 0xFFFFFFFF):
// an id outside the vocabulary means none, as the converters intend.
Result<int32_t> read_id(const gguf::File& f, std::string_view key, size_t n_vocab, int32_t dflt) {
  const gguf::Value* v = f.find(key);
  if (!v) return dflt;
  if (!is_integer_type(v->type())) return metadata_type_error(f, key, *v, "an integer token id");
  const int64_t id = v->as_i64();
  if (id < 0 || static_cast<uint64_t>(id) >= n_vocab) return kNoToken;
  return static_cast<int32_t>(id);
}

Result<std::optional<bool>> read_flag(const gguf::File& f, std::string_view key) {
  const gguf::Value* v = f.find(key);
  if (!v) return std::optional<bool>();
  if (v->type() != gguf::ValueType::kBool && !is_integer_type(v->type()))
    return metadata_type_error(f, key, *v, "a bool");
  return std::optional<bool>(v->type() == gguf::ValueType::kBool ? v->as_bool() : v->as_i64() != 0);
}

Status read_strings(const gguf::File& f, std::string_view key, std::vector<std::string>& out) {
  const gguf::Value* arr = AIRT_TRY(f.get_array(key, gguf::ValueType::kString));
  out.clear();
  out.reserve(arr->array_size());
  for (uint64_t i = 0; i < arr->array_size(); ++i) out.emplace_back(arr->array_string(i));
  return ok_status();
}

Result<VocabKind> read_kind(const gguf::File& f) {
  const std::string_view model = AIRT_TRY(f.get_string("tokenizer.ggml.model"));
  if (model == "llama") return VocabKind::kSpm;
  if (model == "gpt2") return VocabKind::kBpe;
  return errorf(Error::kFormatUnsupported,
                "%s: tokenizer.ggml.model '%.*s' is not supported (airt reads 'llama' and 'gpt2' "
                "vocabularies)",
                f.path().c_str(), static_cast<int>(model.size()), model.data());
}

// tokenizer.ggml.scores (f32) and tokenizer.ggml.token_type (any integer type; llama.cpp
// writes i32), each optional and sized like the vocabulary.
Status read_scores_and_types(const gguf::File& f, VocabSpec& spec) {
  const size_t n = spec.tokens.size();
  if (f.find("tokenizer.ggml.scores")) {
    const gguf::Value* arr = AIRT_TRY(f.get_array("tokenizer.ggml.scores", gguf::ValueType::kF32));
    if (arr->array_size() != n)
      return errorf(Error::kFormatInvalid, "%s: tokenizer.ggml.scores has %llu entries for %zu tokens",
                    f.path().c_str(), static_cast<unsigned long long>(arr->array_size()), n);
    spec.scores.resize(n);
    for (size_t i = 0; i < n; ++i) spec.scores[i] = static_cast<float>(arr->array_f64(i));
  }
  constexpr std::string_view kTypes = "tokenizer.ggml.token_type";
  if (const gguf::Value* arr = f.find(kTypes)) {
    if (!arr->is_array() || !is_integer_type(arr->array_type()))
      return metadata_type_error(f, kTypes, *arr, "an array of i32 (token types)");
    if (arr->array_size() != n)
      return errorf(Error::kFormatInvalid, "%s: tokenizer.ggml.token_type has %llu entries for %zu tokens",
                    f.path().c_str(), static_cast<unsigned long long>(arr->array_size()), n);
    spec.types.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const int64_t t = arr->array_i64(i);
      // Types outside the known range are treated like undefined ones (never produced).
      spec.types[i] = (t >= 0 && t <= 6) ? static_cast<TokenType>(t) : TokenType::kUndefined;
    }
  }
  return ok_status();
}

// Special ids and flags. SentencePiece vocabularies default to <unk>=0, <s>=1, </s>=2 when
// the file is silent.
Status read_specials(const gguf::File& f, VocabSpec& spec) {
  const size_t n = spec.tokens.size();
  const bool spm = spec.kind == VocabKind::kSpm;
  spec.bos = AIRT_TRY(read_id(f, "tokenizer.ggml.bos_token_id", n, spm && n > 1 ? 1 : kNoToken));
  spec.eos = AIRT_TRY(read_id(f, "tokenizer.ggml.eos_token_id", n, spm && n > 2 ? 2 : kNoToken));
  spec.eot = AIRT_TRY(read_id(f, "tokenizer.ggml.eot_token_id", n, kNoToken));
  spec.unk = AIRT_TRY(read_id(f, "tokenizer.ggml.unknown_token_id", n, spm ? 0 : kNoToken));
  spec.pad = AIRT_TRY(read_id(f, "tokenizer.ggml.padding_token_id", n, kNoToken));
  spec.add_bos = AIRT_TRY(read_flag(f, "tokenizer.ggml.add_bos_token"));
  spec.add_eos = AIRT_TRY(read_flag(f, "tokenizer.ggml.add_eos_token"));
  spec.add_space_prefix = AIRT_TRY(read_flag(f, "tokenizer.ggml.add_space_prefix"));
  return ok_status();
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const gguf::File& f) {
  VocabSpec spec;
  spec.name = f.path();
  spec.kind = AIRT_TRY(read_kind(f));
  if (const gguf::Value* pre = f.find("tokenizer.ggml.pre")) {
    if (!pre->is_string()) return metadata_type_error(f, "tokenizer.ggml.pre", *pre, "a string");
    spec.pre = std::string(pre->as_string());
  }
  AIRT_TRY(read_strings(f, "tokenizer.ggml.tokens", spec.tokens));
  AIRT_TRY(read_scores_and_types(f, spec));
  if (spec.kind == VocabKind::kBpe) AIRT_TRY(read_strings(f, "tokenizer.ggml.merges", spec.merges));
  AIRT_TRY(read_specials(f, spec));
  return create(std::move(spec));
}

}  // namespace airt::text
