// The governor in the engine's step loop: a real small model with a q8_0/q4_0 ladder made
// by the quantizer, a replayed trace that heats up past the soft and the hard limit on a
// clock the test drives, and two sequences running throughout. The point moves down,
// every move is an event, no request fails and no step allocates.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "runtime/core/clock.h"
#include "runtime/engine/governed.h"
#include "runtime/gguf/gguf.h"
#include "runtime/model/quantize.h"
#include "tests/support/alloc_counter.h"
#include "tests/support/test_support.h"

namespace airt {
namespace {

// Writes stories260K quantized by `recipe` into `dir`; empty when the shared model is absent.
std::string quantized(const std::string& dir, const char* recipe) {
  const std::string f32 = test::model_path("stories260K.gguf");
  if (f32.empty()) return "";
  auto in = gguf::File::open(f32);
  EXPECT_TRUE(in.ok()) << in.error().message;
  const model::QuantRecipe* r = model::quant_recipe_find(recipe);
  auto plan = model::quant_plan(**in, *r);
  EXPECT_TRUE(plan.ok()) << plan.error().message;
  const std::string out = dir + "/stories-" + recipe + ".gguf";
  auto st = model::quantize_file(**in, *plan, *r, out, {});
  EXPECT_TRUE(st.ok()) << st.error().message;
  return out;
}

// stories260K at q8_0 with its q4_0 file as the second tier.
std::unique_ptr<model::Model> stories_ladder() {
  const std::string dir = test::temp_dir();
  const std::string q8 = quantized(dir, "q8_0"), q4 = quantized(dir, "q4_0");
  if (q8.empty() || q4.empty()) return nullptr;
  auto m = model::Model::load(q8);
  EXPECT_TRUE(m.ok()) << m.error().message;
  Status s = (*m)->add_tier(q4);
  EXPECT_TRUE(s.ok()) << s.error().message;
  return std::move(*m);
}

struct Collect : engine::Sink {
  int tokens = 0, finished = 0, errors = 0;
  void on_token(engine::Ticket, int32_t, std::string_view) override { ++tokens; }
  void on_finish(engine::Ticket, const engine::Finish&) override { ++finished; }
  void on_error(engine::Ticket, const ErrorInfo&) override { ++errors; }
};

// 50 C rising to 95 C over 8 s, then staying there.
constexpr const char* kHotTrace =
    "t_s,temp_c,cpu_mhz\n"
    "0,50,2400\n"
    "8,95,1500\n"
    "60,95,1500\n";

engine::EngineConfig two_slots() {
  engine::EngineConfig c;
  c.n_slots = 2;
  c.n_ctx = 256;
  return c;
}

TEST(GovernorLoop, AHotTraceMovesThePointDownWithAnEventPerMove) {
  auto m = stories_ladder();
  if (!m) GTEST_SKIP() << "shared models absent";
  auto tok = text::Tokenizer::from_gguf(m->file());
  ASSERT_TRUE(tok.ok()) << tok.error().message;
  auto e = engine::Engine::create(*m, **tok, two_slots());
  ASSERT_TRUE(e.ok()) << e.error().message;
  engine::Engine& eng = **e;

  auto sc = engine::governed_space(eng);
  ASSERT_TRUE(sc.ok()) << sc.error().message;
  EXPECT_EQ(sc->tiers.size(), 2u);
  EXPECT_EQ(sc->kv.size(), 2u) << "f16 and q8_0 KV";
  auto space = governor::Space::make(*sc);
  ASSERT_TRUE(space.ok());
  auto trace = governor::Trace::parse(kHotTrace, "hot.csv");
  ASSERT_TRUE(trace.ok()) << trace.error().message;

  double t = 0;  // the trace's clock, driven by the test: 0.25 s a step
  int events = 0, steps = 0;
  engine::GovernorLoopConfig cfg;
  cfg.governor.limits.dwell_s = 1.0;
  cfg.clock = [&] { return t; };
  cfg.on_event = [&](const governor::Event&) { ++events; };
  cfg.on_step = [&](const governor::StepRecord&, const governor::Decision&) { ++steps; };
  auto loop = engine::GovernorLoop::create(eng, governor::Sensors::replay(std::move(*trace)),
                                           std::move(*space), governor::QualityTable{}, nullptr,
                                           cfg);
  ASSERT_TRUE(loop.ok()) << loop.error().message;
  engine::GovernorLoop& g = **loop;
  const size_t best = g.applied_point();
  EXPECT_EQ(eng.point().tier, 0) << "starts at the best point: q8_0";

  Collect sink;
  std::vector<int32_t> prompt;
  ASSERT_TRUE((*tok)->encode("Once upon a time", true, false, prompt).ok());
  engine::Request r;
  r.prompt_tokens = prompt;
  r.max_tokens = 24;
  r.ignore_eos = true;
  r.sampling.temp = 0;
  engine::Ticket next = 1;
  auto fill = [&] {
    while (eng.free_slots() > 0) {
      const governor::Admission a = g.admit(next, r, false);
      if (!a.ok) break;
      ASSERT_TRUE(eng.submit(next++, r).ok());
    }
  };
  int64_t allocations = 0;
  while (t < 12.0) {
    fill();
    if (::testing::Test::HasFatalFailure()) return;
    test::AllocScope scope;
    eng.step(sink);
    if (t > 0.5) allocations += scope.count();  // the first steps warm up lazily made state
    t += 0.25;
  }
  while (eng.step(sink)) {
  }
  EXPECT_GT(steps, 20);
  EXPECT_EQ(allocations, 0) << "the governed step path allocates nothing";
  EXPECT_EQ(sink.errors, 0);
  EXPECT_EQ(sink.finished, int(next - 1));
  EXPECT_GT(g.governor().events().total(), 0u);
  EXPECT_EQ(uint64_t(events), g.governor().events().total()) << "every event reached the callback";
  EXPECT_NE(g.applied_point(), best);
  EXPECT_EQ(eng.point().tier, 1) << "hot: the q4_0 tier, " << g.describe_point();
  EXPECT_TRUE(g.governor().shedding()) << "95 C is over the hard limit";
  const governor::Admission refused = g.admit(next, r, false);
  EXPECT_FALSE(refused.ok);
  EXPECT_STREQ(refused.code, "overloaded");
  const std::string json = g.events_json();
  EXPECT_NE(json.find("\"to\":\"q4_0"), std::string::npos) << json;
}

TEST(GovernorLoop, AnImpossibleDeadlineIsRefusedUnlessBestEffort) {
  auto m = stories_ladder();
  if (!m) GTEST_SKIP() << "shared models absent";
  auto tok = text::Tokenizer::from_gguf(m->file());
  ASSERT_TRUE(tok.ok());
  auto e = engine::Engine::create(*m, **tok, two_slots());
  ASSERT_TRUE(e.ok()) << e.error().message;
  auto sc = engine::governed_space(**e);
  ASSERT_TRUE(sc.ok()) << sc.error().message;
  auto space = governor::Space::make(*sc);
  ASSERT_TRUE(space.ok());
  auto trace = governor::Trace::parse("t_s,temp_c\n0,50\n", "cool.csv");
  ASSERT_TRUE(trace.ok());
  auto loop = engine::GovernorLoop::create(**e, governor::Sensors::replay(std::move(*trace)),
                                           std::move(*space), governor::QualityTable{}, nullptr, {});
  ASSERT_TRUE(loop.ok()) << loop.error().message;
  engine::Request r;
  r.prompt = "Once upon a time";
  r.max_tokens = 200;
  r.deadline_ns = now_ns() + 1'000'000;  // 200 tokens in 1 ms
  const governor::Admission a = (*loop)->admit(1, r, false);
  EXPECT_FALSE(a.ok);
  EXPECT_STREQ(a.code, "deadline_unmeetable");
  EXPECT_NE(std::string(a.reason), "");
  EXPECT_TRUE((*loop)->admit(1, r, true).ok) << "best effort runs late rather than not at all";
  r.deadline_ns = 0;
  EXPECT_TRUE((*loop)->admit(2, r, false).ok);
}

TEST(GovernorLoop, APointTheEngineRefusesIsAnEventNotACrash) {
  auto m = stories_ladder();
  if (!m) GTEST_SKIP() << "shared models absent";
  auto tok = text::Tokenizer::from_gguf(m->file());
  ASSERT_TRUE(tok.ok());
  auto e = engine::Engine::create(*m, **tok, two_slots());
  ASSERT_TRUE(e.ok()) << e.error().message;
  engine::Engine& eng = **e;
  // A window of 512 on an engine of 256 positions: the cheapest point, where the governor
  // moves when it sheds; the engine refuses it.
  governor::SpaceConfig sc;
  sc.tiers = {0, 1};
  sc.tier_names = {"q8_0", "q4_0"};
  sc.windows = {0, 512};
  sc.context = 1024;
  auto space = governor::Space::make(sc);
  ASSERT_TRUE(space.ok());
  auto trace = governor::Trace::parse("t_s,temp_c\n0,95\n", "hot.csv");
  ASSERT_TRUE(trace.ok());
  std::string last_reason;
  engine::GovernorLoopConfig cfg;
  cfg.on_event = [&](const governor::Event& ev) { last_reason = ev.reason; };
  auto loop = engine::GovernorLoop::create(eng, governor::Sensors::replay(std::move(*trace)),
                                           std::move(*space), governor::QualityTable{}, nullptr,
                                           cfg);
  ASSERT_TRUE(loop.ok()) << loop.error().message;
  engine::Request r;
  r.prompt = "Once upon a time";
  r.max_tokens = 8;
  r.ignore_eos = true;
  ASSERT_TRUE(eng.submit(1, r).ok());
  Collect sink;
  while (eng.step(sink)) {
  }
  EXPECT_EQ(sink.finished, 1);
  EXPECT_EQ(sink.errors, 0);
  EXPECT_GE((*loop)->apply_failures(), 1);
  EXPECT_EQ((*loop)->apply_failures(), 1) << "a refused point is not retried every step";
  EXPECT_NE(last_reason.find("the engine refused"), std::string::npos) << last_reason;
  EXPECT_NE(last_reason.find("window 512"), std::string::npos) << last_reason;
}

}  // namespace
}  // namespace airt
