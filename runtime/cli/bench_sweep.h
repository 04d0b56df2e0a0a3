// airt bench's sweep: the axes a run varies, each a comma list on the command line, and
// their cross product in llama-bench's order (first axis outermost, the tests innermost).
//
// An axis is one entry of kBenchAxes: its flag, how one list item is checked, how it
// changes the row's set-up (engine configuration / operating point), and its column. A new
// axis (--backend next) is a field in BenchSetup, one entry in the
// table, and the code that honours the field where the engine is made; the parser, the
// expansion, every output format and --compare pick it up from the table.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "runtime/core/result.h"
#include "runtime/model/kv_cache.h"

namespace airt::cli {

// What one combination of axis values asks for.
struct BenchSetup {
  int32_t threads = 1;
  model::KvTypes kv;
  int32_t window = 0;
  int32_t n_slots = 1;  // sequences decoded together (tg tests)
  int32_t depth = 0;    // context positions filled before the test
  std::string tier = "0";  // the ladder tier (name, file or index; --ladder)
  int32_t draft_len = -1;  // speculative draft length; -1: chosen each step (--draft)
};

struct BenchAxis {
  const char* flag;    // "--kv-type"
  const char* alias;   // "-t", or nullptr
  const char* key;     // JSON / CSV key and --compare's match key: "n_threads"
  const char* header;  // markdown column: "threads"
  bool numeric;        // a JSON number (else a string)
  bool decode_only;    // only tg tests vary it; pp and pg rows take the list's first value
  std::string (*fallback)();  // the value when the flag is not given
  // Checks one list item and applies it; the error says what the axis accepts.
  Status (*apply)(const std::string& item, BenchSetup& s);
};
std::span<const BenchAxis> bench_axes();

// One test: pp N (n_gen 0), tg N (n_prompt 0) or pp+tg ("-pg 512,128": both).
struct BenchTest {
  int32_t n_prompt = 0;
  int32_t n_gen = 0;
  std::string name() const;  // "pp512", "tg128", "pp512+tg128" (llama-bench's names)
};

// One row to measure: a value per axis (kBenchAxes order) and the test.
struct BenchJob {
  std::vector<std::string> values;
  BenchTest test;
};

// "1,2,4" -> {"1", "2", "4"}; "k=q8_0,v=f16" stays one item (a v= item after a k= item
// belongs to it). Empty items are an error naming the flag.
Result<std::vector<std::string>> bench_split_list(const char* flag, const std::string& text);
// Every value checked through its axis; `lists` has one list per axis.
Status bench_check_lists(const std::vector<std::vector<std::string>>& lists);
// The cross product: axes outermost to innermost in table order, then the tests.
std::vector<BenchJob> bench_expand(const std::vector<std::vector<std::string>>& lists,
                                   const std::vector<BenchTest>& tests);
// The set-up of a job (its values were checked).
BenchSetup bench_setup(const BenchJob& job);

}  // namespace airt::cli
