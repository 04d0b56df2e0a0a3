// libFuzzer target for the service configuration parser (runtime/service/config.h):
// any text is either a ServiceConfig or an error that names the origin; never a crash.
// (config_finalize is left out: it reads files the config names.)
#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/service/config.h"
#include "tests/fuzz/fuzz_support.h"

namespace airt {
namespace {

void write_seeds() {
  const char* seeds[] = {
      "{}",
      R"({"node": "board-1", "slots": 2, "telemetry_interval_s": 1, "log_level": "debug",
          "broker": {"host": "127.0.0.1", "port": 1883, "protocol": "mqttv311", "keepalive_s": 5},
          "topics": {"request": "airt/{node}/request", "share_group": "g"},
          "limits": {"max_payload_bytes": 1024, "rate_limit_per_s": 0.5, "dedup_window": 16},
          "model": {"path": "/m.gguf", "ctx": 256, "threads": 1},
          "sessions": {"max_count": 0, "state_dir": "/tmp/s"}, "_comment": "x"})",
      R"({"slots": "four", "broker": {"port": 70000}, "unknown": 1})",
      R"({"broker": [], "topics": {"request": ""}, "limits": null})",
  };
  int i = 0;
  for (const char* s : seeds) fuzz::write_seed("config-" + std::to_string(i++) + ".json", s);
}

}  // namespace
}  // namespace airt

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  airt::write_seeds();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace airt;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto r = service::config_parse(text, "fuzz.json");
  if (r.ok()) {
    volatile size_t sink = r->topic(r->topics.request).size() + r->request_subscription().size();
    (void)sink;
  } else {
    fuzz::check(r.error().message.find("fuzz.json") != std::string::npos, "config errors name the origin");
  }
  return 0;
}
