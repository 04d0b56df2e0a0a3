// End to end with the governor: airt serve's server on the real engine with a q8_0/q4_0
// ladder of stories260K (made by the quantizer), a replayed trace that is hot (over the
// soft limit) from the start, a real mosquitto broker and a plain MQTT client. A request
// with a deadline is answered in time with the governed operating point; the governor's
// event is in telemetry and in the retained status; an impossible deadline gets
// deadline_unmeetable at once, unless best_effort; above the hard limit new requests
// get overloaded.
#include "tests/integration/service_fixture.h"

#include <fstream>

#include "governor/model/profile.h"
#include "runtime/gguf/gguf.h"
#include "runtime/model/quantize.h"
#include "runtime/service/engine_generator.h"

namespace airt::service::test {
namespace {

std::string quantized(const std::string& dir, const char* recipe) {
  const std::string f32 = airt::test::model_path("stories260K.gguf");
  if (f32.empty()) return "";
  auto in = gguf::File::open(f32);
  EXPECT_TRUE(in.ok()) << in.error().message;
  const model::QuantRecipe* r = model::quant_recipe_find(recipe);
  auto plan = model::quant_plan(**in, *r);
  EXPECT_TRUE(plan.ok()) << plan.error().message;
  const std::string out = dir + "/stories-" + recipe + ".gguf";
  EXPECT_TRUE(model::quantize_file(**in, *plan, *r, out, {}).ok());
  return out;
}

struct Governed {
  std::string dir = airt::test::temp_dir();
  MosquittoBroker broker;
  std::unique_ptr<Generator> gen;
  std::unique_ptr<ServerThread> server;
  std::string profile;     // governor.profile (none by default: the tests do not read /var/lib/airt)
  bool expect_ok = true;   // false: the generator is expected to be refused, its message in `error`
  std::string error;

