#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "runtime/gguf/gguf.h"
#include "runtime/text/chat_template.h"
#include "runtime/text/tokenizer.h"
#include "tests/support/test_support.h"

namespace airt::text {
namespace {

// The chat templates real model files carry (tokenizer.chat_template), as data. Each is the
// Jinja source exactly as published with the model named beside it.

// teknium/OpenHermes-2.5-Mistral-7B (ChatML; Qwen2 and many others use the same layout)
const char* kChatmlJinja =
    R"({% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})";

// meta-llama/Llama-2-7b-chat-hf
const char* kLlama2Jinja =
    R"({% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %})";

// meta-llama/Meta-Llama-3-8B-Instruct
const char* kLlama3Jinja =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content "
    "}}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% "
    "endif %}";

// mistralai/Mistral-7B-Instruct-v0.2
const char* kMistralJinja =
    R"({{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %})";

// microsoft/Phi-3-mini-4k-instruct (the template in ../shared/models/vocab/ggml-vocab-phi-3.gguf)
const char* kPhi3Jinja =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + '\n' + "
    "message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}{% elif (message['role'] == 'assistant') "
    "%}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}";

// google/gemma-7b-it
const char* kGemmaJinja =
    R"({{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %})";

// HuggingFaceH4/zephyr-7b-beta (real newlines between the blocks and inside the literals)
const char* kZephyrJinja =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token "
    "}}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token "
    "}}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% "
    "endfor %}";

// eachadea/vicuna-13b-1.1 style: a family airt does not lay out.
const char* kVicunaJinja =
    "{%- for message in messages %}{%- if message['role'] == 'system' -%}{{- '' + message['content'] + "
    "'\n\n' -}}{%- else -%}{%- if message['role'] == 'user' -%}{{-'USER: ' + message['content'] + '\n'-}}{%- "
    "else -%}{{-'ASSISTANT: ' + message['content'] + '</s>\n' -}}{%- endif -%}{%- endif -%}{%- endfor -%}{%- "
    "if add_generation_prompt -%}{{-'ASSISTANT:'-}}{%- endif -%}";

const std::vector<ChatMessage> kChat = {
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
};
const std::vector<ChatMessage> kWithSystem = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
};

std::string apply(ChatFamily f, const std::vector<ChatMessage>& msgs, bool gen = true) {
  auto r = ChatTemplate(f).apply(msgs, gen);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.value() : "";
}

TEST(ChatTemplate, DetectsEachFamilyFromItsRealTemplate) {
  const std::pair<const char*, ChatFamily> cases[] = {
      {kChatmlJinja, ChatFamily::kChatml}, {kLlama2Jinja, ChatFamily::kLlama2}, {kLlama3Jinja, ChatFamily::kLlama3},
      {kMistralJinja, ChatFamily::kMistral}, {kPhi3Jinja, ChatFamily::kPhi3},   {kGemmaJinja, ChatFamily::kGemma},
      {kZephyrJinja, ChatFamily::kZephyr},
  };
  for (const auto& [jinja, family] : cases) {
    auto got = chat_family_detect(jinja);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(got.value(), family) << chat_family_name(family);
  }
}

TEST(ChatTemplate, UnknownTemplateIsAnErrorNamingTheFix) {
  auto got = chat_family_detect(kVicunaJinja);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Error::kFormatUnsupported);
  EXPECT_NE(got.error().message.find("--chat-template"), std::string::npos) << got.error().message;
  EXPECT_NE(got.error().message.find("chatml"), std::string::npos);
  EXPECT_NE(got.error().message.find("{%- for message in messages"), std::string::npos);  // quotes what it saw
  EXPECT_FALSE(chat_family_detect("").ok());
}

TEST(ChatTemplate, NamesOverrideAndRoundTrip) {
  for (auto f : {ChatFamily::kChatml, ChatFamily::kLlama2, ChatFamily::kLlama3, ChatFamily::kMistral,
                 ChatFamily::kPhi3, ChatFamily::kGemma, ChatFamily::kZephyr}) {
    auto back = chat_family_from_name(chat_family_name(f));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back.value(), f);
  }
  EXPECT_EQ(chat_family_from_name("llama-3").value(), ChatFamily::kLlama3);
  auto bad = chat_family_from_name("vicuna");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("vicuna"), std::string::npos);
}

