#include "runtime/service/engine_generator.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <vector>

#include "governor/sensors/board.h"
#include "governor/sensors/memory.h"
#include "hal/cpu/kernels.h"
#include "hal/cpu/thread_pool.h"
#include "runtime/core/clock.h"
#include "runtime/core/log.h"
#include "runtime/engine/draft/vocab_check.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/memory_budget.h"
#include "runtime/model/model.h"
#include "runtime/model/vulkan_backend_auto.h"
#include "runtime/service/service_governor.h"
#include "runtime/text/chat_template.h"
#include "runtime/text/tokenizer.h"

namespace airt::service {
namespace {

class EngineGenerator final : public Generator, private engine::Sink {
 public:
  static Result<std::unique_ptr<Generator>> create(const ServiceConfig& c) {
    auto g = std::unique_ptr<EngineGenerator>(new EngineGenerator());
    g->config_ = c;
    g->model_ = AIRT_TRY(model::Model::load(c.model.path));
    for (const std::string& tier : c.model.ladder) AIRT_TRY(g->model_->add_tier(tier));
    g->tok_ = AIRT_TRY(text::Tokenizer::from_gguf(g->model_->file()));
    if (auto t = text::ChatTemplate::from_gguf(g->model_->file()); t.ok()) g->template_.emplace(std::move(t.value()));
    const int threads = c.model.threads > 0 ? c.model.threads : hal::physical_cores();
    const hal::Kernels* kernels = AIRT_TRY(hal::kernels_best());

    engine::EngineConfig ec;
    ec.n_slots = c.slots;
    ec.n_ctx = std::min(c.model.ctx, std::max(g->model_->hparams().n_ctx_train, 1));
    ec.kernels = kernels;
    ec.n_threads = threads;
    ec.backend = c.model.backend == "vulkan" ? governor::BackendKind::kVulkan : governor::BackendKind::kCpu;
    ec.gpu = c.model.gpu;
    ec.gpu_layers = c.model.gpu_layers;
    ec.cpu_fallback = c.model.backend_fallback == "cpu";
    ec.repack = c.model.repack;
    if (c.model.backend == "auto") {
      model::BackendParams bp;
      bp.kernels = kernels;
      bp.n_threads = threads;
      bp.gpu = c.model.gpu;
      bp.gpu_layers = c.model.gpu_layers;
      const model::BackendChoice choice = model::backend_choose(*g->model_, bp);
      for (const std::string& note : choice.notes) AIRT_LOG_INFO("%s", note.c_str());
      ec.backend = choice.kind;
      ec.gpu = choice.gpu;
      ec.cpu_fallback = c.model.backend_fallback != "none";  // on vulkan: the cpu planned too
    }
    if (!c.model.draft.empty()) {
      ec.drafters = AIRT_TRY(engine::DraftSpec::parse_chain(c.model.draft));
      ec.draft_max = c.model.draft_max;
      AIRT_TRY(engine::load_draft_models(ec.drafters, *g->tok_, g->drafts_));
    }
    MemoryPlan plan = AIRT_TRY(engine::Engine::plan(*g->model_, ec));
    governor::MemoryReading mem = AIRT_TRY(governor::read_memory());
    engine::MemoryBudget budget = engine::memory_budget_of(mem.headroom(), mem.headroom_source());
    if (std::string over = engine::over_budget_message(plan, budget); !over.empty()) {
      return errorf(Error::kResourceOverBudget, "%s: %s", c.model.path.c_str(), over.c_str());
    }
    // One line a region: a log record is bounded, the plan is not.
    AIRT_LOG_INFO("memory plan for %s (%d slots, ctx %d):", c.model.path.c_str(), ec.n_slots, ec.n_ctx);
    const std::string table = plan.to_string();
    for (size_t at = 0, nl; at < table.size(); at = nl + 1) {
      nl = table.find('\n', at);
      if (nl == std::string::npos) nl = table.size();
      AIRT_LOG_INFO("  %.*s", int(nl - at), table.c_str() + at);
    }
    g->engine_ = AIRT_TRY(engine::Engine::create(*g->model_, *g->tok_, ec));
    if (!c.sessions.state_dir.empty()) {
      std::error_code ec2;
      std::filesystem::create_directories(c.sessions.state_dir, ec2);
    }
    if (c.governor.enabled) g->governor_ = AIRT_TRY(service_governor_start(*g->engine_, c, c.sessions.state_dir));
    return std::unique_ptr<Generator>(std::move(g));
  }

  GeneratorInfo info() const override {
    GeneratorInfo i;
    std::string_view name;
    if (const gguf::Value* v = model_->file().find("general.name"); v && v->is_string()) name = v->as_string();
    i.model = name.empty() ? std::filesystem::path(config_.model.path).stem().string() : std::string(name);
    i.slots = config_.slots;
    i.has_chat_template = template_.has_value();
    return i;
  }

