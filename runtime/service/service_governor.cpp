#include "runtime/service/service_governor.h"

#include <algorithm>
#include <optional>

#include "runtime/core/clock.h"
#include "runtime/core/log.h"
#include "runtime/engine/tier_quality.h"
#include "runtime/service/json_util.h"

namespace airt::service {
namespace {

// The service publishes the ring in every status: the newest 16 events are enough.
constexpr size_t kServiceEvents = 16;

// From the step hook: one log line (journald under systemd) per event, with its reason.
void log_event(const governor::Event& ev) {
  if (ev.pressure == governor::Pressure::kNone) {
    AIRT_LOG_WARN("governor: %s", ev.reason);
  } else {
    AIRT_LOG_INFO("governor [%s%s]: %s", governor::pressure_name(ev.pressure), ev.shed ? ", shedding" : "",
                  ev.reason);
  }
}

Result<governor::Sensors> sensors(const GovernorServiceConfig& c, double& start_s) {
  start_s = 0;
  if (c.trace.empty()) {
    governor::Sensors s = governor::Sensors::live(c.sysfs_root);
    for (const std::string& line : s.absent()) AIRT_LOG_INFO("governor: %s", line.c_str());
    return s;
  }
  governor::Trace t = AIRT_TRY(governor::Trace::load(c.trace));
  start_s = t.start_s();
  AIRT_LOG_INFO("governor: replaying the sensor trace %s (%zu rows) instead of the board's sensors", c.trace.c_str(),
                t.rows());
  return governor::Sensors::replay(std::move(t));
}

governor::Limits limits(const GovernorServiceConfig& c) {
  governor::Limits l;
  l.soft_temp_c = c.soft_temp_c;
  l.hard_temp_c = c.hard_temp_c;
  if (c.power_cap_w > 0) l.power_cap_w = c.power_cap_w;
  if (c.mem_floor_mb > 0) l.mem_floor_mb = c.mem_floor_mb;
  l.dwell_s = c.dwell_s;
  return l;
}

// With a memory floor the window may shrink too: to a half and a quarter of the context
// (at least 64 positions), where the engine attends to the whole context now.
engine::GovernedSpaceOptions space_options(const engine::Engine& e, const GovernorServiceConfig& c) {
  engine::GovernedSpaceOptions o;
  if (c.mem_floor_mb <= 0 || e.config().window != 0) return o;
  o.windows = {0};
  for (int32_t w : {e.n_ctx() / 2, e.n_ctx() / 4})
    if (w >= 64) o.windows.push_back(w);
  return o;
}

// governor.profile where the file is there; an unreadable or invalid one is an error
// naming it (a calibration silently ignored would be a surprise).
Result<std::optional<governor::Profile>> profile(const GovernorServiceConfig& c) {
  auto p = governor::load_profile_if_present(c.profile);
  if (!p.ok()) return errorf(p.error().code, "governor.profile: %s", p.error().message.c_str());
  if (!*p && !c.profile.empty())
    AIRT_LOG_INFO("governor: no latency profile at %s (airt bench --calibrate writes one); the cost model starts "
                  "from its defaults and learns online",
                  c.profile.c_str());
  if (*p) AIRT_LOG_INFO("governor: latency profile %s (%zu points)", c.profile.c_str(), (*p)->points.size());
  return p;
}

}  // namespace

Result<std::unique_ptr<engine::GovernorLoop>> service_governor_start(engine::Engine& e, const ServiceConfig& c,
                                                                    const std::string& state_dir) {
  governor::SpaceConfig sc = AIRT_TRY(engine::governed_space(e, space_options(e, c.governor)));
  governor::Space space = AIRT_TRY(governor::Space::make(sc));
  const std::vector<engine::TierQuality> q =
      engine::tier_quality_cached(e.model(), engine::tier_quality_default_text(), state_dir);
  if (e.model().n_tiers() > 1 && q.size() < size_t(e.model().n_tiers())) {
    AIRT_LOG_INFO("governor: %zu of %d tiers have a measured perplexity; the others are ranked in ladder order "
                  "(airt bench --ladder --quality --state-dir %s measures them)",
                  q.size(), e.model().n_tiers(), state_dir.c_str());
  }
  const std::optional<governor::Profile> prof = AIRT_TRY(profile(c.governor));
  governor::QualityTable quality = engine::governed_quality(q);
  if (prof) governor::profile_quality(*prof, quality);
  engine::GovernorLoopConfig lc;
  lc.governor.limits = limits(c.governor);
  lc.governor.event_capacity = kServiceEvents;
  lc.on_event = log_event;
  governor::Sensors s = AIRT_TRY(sensors(c.governor, lc.start_s));
  auto g = AIRT_TRY(engine::GovernorLoop::create(e, std::move(s), std::move(space), std::move(quality),
                                                 prof ? &*prof : nullptr, std::move(lc)));
  AIRT_LOG_INFO("governor: %zu operating points, starting at %s; soft %.0f C, hard %.0f C", g->governor().space().size(),
                g->describe_point().c_str(), c.governor.soft_temp_c, c.governor.hard_temp_c);
  return g;
}

void service_governor_events(const engine::GovernorLoop& g, uint64_t& seen, std::vector<GovernorEvent>& out) {
  const governor::EventRing& ring = g.governor().events();
  const uint64_t fresh = std::min<uint64_t>(ring.total() - seen, ring.size());
  seen = ring.total();
  const int64_t now = now_ns();
  const double now_s = g.now_s();
  const governor::Space& space = g.governor().space();
  for (size_t i = ring.size() - size_t(fresh); i < ring.size(); ++i) {
    const governor::Event& ev = ring.at(i);
    GovernorEvent o;
    o.time_ns = now - int64_t((now_s - ev.t_s) * 1e9);
    char what[160];
    space.describe_change(ev.from, ev.to, what, sizeof what);
    o.what = what;
    o.reason = ev.reason;
    out.push_back(std::move(o));
  }
}

std::string service_governor_json(const engine::GovernorLoop& g) {
  std::string out = "{\"point\":";
  json_append_string(out, g.describe_point());
  out += g.governor().shedding() ? ",\"shedding\":true," : ",\"shedding\":false,";
  const std::string ring = g.events_json();  // {"total": N, "events": [...]}
  out.append(ring, 1, std::string::npos);
  return out;
}

}  // namespace airt::service
