#include "runtime/cli/run_governor.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "governor/config.h"
#include "runtime/cli/bench_calibrate.h"
#include "runtime/engine/tier_quality.h"

namespace airt::cli {
namespace {

std::string default_state_dir() {
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) return std::string(x) + "/airt";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/state/airt";
  return "";
}

// Printed from the step hook: no allocation (the reason already names the change).
void print_event(const governor::Event& ev) {
  std::fprintf(stderr, "airt: governor %.1f s [%s%s]: %s\n", ev.t_s,
               governor::pressure_name(ev.pressure), ev.shed ? ", shedding" : "", ev.reason);
}

// Lists a configuration gave beyond a knob's single default become the Space's.
engine::GovernedSpaceOptions space_options(const governor::SpaceConfig& s) {
  engine::GovernedSpaceOptions o;
  if (s.windows.size() > 1) o.windows = s.windows, o.sinks = s.sinks;
  if (s.kv.size() > 1) o.kv = s.kv;
  if (s.draft_lens.size() > 1) o.draft_lens = s.draft_lens;
  if (s.threads.size() > 1) o.threads = s.threads;
  return o;
}

// The configuration's perplexities, else the tiers' cached ones (airt bench --ladder
// --quality measures them); a tier with neither is ranked by a placeholder.
governor::QualityTable quality(const engine::Engine& e, const RunGovernorOptions& o,
                               const governor::GovernorSetup& setup) {
  if (!o.config.empty()) return setup.quality;
  const std::string dir = o.state_dir.empty() ? default_state_dir() : o.state_dir;
  const std::vector<engine::TierQuality> q =
      engine::tier_quality_cached(e.model(), engine::tier_quality_default_text(), dir);
  if (o.verbose) {
    for (const engine::TierQuality& t : q)
      std::fprintf(stderr, "airt: governor: tier %s perplexity %.3f (cached)\n", e.model().tier_name(t.tier),
                   t.perplexity);
    if (q.size() < size_t(e.model().n_tiers()) && e.model().n_tiers() > 1)
      std::fprintf(stderr,
                   "airt: governor: %zu of %d tiers have a measured perplexity; the others are ranked in ladder "
                   "order (airt bench --ladder --quality measures them)\n",
                   q.size(), e.model().n_tiers());
  }
  return engine::governed_quality(q);
}

Result<governor::Sensors> sensors(const RunGovernorOptions& o, double& start_s) {
  start_s = 0;
  if (o.trace.empty()) return governor::Sensors::live(o.sysfs_root);
  governor::Trace t = AIRT_TRY(governor::Trace::load(o.trace));
  start_s = t.start_s();
  return governor::Sensors::replay(std::move(t));
}

// --governor-profile, else the profile airt bench --calibrate writes by default where it is
// there. A named file that is missing or invalid is an error; a missing default is not.
Result<std::optional<governor::Profile>> profile(const RunGovernorOptions& o) {
  const std::string path = o.profile.empty() ? bench_state_dir() + "/" + kProfileFile : o.profile;
  auto p = governor::load_profile_if_present(path);
  if (!p.ok()) return errorf(p.error().code, "--governor-profile: %s", p.error().message.c_str());
  // A file named on the command line must be there; the default one may not be yet.
  if (!*p && !o.profile.empty())
    return errorf(Error::kIoNotFound, "--governor-profile: %s: no such file (airt bench --calibrate writes one)",
                  path.c_str());
  if (o.verbose && !*p) std::fprintf(stderr, "airt: governor: no latency profile at %s; the costs are learned\n", path.c_str());
  if (o.verbose && *p) std::fprintf(stderr, "airt: governor: latency profile %s (%zu points)\n", path.c_str(), (*p)->points.size());
  return p;
}

}  // namespace

bool RunGovernorOptions::parse(Args& a) {
  if (a.flag("--governor", enabled) || a.str("--governor-config", nullptr, config) ||
      a.str("--governor-profile", nullptr, profile) ||
      a.str("--sysfs-root", nullptr, sysfs_root) || a.flag("--verbose", verbose) || a.flag("-v", verbose))
    return true;
  if (!a.str("--governor-trace", nullptr, trace)) return false;
  enabled = true;
  return true;
}

Result<std::unique_ptr<engine::GovernorLoop>> run_governor_start(engine::Engine& e,
                                                                 const RunGovernorOptions& o) {
  governor::GovernorSetup setup;
  if (!o.config.empty()) setup = AIRT_TRY(governor::load_governor_config(o.config));
  governor::SpaceConfig sc = AIRT_TRY(engine::governed_space(e, space_options(setup.space)));
  governor::Space space = AIRT_TRY(governor::Space::make(sc));
  governor::QualityTable q = quality(e, o, setup);
  const std::optional<governor::Profile> prof = AIRT_TRY(profile(o));
  if (prof && o.config.empty()) governor::profile_quality(*prof, q);
  engine::GovernorLoopConfig c;
  c.governor = setup.config;
  governor::Sensors s = AIRT_TRY(sensors(o, c.start_s));
  if (o.verbose) {
    for (const std::string& line : s.absent()) std::fprintf(stderr, "airt: governor: %s\n", line.c_str());
    c.on_event = print_event;
  }
  auto g = AIRT_TRY(engine::GovernorLoop::create(e, std::move(s), std::move(space), std::move(q),
                                                 prof ? &*prof : nullptr, c));
  if (o.verbose) {
    std::fprintf(stderr, "airt: governor: %zu operating points, starting at %s; soft %.0f C, hard %.0f C%s%s\n",
                 g->governor().space().size(), g->describe_point().c_str(), g->governor().limits().soft_temp_c,
                 g->governor().limits().hard_temp_c, o.trace.empty() ? "" : "; replaying ", o.trace.c_str());
  }
  return g;
}

void run_governor_report(const engine::GovernorLoop& g) {
  std::fprintf(stderr, "airt: governor: ended at %s after %llu event(s)\n", g.describe_point().c_str(),
               static_cast<unsigned long long>(g.governor().events().total()));
}

}  // namespace airt::cli
