// Chat templates: turning a conversation into the prompt text a chat model was trained on.
//
// GGUF files carry the template as a Jinja program (tokenizer.chat_template). airt does not
// interpret Jinja: it recognises the family from markers only that family uses and lays
// the conversation out the way that family's template does. A template it does not
// recognise is an error that names the fix (--chat-template NAME).
//
// The output is meant to be tokenized with add_special = true and parse_special = true:
// the BOS a template starts with is left to the tokenizer (which adds it when the
// vocabulary asks), so it is not written twice; BOS/EOS text inside the conversation
// (llama2, mistral, zephyr) is written with the vocabulary's spelling.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "runtime/core/result.h"

namespace airt::gguf {
class File;
}

namespace airt::text {

enum class ChatFamily : uint8_t { kChatml, kLlama2, kLlama3, kMistral, kPhi3, kGemma, kZephyr };

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" (chatml accepts any role)
  std::string content;
};

// "chatml", "llama2", "llama3", "mistral", "phi3", "gemma", "zephyr".
const char* chat_family_name(ChatFamily f);
// The accepted names, comma-separated, for messages and --help.
const char* chat_family_names();
// Accepts the names above and the spellings "llama-2", "llama-3", "phi-3".
Result<ChatFamily> chat_family_from_name(std::string_view name);
// Recognises a Jinja template by its markers; an error names the fix when none match.
Result<ChatFamily> chat_family_detect(std::string_view jinja);

class ChatTemplate {
 public:
  explicit ChatTemplate(ChatFamily family, std::string bos_text = "<s>", std::string eos_text = "</s>")
      : family_(family), bos_text_(std::move(bos_text)), eos_text_(std::move(eos_text)) {}

  // From a model file: `name_override` (the --chat-template value) wins when not empty,
  // otherwise tokenizer.chat_template is recognised. BOS/EOS text comes from the
  // file's vocabulary.
  static Result<ChatTemplate> from_gguf(const gguf::File& f, std::string_view name_override = {});

  // The prompt text. add_generation_prompt appends the opening of the assistant's turn.
  // Errors: an empty conversation, roles a family cannot express (e.g. a tool role in
  // gemma), or turns that do not alternate user/assistant where the family requires it.
  Result<std::string> apply(std::span<const ChatMessage> messages, bool add_generation_prompt) const;

  ChatFamily family() const { return family_; }

 private:
  ChatFamily family_;
  std::string bos_text_;
  std::string eos_text_;
};

}  // namespace airt::text
