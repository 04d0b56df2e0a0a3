#include <gtest/gtest.h>

#include <cjson/cJSON.h>

#include <fstream>
#include <string>

#include "runtime/service/config.h"
#include "tests/support/test_support.h"

namespace airt::service {
namespace {

std::string parse_error(const std::string& text) {
  auto r = config_parse(text, "airt.json");
  EXPECT_FALSE(r.ok()) << text;
  return r.ok() ? std::string() : r.error().message;
}

TEST(ServiceConfig, EmptyObjectGivesDefaults) {
  auto r = config_parse("{}", "airt.json");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ServiceConfig d;
  EXPECT_EQ(r->slots, d.slots);
  EXPECT_EQ(r->broker.port, 1883);
  EXPECT_EQ(r->limits.max_payload_bytes, 65536);
  EXPECT_EQ(r->topics.request, "airt/{node}/request");
  EXPECT_TRUE(r->model.repack);
  EXPECT_TRUE(config_restart_fields(r.value(), d).empty());
  auto off = config_parse(R"({"model": {"repack": false}})", "airt.json");
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_FALSE(off->model.repack);
  EXPECT_EQ(config_restart_fields(off.value(), d).size(), 1u) << "a restart field: the weights are laid out at start";
}

TEST(ServiceConfig, NamesFieldAndProblem) {
  EXPECT_EQ(parse_error(R"({"limits": {"max_payload_bytes": "big"}})"),
            "airt.json: limits.max_payload_bytes: must be an integer 1..16777216, got \"big\"");
  EXPECT_EQ(parse_error(R"({"slots": 0})"), "airt.json: slots: must be an integer 1..256, got 0");
  EXPECT_EQ(parse_error(R"({"slots": 2.5})"), "airt.json: slots: must be an integer 1..256, got 2.5");
  EXPECT_EQ(parse_error(R"({"broker": {"tls": "yes"}})"), "airt.json: broker.tls: must be true or false, got \"yes\"");
  EXPECT_EQ(parse_error(R"({"log_level": "loud"})"),
            "airt.json: log_level: must be one of debug, info, warning, error, got \"loud\"");
  EXPECT_EQ(parse_error(R"({"broker": {"keepalive_s": 4}})"),
            "airt.json: broker.keepalive_s: must be an integer 5..65535, got 4");
  EXPECT_EQ(parse_error(R"({"broker": 3})"), "airt.json: broker: must be an object, got 3");
  EXPECT_EQ(parse_error(R"({"node": "a/b"})"),
            "airt.json: node: must use only letters, digits, '-', '_' and '.' (it becomes a topic level), got \"a/b\"");
  EXPECT_EQ(parse_error(R"({"topics": {"request": "x/#"}})"),
            "airt.json: topics.request: must not contain the wildcards '+' or '#', got \"x/#\"");
  EXPECT_EQ(parse_error(R"({"limits": {"rate_limit_per_s": -1}})"),
            "airt.json: limits.rate_limit_per_s: must be a number 0..1e+06, got -1");
}

TEST(ServiceConfig, UnknownAndRepeatedFieldsAreErrorsButCommentsAreNot) {
  EXPECT_EQ(parse_error(R"({"limits": {"max_payload": 5}})"),
            "airt.json: limits.max_payload: unknown field (see packaging/config/airt.json for the list)");
  EXPECT_EQ(parse_error(R"({"slots": 2, "slots": 3})"), "airt.json: slots: given twice");
  auto ok = config_parse(R"({"_comment": 1, "limits": {"_x": [], "queue_depth": 3}})", "airt.json");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->limits.queue_depth, 3);
}

TEST(ServiceConfig, ReportsEveryProblemOnItsOwnLine) {
  std::string e = parse_error(R"({"slots": "x", "broker": {"port": 0}, "bogus": 1})");
  EXPECT_NE(e.find("airt.json: slots: "), std::string::npos);
  EXPECT_NE(e.find("\nairt.json: broker.port: must be an integer 1..65535, got 0"), std::string::npos);
  EXPECT_NE(e.find("\nairt.json: bogus: unknown field"), std::string::npos);
}

TEST(ServiceConfig, InvalidJsonGivesLineAndColumn) {
  std::string e = parse_error("{\n  \"slots\": 4,\n  oops\n}");
  EXPECT_EQ(e.rfind("airt.json: line 3, column ", 0), 0u) << e;
  EXPECT_NE(e.find(": not valid JSON"), std::string::npos) << e;
  EXPECT_EQ(parse_error("[1]"), "airt.json: the top level must be a JSON object, got an array");
}

// Every field named in the shipped file rejects a value of the wrong type, naming itself.
TEST(ServiceConfig, EveryFieldRejectsWrongType) {
  cJSON* root = cJSON_Parse(config_defaults_json().c_str());
  ASSERT_NE(root, nullptr);
  int checked = 0;
  // Every field is given a value of the wrong type: an array, or for list fields an object.
  auto check = [&](const std::string& path, const std::string& doc, const char* got) {
    auto r = config_parse(doc, "airt.json");
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.error().message.rfind("airt.json: " + path + ": must ", 0), 0u) << r.error().message;
    EXPECT_NE(r.error().message.find(got), std::string::npos) << r.error().message;
    ++checked;
  };
  auto check_one = [&](const std::string& path, const std::string& key, const cJSON* f, const std::string& outer) {
    const bool list = cJSON_IsArray(f);
    std::string doc = "{\"" + key + "\": " + (list ? "{}" : "[]") + "}";
    if (!outer.empty()) doc = "{\"" + outer + "\": " + doc + "}";
    check(path, doc, list ? "got an object" : "got an array");
  };
  for (cJSON* item = root->child; item; item = item->next) {
    std::string key = item->string;
    if (key[0] == '_') continue;
    if (cJSON_IsObject(item)) {
      for (cJSON* f = item->child; f; f = f->next) {
        std::string k = f->string;
        if (k[0] == '_') continue;
        check_one(key + "." + k, k, f, key);
      }
    } else {
      check_one(key, key, item, "");
    }
  }
  cJSON_Delete(root);
  EXPECT_GE(checked, 35);
}

TEST(ServiceConfig, LadderIsAListOfFiles) {
  auto r = config_parse(R"({"model": {"path": "m-q8_0.gguf", "ladder": ["m-q4_k_m.gguf", "m-q4_0.gguf"]}})", "airt.json");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model.ladder, (std::vector<std::string>{"m-q4_k_m.gguf", "m-q4_0.gguf"}));
  EXPECT_TRUE(config_parse("{}", "airt.json")->model.ladder.empty());
  auto bad = config_parse(R"({"model": {"ladder": ["a.gguf", 3]}})", "airt.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message.rfind("airt.json: model.ladder: must be a list of strings", 0), 0u) << bad.error().message;
  ServiceConfig a, b;
  b.model.ladder = {"m-q4_0.gguf"};
  EXPECT_EQ(config_restart_fields(a, b), std::vector<std::string>{"model.ladder"}) << "tiers are mapped at start";
}

TEST(ServiceConfig, ShippedFileIsTheDocumentedDefaults) {
  std::string path = std::string(AIRT_SOURCE_DIR) + "/packaging/config/airt.json";
  std::string text = test::read_text(path);
  ASSERT_FALSE(text.empty()) << path;
  // Regenerate with: airt config defaults > packaging/config/airt.json
  EXPECT_EQ(text, config_defaults_json());
  auto r = config_load(path);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(config_finalize(r.value(), path).ok());
  EXPECT_TRUE(config_restart_fields(r.value(), ServiceConfig{}).empty());
}

TEST(ServiceConfig, FinalizeChecksFieldsTogether) {
  auto c = config_parse(R"({"limits": {"default_max_tokens": 900, "max_tokens_cap": 100}})", "a.json");
  ASSERT_TRUE(c.ok());
  Status st = config_finalize(c.value(), "a.json");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "a.json: limits.default_max_tokens: 900 is above limits.max_tokens_cap (100)");