  // False when the shared model is absent.
  bool start(const std::string& trace_csv, const std::string& node, double mem_floor_mb = 0) {
    const std::string q8 = quantized(dir, "q8_0"), q4 = quantized(dir, "q4_0");
    if (q8.empty() || q4.empty()) return false;
    EXPECT_TRUE(broker.start()) << broker.log();
    const std::string trace = dir + "/trace.csv";
    std::ofstream(trace) << trace_csv;
    ServiceConfig c = test_config(broker.port(), node);
    c.model.path = q8;
    c.model.ladder = {q4};
    c.model.ctx = 256;
    c.model.threads = 2;
    c.slots = 2;
    c.limits.max_prompt_tokens = 128;
    c.telemetry_interval_s = 1;
    c.sessions.state_dir = dir + "/sessions";
    c.governor.enabled = true;
    c.governor.trace = trace;
    c.governor.dwell_s = 1;
    c.governor.mem_floor_mb = mem_floor_mb;
    c.governor.profile = profile;
    EXPECT_TRUE(config_finalize(c, "test").ok());
    auto g = make_engine_generator(c);
    if (!g.ok()) {
      error = g.error().message;
      EXPECT_FALSE(expect_ok) << error;
      return true;
    }
    EXPECT_TRUE(expect_ok) << "the generator started";
    gen = std::move(*g);
    server = std::make_unique<ServerThread>(c, *gen);
    EXPECT_TRUE(wait_status(broker.port(), node, "online"));
    return true;
  }
};

const Received* terminal(const std::vector<Received>& msgs, const std::string& topic) {
  for (const Received& m : msgs) {
    if (m.topic != topic) continue;
    Json j(m.payload);
    if (j.is_final() || j.is_error()) return &m;
  }
  return nullptr;
}

// The first message on `suffix` topic whose governor object has events.
bool has_governor_events(const std::vector<Received>& msgs, const std::string& suffix, std::string* payload) {
  for (const Received& m : msgs) {
    if (m.topic.size() < suffix.size() || m.topic.compare(m.topic.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    Json j(m.payload);
    cJSON* g = j["governor"];
    cJSON* ev = g ? cJSON_GetObjectItem(g, "events") : nullptr;
    if (ev && cJSON_GetArraySize(ev) > 0) {
      *payload = m.payload;
      return true;
    }
  }
  return false;
}

TEST(ServiceGovernor, DeadlinesUnderAHotTraceOverMqtt) {
  Governed s;
  if (!s.start("t_s,temp_c\n0,85\n600,85\n", "gov1")) GTEST_SKIP() << "shared models absent";
  ASSERT_TRUE(s.server);
  TestClient app(s.broker.port(), "gov-app");
  ASSERT_TRUE(app.connect({"gov/reply/#", "airt/gov1/telemetry", "airt/gov1/status"}));

  // An impossible deadline: refused at once, before anything runs.
  ASSERT_TRUE(app.publish("airt/gov1/request",
                          R"({"id":"never","prompt":"Once upon a time","max_tokens":200,"deadline_ms":1})",
                          "gov/reply/never", "c0"));
  // A deadline the governed point meets.
  ASSERT_TRUE(app.publish(
      "airt/gov1/request",
      R"({"id":"tight","prompt":"Once upon a time","max_tokens":16,"temperature":0,"deadline_ms":5000})",
      "gov/reply/tight", "c1"));
  // 1000 tokens in 300 ms is as impossible, but best effort: it runs.
  ASSERT_TRUE(app.publish(
      "airt/gov1/request",
      R"({"id":"late","prompt":"Once upon a time","max_tokens":1000,"deadline_ms":300,"best_effort":true})",
      "gov/reply/late", "c2"));
  ASSERT_TRUE(app.wait_for([](auto& m) {
    return terminal(m, "gov/reply/never") && terminal(m, "gov/reply/tight") && terminal(m, "gov/reply/late");
  })) << "replies";
  auto msgs = app.received();

  Json never(terminal(msgs, "gov/reply/never")->payload);
  EXPECT_EQ(never.error_code(), "deadline_unmeetable");
  EXPECT_NE(never.error_message().find("governor:"), std::string::npos) << never.error_message();

  Json tight(terminal(msgs, "gov/reply/tight")->payload);
  ASSERT_TRUE(tight.is_final()) << terminal(msgs, "gov/reply/tight")->payload;
  EXPECT_NE(tight.str("finish_reason"), "deadline");
  cJSON* op = tight["operating_point"];
  ASSERT_NE(op, nullptr);
  EXPECT_STREQ(cJSON_GetObjectItem(op, "weights")->valuestring, "q4_0") << "85 C: derated from q8_0";

  Json late(terminal(msgs, "gov/reply/late")->payload);
  ASSERT_TRUE(late.is_final()) << terminal(msgs, "gov/reply/late")->payload;
  EXPECT_GT(cJSON_GetObjectItem(late["usage"], "completion_tokens")->valueint, 0);

  // The event (q8_0 -> q4_0, thermal, with its reason) in telemetry and in the status.
  std::string telemetry;
  ASSERT_TRUE(app.wait_for([&](auto& m) { return has_governor_events(m, "/telemetry", &telemetry); }, 10000));
  Json t(telemetry);
  EXPECT_NE(telemetry.find("\"pressure\":\"thermal\""), std::string::npos) << telemetry;
  EXPECT_NE(telemetry.find("q8_0 -> q4_0"), std::string::npos) << telemetry;
  EXPECT_NEAR(t["temperature_c"]->valuedouble, 85.0, 0.01) << "the replayed temperature";
  cJSON* listed = t["governor_events"];
  ASSERT_NE(listed, nullptr);
  std::string status;
  ASSERT_TRUE(app.wait_for([&](auto& m) { return has_governor_events(m, "/status", &status); }, 10000));
  EXPECT_NE(status.find("\"point\":\"q4_0"), std::string::npos) << status;
}

TEST(ServiceGovernor, AboveTheHardLimitNewRequestsAreOverloaded) {
  Governed s;
  if (!s.start("t_s,temp_c\n0,95\n600,95\n", "gov2")) GTEST_SKIP() << "shared models absent";
  ASSERT_TRUE(s.server);
  TestClient app(s.broker.port(), "gov-app2");
  ASSERT_TRUE(app.connect({"gov/reply/#"}));
  // The idle governor decides with each status/telemetry round; wait for it to shed.
  ASSERT_TRUE(app.publish("airt/gov2/request", R"({"id":"hot","prompt":"Once upon a time","max_tokens":8})",
                          "gov/reply/hot", "c"));
  ASSERT_TRUE(app.wait_for([](auto& m) { return terminal(m, "gov/reply/hot"); }));
  Json hot(terminal(app.received(), "gov/reply/hot")->payload);
  EXPECT_EQ(hot.error_code(), "overloaded");
  EXPECT_NE(hot.error_message().find("hard limit"), std::string::npos) << hot.error_message();
}

TEST(ServiceGovernor, ShortOfMemoryTheWindowShrinksAndRequestsStillRun) {
  Governed s;
  if (!s.start("t_s,temp_c,mem_avail_mb\n0,50,100\n600,50,100\n", "gov3", 512)) GTEST_SKIP() << "shared models absent";
  ASSERT_TRUE(s.server);
  TestClient app(s.broker.port(), "gov-app3");
  ASSERT_TRUE(app.connect({"gov/reply/#", "airt/gov3/telemetry"}));
  // 100 MB against a 512 MB floor: KV precision first, then the window, a step a second.
  ASSERT_TRUE(app.wait_for(
      [](auto& m) {
        for (const Received& r : m)
          if (r.topic == "airt/gov3/telemetry" && r.payload.find("\"point\":\"q8_0 window 64") != std::string::npos)
            return true;
        return false;
      },
      20000));
  ASSERT_TRUE(app.publish("airt/gov3/request",
                          R"({"id":"m1","prompt":"Once upon a time","max_tokens":200,"temperature":0})", "gov/reply/m1",
                          "c"));
  ASSERT_TRUE(app.wait_for([](auto& m) { return terminal(m, "gov/reply/m1"); }));
  const std::vector<Received> msgs = app.received();
  const Received* got = terminal(msgs, "gov/reply/m1");
  Json m1(got->payload);
  ASSERT_TRUE(m1.is_final()) << got->payload;
  EXPECT_EQ(cJSON_GetObjectItem(m1["usage"], "completion_tokens")->valueint, 200) << "a window, not a failure";
  EXPECT_EQ(cJSON_GetObjectItem(m1["operating_point"], "attention_window")->valueint, 64);
}

// The profile airt bench --calibrate writes seeds the governor (its tier perplexities and
// costs); one that is there but cannot be read refuses the start, naming the key.
TEST(ServiceGovernor, ALatencyProfileIsReadAndABadOneRefusesTheStart) {
  const char* cool = "t_s,temp_c\n0,50\n60,50\n";
  {
    Governed bad;
    bad.profile = bad.dir + "/latency-profile.json";
    std::ofstream(bad.profile) << "{";
    bad.expect_ok = false;
    if (!bad.start(cool, "govp1")) GTEST_SKIP() << "shared models absent";
    EXPECT_FALSE(bad.gen);
    EXPECT_NE(bad.error.find("governor.profile: "), std::string::npos) << bad.error;
    EXPECT_NE(bad.error.find("latency-profile.json"), std::string::npos) << bad.error;
  }
  Governed good;
  governor::Profile p;
  p.tier_perplexity = {4.0, 4.4};
  good.profile = good.dir + "/latency-profile.json";
  std::ofstream(good.profile) << governor::profile_to_json(p);
  ASSERT_TRUE(good.start(cool, "govp2"));
  EXPECT_TRUE(good.gen) << good.error;
  Governed absent;  // a profile that is not there: defaults, learned online
  absent.profile = absent.dir + "/none.json";
  ASSERT_TRUE(absent.start(cool, "govp3"));
  EXPECT_TRUE(absent.gen) << absent.error;
}

TEST(ServiceGovernor, TheConfigSectionIsCheckedByName) {
  auto c = config_parse(R"({"governor": {"enabled": true, "soft_temp_c": 95, "hard_temp_c": 90, "power_cap_w": 7.5}})",
                        "airt.json");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(c->governor.enabled);
  EXPECT_DOUBLE_EQ(c->governor.power_cap_w, 7.5);
  c->model.path = "m.gguf";
  Status st = config_finalize(*c, "airt.json");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("governor.soft_temp_c: 95 is not below governor.hard_temp_c (90)"),
            std::string::npos)
      << st.error().message;
  auto typo = config_parse(R"({"governor": {"enable": true}})", "airt.json");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message.find("governor.enable"), std::string::npos) << typo.error().message;
}

}  // namespace
}  // namespace airt::service::test