  Status submit(RequestTicket ticket, const GenerateRequest& r) override {
    std::string rendered;
    std::string_view prompt = r.prompt;
    if (!r.messages.empty()) {
      if (!template_) {
        return errorf(Error::kRequestInvalid,
                      "this model has no chat template: send \"prompt\" instead of \"messages\"");
      }
      std::vector<text::ChatMessage> msgs;
      for (const ChatMessage& m : r.messages) msgs.push_back({m.role, m.content});
      rendered = AIRT_TRY(template_->apply(msgs, true));
      prompt = rendered;
    }
    std::vector<int32_t> ids;
    AIRT_TRY(tok_->encode(prompt, tok_->add_bos(), !r.messages.empty(), ids));
    if (int(ids.size()) > config_.limits.max_prompt_tokens) {
      return errorf(Error::kRequestTooLarge, "prompt is %zu tokens; limits.max_prompt_tokens is %d", ids.size(),
                    config_.limits.max_prompt_tokens);
    }
    engine::Request er;
    er.prompt_tokens = ids;
    er.max_tokens = r.max_tokens;
    er.sampling.temp = r.temperature;
    er.sampling.top_p = r.top_p;
    er.sampling.top_k = r.top_k;
    er.sampling.seed = r.has_seed ? r.seed : uint64_t(now_ns()) ^ (ticket * 0x9E3779B97F4A7C15ull);
    er.stop = r.stop;
    er.priority = r.priority;
    er.arrival_ns = r.arrival_ns ? r.arrival_ns : now_ns();
    if (r.ttft_ms > 0) er.first_token_deadline_ns = er.arrival_ns + int64_t(r.ttft_ms) * 1000000;
    if (r.deadline_ms > 0) er.deadline_ns = er.arrival_ns + int64_t(r.deadline_ms) * 1000000;
    if (governor_) {
      AIRT_TRY(governed_admit(ticket, er, r.best_effort));
    } else if (!r.best_effort && unmeetable(er, ids.size())) {
      return errorf(Error::kResourceOverBudget,
                    "the deadline cannot be met at the measured speed (%.1f tokens/s); set best_effort to run anyway",
                    engine_->stats().decode_tokens_per_s);
    }
    std::string session_path;
    if (!r.session.empty()) {
      session_path = AIRT_TRY(session_file(config_.sessions.state_dir, r.session));
      er.session_path = session_path;
    }
    AIRT_TRY(engine_->submit(ticket, er));
    if (!session_path.empty()) sessions_used_.push_back(session_path);
    return {};
  }

  // The governor's admission at arrival, on an estimate of the prompt's length (it is
  // tokenized at submit, where the governor is asked again with the exact figure).
  Status admit(RequestTicket ticket, const GenerateRequest& r) override {
    if (!governor_) return {};
    size_t bytes = r.prompt.size();
    for (const ChatMessage& m : r.messages) bytes += m.content.size() + 16;  // the template's markup, roughly
    const std::string estimate(std::min<size_t>(bytes, 1 << 20), ' ');
    engine::Request er;
    er.prompt = estimate;
    er.max_tokens = r.max_tokens;
    const int64_t arrival = r.arrival_ns ? r.arrival_ns : now_ns();
    if (r.ttft_ms > 0) er.first_token_deadline_ns = arrival + int64_t(r.ttft_ms) * 1000000;
    if (r.deadline_ms > 0) er.deadline_ns = arrival + int64_t(r.deadline_ms) * 1000000;
    return governed_admit(ticket, er, r.best_effort);
  }

  void cancel(RequestTicket ticket) override { engine_->cancel(ticket); }

  bool step(GenerateSink& sink) override {
    sink_ = &sink;
    bool more = engine_->step(*this);
    sink_ = nullptr;
    if (!sessions_used_.empty()) prune_sessions();
    return more;
  }

  GeneratorStats stats() override {
    engine::EngineStats s = engine_->stats();
    GeneratorStats g;
    g.slots_busy = s.slots_busy;
    g.tokens_per_s = s.decode_tokens_per_s;
    g.operating_point = s.point;  // the engine's point: the governor's where one runs
    g.tier_name = s.tier_name;
    g.drafted = s.drafted;
    g.accepted = s.accepted;
    g.draft_k = s.draft_k;
    if (governor_) {
      governor_stats(g);
      return g;
    }
    governor::BoardReading board = governor::read_board();
    if (board.max_celsius) g.temperature_c = *board.max_celsius;
    if (board.power_watts) g.power_w = *board.power_watts;
    return g;
  }

 private:
  EngineGenerator() = default;

