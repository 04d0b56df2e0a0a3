// airt governor explain: replays a sensor trace through the governor (sensors, cost and
// quality models, policy) with a synthetic request stream and prints every decision with
// its reason. No broker, no engine, no model file needed.
#include <cstdio>
#include <cstring>
#include <string>

#include "governor/config.h"
#include "governor/explain.h"
#include "governor/model/profile.h"
#include "governor/sensors/replay.h"
#include "runtime/cli/commands.h"
#include "runtime/cli/common.h"
#include "runtime/core/args.h"

namespace airt::cli {
namespace {

constexpr const char* kHelp =
    "usage: airt governor explain --trace T.csv [--config G.json] [--profile P.json]\n"
    "                             [-m TIER.gguf,TIER.gguf] [--every S] [--prompt N]\n"
    "                             [--max-tokens N] [--ttft-ms MS] [--deadline-ms MS]\n"
    "                             [--slots N] [--best-effort] [--json]\n"
    "Replays a trace (CSV: t_s,temp_c,power_w,mem_avail_mb,cpu_mhz; any column but t_s may\n"
    "be left out) through the governor with one request every S seconds and prints each\n"
    "change of operating point with its reason, each refused request, and a summary. Steps\n"
    "take what the cost model predicts at the trace's clock: this shows the policy's\n"
    "decisions, not the board's speed (that is airt bench).\n"
    "  --config G.json    operating points, perplexities and limits (governor/config.h);\n"
    "                     default: tiers q8_0,q4_0, KV f16,q8_0, soft 80 C, hard 90 C\n"
    "  --profile P.json   latency profile (airt bench --calibrate); default: built-in guesses\n"
    "  -m A,B             take the tiers' names from these files (best first)\n"
    "  --every S          seconds between requests (default 2)\n"
    "  --prompt N         prompt tokens per request (default 64)\n"
    "  --max-tokens N     tokens generated per request (default 64)\n"
    "  --ttft-ms MS       first token due after MS (default 2000; 0: none)\n"
    "  --deadline-ms MS   last token due after MS (default 10000; 0: none)\n"
    "  --slots N          requests decoded together (default 2)\n"
    "  --best-effort      requests accept lateness (never refused for time)\n"
    "  --json             also print the event ring as the service publishes it\n";

struct Options {
  std::string trace, config, profile, models;
  governor::RequestStream stream;
  bool json = false;
};

// The names after the last '/' and before ".gguf" of a comma-separated list.
std::vector<std::string> tier_names(const std::string& list) {
  std::vector<std::string> names;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string path =
        list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (size_t slash = path.find_last_of('/'); slash != std::string::npos)
      path = path.substr(slash + 1);
    if (path.size() > 5 && path.ends_with(".gguf")) path.resize(path.size() - 5);
    if (!path.empty()) names.push_back(path);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return names;
}

Result<governor::GovernorSetup> setup(const Options& o) {
  governor::GovernorSetup s;
  if (!o.config.empty()) {
    s = AIRT_TRY(governor::load_governor_config(o.config));
  } else {
    s.space.tiers = {0, 1};
    s.space.tier_names = {"q8_0", "q4_0"};
    s.space.kv = {{hal::DType::kF16, hal::DType::kF16}, {hal::DType::kQ8_0, hal::DType::kQ8_0}};
    s.space.max_threads = 4;
  }
  if (!o.models.empty()) {
    std::vector<std::string> names = tier_names(o.models);
    if (names.size() != s.space.tiers.size()) {
      return errorf(Error::kRequestInvalid, "-m names %zu files, the configuration has %zu tiers",
                    names.size(), s.space.tiers.size());
    }
    s.space.tier_names = names;
  }
  return s;
}

bool parse(Args& a, Options& o) {
  float every = 2, ttft = 2000, deadline = 10000;
  while (a.next()) {
    if (a.str("--trace", nullptr, o.trace) || a.str("--config", nullptr, o.config) ||
        a.str("--profile", nullptr, o.profile) || a.str("--model", "-m", o.models) ||
        a.flag("--json", o.json) || a.flag("--best-effort", o.stream.best_effort))
      continue;
    if (a.f32("--every", nullptr, every, 0.01, 3600) || a.f32("--ttft-ms", nullptr, ttft, 0, 1e7) ||
        a.f32("--deadline-ms", nullptr, deadline, 0, 1e8))
      continue;
    if (a.i32("--prompt", nullptr, o.stream.prompt_tokens, 0, 1 << 20) ||
        a.i32("--max-tokens", nullptr, o.stream.max_tokens, 1, 1 << 20) ||
        a.i32("--slots", nullptr, o.stream.slots, 1, 256))
      continue;
    a.unknown();
  }
  o.stream.every_s = every;
  o.stream.ttft_ms = ttft > 0 ? ttft : governor::kNoLimit;
  o.stream.deadline_ms = deadline > 0 ? deadline : governor::kNoLimit;
  if (a.ok() && !a.help() && o.trace.empty()) a.fail("missing --trace T.csv");
  return a.ok();
}

int explain_main(int argc, char** argv) {
  Options o;
  Args a("governor explain", argc, argv);
  if (!parse(a, o)) return a.usage_error();
  if (a.help()) return std::fputs(kHelp, stdout), 0;
  auto trace = governor::Trace::load(o.trace);
  if (!trace.ok()) return report(trace.error());
  auto s = setup(o);
  if (!s.ok()) return report(s.error());
  std::optional<governor::Profile> profile;
  if (!o.profile.empty()) {
    auto p = governor::load_profile(o.profile);
    if (!p.ok()) return report(p.error());
    profile = std::move(*p);
  }
  auto space = governor::Space::make(s->space);
  if (!space.ok()) return report(space.error());
  const double start = trace->start_s(), end = trace->end_s();
  governor::Sensors sensors = governor::Sensors::replay(std::move(*trace));
  governor::Governor g(std::move(*space), s->quality, profile ? &*profile : nullptr, s->config);
  std::printf("governor: %zu operating points, starting at %s; soft %.0f C, hard %.0f C%s\n",
              g.space().size(), g.space().describe(g.point_index()).c_str(), g.limits().soft_temp_c,
              g.limits().hard_temp_c,
              profile ? "" : "; latency from built-in guesses (no --profile)");
  const governor::ExplainSummary sum = governor::explain_trace(
      g, sensors, start, end, o.stream, [](const char* line) { std::printf("%s\n", line); });
  std::printf(
      "%.0f s: %d requests, %d met, %d missed, %d unfinished, %d refused deadline_unmeetable, %d "
      "refused "
      "overloaded; %d switches (%.1f a minute); mean perplexity %.3f (time-weighted)\n",
      sum.duration_s, sum.requests, sum.met, sum.missed, sum.unfinished, sum.refused_unmeetable,
      sum.refused_overloaded, sum.switches,
      sum.duration_s > 0 ? sum.switches * 60.0 / sum.duration_s : 0, sum.mean_ppl);
  if (o.json) std::printf("%s\n", g.events().to_json(g.space()).c_str());
  return 0;
}

}  // namespace

int governor_main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "explain") == 0) return explain_main(argc - 1, argv + 1);
  if (argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    return std::fputs(kHelp, stdout), 0;
  }
  std::fprintf(stderr,
               "airt governor: expected a subcommand: explain (airt governor explain --help)\n");
  return kExitUsage;
}

}  // namespace airt::cli