  c = config_parse(R"({"broker": {"tls": true, "cert_file": "/c.pem"}})", "a.json");
  st = config_finalize(c.value(), "a.json");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("broker.cert_file: cert_file and key_file go together"), std::string::npos);

  c = config_parse(R"({"broker": {"password": "p"}})", "a.json");
  st = config_finalize(c.value(), "a.json");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("broker.username: a password is set but no username"), std::string::npos);

  c = config_parse(R"({"topics": {"cancel": "airt/{node}/request"}})", "a.json");
  st = config_finalize(c.value(), "a.json");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("is used for two purposes"), std::string::npos);

  c = config_parse(R"({"broker": {"username": "u", "password_file": "/nonexistent/pw"}})", "a.json");
  st = config_finalize(c.value(), "a.json");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("broker.password_file: cannot read /nonexistent/pw"), std::string::npos);
}

TEST(ServiceConfig, PasswordFileIsRead) {
  std::string dir = test::temp_dir();
  std::ofstream(dir + "/pw") << "s3cret\n";
  auto c = config_parse(R"({"broker": {"username": "u", "password_file": ")" + dir + R"(/pw"}})", "a.json");
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_TRUE(config_finalize(c.value(), "a.json").ok());
  EXPECT_EQ(c->broker.password, "s3cret");
}