TEST(ChatTemplate, Chatml) {
  EXPECT_EQ(apply(ChatFamily::kChatml, kChat),
            "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n"
            "<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(apply(ChatFamily::kChatml, kWithSystem, false),
            "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n");
}

TEST(ChatTemplate, Llama2) {
  EXPECT_EQ(apply(ChatFamily::kLlama2, kChat), "[INST] Hello [/INST] Hi there </s><s>[INST] Who are you [/INST]");
  EXPECT_EQ(apply(ChatFamily::kLlama2, kWithSystem),
            "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]");
}

TEST(ChatTemplate, Llama3) {
  EXPECT_EQ(apply(ChatFamily::kLlama3, kChat),
            "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(apply(ChatFamily::kLlama3, {{"system", "  Be brief. "}, {"user", "Hi"}}, false),
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
}

TEST(ChatTemplate, Mistral) {
  EXPECT_EQ(apply(ChatFamily::kMistral, kChat), "[INST] Hello [/INST]Hi there</s>[INST] Who are you [/INST]");
  // v0.2 has no system role; airt folds it into the first user turn.
  EXPECT_EQ(apply(ChatFamily::kMistral, kWithSystem), "[INST] You are a helpful assistant\n\nHello [/INST]");
}

TEST(ChatTemplate, Phi3) {
  EXPECT_EQ(apply(ChatFamily::kPhi3, kChat),
            "<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n");
  EXPECT_EQ(apply(ChatFamily::kPhi3, kWithSystem),
            "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\n");
}

TEST(ChatTemplate, Gemma) {
  EXPECT_EQ(apply(ChatFamily::kGemma, kChat),
            "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n"
            "<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(apply(ChatFamily::kGemma, kWithSystem),
            "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>model\n");
}

TEST(ChatTemplate, Zephyr) {
  EXPECT_EQ(apply(ChatFamily::kZephyr, kChat),
            "<|user|>\nHello</s>\n<|assistant|>\nHi there</s>\n<|user|>\nWho are you</s>\n<|assistant|>\n");
  // The end-of-turn text is the vocabulary's EOS.
  auto r = ChatTemplate(ChatFamily::kZephyr, "<s>", "<|endoftext|>").apply(kWithSystem, true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), "<|system|>\nYou are a helpful assistant<|endoftext|>\n<|user|>\nHello<|endoftext|>\n<|assistant|>\n");
}

TEST(ChatTemplate, RejectsConversationsAFamilyCannotExpress) {
  EXPECT_FALSE(ChatTemplate(ChatFamily::kChatml).apply({}, true).ok());
  // Turns out of order where the template requires alternation.
  const std::vector<ChatMessage> two_users = {{"user", "a"}, {"user", "b"}};
  for (auto f : {ChatFamily::kLlama2, ChatFamily::kMistral, ChatFamily::kGemma}) {
    auto r = ChatTemplate(f).apply(two_users, true);
    ASSERT_FALSE(r.ok()) << chat_family_name(f);
    EXPECT_NE(r.error().message.find("alternat"), std::string::npos);
  }
  // Only a system message: nothing to answer.
  EXPECT_FALSE(ChatTemplate(ChatFamily::kGemma).apply(std::vector<ChatMessage>{{"system", "x"}}, true).ok());
  // Roles beyond system/user/assistant only where the layout has room for them.
  const std::vector<ChatMessage> tool = {{"user", "a"}, {"tool", "42"}};
  EXPECT_FALSE(ChatTemplate(ChatFamily::kPhi3).apply(tool, true).ok());
  EXPECT_TRUE(ChatTemplate(ChatFamily::kChatml).apply(tool, true).ok());
}

