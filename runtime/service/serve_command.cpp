#include "runtime/service/serve_command.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>

#include "runtime/core/args.h"
#include "runtime/core/log.h"
#include "runtime/service/config.h"
#include "runtime/service/server.h"
#include "runtime/service/systemd_journal.h"
#include "runtime/service/systemd_notify.h"

namespace airt::service {
namespace {

void serve_usage(FILE* f) {
  std::fprintf(f,
               "usage: airt serve -m MODEL --broker HOST:PORT --node NAME [options]\n"
               "Answers generation requests over MQTT (protocol: runtime/service/README.md).\n"
               "  -m, --model PATH      GGUF model (model.path)\n"
               "  --ladder F[,F...]     the same model at other quantizations, weight tiers (model.ladder)\n"
               "  --broker URL          HOST:PORT, mqtt://HOST:PORT or mqtts://HOST:PORT (broker.*)\n"
               "  --node NAME           node name in topics airt/NAME/... (node)\n"
               "  --config FILE         JSON config, e.g. /etc/airt/airt.json; flags override it\n"
               "  --slots N             requests generated at once (slots)\n"
               "  --ctx N               context length per slot (model.ctx)\n"
               "  --threads N           CPU threads, 0 = all cores (model.threads)\n"
               "  --log-level LEVEL     debug, info, warning or error (log_level)\n"
               "Signals: SIGTERM/SIGINT drain and stop, SIGHUP reloads the config file.\n");
}

struct ServeFlags {
  std::string config_file, model, broker, node, log_level, ladder;
  int32_t slots = -1, ctx = -1, threads = -1;
};

// Returns -1 to continue, else an exit status (0 for --help, kExitUsage for a bad command line).
int parse_flags(int argc, char** argv, ServeFlags* f) {
  Args a("serve", argc, argv);
  while (a.next()) {
    if (a.str("--model", "-m", f->model) || a.str("--broker", nullptr, f->broker) ||
        a.str("--node", nullptr, f->node) || a.str("--config", nullptr, f->config_file) ||
        a.str("--log-level", nullptr, f->log_level) || a.str("--ladder", nullptr, f->ladder) || a.i32("--slots", nullptr, f->slots, 1, 256) ||
        a.i32("--ctx", nullptr, f->ctx, 16, 1048576) || a.i32("--threads", nullptr, f->threads, 0, 1024))
      continue;
    a.unknown();
  }
  if (a.help()) {
    serve_usage(stdout);
    return 0;
  }
  if (!a.ok()) return a.usage_error();
  return -1;
}

// The config file (or defaults) with the flags applied and checked.
Result<ServiceConfig> effective_config(const ServeFlags& f) {
  ServiceConfig c;
  std::string origin = "command line";
  if (!f.config_file.empty()) {
    c = AIRT_TRY(config_load(f.config_file));
    origin = f.config_file;
  }
  if (!f.model.empty()) c.model.path = f.model;
  if (!f.ladder.empty()) {
    c.model.ladder.clear();
    for (size_t at = 0; at <= f.ladder.size();) {
      const size_t comma = std::min(f.ladder.find(',', at), f.ladder.size());
      if (comma > at) c.model.ladder.push_back(f.ladder.substr(at, comma - at));
      at = comma + 1;
    }
  }
  if (!f.broker.empty()) AIRT_TRY(config_set_broker_url(c.broker, f.broker));
  if (!f.node.empty()) c.node = f.node;
  if (!f.log_level.empty()) {
    if (f.log_level != "debug" && f.log_level != "info" && f.log_level != "warning" && f.log_level != "error")
      return errorf(Error::kRequestInvalid, "--log-level: must be debug, info, warning or error, got \"%s\"",
                    f.log_level.c_str());
    c.log_level = f.log_level;
  }
  if (f.slots > 0) c.slots = f.slots;
  if (f.ctx > 0) c.model.ctx = f.ctx;
  if (f.threads >= 0) c.model.threads = f.threads;
  AIRT_TRY(config_finalize(c, origin));
  if (c.model.path.empty())
    return errorf(Error::kRequestInvalid, "%s: model.path: required (set it in the config file or pass -m MODEL)",
                  origin.c_str());
  return c;
}

// Signals are taken synchronously by one thread (sigtimedwait), so the handlers can call
// into the server like any other code instead of being limited to async-signal-safe calls.
class SignalThread {
 public:
  SignalThread(Server& server, const ServeFlags& flags) : server_(server), flags_(flags) {
    thread_ = std::thread([this] { run(); });
  }
  ~SignalThread() {
    done_ = true;
    thread_.join();
  }

 private:
  void run() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    timespec tick{0, 200 * 1000 * 1000};
    while (!done_) {
      int sig = sigtimedwait(&set, nullptr, &tick);
      if (sig == SIGTERM || sig == SIGINT) {
        AIRT_LOG_INFO("%s received: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        server_.stop();
      } else if (sig == SIGHUP) {
        Result<ServiceConfig> c = effective_config(flags_);
        if (!c.ok()) {
          AIRT_LOG_ERROR("reload failed, keeping the running configuration: %s", c.error().message.c_str());
          continue;
        }
        server_.reload(std::move(c.value()));
      }
    }
  }
  Server& server_;
  const ServeFlags& flags_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace

int serve_main(int argc, char** argv, const GeneratorFactory& factory) {
  ServeFlags flags;
  if (int rc = parse_flags(argc, argv, &flags); rc >= 0) return rc;
  log_use_journal_if_systemd();
  Result<ServiceConfig> config = effective_config(flags);
  if (!config.ok()) {
    std::fprintf(stderr, "airt serve: %s\n", config.error().message.c_str());
    return kExitUsage;
  }
  service_log_set_level(config->log_level == "debug"     ? LogLevel::kDebug
                        : config->log_level == "warning" ? LogLevel::kWarn
                        : config->log_level == "error"   ? LogLevel::kError
                                                         : LogLevel::kInfo);
  // Block the signals before any thread starts, so only SignalThread receives them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  SystemdNotifier notifier;
  notifier.status("loading model " + config->model.path);
  Result<std::unique_ptr<Generator>> generator = factory(config.value());
  if (!generator.ok()) {
    AIRT_LOG_ERROR("%s", generator.error().message.c_str());
    notifier.status("failed: " + generator.error().message);
    return kExitRuntime;
  }
  Server server(config.value(), *generator.value(), &notifier);
  Status st;
  {
    SignalThread signals(server, flags);
    st = server.run();
  }
  if (!st.ok()) {
    AIRT_LOG_ERROR("%s", st.error().message.c_str());
    return kExitRuntime;
  }
  return 0;
}

int config_main(int argc, char** argv) {
  std::string verb = argc > 1 ? argv[1] : "";
  if (verb == "check" && argc == 3) {
    Result<ServiceConfig> c = config_load(argv[2]);
    if (c.ok()) {
      Status st = config_finalize(c.value(), argv[2]);
      if (!st.ok()) c = st.error();
    }
    if (!c.ok()) {
      std::fprintf(stderr, "%s\n", c.error().message.c_str());
      return kExitRuntime;
    }
    std::printf("%s: ok\n", argv[2]);
    return 0;
  }
  if (verb == "defaults" && argc == 2) {
    std::fputs(config_defaults_json().c_str(), stdout);
    return 0;
  }
  FILE* out = (verb == "-h" || verb == "--help") ? stdout : stderr;
  std::fprintf(out,
               "usage: airt config check FILE   validate a configuration file, naming each bad field\n"
               "       airt config defaults     print every field with its default and documentation\n");
  return out == stdout ? 0 : kExitUsage;
}

}  // namespace airt::service
