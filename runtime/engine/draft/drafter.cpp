#include "runtime/engine/draft/drafter.h"

#include <cstdlib>

#include "runtime/engine/draft/model_drafter.h"
#include "runtime/engine/draft/ngram_drafter.h"

namespace airt::engine {
namespace {

constexpr const char* kForms = "ngram, tier:NAME, self:skip=N, self:layers=A,B,... or a draft model's .gguf path";

// "3" or "1,4,7" -> numbers; false on anything else.
bool parse_numbers(std::string_view s, std::vector<int32_t>& out) {
  while (!s.empty()) {
    const size_t comma = s.find(',');
    std::string item(s.substr(0, comma));
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end || v < 0 || v > 100000) return false;
    out.push_back(int32_t(v));
    s = comma == std::string_view::npos ? std::string_view() : s.substr(comma + 1);
    if (comma != std::string_view::npos && s.empty()) return false;
  }
  return !out.empty();
}

}  // namespace

Result<DraftSpec> DraftSpec::parse(std::string_view text) {
  DraftSpec d;
  d.text = std::string(text);
  if (text == "ngram") return d;
  if (text.starts_with("tier:") && text.size() > 5) {
    d.kind = Kind::kTier;
    d.tier = std::string(text.substr(5));
    return d;
  }
  if (text.starts_with("self:")) {
    d.kind = Kind::kSelf;
    std::string_view rest = text.substr(5);
    std::vector<int32_t> v;
    if (rest.starts_with("skip=") && parse_numbers(rest.substr(5), v) && v.size() == 1 && v[0] > 0) {
      d.skip = v[0];
      return d;
    }
    if (rest.starts_with("layers=") && parse_numbers(rest.substr(7), v)) {
      d.layers = v;
      return d;
    }
    return errorf(Error::kRequestInvalid, "--draft %s: expected self:skip=N (N >= 1) or self:layers=A,B,...", d.text.c_str());
  }
  if (text.ends_with(".gguf")) {
    d.kind = Kind::kModel;
    d.path = std::string(text);
    return d;
  }
  return errorf(Error::kRequestInvalid, "--draft '%s': expected %s", d.text.c_str(), kForms);
}

Result<std::vector<DraftSpec>> DraftSpec::parse_chain(std::string_view text) {
  std::vector<DraftSpec> out;
  while (true) {
    const size_t plus = text.find('+');
    out.push_back(AIRT_TRY(parse(text.substr(0, plus))));
    if (plus == std::string_view::npos) break;
    text = text.substr(plus + 1);
  }
  return out;
}

Status drafter_plan(const DraftSpec& spec, const model::Model& target, const DraftParams& p, MemoryPlan& plan) {
  if (spec.kind == DraftSpec::Kind::kNgram) return {};
  if (spec.kind == DraftSpec::Kind::kModel && !spec.model) {
    return errorf(Error::kInternal, "--draft %s: the draft model is not loaded", spec.text.c_str());
  }
  const model::Model& m = ModelDrafter::evaluated(spec, target);
  const model::BackendParams bp = AIRT_TRY(ModelDrafter::backend_params(spec, target, p, nullptr));
  AIRT_TRY(model::KvCache::check(m.hparams(), bp.kv));
  if (spec.kind == DraftSpec::Kind::kModel) {
    plan.add("draft weights (mapped)", m.weight_bytes(), RegionKind::kMapped, spec.path);
  }
  MemoryPlan own;
  model::BackendParams shared = bp;
  shared.shares_pool = true;
  AIRT_TRY(model::backend_plan(m, shared, own));
  own.add("kv tables", model::KvCache::arena_bytes(m.hparams(), bp.kv), RegionKind::kResident, "the drafter's cache");
  for (const Region& r : own.regions()) plan.add("draft " + r.name, r.bytes, r.kind, r.detail);
  ModelDrafter::plan_tables(p, plan);
  return {};
}

Result<std::unique_ptr<Drafter>> drafter_create(const DraftSpec& spec, const model::Model& target,
                                                const DraftParams& p, hal::ThreadPool* pool) {
  if (spec.kind == DraftSpec::Kind::kNgram) return std::unique_ptr<Drafter>(new NgramDrafter());
  if (!pool) return errorf(Error::kBackendUnsupported, "--draft %s needs the cpu backend's threads", spec.text.c_str());
  return std::unique_ptr<Drafter>(AIRT_TRY(ModelDrafter::create(spec, target, p, pool)).release());
}

}  // namespace airt::engine
