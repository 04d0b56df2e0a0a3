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
#include "runtime/engine/engine.h"

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

// Collects every prompt position's logits and the greedy continuation's ids.
struct LogitsSink : engine::Sink {
  std::string data;  // f32 logits of each prompt position, in order
  std::vector<int32_t> greedy;
  ErrorInfo error;
  bool failed = false;
  void on_logits(engine::Ticket, int32_t, std::span<const float> row) override {
    data.append(reinterpret_cast<const char*>(row.data()), row.size_bytes());
  }
  void on_token(engine::Ticket, int32_t id, std::string_view) override { greedy.push_back(id); }
  void on_finish(engine::Ticket, const engine::Finish&) override {}
  void on_error(engine::Ticket, const ErrorInfo& e) override {
    failed = true;
    error = e;
  }
};

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
  mo.n_ctx = int32_t(longest) + greedy;
  mo.n_batch = int32_t(longest);
  engine::EngineConfig c = mo.engine_config();
  c.n_logits = mo.n_batch;
  auto loaded = load_model(mo, c);
  if (!loaded.ok()) return report(loaded.error());
  engine::Engine& e = *loaded->engine;

  for (size_t i = 0; i < lines->size(); ++i) {
    engine::Request r;
    r.prompt_tokens = (*lines)[i];
    r.logits_all = true;
    r.max_tokens = greedy;
    r.prompt_only = greedy == 0;
    r.ignore_eos = true;
    r.sampling.temp = 0;  // argmax; ties to the lower id
    LogitsSink sink;
    if (Status s = e.submit(engine::Ticket(i + 1), r); !s.ok()) return report(s.error());
    while (e.step(sink)) {
    }
    if (sink.failed) return report(sink.error);
    std::string base = prefix + "." + std::to_string(i);
    if (Status s = write_file_atomic(base + ".logits.f32", sink.data); !s.ok()) return report(s.error());
    if (greedy > 0) {
      std::string out;
      for (int32_t id : sink.greedy) out += std::to_string(id) + " ";  // the reference format ends every id with a space
      out += "\n";
      if (Status s = write_file_atomic(base + ".greedy.txt", out); !s.ok()) return report(s.error());
    }
  }
  return 0;
}

}  // namespace airt::cli
