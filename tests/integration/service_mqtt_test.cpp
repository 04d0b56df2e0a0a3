// airt serve's MQTT protocol against a real mosquitto broker: request/reply over v5 and
// 3.1.1, streaming, error replies, overload, duplicates, cancel, shared subscriptions,
// and a broker restart. The engine is ScriptedTestGenerator (a test double).
#include "tests/integration/service_fixture.h"

#include <algorithm>
#include <map>
#include <set>

namespace airt::service::test {
namespace {

class ServiceMqtt : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.start()) << broker_.log(); }
  int port() const { return broker_.port(); }
  MosquittoBroker broker_;
};

const std::string kReq = "airt/n1/request";

TEST_F(ServiceMqtt, V5ReplyGoesToResponseTopicWithCorrelationData) {
  ScriptedTestGenerator gen;
  ServerThread server(test_config(port(), "n1"), gen);
  ASSERT_TRUE(wait_status(port(), "n1", "online"));
  TestClient app(port(), "app-v5");
  ASSERT_TRUE(app.connect({"app/v5/reply"}));
  std::string corr("c\0\xff-1", 5);  // binary correlation data is echoed byte for byte
  ASSERT_TRUE(app.publish(kReq, R"({"id": "r1", "prompt": "red green blue", "max_tokens": 5})", "app/v5/reply", corr));
  ASSERT_TRUE(app.wait_for([](auto& m) { return count_terminal(m) >= 1; }));
  auto msgs = app.received();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].topic, "app/v5/reply");
  EXPECT_TRUE(msgs[0].has_correlation);
  EXPECT_EQ(msgs[0].correlation, corr);
  Json j(msgs[0].payload);
  EXPECT_EQ(j.str("id"), "r1");
  EXPECT_EQ(j.str("text"), ScriptedTestGenerator::expected_text("red green blue", 5));
  EXPECT_EQ(j.str("finish_reason"), "length");
  EXPECT_EQ(cJSON_GetObjectItem(j["usage"], "completion_tokens")->valueint, 5);
  EXPECT_EQ(cJSON_GetObjectItem(j["usage"], "prompt_tokens")->valueint, 3);
  EXPECT_TRUE(cJSON_IsNumber(cJSON_GetObjectItem(j["timings"], "ttft_ms")));
  EXPECT_TRUE(cJSON_IsNumber(cJSON_GetObjectItem(j["timings"], "total_ms")));
  EXPECT_TRUE(cJSON_IsNumber(cJSON_GetObjectItem(j["timings"], "tokens_per_s")));
  EXPECT_STREQ(cJSON_GetObjectItem(j["operating_point"], "weights")->valuestring, "F32");
}

TEST_F(ServiceMqtt, V311ReplyGoesToReplyTo) {
  ScriptedTestGenerator gen;
  ServerThread server(test_config(port(), "n1"), gen);
  ASSERT_TRUE(wait_status(port(), "n1", "online"));
  TestClient app(port(), "app-311", /*v5=*/false);
  ASSERT_TRUE(app.connect({"app/311/reply"}));
  ASSERT_TRUE(app.publish(kReq, R"({"id": "old-1", "prompt": "hello", "max_tokens": 3, "reply_to": "app/311/reply"})"));
  ASSERT_TRUE(app.wait_for([](auto& m) { return count_terminal(m) >= 1; }));
  auto msgs = app.received();
  ASSERT_EQ(msgs.size(), 1u);
  Json j(msgs[0].payload);
  EXPECT_EQ(j.str("id"), "old-1");
  EXPECT_EQ(j.str("text"), "hello hello hello ");
}