// End to end with a real vocabulary: the phi-3 file's own template is recognised, and the
// prompt tokenizes with its markers as single control tokens when special parsing is on.
TEST(ChatTemplate, Phi3FileTemplateAndTokens) {
  const std::string path = test::model_path("vocab/ggml-vocab-phi-3.gguf");
  AIRT_REQUIRE_FILE(path);
  auto file = gguf::File::open(path);
  ASSERT_TRUE(file.ok()) << file.error().message;
  auto tmpl = ChatTemplate::from_gguf(*file.value());
  ASSERT_TRUE(tmpl.ok()) << tmpl.error().message;
  EXPECT_EQ(tmpl.value().family(), ChatFamily::kPhi3);
  auto forced = ChatTemplate::from_gguf(*file.value(), "chatml");
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(forced.value().family(), ChatFamily::kChatml);
  EXPECT_FALSE(ChatTemplate::from_gguf(*file.value(), "nonsense").ok());

  auto tok = Tokenizer::from_gguf(*file.value());
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  const std::string prompt = tmpl.value().apply(std::vector<ChatMessage>{{"user", "Hello"}}, true).value();
  std::vector<int32_t> ids;
  ASSERT_TRUE(tok.value()->encode(prompt, true, true, ids).ok());
  const int32_t user = tok.value()->find("<|user|>");
  const int32_t end = tok.value()->find("<|end|>");
  const int32_t assistant = tok.value()->find("<|assistant|>");
  ASSERT_GE(ids.size(), 5u);
  EXPECT_EQ(ids[0], tok.value()->bos());
  EXPECT_EQ(ids[1], user);
  EXPECT_NE(std::find(ids.begin(), ids.end(), end), ids.end());
  EXPECT_NE(std::find(ids.begin(), ids.end(), assistant), ids.end());
  EXPECT_TRUE(tok.value()->is_eog(end));
  // Without special parsing the same text is plain characters: no control ids at all.
  std::vector<int32_t> plain;
  ASSERT_TRUE(tok.value()->encode(prompt, false, false, plain).ok());
  EXPECT_EQ(std::find(plain.begin(), plain.end(), user), plain.end());
}

TEST(ChatTemplate, FileWithoutTemplateNamesTheFix) {
  const std::string path = test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(path);
  auto file = gguf::File::open(path);
  ASSERT_TRUE(file.ok()) << file.error().message;
  auto tmpl = ChatTemplate::from_gguf(*file.value());
  ASSERT_FALSE(tmpl.ok());
  EXPECT_NE(tmpl.error().message.find("--chat-template"), std::string::npos);
  EXPECT_TRUE(ChatTemplate::from_gguf(*file.value(), "llama2").ok());
}

// Keys present with the wrong type are errors naming the file, the key and both types, not
// a silent "no template" or a default BOS spelling.
TEST(ChatTemplate, MistypedMetadataIsAnError) {
  const auto parse = [](const gguf::Writer& w,
                        std::string_view override_name = "") -> Result<ChatTemplate> {
    const std::vector<uint8_t> image = w.serialize();  // outlives the File parsed from it
    auto f = gguf::File::parse(image.data(), image.size(), "hostile.gguf");
    if (!f.ok()) return std::move(f).error();
    return ChatTemplate::from_gguf(*f.value(), override_name);
  };
  gguf::Writer good;
  good.set_string("tokenizer.chat_template",
                  "{% for m in messages %}<|im_start|>{{ m.content }}<|im_end|>{% endfor %}");
  good.set_array_string("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>"});
  good.set_u32("tokenizer.ggml.bos_token_id", 1);
  ASSERT_TRUE(parse(good).ok()) << parse(good).error().message;

  gguf::Writer w = good;
  w.set_u32("tokenizer.chat_template", 7);
  auto r = parse(w);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::kFormatInvalid);
  EXPECT_NE(r.error().message.find(
                "hostile.gguf: metadata key 'tokenizer.chat_template' is u32, expected a string"),
            std::string::npos)
      << r.error().message;

  w = good;
  w.set_string("tokenizer.ggml.bos_token_id", "1");
  r = parse(w, "chatml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(
                "'tokenizer.ggml.bos_token_id' is string, expected an integer token id"),
            std::string::npos)
      << r.error().message;

  w = good;
  w.set_array_i32("tokenizer.ggml.tokens", {1, 2, 3});
  r = parse(w, "chatml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(
                "'tokenizer.ggml.tokens' is array of i32, expected an array of string"),
            std::string::npos)
      << r.error().message;
}

}  // namespace
}  // namespace airt::text
