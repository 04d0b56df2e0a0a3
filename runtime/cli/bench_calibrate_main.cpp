// airt bench --calibrate: the command line around bench_calibrate().
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "runtime/cli/bench_calibrate.h"
#include "hal/cpu/thread_pool.h"
#include "runtime/cli/bench_sweep.h"
#include "runtime/core/args.h"
#include "runtime/core/file.h"

namespace airt::cli {
namespace {

constexpr const char* kHelp =
    "usage: airt bench --calibrate -m MODEL [--ladder F[,F...]] [-o PROFILE.json] [options]\n"
    "Times every operating point the lists below allow (ms per prompt row, ms per step and\n"
    "per decode row at batch sizes 1..--slots), notes the CPU clock, adds each tier's\n"
    "perplexity (cached, as airt bench --quality) and the perplexity ratio of each window\n"
    "(below 128) and KV precision against the whole window with F16 KV (on the first\n"
    "tier), and writes the latency profile the governor starts from (atomically: a\n"
    "temporary file, then renamed).\n"
    "  -o FILE            where (default: STATE_DIR/latency-profile.json)\n"
    "  --state-dir D      default /var/lib/airt where writable, else ~/.local/state/airt\n"
    "  --windows L        attention windows, 0 = whole context (default 0)\n"
    "  --kv L             KV precisions: f16, q8_0, q4_0, or K/V as q8_0/f16 (default f16)\n"
    "  --draft-lens L     draft lengths, with --draft SPEC (default 0)\n"
    "  --thread-counts L  threads a step runs on, 0 = all of -t (default 0)\n"
    "  --slots N          largest batch timed (default 2)\n"
    "  --prompt N         rows of the timed prompt step (default 32)\n"
    "  -n N               decode steps timed per batch size (default 12)\n"
    "  -m, -t, -c, --ladder, --draft, --mem-budget: as for airt run\n";

Status ints(const char* flag, const std::string& text, std::vector<int32_t>& out) {
  if (text.empty()) return {};
  out.clear();
  for (const std::string& item : AIRT_TRY(bench_split_list(flag, text))) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (end == item.c_str() || *end || v < 0 || v > (1 << 20))
      return errorf(Error::kRequestOutOfRange, "%s '%s': expected whole numbers >= 0", flag, item.c_str());
    out.push_back(int32_t(v));
  }
  return {};
}

struct CalibrateOptions {
  ModelOptions mo;
  CalibrateSettings s;
  std::string out, state_dir, windows, kv, drafts, threads;
};

int parse(int argc, char** argv, CalibrateOptions& o) {
  Args a("bench --calibrate", argc, argv);
  bool calibrate = false;
  while (a.next()) {
    if (a.flag("--calibrate", calibrate) || o.mo.parse(a) || a.str("--output", "-o", o.out) ||
        a.str("--state-dir", nullptr, o.state_dir) || a.str("--windows", nullptr, o.windows) ||
        a.str("--kv", nullptr, o.kv) || a.str("--draft-lens", nullptr, o.drafts) ||
        a.str("--thread-counts", nullptr, o.threads))
      continue;
    if (a.i32("--slots", nullptr, o.s.slots, 1, 64) || a.i32("--prompt", nullptr, o.s.prompt, 1, 4096) ||
        a.i32("--n-gen", "-n", o.s.gen, 1, 4096))
      continue;
    a.unknown();
  }
  if (a.help()) return std::fputs(kHelp, stdout), 0;
  if (a.ok() && o.mo.model_path.empty()) a.fail("missing -m MODEL");
  return a.ok() ? -1 : a.usage_error();
}

}  // namespace

Status bench_point_lists(const std::string& windows, const std::string& kv, const std::string& drafts,
                         const std::string& threads, PointLists& out) {
  AIRT_TRY(ints("--windows", windows, out.windows));
  AIRT_TRY(ints("--draft-lens", drafts, out.draft_lens));
  AIRT_TRY(ints("--thread-counts", threads, out.threads));
  if (kv.empty()) return {};
  out.kv.clear();
  for (const std::string& item : AIRT_TRY(bench_split_list("--kv", kv)))
    out.kv.push_back(AIRT_TRY(governor::parse_kv_precision(item)));
  return {};
}

int bench_calibrate_main(int argc, char** argv) {
  CalibrateOptions o;
  if (int st = parse(argc, argv, o); st >= 0) return st;
  PointLists lists;
  if (Status st = bench_point_lists(o.windows, o.kv, o.drafts, o.threads, lists); !st.ok()) return report(st.error());
  auto m = model::Model::load(o.mo.model_path);
  if (!m.ok()) return report(m.error());
  if (Status st = add_ladder(**m, o.mo); !st.ok()) return report(st.error());
  auto tok = text::Tokenizer::from_gguf((*m)->file());
  if (!tok.ok()) return report(tok.error());
  const std::string dir = o.state_dir.empty() ? bench_state_dir() : o.state_dir;
  const std::string out = o.out.empty() ? dir + "/" + kProfileFile : o.out;
  auto ppl = bench_tier_perplexity(**m, **tok, o.mo, dir);
  if (!ppl.ok()) return report(ppl.error());
  const int32_t threads = o.mo.threads > 0 ? o.mo.threads : hal::physical_cores();
  auto space = bench_space(**m, lists, 0, o.mo.sinks > 0 ? o.mo.sinks : 4, threads);
  if (!space.ok()) return report(space.error());
  auto e = make_engine(o.mo, **m, **tok, bench_calibrate_config(o.mo, *space, o.s));
  if (!e.ok()) return report(e.error());
  std::fprintf(stderr, "airt: calibrating %zu operating points, batch 1..%d\n", space->size(), o.s.slots);
  const auto print = [](const std::string& l) { std::printf("%s\n", l.c_str()); };
  auto prof = bench_calibrate(**e, *space, o.s, print);
  if (!prof.ok()) return report(prof.error());
  prof->tier_perplexity = *ppl;
  e->reset();  // the timing engine's memory, before the quality engine takes its own
  if (Status st = bench_quality_ratios(**m, **tok, o.mo, *space, *prof, print); !st.ok()) return report(st.error());
  if (o.out.empty()) {  // the default's folder; an error shows at the write
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
  }
  if (Status st = write_file_atomic(out, governor::profile_to_json(*prof)); !st.ok()) return report(st.error());
  if (prof->cpu_max_mhz > 0) std::printf("CPU clock %.0f of %.0f MHz while measuring\n", prof->cpu_mhz, prof->cpu_max_mhz);
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

}  // namespace airt::cli