TEST(ServiceConfig, TopicsAndClientId) {
  auto c = config_parse(R"({"node": "board7", "topics": {"share_group": "pool"}})", "a.json");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->topic(c->topics.request), "airt/board7/request");
  EXPECT_EQ(c->request_subscription(), "$share/pool/airt/board7/request");
  EXPECT_EQ(c->client_id_resolved(), "airt-board7");
  ServiceConfig d;
  EXPECT_FALSE(d.node_resolved().empty());  // the host name
}

TEST(ServiceConfig, BrokerUrl) {
  BrokerConfig b;
  ASSERT_TRUE(config_set_broker_url(b, "10.0.0.2:1884").ok());
  EXPECT_EQ(b.host, "10.0.0.2");
  EXPECT_EQ(b.port, 1884);
  EXPECT_FALSE(b.tls);
  ASSERT_TRUE(config_set_broker_url(b, "mqtts://broker.lan").ok());
  EXPECT_EQ(b.host, "broker.lan");
  EXPECT_EQ(b.port, 8883);
  EXPECT_TRUE(b.tls);
  ASSERT_TRUE(config_set_broker_url(b, "mqtt://[::1]:1999").ok());
  EXPECT_EQ(b.host, "::1");
  EXPECT_EQ(b.port, 1999);
  EXPECT_FALSE(b.tls);
  EXPECT_FALSE(config_set_broker_url(b, "http://x:1").ok());
  EXPECT_FALSE(config_set_broker_url(b, "x:0").ok());
  EXPECT_FALSE(config_set_broker_url(b, "x:99999").ok());
  EXPECT_FALSE(config_set_broker_url(b, ":1883").ok());
  EXPECT_FALSE(config_set_broker_url(b, "[::1").ok());
}

TEST(ServiceConfig, RestartFieldsNameWhatReloadCannotApply) {
  ServiceConfig a, b;
  b.limits.queue_depth = 99;
  b.telemetry_interval_s = 1;
  EXPECT_TRUE(config_restart_fields(a, b).empty());
  b.slots = 8;
  b.broker.host = "elsewhere";
  auto f = config_restart_fields(a, b);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0], "slots");
  EXPECT_EQ(f[1], "broker.host");
}

}  // namespace
}  // namespace airt::service

namespace airt::service {
namespace {

TEST(ServiceConfig, ExactlyOneJsonValueNulsAndConvertedNumbers) {
  std::string e = parse_error(R"({"slots":2} {"slots":999})");
  EXPECT_NE(e.find("airt.json: line 1, column 13: unexpected text after the JSON value"), std::string::npos) << e;
  EXPECT_NE(e.find("{\"slots\":999}"), std::string::npos) << "names what follows: " << e;
  EXPECT_TRUE(config_parse("{\"slots\": 2}\n\n", "airt.json").ok());
  EXPECT_EQ(parse_error(R"({"node": "kitchen\u0000x"})"), "airt.json: node: must not contain NUL characters (\\u0000)");
  EXPECT_EQ(parse_error(std::string("{\"broker\": {\"host\": \"a") + '\0' + "b\"}}"),
            "airt.json: broker.host: must not contain NUL characters (\\u0000)");
  EXPECT_NE(parse_error(R"({"log_level": "info\u0000"})").find("log_level"), std::string::npos);
  EXPECT_NE(parse_error(R"({"slots": 1e300})").find("slots: must be an integer"), std::string::npos);
  EXPECT_NE(parse_error(R"({"broker": {"session_expiry_s": 4294967296}})").find("broker.session_expiry_s"),
            std::string::npos);
}

}  // namespace
}  // namespace airt::service