TEST_F(ServiceMqtt, StreamChunksArriveInOrderBeforeTheFinalMessage) {
  ScriptedTestGenerator gen(4, 2);
  ServerThread server(test_config(port(), "n1"), gen);
  ASSERT_TRUE(wait_status(port(), "n1", "online"));
  TestClient app(port(), "app-stream");
  ASSERT_TRUE(app.connect({"app/s/reply"}));
  ASSERT_TRUE(app.publish(kReq, R"({"id": "s1", "prompt": "one two three", "max_tokens": 12, "stream": true})",
                          "app/s/reply", "k"));
  ASSERT_TRUE(app.wait_for([](auto& m) { return count_terminal(m) >= 1; }));
  auto msgs = app.received();
  ASSERT_EQ(msgs.size(), 13u);
  std::string joined;
  for (size_t i = 0; i < 12; ++i) {
    Json c(msgs[i].payload);
    EXPECT_EQ(c.str("id"), "s1");
    ASSERT_NE(c["index"], nullptr);
    EXPECT_EQ(c["index"]->valueint, int(i));
    EXPECT_FALSE(c.is_final());
    EXPECT_EQ(msgs[i].correlation, "k");
    joined += c.str("delta");
  }
  Json last(msgs[12].payload);
  EXPECT_TRUE(last.is_final());
  EXPECT_EQ(last.str("text"), joined);
  EXPECT_EQ(joined, ScriptedTestGenerator::expected_text("one two three", 12));
}