  // A deadline is unmeetable when it has already passed, or when even the first token
  // cannot arrive in time at the decode speed measured so far (prefill is at least as fast).
  bool unmeetable(const engine::Request& r, size_t prompt_tokens) const {
    const int64_t now = now_ns();
    if ((r.deadline_ns && r.deadline_ns <= now) || (r.first_token_deadline_ns && r.first_token_deadline_ns <= now))
      return true;
    const double rate = engine_->stats().decode_tokens_per_s;
    if (rate <= 0 || !r.first_token_deadline_ns) return false;
    // Prompt processing runs in batches, far faster than decoding; a tenth of the decode
    // time per token is a conservative estimate that still rules out the hopeless.
    const double ttft_ns = double(prompt_tokens) / (rate * 10.0) * 1e9;
    return now + int64_t(ttft_ns) > r.first_token_deadline_ns;
  }

  Status governed_admit(RequestTicket ticket, const engine::Request& er, bool best_effort) {
    const governor::Admission a = governor_->admit(ticket, er, best_effort);
    if (a.ok) return {};
    const bool shed = std::string_view(a.code) == "overloaded";
    return errorf(shed ? Error::kResourceExhausted : Error::kResourceOverBudget, "governor: %s%s", a.reason,
                  shed ? "; try again later" : "; set best_effort to run anyway");
  }

  // The governor's view for telemetry and status; while idle it decides too, so a board
  // that heats up between requests is seen (and derated) before the next one.
  void governor_stats(GeneratorStats& g) {
    if (!engine_->busy()) governor_->tick();
    const governor::Snapshot& snap = governor_->snapshot();
    if (snap.temp_c) g.temperature_c = *snap.temp_c;
    if (snap.power_w) g.power_w = *snap.power_w;
    service_governor_events(*governor_, events_seen_, g.events);
    g.governor = service_governor_json(*governor_);
    const engine::EngineStats s = engine_->stats();
    g.operating_point = s.point;
    g.tier_name = s.tier_name;
  }

  // Keeps at most sessions.max_count session files: the least recently used go.
  void prune_sessions() {
    const std::string& dir = config_.sessions.state_dir;
    std::error_code ec;
    std::vector<std::pair<std::filesystem::file_time_type, std::filesystem::path>> files;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      if (e.path().extension() == ".session") files.emplace_back(e.last_write_time(ec), e.path());
    }
    sessions_used_.clear();
    if (int(files.size()) <= config_.sessions.max_count) return;
    std::sort(files.begin(), files.end());
    for (size_t i = 0; i + size_t(config_.sessions.max_count) < files.size(); ++i) {
      AIRT_LOG_INFO("session %s evicted (sessions.max_count %d)", files[i].second.c_str(), config_.sessions.max_count);
      std::filesystem::remove(files[i].second, ec);
    }
  }

  // engine::Sink
  void on_token(engine::Ticket t, int32_t, std::string_view delta) override { sink_->on_token(t, delta); }
  void on_finish(engine::Ticket t, const engine::Finish& f) override {
    if (!f.tail.empty()) sink_->on_token(t, f.tail);
    FinishInfo info;
    info.reason = f.reason;
    info.prompt_tokens = f.prompt_tokens;
    info.completion_tokens = f.completion_tokens;
    info.drafted = f.drafted;
    info.accepted = f.accepted;
    info.passes = f.passes;
    info.operating_point = engine_->point();
    info.tier_name = model_->tier_name(engine_->point().tier);
    sink_->on_finish(t, info);
  }
  void on_error(engine::Ticket t, const ErrorInfo& e) override { sink_->on_error(t, e); }

  ServiceConfig config_;
  std::unique_ptr<model::Model> model_;
  std::vector<std::unique_ptr<model::Model>> drafts_;  // speculative draft models (model.draft)
  std::unique_ptr<text::Tokenizer> tok_;
  std::optional<text::ChatTemplate> template_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<engine::GovernorLoop> governor_;  // after the engine: destroyed before it
  uint64_t events_seen_ = 0;
  GenerateSink* sink_ = nullptr;
  std::vector<std::string> sessions_used_;
};

}  // namespace

Result<std::string> session_file(const std::string& state_dir, std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64 && name[0] != '.';
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  if (!ok) {
    return errorf(Error::kRequestInvalid, "session '%.*s': names are 1-64 characters of A-Z a-z 0-9 . _ - (not starting with '.')",
                  int(std::min<size_t>(name.size(), 80)), name.data());
  }
  return state_dir + "/" + std::string(name) + ".session";
}

Result<std::unique_ptr<Generator>> make_engine_generator(const ServiceConfig& config) {
  return EngineGenerator::create(config);
}

}  // namespace airt::service
