// airt tokenize: print the token ids of a text, space-separated, on one line.
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/core/args.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "runtime/core/file.h"
#include "runtime/gguf/gguf.h"
#include "runtime/text/tokenizer.h"

namespace airt::cli {

int tokenize_main(int argc, char** argv) {
  std::string model_path, prompt, path;
  bool no_bos = false, have_prompt = false, special = false;
  Args a("tokenize", argc, argv);
  while (a.next()) {
    if (a.str("--model", "-m", model_path)) continue;
    if (a.str("--prompt", "-p", prompt)) {
      have_prompt = true;
      continue;
    }
    if (a.str("--file", "-f", path)) continue;
    if (a.flag("--no-bos", no_bos)) continue;
    if (a.flag("--parse-special", special)) continue;
    a.unknown();
  }
  if (a.help()) {
    std::fputs("usage: airt tokenize -m MODEL (-p TEXT | -f FILE) [--no-bos] [--parse-special]\n", stdout);
    return 0;
  }
  if (a.ok() && model_path.empty()) a.fail("missing -m MODEL");
  if (a.ok() && have_prompt == !path.empty()) a.fail("give exactly one of -p TEXT or -f FILE");
  if (!a.ok()) return a.usage_error();
  if (!path.empty()) {
    auto text = read_file(path);
    if (!text.ok()) return report(text.error());
    prompt = std::move(text.value());
  }
  // Only the vocabulary is needed: a vocabulary-only GGUF file works too.
  auto file = gguf::File::open(model_path);
  if (!file.ok()) return report(file.error());
  auto tok = text::Tokenizer::from_gguf(**file);
  if (!tok.ok()) return report(tok.error());
  std::vector<int32_t> ids;
  if (Status s = (*tok)->encode(prompt, !no_bos && (*tok)->add_bos(), special, ids); !s.ok()) return report(s.error());
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ' ';
    out += std::to_string(ids[i]);
  }
  std::printf("%s\n", out.c_str());
  return 0;
}

}  // namespace airt::cli
