// airt logits: evaluate token sequences and write their logits, in the format of the
// reference outputs, so a build can be checked against a mature implementation.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/core/args.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "runtime/core/file.h"

namespace airt::cli {
namespace {

constexpr const char* kHelp =
    "usage: airt logits -m MODEL --tokens-file F --out-prefix P [--greedy N] [-t THREADS]\n"
    "For each line of F (space-separated token ids) evaluates all positions in one batch and\n"
    "writes P.<i>.logits.f32 (float32, n_tokens x n_vocab, row p = logits after token p);\n"
    "with --greedy N also P.<i>.greedy.txt: N greedy next ids, each fed back in.\n";

Result<std::vector<std::vector<int32_t>>> read_token_file(const std::string& path) {
  std::string text = AIRT_TRY(read_file(path));
  std::vector<std::vector<int32_t>> lines;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    std::string word;
    while (ls >> word) {
      char* end = nullptr;
      long v = std::strtol(word.c_str(), &end, 10);
      if (*end || v < 0 || v > INT32_MAX) {
        return errorf(Error::kRequestInvalid, "%s:%d: '%s' is not a token id", path.c_str(), lineno, word.c_str());
      }
      ids.push_back(int32_t(v));
    }
    if (!ids.empty()) lines.push_back(std::move(ids));
  }
  if (lines.empty()) return errorf(Error::kRequestInvalid, "%s: no token ids found", path.c_str());
  return lines;
}

int32_t argmax(std::span<const float> v) {
  return int32_t(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

int logits_main(int argc, char** argv) {
  ModelOptions mo;
  std::string tokens_file, prefix;
  int32_t greedy = 0;
  Args a("logits", argc, argv);
  while (a.next()) {
    if (mo.parse(a)) continue;
    if (a.str("--tokens-file", nullptr, tokens_file)) continue;
    if (a.str("--out-prefix", nullptr, prefix)) continue;
    if (a.i32("--greedy", nullptr, greedy, 0, 1 << 20)) continue;
    a.unknown();
  }
  if (a.help()) return std::fputs(kHelp, stdout), 0;
  if (a.ok() && mo.model_path.empty()) a.fail("missing -m MODEL");
  if (a.ok() && tokens_file.empty()) a.fail("missing --tokens-file F");
  if (a.ok() && prefix.empty()) a.fail("missing --out-prefix P");
  if (!a.ok()) return a.usage_error();

  auto lines = read_token_file(tokens_file);
  if (!lines.ok()) return report(lines.error());
  size_t longest = 0;
  for (auto& l : *lines) longest = std::max(longest, l.size());
  mo.ctx.n_ctx = int32_t(longest) + greedy;
  mo.ctx.n_batch = int32_t(longest);
  mo.ctx.logits_all = true;
  auto loaded = load_model(mo);
  if (!loaded.ok()) return report(loaded.error());
  model::Context& ctx = *loaded->ctx;

  for (size_t i = 0; i < lines->size(); ++i) {
    const auto& ids = (*lines)[i];
    ctx.truncate(0);
    if (Status s = ctx.eval(ids); !s.ok()) return report(s.error());
    std::string data;
    for (size_t p = 0; p < ids.size(); ++p) {
      auto row = ctx.logits(int32_t(p));
      data.append(reinterpret_cast<const char*>(row.data()), row.size() * sizeof(float));
    }
    std::string base = prefix + "." + std::to_string(i);
    if (Status s = write_file_atomic(base + ".logits.f32", data); !s.ok()) return report(s.error());
    if (greedy > 0) {
      std::string out;
      int32_t next = argmax(ctx.logits(int32_t(ids.size()) - 1));
      for (int32_t g = 0; g < greedy; ++g) {
        out += std::to_string(next) + " ";  // the reference format ends every id with a space
        if (g + 1 == greedy) break;
        if (Status s = ctx.eval({&next, 1}); !s.ok()) return report(s.error());
        next = argmax(ctx.logits(0));
      }
      out += "\n";
      if (Status s = write_file_atomic(base + ".greedy.txt", out); !s.ok()) return report(s.error());
    }
  }
  return 0;
}

}  // namespace airt::cli