TEST_F(ServiceMqtt, BadRequestsGetErrorsAndTheNextRequestIsAnswered) {
  ScriptedTestGenerator gen;
  ServiceConfig c = test_config(port(), "n1");
  c.limits.max_payload_bytes = 1024;
  ServerThread server(c, gen);
  ASSERT_TRUE(wait_status(port(), "n1", "online"));
  TestClient app(port(), "app-bad");
  ASSERT_TRUE(app.connect({"app/b/reply"}));
  struct Case {
    std::string payload, code, message_part;
  };
  std::vector<Case> cases = {
      {"{not json", "bad_request", "payload: not valid JSON"},
      {R"({"id": "b2", "prompt": "x", "max_tokens": "ten"})", "bad_request", "max_tokens: must be an integer"},
      {R"({"id": "b3", "prompt": ")" + std::string(2000, 'x') + "\"}", "too_large", "over this node's limit of 1024"},
      {R"({"id": "b4", "prompt": "x", "model": "llama-70b"})", "bad_request", "model: this node serves \"test-model\""},
      {R"({"id": "b5", "messages": [{"role": "user", "content": "hi"}]})", "bad_request", "no chat template"},
      {R"({"id": "b6", "prompt": "x", "temperature": 9})", "bad_request", "temperature: must be a number 0..2"},
      {R"({"id": "b7", "prompt": "FAIL now", "max_tokens": 4})", "internal", "scripted failure"},
      {R"({"id": "b8", "prompt": "ok\u0000hidden"})", "bad_request", "prompt: must not contain NUL"},
      {std::string(R"({"id": "b9", "prompt": "ok)") + '\0' + R"(hidden"})", "bad_request", "prompt: must not contain NUL"},
      {R"({"id": "b10", "prompt": "x"} {"id": "b10", "prompt": "y"})", "bad_request", "unexpected text after the JSON value"},
      {R"({"id": "b11", "prompt": "x", "top_p": 1e-300})", "bad_request", "top_p: must be a number above 0"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string corr = "b" + std::to_string(i);
    ASSERT_TRUE(app.publish(kReq, cases[i].payload, "app/b/reply", corr));
    ASSERT_TRUE(app.wait_for([&](auto& m) { return m.size() > i; })) << cases[i].payload;
    Received r = app.received()[i];
    EXPECT_EQ(r.correlation, corr);
    Json j(r.payload);
    EXPECT_EQ(j.error_code(), cases[i].code) << r.payload;
    EXPECT_NE(j.error_message().find(cases[i].message_part), std::string::npos) << r.payload;
  }
  EXPECT_EQ(Json(app.received()[0].payload).j->child->type, cJSON_NULL) << "no id could be read";
  EXPECT_EQ(Json(app.received()[2].payload).str("id"), "b3") << "oversized requests are still addressed by id";
  // Unknown fields are ignored, and the service still answers.
  ASSERT_TRUE(app.publish(kReq, R"({"id": "ok", "prompt": "fine", "max_tokens": 2, "color": "blue"})", "app/b/reply"));
  ASSERT_TRUE(app.wait_for([&](auto& m) { return m.size() > cases.size(); }));
  Json ok(app.received().back().payload);
  EXPECT_EQ(ok.str("id"), "ok");
  EXPECT_EQ(ok.str("text"), "fine fine ");
}

TEST_F(ServiceMqtt, RequestsWithoutAReplyTopicAreDroppedNotAnswered) {
  ScriptedTestGenerator gen;
  ServerThread server(test_config(port(), "n1"), gen);
  ASSERT_TRUE(wait_status(port(), "n1", "online"));
  TestClient app(port(), "app-noreply");
  ASSERT_TRUE(app.connect({"#"}));
  ASSERT_TRUE(app.publish(kReq, R"({"id": "lost", "prompt": "x"})"));  // neither Response Topic nor reply_to
  ASSERT_TRUE(app.publish(kReq, R"({"id": "loop", "prompt": "x", "reply_to": "airt/n1/request"})"));
  ASSERT_TRUE(app.publish(kReq, R"({"id": "after", "prompt": "x", "max_tokens": 1})", "app/nr/reply"));
  ASSERT_TRUE(app.wait_for([](auto& m) {
    for (auto& r : m)
      if (r.topic == "app/nr/reply") return true;
    return false;
  }));
  EXPECT_EQ(server.server().counters().dropped, 2u);
  for (auto& r : app.received()) {
    if (r.topic != kReq) {
      EXPECT_NE(Json(r.payload).str("id"), "lost") << r.topic;
    }
  }
}

TEST_F(ServiceMqtt, TenClientsTenRequestsFourSlots) {
  ScriptedTestGenerator gen(4, 1);
  ServiceConfig c = test_config(port(), "n1");
  c.limits.queue_depth = 8;
  ServerThread server(c, gen);
  ASSERT_TRUE(wait_status(port(), "n1", "online"));
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int k = 0; k < 10; ++k) {
    clients.push_back(std::make_unique<TestClient>(port(), "load-" + std::to_string(k)));
    ASSERT_TRUE(clients.back()->connect({"load/" + std::to_string(k)}));
  }
  std::vector<std::thread> senders;
  for (int k = 0; k < 10; ++k) {
    senders.emplace_back([&, k] {
      for (int i = 0; i < 10; ++i) {
        // Built with appends: GCC 12 warns falsely (-Wrestrict) on a chain of operator+ here.
        std::string id = "c";
        id += std::to_string(k);
        id += '-';
        id += std::to_string(i);
        std::string payload = R"({"id": ")";
        payload += id;
        payload += R"(", "prompt": ")";
        payload += id;
        payload += R"(", "max_tokens": 6})";
        clients[k]->publish(kReq, payload, "load/" + std::to_string(k), id);
      }
    });
  }
  for (auto& t : senders) t.join();
  int finals = 0, overloaded = 0;
  for (int k = 0; k < 10; ++k) {
    ASSERT_TRUE(clients[k]->wait_for([](auto& m) { return count_terminal(m) >= 10; })) << "client " << k;
    std::map<std::string, int> per_id;
    for (auto& r : clients[k]->received()) {
      Json j(r.payload);
      ASSERT_TRUE(j.is_final() || j.is_error()) << r.payload;
      std::string id = j.str("id");
      EXPECT_EQ(r.correlation, id);
      per_id[id]++;
      if (j.is_final()) {
        finals++;
        EXPECT_EQ(j.str("text"), ScriptedTestGenerator::expected_text(id, 6));
      } else {
        EXPECT_EQ(j.error_code(), "overloaded") << r.payload;
        overloaded++;
      }
    }
    EXPECT_EQ(per_id.size(), 10u) << "client " << k << ": a request was lost";
    for (auto& [id, n] : per_id) EXPECT_EQ(n, 1) << id << " answered " << n << " times";
  }
  EXPECT_EQ(finals + overloaded, 100);
  EXPECT_GE(finals, 12) << "4 slots and a queue of 8 must take at least 12";
  EXPECT_LE(gen.max_busy(), 4);
  ServerCounters sc = server.server().counters();
  EXPECT_EQ(sc.received, 100u);
  EXPECT_EQ(sc.finals, uint64_t(finals));
  EXPECT_EQ(sc.overloaded, uint64_t(overloaded));
  EXPECT_EQ(gen.submitted(), finals);
}

