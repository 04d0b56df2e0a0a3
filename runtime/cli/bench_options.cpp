#include "runtime/cli/bench_options.h"

#include <cstdio>
#include <cstdlib>

namespace airt::cli {
namespace {

constexpr const char* kHelp =
    "usage: airt bench (-m MODEL | --synthetic SHAPE[:TYPE]) [options]\n"
    "       airt bench --compare A.json B.json\n"
    "tests (comma lists; every combination of every list is one row):\n"
    "  -p LIST       prompt tokens for pp tests (default 512; 0 skips them)\n"
    "  -n LIST       generated tokens for tg tests (default 128; 0 skips them)\n"
    "  -pg P,N       a pp+tg test: P prompt tokens then N generated (may be repeated)\n"
    "  -r N          measured repetitions after one warm-up (default 5)\n"
    "axes:\n"
    "  -t LIST       threads (default: physical cores)\n"
    "  --kv-type L   KV precision: f16, q8_0, q4_0, or k=TYPE,v=TYPE (default f16)\n"
    "  --window L    sliding attention window (default 0: the whole context)\n"
    "  --slots L     tg with S sequences decoded together; t/s is their aggregate\n"
    "  -d LIST       context depth: positions filled before the test (default 0)\n"
    "  --ladder-tier L  weight tier of --ladder FILES by name, file or index (default 0: -m)\n"
    "  --draft-len L speculative draft length with --draft SPEC, or auto (default)\n"
    "resources and outputs:\n"
    "  --membw       measure memory read bandwidth once; tg rows show the roofline fraction\n"
    "  --membw-mib N the buffer --membw reads (default 256)\n"
    "  --profile     --backend vulkan: device time per op kind (timestamps), a table per row\n"
    "  -o FORMAT     md (default), json, jsonl (a line per row as it finishes) or csv\n"
    "  --plot FILE   an SVG of the run's time series and t/s per configuration\n"
    "  --synthetic S a random-weight model of a known shape: tinyllama-1.1b, llama-3.2-1b,\n"
    "                qwen2.5-0.5b, smollm2-135m; TYPE q4_0 (default), q8_0, q4_k, q6_k, f16,\n"
    "                f32 (K-quant rows that are not whole 256-blocks take q5_0 / q8_0)\n"
    "  --keep FILE   keep the synthetic model at FILE (default: a temporary file, removed)\n"
    "  --rows LIST   instead: ms per forward step of R rows for each R in LIST (1,2,4 or 1-64)\n"
    "  --ladder FILES, --draft SPEC, --draft-max N: as for airt run (axes above pick per row)\n"
    "  --quality, --switch with --ladder: each tier's perplexity, the cost of a tier switch\n"
    "  -c, -b, --mem-budget, --kv-block, --sinks, --mlock, --no-repack, --print-plan as for airt run\n"
    "Ctrl-C stops after the step in progress and prints the rows that finished.\n";

Status parse_ints(const char* flag, const std::string& text, long lo, std::vector<int32_t>& out) {
  for (const std::string& item : AIRT_TRY(bench_split_list(flag, text))) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (*end || v < lo || v > (1 << 16))
      return errorf(Error::kRequestOutOfRange, "%s '%s': expected whole numbers in %ld..65536", flag, item.c_str(), lo);
    out.push_back(int32_t(v));
  }
  return {};
}

// The tests from -p, -n and -pg lists: pp first, then tg, then pp+tg (llama-bench's order).
Status make_tests(const std::string& p, const std::string& n, const std::vector<std::string>& pg, BenchOptions& o) {
  std::vector<int32_t> pps, tgs;
  AIRT_TRY(parse_ints("-p", p, 0, pps));
  AIRT_TRY(parse_ints("-n", n, 0, tgs));
  for (int32_t v : pps)
    if (v > 0) o.tests.push_back({v, 0});
  for (int32_t v : tgs)
    if (v > 0) o.tests.push_back({0, v});
  for (const std::string& pair : pg) {
    std::vector<int32_t> v;
    AIRT_TRY(parse_ints("-pg", pair, 1, v));
    if (v.size() != 2) return errorf(Error::kRequestInvalid, "-pg '%s': expected P,N (e.g. 512,128)", pair.c_str());
    o.tests.push_back({v[0], v[1]});
  }
  if (o.tests.empty()) return errorf(Error::kRequestInvalid, "-p 0 and -n 0 leave nothing to measure");
  return {};
}

// Each axis' list, its default where not given, checked; depth with a window is refused.
Status make_lists(const std::vector<std::string>& given, BenchOptions& o) {
  const auto axes = bench_axes();
  for (size_t a = 0; a < axes.size(); ++a)
    o.lists.push_back(given[a].empty() ? std::vector<std::string>{axes[a].fallback()}
                                       : AIRT_TRY(bench_split_list(axes[a].flag, given[a])));
  AIRT_TRY(bench_check_lists(o.lists));
  bool window = false, depth = false;
  for (const BenchJob& j : bench_expand(o.lists, {{0, 1}})) {
    const BenchSetup s = bench_setup(j);
    window |= s.window > 0, depth |= s.depth > 0;
  }
  if (window && depth)
    return errorf(Error::kRequestInvalid,
                  "-d with --window: a windowed sequence keeps no context between runs; measure depth with --window 0");
  return {};
}

}  // namespace

int parse_bench(int argc, char** argv, BenchOptions& o) {
  Args a("bench", argc, argv);
  const auto axes = bench_axes();
  std::vector<std::string> given(axes.size());
  std::string p = "512", n = "128", pg_one;
  std::vector<std::string> pg;
  while (a.next()) {
    bool axis = false;
    for (size_t i = 0; i < axes.size() && !axis; ++i) axis = a.str(axes[i].flag, axes[i].alias, given[i]);
    if (axis) continue;
    if (a.str("--n-prompt", "-p", p)) continue;
    if (a.str("--n-gen", "-n", n)) continue;
    if (a.str("--n-pg", "-pg", pg_one)) {
      pg.push_back(pg_one);
      continue;
    }
    if (o.mo.parse(a)) continue;
    if (a.i32("--repetitions", "-r", o.reps, 1, 1000)) continue;
    if (a.str("--output", "-o", o.format)) continue;
    if (a.str("--plot", nullptr, o.plot)) continue;
    if (a.flag("--membw", o.membw)) continue;
    if (a.flag("--profile", o.profile)) continue;
    if (a.i32("--membw-mib", nullptr, o.membw_mib, 1, 1 << 20)) continue;
    if (a.str("--synthetic", nullptr, o.synthetic)) continue;
    if (a.str("--keep", nullptr, o.keep)) continue;
    if (a.str("--rows", nullptr, o.rows)) continue;
    a.unknown();
  }
  if (a.help()) return std::fputs(kHelp, stdout), 0;
  if (a.ok() && o.mo.model_path.empty() == o.synthetic.empty()) a.fail("give exactly one of -m MODEL or --synthetic SHAPE");
  if (a.ok() && o.format != "md" && o.format != "json" && o.format != "jsonl" && o.format != "csv")
    a.fail("-o must be md, json, jsonl or csv");
  if (a.ok())
    if (Status s = make_tests(p, n, pg, o); !s.ok()) a.fail(s.error().message);
  if (a.ok())
    if (Status s = make_lists(given, o); !s.ok()) a.fail(s.error().message);
  return a.ok() ? -1 : a.usage_error();
}

}  // namespace airt::cli
