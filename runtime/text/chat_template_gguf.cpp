// The GGUF side of ChatTemplate: the Jinja text and the vocabulary's BOS/EOS spelling.
// A key that is present with the wrong type is an error naming it, not a silent default.
#include "runtime/gguf/gguf.h"
#include "runtime/text/chat_template.h"
#include "runtime/text/metadata.h"

namespace airt::text {
namespace {

// The text of token `id_key` in the file's vocabulary, or `dflt` when either is missing or
// the id is outside the vocabulary (how files say "none").
Result<std::string> token_text(const gguf::File& f, std::string_view id_key, std::string dflt) {
  constexpr std::string_view kTokens = "tokenizer.ggml.tokens";
  const gguf::Value* id = f.find(id_key);
  const gguf::Value* tokens = f.find(kTokens);
  if (id && !is_integer_type(id->type()))
    return metadata_type_error(f, id_key, *id, "an integer token id");
  if (tokens && (!tokens->is_array() || tokens->array_type() != gguf::ValueType::kString))
    return metadata_type_error(f, kTokens, *tokens, "an array of string");
  if (!id || !tokens) return dflt;
  const int64_t i = id->as_i64();
  if (i < 0 || static_cast<uint64_t>(i) >= tokens->array_size()) return dflt;
  return std::string(tokens->array_string(static_cast<uint64_t>(i)));
}

Result<ChatFamily> family_of(const gguf::File& f) {
  constexpr std::string_view kKey = "tokenizer.chat_template";
  const gguf::Value* v = f.find(kKey);
  if (!v)
    return errorf(Error::kFormatUnsupported,
                  "%s has no tokenizer.chat_template; pass --chat-template NAME with one of: %s",
                  f.path().c_str(), chat_family_names());
  if (!v->is_string())
    return metadata_type_error(f, kKey, *v, "a string (the Jinja chat template)");
  auto detected = chat_family_detect(v->as_string());
  if (!detected.ok())
    return errorf(detected.error().code, "%s: %s", f.path().c_str(),
                  detected.error().message.c_str());
  return detected.value();
}

}  // namespace

Result<ChatTemplate> ChatTemplate::from_gguf(const gguf::File& f, std::string_view name_override) {
  Result<ChatFamily> family =
      name_override.empty() ? family_of(f) : chat_family_from_name(name_override);
  if (!family.ok()) return std::move(family).error();
  std::string bos = AIRT_TRY(token_text(f, "tokenizer.ggml.bos_token_id", "<s>"));
  std::string eos = AIRT_TRY(token_text(f, "tokenizer.ggml.eos_token_id", "</s>"));
  return ChatTemplate(family.value(), std::move(bos), std::move(eos));
}

}  // namespace airt::text