TEST_F(ServiceMqtt, RepeatedIdIsNotRunTwice) {
  ScriptedTestGenerator gen(4, 5);
  ServerThread server(test_config(port(), "n1"), gen);
  ASSERT_TRUE(wait_status(port(), "n1", "online"));
  TestClient a(port(), "dup-a"), b(port(), "dup-b");
  ASSERT_TRUE(a.connect({"dup/a"}));
  ASSERT_TRUE(b.connect({"dup/b"}));
  const std::string req = R"({"id": "same", "prompt": "x y", "max_tokens": 10})";
  ASSERT_TRUE(a.publish(kReq, req, "dup/a"));
  ASSERT_TRUE(a.publish(kReq, req, "dup/a"));  // while in flight
  ASSERT_TRUE(b.publish(kReq, req, "dup/b"));  // another client may use the same id
  ASSERT_TRUE(a.wait_for([](auto& m) { return count_terminal(m) >= 1; }));
  ASSERT_TRUE(a.publish(kReq, req, "dup/a"));  // after it was answered
  ASSERT_TRUE(b.wait_for([](auto& m) { return count_terminal(m) >= 1; }));
  // The duplicate after the answer is ignored too: wait until the server has seen it.
  for (int i = 0; i < 200 && server.server().counters().duplicates < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server.server().counters().duplicates, 2u);
  EXPECT_EQ(count_terminal(a.received()), 1);
  EXPECT_EQ(count_terminal(b.received()), 1);
  EXPECT_EQ(gen.submitted(), 2);
}

