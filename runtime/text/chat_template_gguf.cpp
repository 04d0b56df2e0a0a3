// The GGUF side of ChatTemplate: the Jinja text and the vocabulary's BOS/EOS spelling.
#include "runtime/gguf/gguf.h"
#include "runtime/text/chat_template.h"

namespace airt::text {
namespace {

// The text of token `id_key` in the file's vocabulary, or `dflt` when either is missing.
std::string token_text(const gguf::File& f, std::string_view id_key, std::string dflt) {
  const gguf::Value* id = f.find(id_key);
  const gguf::Value* tokens = f.find("tokenizer.ggml.tokens");
  if (!id || !id->is_integer() || !tokens || !tokens->is_array() ||
      tokens->array_type() != gguf::ValueType::kString)
    return dflt;
  const int64_t i = id->as_i64();
  if (i < 0 || static_cast<uint64_t>(i) >= tokens->array_size()) return dflt;
  return std::string(tokens->array_string(static_cast<uint64_t>(i)));
}

}  // namespace

Result<ChatTemplate> ChatTemplate::from_gguf(const gguf::File& f, std::string_view name_override) {
  ChatFamily family;
  if (!name_override.empty()) {
    family = AIRT_TRY(chat_family_from_name(name_override));
  } else {
    const gguf::Value* v = f.find("tokenizer.chat_template");
    if (!v || !v->is_string())
      return errorf(Error::kFormatUnsupported,
                    "%s has no tokenizer.chat_template; pass --chat-template NAME with one of: %s",
                    f.path().c_str(), chat_family_names());
    auto detected = chat_family_detect(v->as_string());
    if (!detected.ok())
      return errorf(detected.error().code, "%s: %s", f.path().c_str(), detected.error().message.c_str());
    family = detected.value();
  }
  return ChatTemplate(family, token_text(f, "tokenizer.ggml.bos_token_id", "<s>"),
                      token_text(f, "tokenizer.ggml.eos_token_id", "</s>"));
}

}  // namespace airt::text
