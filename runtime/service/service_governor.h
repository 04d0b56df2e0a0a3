// The governor of `airt serve` (config section "governor"): a GovernorLoop on the
// service's engine, its events logged (journald under systemd) as they happen, and
// rendered for telemetry and the retained status.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/result.h"
#include "runtime/engine/governed.h"
#include "runtime/service/config.h"
#include "runtime/service/generator.h"

namespace airt::service {

// The loop on `e` (idle) for `c.governor`: the Space from the engine (tiers of
// model.ladder, KV precisions, draft lengths), the tiers' perplexities from the cache
// where measured (beside the model or in `state_dir`) or in the latency profile
// (governor.profile, which also seeds the cost model), the board's sensors under
// governor.sysfs_root or the replayed governor.trace.
Result<std::unique_ptr<engine::GovernorLoop>> service_governor_start(engine::Engine& e, const ServiceConfig& c,
                                                                    const std::string& state_dir);

// Events pushed since `seen` (updated), as the service's telemetry entries.
void service_governor_events(const engine::GovernorLoop& g, uint64_t& seen, std::vector<GovernorEvent>& out);

// {"point": "q4_0 kv q8_0", "shedding": false, "total": N, "events": [...]} with the
// newest events (EventRing::to_json).
std::string service_governor_json(const engine::GovernorLoop& g);

}  // namespace airt::service