TEST_F(ServiceMqtt, CancelQueuedAndRunningRequests) {
  ScriptedTestGenerator gen(1, 5);
  ServerThread server(test_config(port(), "n1"), gen);
  ASSERT_TRUE(wait_status(port(), "n1", "online"));
  TestClient app(port(), "cancel");
  ASSERT_TRUE(app.connect({"cx/reply"}));
  ASSERT_TRUE(app.publish(kReq, R"({"id": "long", "prompt": "a", "max_tokens": 1000, "stream": true})", "cx/reply"));
  ASSERT_TRUE(app.wait_for([](auto& m) { return !m.empty(); }));  // running: chunks flow
  ASSERT_TRUE(app.publish(kReq, R"({"id": "waiting", "prompt": "b", "max_tokens": 5})", "cx/reply"));
  auto final_of = [](const std::vector<Received>& msgs, const std::string& id) -> std::string {
    for (auto& r : msgs) {
      Json j(r.payload);
      if (j.is_final() && j.str("id") == id) return r.payload;
    }
    return {};
  };
  for (int i = 0; i < 200 && server.server().counters().accepted < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(app.publish("airt/n1/cancel", R"({"id": "waiting"})"));
  ASSERT_TRUE(app.wait_for([&](auto& m) { return !final_of(m, "waiting").empty(); }));
  Json w(final_of(app.received(), "waiting"));
  EXPECT_EQ(w.str("finish_reason"), "cancelled");
  EXPECT_EQ(w.str("text"), "");
  ASSERT_TRUE(app.publish("airt/n1/cancel", R"({"id": "long"})"));
  ASSERT_TRUE(app.wait_for([&](auto& m) { return !final_of(m, "long").empty(); }));
  Json l(final_of(app.received(), "long"));
  EXPECT_EQ(l.str("finish_reason"), "cancelled");
  EXPECT_FALSE(l.str("text").empty()) << "the text produced before the cancel is kept";
  EXPECT_EQ(server.server().counters().cancelled, 2u);
  EXPECT_EQ(gen.submitted(), 1) << "the queued request never ran";
}

TEST_F(ServiceMqtt, RateLimitAndDeadlineInQueue) {
  ScriptedTestGenerator gen(1, 5);
  ServiceConfig c = test_config(port(), "n1");
  c.limits.rate_limit_per_s = 0.001;
  c.limits.rate_limit_burst = 3;
  ServerThread server(c, gen);
  ASSERT_TRUE(wait_status(port(), "n1", "online"));
  TestClient app(port(), "rl");
  ASSERT_TRUE(app.connect({"rl/reply"}));
  ASSERT_TRUE(app.publish(kReq, R"({"id": "a", "prompt": "a", "max_tokens": 200})", "rl/reply"));
  ASSERT_TRUE(app.publish(kReq, R"({"id": "b", "prompt": "b", "max_tokens": 1, "deadline_ms": 20})", "rl/reply"));
  ASSERT_TRUE(app.publish(kReq, R"({"id": "c", "prompt": "c", "max_tokens": 1, "deadline_ms": 20, "best_effort": true})",
                          "rl/reply"));
  ASSERT_TRUE(app.publish(kReq, R"({"id": "d", "prompt": "d", "max_tokens": 1})", "rl/reply"));
  ASSERT_TRUE(app.wait_for([](auto& m) { return count_terminal(m) >= 4; }));
  std::map<std::string, std::string> outcome;
  for (auto& r : app.received()) {
    Json j(r.payload);
    outcome[j.str("id")] = j.is_error() ? j.error_code() : j.str("finish_reason");
  }
  EXPECT_EQ(outcome["a"], "length");
  EXPECT_EQ(outcome["b"], "deadline_unmeetable") << "its deadline passed while it waited for the only slot";
  EXPECT_EQ(outcome["c"], "length") << "best_effort runs late rather than not at all";
  EXPECT_EQ(outcome["d"], "overloaded") << "over the per-client rate limit";
}

TEST_F(ServiceMqtt, SharedSubscriptionSpreadsOneStreamOverTwoNodes) {
  ScriptedTestGenerator g1(2, 1), g2(2, 1);
  ServiceConfig c1 = test_config(port(), "s1"), c2 = test_config(port(), "s2");
  for (ServiceConfig* c : {&c1, &c2}) {
    c->topics.request = "airt/pool/request";
    c->topics.share_group = "boards";
  }
  ServerThread n1(c1, g1), n2(c2, g2);
  ASSERT_TRUE(wait_status(port(), "s1", "online"));
  ASSERT_TRUE(wait_status(port(), "s2", "online"));
  TestClient app(port(), "pool-app");
  ASSERT_TRUE(app.connect({"pool/reply"}));
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(app.publish("airt/pool/request", R"({"id": "p)" + std::to_string(i) + R"(", "prompt": "x", "max_tokens": 2})",
                            "pool/reply"));
  ASSERT_TRUE(app.wait_for([](auto& m) { return count_terminal(m) >= 20; }));
  std::set<std::string> ids;
  for (auto& r : app.received()) EXPECT_TRUE(ids.insert(Json(r.payload).str("id")).second) << r.payload;
  EXPECT_EQ(ids.size(), 20u);
  EXPECT_EQ(g1.submitted() + g2.submitted(), 20);
  EXPECT_GT(g1.submitted(), 0);
  EXPECT_GT(g2.submitted(), 0);
}

TEST_F(ServiceMqtt, StatusIsRetainedOnlineThenOfflineAfterStop) {
  ScriptedTestGenerator gen;
  ServiceConfig c = test_config(port(), "st");
  c.telemetry_interval_s = 1;
  auto server = std::make_unique<ServerThread>(c, gen);
  ASSERT_TRUE(wait_status(port(), "st", "online"));
  TestClient watcher(port(), "st-watch");
  ASSERT_TRUE(watcher.connect({"airt/st/status", "airt/st/telemetry"}));
  ASSERT_TRUE(watcher.wait_for([](auto& m) {
    for (auto& r : m)
      if (r.topic == "airt/st/telemetry") return true;
    return false;
  }));
  auto msgs = watcher.received();
  ASSERT_TRUE(msgs[0].retain);
  Json s(msgs[0].payload);
  EXPECT_EQ(s.str("model"), "test-model");
  EXPECT_EQ(cJSON_GetObjectItem(s.j, "slots")->valueint, 4);
  for (auto& r : msgs) {
    if (r.topic != "airt/st/telemetry") continue;
    Json t(r.payload);
    EXPECT_EQ(t.str("node"), "st");
    EXPECT_NE(t["memory"], nullptr);
    EXPECT_NE(t["governor_events"], nullptr);
  }
  server.reset();  // stop: drain, publish offline, disconnect
  EXPECT_TRUE(wait_status(port(), "st", "offline"));
}

TEST_F(ServiceMqtt, RequestsSentWhileAirtIsDownAreAnsweredWhenItIsBack) {
  ScriptedTestGenerator gen;
  ServiceConfig c = test_config(port(), "ps");
  auto server = std::make_unique<ServerThread>(c, gen);
  ASSERT_TRUE(wait_status(port(), "ps", "online"));
  server.reset();  // airt stops; its persistent session (and subscription) stays on the broker
  ASSERT_TRUE(wait_status(port(), "ps", "offline"));
  TestClient app(port(), "ps-app");
  ASSERT_TRUE(app.connect({"ps/reply"}));
  ASSERT_TRUE(app.publish("airt/ps/request", R"({"id": "while-down", "prompt": "x", "max_tokens": 2})", "ps/reply"));
  ScriptedTestGenerator gen2;
  ServerThread again(c, gen2);
  ASSERT_TRUE(app.wait_for([](auto& m) { return count_terminal(m) >= 1; }));
  EXPECT_EQ(Json(app.received()[0].payload).str("id"), "while-down");
  EXPECT_EQ(gen2.submitted(), 1);
}

TEST_F(ServiceMqtt, BrokerRestartWhileRequestsAreQueuedAndOneStreams) {
  MosquittoBroker broker(/*persistence=*/true);
  ASSERT_TRUE(broker.start()) << broker.log();
  int p = broker.port();
  ScriptedTestGenerator gen(1, 20);
  ServiceConfig c = test_config(p, "rs");
  ServerThread server(c, gen);
  ASSERT_TRUE(wait_status(p, "rs", "online"));
  TestClient app(p, "restart-app", true, /*persistent=*/true);
  ASSERT_TRUE(app.connect({"rs/reply"}, 3600));
  const std::string req = "airt/rs/request";
  ASSERT_TRUE(app.publish(req, R"({"id": "stream", "prompt": "s", "max_tokens": 60, "stream": true})", "rs/reply", "stream"));
  for (int i = 0; i < 4; ++i) {
    std::string id = "q" + std::to_string(i);
    ASSERT_TRUE(app.publish(req, R"({"id": ")" + id + R"(", "prompt": ")" + id + R"(", "max_tokens": 5})", "rs/reply", id));
  }
  ASSERT_TRUE(app.wait_for([](auto& m) { return m.size() >= 3; }));  // streaming has begun
  for (int i = 0; i < 300 && server.server().counters().accepted < 5; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(server.server().counters().accepted, 5u) << "all five are queued or running at airt";
  broker.stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // airt keeps generating meanwhile
  ASSERT_TRUE(broker.start(p)) << broker.log();
  ASSERT_TRUE(app.wait_for([](auto& m) { return count_terminal(m) >= 5; }, 60000)) << broker.log();
  std::map<std::string, int> finals;
  for (auto& r : app.received()) {
    Json j(r.payload);
    if (!j.is_final()) continue;
    finals[j.str("id")]++;
    EXPECT_EQ(r.correlation, j.str("id"));
  }
  ASSERT_EQ(finals.size(), 5u);
  for (auto& [id, n] : finals) EXPECT_GE(n, 1) << id;
  EXPECT_EQ(server.server().counters().finals, 5u) << "airt answered each exactly once";
  EXPECT_GE(server.server().counters().connects, 2u) << "airt reconnected";
  // Chunks go at QoS 0: those produced while the broker was away are gone (never
  // duplicated), and the final message carries the whole text.
  std::vector<int> indices;
  std::string final_text;
  for (auto& r : app.received()) {
    Json j(r.payload);
    if (j.str("id") != "stream") continue;
    if (j.is_final()) final_text = j.str("text");
    else indices.push_back(j["index"]->valueint);
  }
  EXPECT_TRUE(std::is_sorted(indices.begin(), indices.end()) &&
              std::adjacent_find(indices.begin(), indices.end()) == indices.end());
  EXPECT_EQ(final_text, ScriptedTestGenerator::expected_text("s", 60));
}

// The shipped example ACL (packaging/mosquitto/airt.acl) with password authentication:
// airt logs in as its node, answers an application, and cannot get in with a bad password.
TEST(ServiceMqttAuth, PasswordAndShippedAcl) {
  std::string dir = airt::test::temp_dir();
  std::string passwd = dir + "/passwd";
  ASSERT_EQ(std::system(("mosquitto_passwd -c -b " + passwd + " board1 pw-board >/dev/null 2>&1").c_str()), 0);
  ASSERT_EQ(std::system(("mosquitto_passwd -b " + passwd + " app-kitchen pw-app >/dev/null 2>&1").c_str()), 0);
  std::ofstream(dir + "/board1.pw") << "pw-board\n";
  std::ofstream(dir + "/wrong.pw") << "nope\n";
  MosquittoBroker broker(false, "allow_anonymous false\npassword_file " + passwd + "\nacl_file " +
                                    std::string(AIRT_SOURCE_DIR) + "/packaging/mosquitto/airt.acl\n");
  ASSERT_TRUE(broker.start()) << broker.log();

  ServiceConfig bad = test_config(broker.port(), "board1");
  bad.broker.username = "board1";
  bad.broker.password_file = dir + "/wrong.pw";
  ASSERT_TRUE(config_finalize(bad, "test").ok());
  {
    ScriptedTestGenerator gen;
    ServerThread refused(bad, gen);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(refused.server().counters().connects, 0u) << "a wrong password must not get in";
  }

  ServiceConfig c = test_config(broker.port(), "board1");
  c.broker.username = "board1";
  c.broker.password_file = dir + "/board1.pw";
  ASSERT_TRUE(config_finalize(c, "test").ok());
  ScriptedTestGenerator gen;
  ServerThread server(c, gen);
  TestClient app(broker.port(), "kitchen");
  app.set_credentials("app-kitchen", "pw-app");
  ASSERT_TRUE(app.connect({"reply/app-kitchen/#", "airt/board1/status"}));
  ASSERT_TRUE(app.wait_for([](auto& m) {
    for (auto& r : m)
      if (Json(r.payload).str("state") == "online") return true;
    return false;
  })) << broker.log();
  ASSERT_TRUE(app.publish("airt/board1/request", R"({"id": "acl", "prompt": "ok", "max_tokens": 2})", "reply/app-kitchen/1"));
  ASSERT_TRUE(app.wait_for([](auto& m) { return count_terminal(m) >= 1; })) << broker.log();
  for (auto& r : app.received()) {
    if (r.topic == "reply/app-kitchen/1") {
      EXPECT_EQ(Json(r.payload).str("text"), "ok ok ");
    }
  }
}

// TLS with a private CA and client certificates (broker.tls, ca_file, cert_file, key_file).
TEST(ServiceMqttTls, MutualTlsWithAPrivateCa) {
  std::string d = airt::test::temp_dir();
  ASSERT_TRUE(make_test_certificates(d, "IP:127.0.0.1")) << "openssl could not make test certificates";
  MosquittoBroker broker(false, "allow_anonymous true\ncafile " + d + "/ca.crt\ncertfile " + d + "/srv.crt\nkeyfile " + d +
                                    "/srv.key\nrequire_certificate true\n");
  ASSERT_TRUE(broker.start()) << broker.log();
  ServiceConfig c = test_config(broker.port(), "tls1");
  c.broker.tls = true;
  c.broker.ca_file = d + "/ca.crt";
  c.broker.cert_file = d + "/cli.crt";
  c.broker.key_file = d + "/cli.key";
  ASSERT_TRUE(config_finalize(c, "test").ok());
  ScriptedTestGenerator gen;
  ServerThread server(c, gen);
  // libmosquitto initialises its TLS state lazily and not thread-safely on the first TLS
  // connect; two clients of one process connecting at once can both create it (a leak
  // under ASan). airt has one client; here the test client waits for airt's connection.
  for (int i = 0; i < 1000 && server.server().counters().connects == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_GE(server.server().counters().connects, 1u) << broker.log();
  TestClient app(broker.port(), "tls-app");
  app.set_tls(d + "/ca.crt", d + "/cli.crt", d + "/cli.key");
  ASSERT_TRUE(app.connect({"tls/reply", "airt/tls1/status"})) << broker.log();
  ASSERT_TRUE(app.wait_for([](auto& m) {
    for (auto& r : m)
      if (Json(r.payload).str("state") == "online") return true;
    return false;
  })) << broker.log();
  ASSERT_TRUE(app.publish("airt/tls1/request", R"({"id": "t", "prompt": "secure", "max_tokens": 1})", "tls/reply"));
  ASSERT_TRUE(app.wait_for([](auto& m) { return count_terminal(m) >= 1; }));
  EXPECT_EQ(server.server().counters().finals, 1u);
}

}  // namespace
}  // namespace airt::service::test
