#include "runtime/text/chat_template.h"

#include <vector>

namespace airt::text {
namespace {

struct FamilyName {
  ChatFamily family;
  std::string_view name;
};

constexpr FamilyName kNames[] = {
    {ChatFamily::kChatml, "chatml"}, {ChatFamily::kLlama2, "llama2"}, {ChatFamily::kLlama3, "llama3"},
    {ChatFamily::kMistral, "mistral"}, {ChatFamily::kPhi3, "phi3"},   {ChatFamily::kGemma, "gemma"},
    {ChatFamily::kZephyr, "zephyr"},   {ChatFamily::kLlama2, "llama-2"}, {ChatFamily::kLlama3, "llama-3"},
    {ChatFamily::kPhi3, "phi-3"},
};

bool contains(std::string_view s, std::string_view what) { return s.find(what) != std::string_view::npos; }

// Python's str.strip() / Jinja's trim, for the ASCII whitespace chat text contains.
std::string_view trim(std::string_view s) {
  constexpr std::string_view kWs = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(kWs);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kWs) - b + 1);
}

}  // namespace

const char* chat_family_name(ChatFamily f) {
  for (const FamilyName& n : kNames) {
    if (n.family == f) return n.name.data();  // the first spelling is the canonical one
  }
  return "unknown";
}

const char* chat_family_names() { return "chatml, llama2, llama3, mistral, phi3, gemma, zephyr"; }

Result<ChatFamily> chat_family_from_name(std::string_view name) {
  for (const FamilyName& n : kNames) {
    if (n.name == name) return n.family;
  }
  return errorf(Error::kRequestInvalid, "chat template '%.*s' is not one airt knows; use one of: %s",
                static_cast<int>(name.size()), name.data(), chat_family_names());
}

Result<ChatFamily> chat_family_detect(std::string_view jinja) {
  // Most specific markers first: phi3 and zephyr share <|user|>, llama2 and mistral share [INST].
  if (contains(jinja, "<|im_start|>")) return ChatFamily::kChatml;
  if (contains(jinja, "<|start_header_id|>") && contains(jinja, "<|end_header_id|>")) return ChatFamily::kLlama3;
  if (contains(jinja, "<start_of_turn>")) return ChatFamily::kGemma;
  if (contains(jinja, "<|assistant|>") && contains(jinja, "<|end|>")) return ChatFamily::kPhi3;
  if (contains(jinja, "<|user|>") && contains(jinja, "<|assistant|>")) return ChatFamily::kZephyr;
  if (contains(jinja, "[INST]") && contains(jinja, "<<SYS>>")) return ChatFamily::kLlama2;
  if (contains(jinja, "[INST]")) return ChatFamily::kMistral;
  std::string head(jinja.substr(0, 60));
  for (char& c : head) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return errorf(Error::kFormatUnsupported,
                "chat template not recognised (it begins \"%s%s\"); pass --chat-template NAME with one of: %s",
                head.c_str(), jinja.size() > head.size() ? "..." : "", chat_family_names());
}

Result<std::string> ChatTemplate::apply(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
  const char* fam = chat_family_name(family_);
  if (messages.empty()) return errorf(Error::kRequestInvalid, "chat (%s): the conversation has no messages", fam);
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& r = messages[i].role;
    if (family_ != ChatFamily::kChatml && r != "system" && r != "user" && r != "assistant")
      return errorf(Error::kRequestInvalid,
                    "chat (%s): message %zu has role '%s'; this template knows system, user and assistant", fam, i,
                    r.c_str());
  }

  std::string out;
  switch (family_) {
    case ChatFamily::kChatml:
      for (const ChatMessage& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      return out;
    case ChatFamily::kLlama3:
      for (const ChatMessage& m : messages) {
        out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n";
        out += trim(m.content);
        out += "<|eot_id|>";
      }
      if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      return out;
    case ChatFamily::kPhi3:
      for (const ChatMessage& m : messages) out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
      if (add_generation_prompt) out += "<|assistant|>\n";
      return out;
    case ChatFamily::kZephyr:
      for (const ChatMessage& m : messages) out += "<|" + m.role + "|>\n" + m.content + eos_text_ + "\n";
      if (add_generation_prompt) out += "<|assistant|>\n";
      return out;
    case ChatFamily::kLlama2:
    case ChatFamily::kMistral:
    case ChatFamily::kGemma:
      break;
  }

  // The [INST] families and gemma have no system turn of their own: a leading system
  // message is folded into the first user turn, and turns must alternate user/assistant.
  std::string_view system;
  std::span<const ChatMessage> turns = messages;
  if (turns.front().role == "system") {
    system = turns.front().content;
    turns = turns.subspan(1);
  }
  if (turns.empty()) return errorf(Error::kRequestInvalid, "chat (%s): the conversation has no user message", fam);
  for (size_t i = 0; i < turns.size(); ++i) {
    const char* want = i % 2 == 0 ? "user" : "assistant";
    if (turns[i].role != want)
      return errorf(Error::kRequestInvalid,
                    "chat (%s): turn %zu is '%s' but this template needs turns alternating user/assistant "
                    "(a system message may only come first)",
                    fam, i, turns[i].role.c_str());
  }

  for (size_t i = 0; i < turns.size(); ++i) {
    const bool user = i % 2 == 0;
    std::string content = turns[i].content;
    if (family_ == ChatFamily::kLlama2) {
      // Meta's layout: <<SYS>> block inside the first [INST]; every later user turn
      // starts a new sequence with BOS, every assistant turn ends with EOS.
      if (i == 0 && !system.empty()) content = "<<SYS>>\n" + std::string(system) + "\n<</SYS>>\n\n" + content;
      if (user) {
        if (i > 0) out += bos_text_;
        out += "[INST] ";
        out += trim(content);
        out += " [/INST]";
      } else {
        out += " ";
        out += trim(content);
        out += " " + eos_text_;
      }
    } else if (family_ == ChatFamily::kMistral) {
      if (i == 0 && !system.empty()) content = std::string(system) + "\n\n" + content;
      if (user) out += "[INST] " + content + " [/INST]";
      else out += content + eos_text_;
    } else {  // gemma
      if (i == 0 && !system.empty()) content = std::string(system) + "\n\n" + content;
      out += user ? "<start_of_turn>user\n" : "<start_of_turn>model\n";
      out += trim(content);
      out += "<end_of_turn>\n";
    }
  }
  if (add_generation_prompt && family_ == ChatFamily::kGemma) out += "<start_of_turn>model\n";
  return out;
}

}  // namespace airt::text
