// End to end: the airt binary as `airt serve` with a real model and the real engine,
// a real mosquitto broker, and plain MQTT clients — v5 request/reply with correlation
// data, streaming, 3.1.1 reply_to, a named session across requests, errors, and a full
// slot table under load.
#include "tests/integration/service_fixture.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <set>

namespace airt::service::test {
namespace {

class ServeProcess {
 public:
  ~ServeProcess() { stop(); }
  bool start(const std::vector<std::string>& args) {
    log_ = airt::test::temp_dir() + "/serve.log";
    pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      FILE* f = std::fopen(log_.c_str(), "a");
      if (f) {
        dup2(fileno(f), 1);
        dup2(fileno(f), 2);
      }
      std::vector<std::string> copy = args;
      std::string bin = AIRT_BIN;
      std::vector<char*> argv{bin.data()};
      for (auto& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
    return pid_ > 0;
  }
  // SIGTERM, then the exit status (128+signal when killed).
  int stop() {
    if (pid_ <= 0) return status_;
    kill(pid_, SIGTERM);
    int st = 0;
    for (int i = 0; i < 3000 && waitpid(pid_, &st, WNOHANG) != pid_; ++i) usleep(10000);
    if (kill(pid_, 0) == 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &st, 0);
    }
    pid_ = -1;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return status_;
  }
  // SIGKILL: no drain, no DISCONNECT, nothing flushed (a crash or a power cut of the process).
  void kill_now() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::string log() const { return airt::test::read_text(log_); }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string log_;
};

struct Served {
  MosquittoBroker broker;
  ServeProcess serve;
  std::string node = "e2e" + std::to_string(getpid());
  std::string state = airt::test::temp_dir();

  bool start(const std::string& model, int slots, const std::string& model_section = "") {
    if (!broker.start()) return false;
    return start_serve(model, slots, model_section);
  }
  bool start_serve(const std::string& model, int slots, const std::string& model_section = "") {
    std::string conf = state + "/airt.json";
    std::ofstream(conf) << "{\"sessions\": {\"state_dir\": \"" << state << "/sessions\", \"max_count\": 2}, "
                        << (model_section.empty() ? "" : "\"model\": {" + model_section + "}, ")
                        << "\"limits\": {\"max_prompt_tokens\": 128}, \"journal\": {\"path\": \"" << state << "/requests.journal\"}}";
    return serve.start({"serve", "-m", model, "--broker", "127.0.0.1:" + std::to_string(broker.port()), "--node", node,
                        "--config", conf, "--slots", std::to_string(slots), "--ctx", "256", "--threads", "2"});
  }
  std::string topic(const char* what) const { return "airt/" + node + "/" + what; }
};

// Waits until airt's retained status says it is online.
bool wait_online(TestClient& c) {
  return c.wait_for([](const std::vector<Received>& m) {
    for (auto& r : m)
      if (r.topic.find("/status") != std::string::npos && r.payload.find("\"online\"") != std::string::npos)
        return true;
    return false;
  }, 60000);
}

TEST(ServiceEngine, RealModelAnswersOverV5And311WithStreamingAndSessions) {
  std::string model = airt::test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(model);
  Served s;
  ASSERT_TRUE(s.start(model, 2));
  TestClient c(s.broker.port(), "e2e-client");
  ASSERT_TRUE(c.connect({s.topic("status"), "e2e/reply/#"}));
  ASSERT_TRUE(wait_online(c)) << s.serve.log();

  // v5: Response Topic + Correlation Data, greedy, streamed.
  ASSERT_TRUE(c.publish(s.topic("request"),
                        R"({"id":"a1","prompt":"Once upon a time","max_tokens":24,"temperature":0,"stream":true})",
                        "e2e/reply/a", "corr-a1"));
  ASSERT_TRUE(c.wait_for([](const std::vector<Received>& m) { return count_terminal(replies_to(m, "e2e/reply/a")) >= 1; }))
      << s.serve.log();
  auto a = replies_to(c.received(), "e2e/reply/a");
  std::string streamed;
  int index = 0;
  for (size_t i = 0; i + 1 < a.size(); ++i) {
    Json j(a[i].payload);
    ASSERT_FALSE(j.is_final()) << "the final message comes last";
    cJSON* idx = j["index"];
    ASSERT_TRUE(idx && cJSON_IsNumber(idx));
    EXPECT_EQ(idx->valueint, index++) << "chunks in order";
    streamed += j.str("delta");
    EXPECT_EQ(a[i].correlation, "corr-a1");
  }
  Json fin(a.back().payload);
  ASSERT_TRUE(fin.is_final()) << a.back().payload;
  EXPECT_EQ(a.back().correlation, "corr-a1");
  EXPECT_EQ(fin.str("id"), "a1");
  EXPECT_EQ(fin.str("text"), streamed);
  EXPECT_FALSE(fin.str("text").empty());
  EXPECT_TRUE(fin.str("finish_reason") == "length" || fin.str("finish_reason") == "stop");
  // The same greedy continuation as `airt run` gives for this prompt.
  auto run = airt::test::run_airt({"run", "-m", model, "-p", "Once upon a time", "-n", "24", "--temp", "0"});
  ASSERT_EQ(run.status, 0);
  EXPECT_EQ(run.out.substr(0, fin.str("text").size()), fin.str("text"));

  // MQTT 3.1.1 client: reply_to in the payload.
  TestClient old(s.broker.port(), "e2e-311", /*v5=*/false);
  ASSERT_TRUE(old.connect({"e2e/old"}));
  ASSERT_TRUE(old.publish(s.topic("request"), R"({"id":"b1","prompt":"The cat","max_tokens":8,"reply_to":"e2e/old"})"));
  ASSERT_TRUE(old.wait_for([](const std::vector<Received>& m) { return count_terminal(m) >= 1; })) << s.serve.log();
  Json b(old.received().back().payload);
  EXPECT_EQ(b.str("id"), "b1");
  EXPECT_TRUE(b.is_final());

  // A bad request gets an error naming the field, and the next one is still answered.
  ASSERT_TRUE(c.publish(s.topic("request"), R"({"id":"c1","prompt":"x","max_tokens":"many"})", "e2e/reply/c"));
  ASSERT_TRUE(c.publish(s.topic("request"), R"({"id":"c2","prompt":"Lily","max_tokens":4})", "e2e/reply/c"));
  ASSERT_TRUE(c.wait_for([](const std::vector<Received>& m) { return count_terminal(replies_to(m, "e2e/reply/c")) >= 2; }));
  auto cc = replies_to(c.received(), "e2e/reply/c");
  Json c1(cc[0].payload), c2(cc[1].payload);
  EXPECT_EQ(c1.error_code(), "bad_request");
  EXPECT_NE(c1.error_message().find("max_tokens"), std::string::npos);
  EXPECT_TRUE(c2.is_final());
  // messages on a model without a chat template: a clear error.
  ASSERT_TRUE(c.publish(s.topic("request"), R"({"id":"c3","messages":[{"role":"user","content":"hi"}]})", "e2e/reply/d"));
  ASSERT_TRUE(c.wait_for([](const std::vector<Received>& m) { return count_terminal(replies_to(m, "e2e/reply/d")) >= 1; }));
  Json c3(replies_to(c.received(), "e2e/reply/d")[0].payload);
  EXPECT_EQ(c3.error_code(), "bad_request");
  EXPECT_NE(c3.error_message().find("chat template"), std::string::npos);

  // A named session: the second request continues the first conversation's KV.
  ASSERT_TRUE(c.publish(s.topic("request"), R"({"id":"s1","prompt":"Once upon a time","max_tokens":6,"temperature":0,"session":"story"})",
                        "e2e/reply/s"));
  ASSERT_TRUE(c.wait_for([](const std::vector<Received>& m) { return count_terminal(replies_to(m, "e2e/reply/s")) >= 1; }));
  EXPECT_TRUE(std::ifstream(s.state + "/sessions/story.session").good()) << "the session was saved";
  ASSERT_TRUE(c.publish(s.topic("request"), R"({"id":"s2","prompt":"Once upon a time","max_tokens":6,"temperature":0,"session":"../etc"})",
                        "e2e/reply/s"));
  ASSERT_TRUE(c.wait_for([](const std::vector<Received>& m) { return count_terminal(replies_to(m, "e2e/reply/s")) >= 2; }));
  EXPECT_EQ(Json(replies_to(c.received(), "e2e/reply/s")[1].payload).error_code(), "bad_request");

  EXPECT_EQ(s.serve.stop(), 0) << s.serve.log();
}

// model.draft in the config: replies carry the speculative figures, telemetry the totals,
// and greedy text is what plain decoding gives.
TEST(ServiceEngine, SpeculativeDecodingFromTheConfig) {
  std::string model = airt::test::model_path("llama2xs-vocab512.gguf"), draft = airt::test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(model);
  AIRT_REQUIRE_FILE(draft);
  Served s;
  ASSERT_TRUE(s.start(model, 2, "\"draft\": \"ngram+" + draft + "\", \"draft_max\": 4"));
  TestClient c(s.broker.port(), "e2e-spec");
  ASSERT_TRUE(c.connect({s.topic("status"), s.topic("telemetry"), "e2e/spec"}));
  ASSERT_TRUE(wait_online(c)) << s.serve.log();
  ASSERT_TRUE(c.publish(s.topic("request"), R"({"id":"p1","prompt":"Once upon a time","max_tokens":60,"temperature":0})",
                        "e2e/spec"));
  ASSERT_TRUE(c.wait_for([](const std::vector<Received>& m) { return count_terminal(replies_to(m, "e2e/spec")) >= 1; }))
      << s.serve.log();
  Json fin(replies_to(c.received(), "e2e/spec").back().payload);
  ASSERT_TRUE(fin.is_final());
  cJSON* usage = fin["usage"];
  ASSERT_TRUE(usage);
  for (const char* key : {"draft_tokens", "accepted_draft_tokens", "target_passes"})
    EXPECT_TRUE(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(usage, key))) << key;
  const int passes = cJSON_GetObjectItemCaseSensitive(usage, "target_passes")->valueint;
  EXPECT_GE(passes, 1);
  EXPECT_LE(passes, 60);
  auto run = airt::test::run_airt({"run", "-m", model, "-p", "Once upon a time", "-n", "60", "--temp", "0"});
  ASSERT_EQ(run.status, 0);
  EXPECT_EQ(run.out.substr(0, fin.str("text").size()), fin.str("text"));
  EXPECT_NE(s.serve.log().find("draft tables"), std::string::npos) << s.serve.log();
  EXPECT_EQ(s.serve.stop(), 0) << s.serve.log();
}

TEST(ServiceEngine, ManyClientsTwoSlotsEveryRequestAnsweredOnce) {
  std::string model = airt::test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(model);
  Served s;
  ASSERT_TRUE(s.start(model, 2));
  TestClient watch(s.broker.port(), "e2e-watch");
  ASSERT_TRUE(watch.connect({s.topic("status")}));
  ASSERT_TRUE(wait_online(watch)) << s.serve.log();
  constexpr int kClients = 5, kEach = 6;
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<TestClient>(s.broker.port(), "e2e-load-" + std::to_string(i)));
    ASSERT_TRUE(clients.back()->connect({"e2e/load/" + std::to_string(i)}));
  }
  for (int k = 0; k < kEach; ++k)
    for (int i = 0; i < kClients; ++i) {
      std::string id = "r" + std::to_string(i) + "-" + std::to_string(k);
      ASSERT_TRUE(clients[size_t(i)]->publish(
          s.topic("request"), R"({"id":")" + id + R"(","prompt":"One day","max_tokens":16})", "e2e/load/" + std::to_string(i)));
    }
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(clients[size_t(i)]->wait_for([](const std::vector<Received>& m) { return count_terminal(m) >= kEach; }, 120000))
        << "client " << i << " got " << count_terminal(clients[size_t(i)]->received()) << "\n" << s.serve.log();
  }
  usleep(300000);  // a duplicate would arrive now
  for (int i = 0; i < kClients; ++i) {
    std::set<std::string> ids;
    for (auto& r : clients[size_t(i)]->received()) {
      Json j(r.payload);
      ASSERT_TRUE(j.is_final() || j.error_code() == "overloaded") << r.payload;
      EXPECT_TRUE(ids.insert(j.str("id")).second) << "duplicate reply for " << j.str("id");
    }
    EXPECT_EQ(int(ids.size()), kEach);
  }
  EXPECT_EQ(s.serve.stop(), 0) << s.serve.log();
}

// Nothing lost: airt is killed (SIGKILL) with ten requests in flight, streaming and
// queued, and started again — twice: first while the first request streams, then the
// moment the next final reaches the client, when airt has sent the broker its PUBREL
// and may not yet have the PUBCOMP. Every request gets exactly one final message, or an
// explicit error, with its own correlation data; none is answered by silence, none twice.
TEST(ServiceEngine, KilledWithRequestsInFlightAnswersEveryOneExactlyOnceAfterRestart) {
  std::string model = airt::test::model_path("stories260K.gguf");
  AIRT_REQUIRE_FILE(model);
  Served s;
  ASSERT_TRUE(s.start(model, 1));
  TestClient c(s.broker.port(), "e2e-kill");
  ASSERT_TRUE(c.connect({s.topic("status"), "e2e/kill/#"}));
  ASSERT_TRUE(wait_online(c)) << s.serve.log();
  constexpr int kRequests = 10;
  for (int i = 0; i < kRequests; ++i) {
    std::string id = "k" + std::to_string(i);
    std::string stream = i % 2 ? "false" : "true";
    ASSERT_TRUE(c.publish(s.topic("request"),
                          R"({"id":")" + id + R"(","prompt":"Once upon a time","max_tokens":200,"stream":)" + stream + "}",
                          "e2e/kill/" + id, "corr-" + id));
  }
  auto replies = [](const std::vector<Received>& m) {
    std::vector<Received> out;
    for (auto& r : m)
      if (r.topic.rfind("e2e/kill/", 0) == 0) out.push_back(r);
    return out;
  };
  ASSERT_TRUE(c.wait_for([&](const std::vector<Received>& m) { return !replies(m).empty(); })) << s.serve.log();
  s.serve.kill_now();  // the first request is streaming, the others wait in the queue
  int answered_before = count_terminal(replies(c.received()));
  ASSERT_LT(answered_before, kRequests) << "the kill came too late to test anything";

  ASSERT_TRUE(s.start_serve(model, 1));
  ASSERT_TRUE(c.wait_for([&](const std::vector<Received>& m) { return count_terminal(replies(m)) > answered_before; },
                         120000))
      << s.serve.log();
  s.serve.kill_now();  // as a final arrives: its PUBCOMP may not have been read
  int answered_second = count_terminal(replies(c.received()));
  ASSERT_LT(answered_second, kRequests) << "the second kill came too late to test anything";

  ASSERT_TRUE(s.start_serve(model, 1));
  ASSERT_TRUE(c.wait_for([&](const std::vector<Received>& m) { return count_terminal(replies(m)) >= kRequests; }, 120000))
      << count_terminal(replies(c.received())) << " answered\n" << s.serve.log();
  usleep(1000000);  // a second final would arrive now
  std::map<std::string, int> terminals;
  for (auto& r : replies(c.received())) {
    Json j(r.payload);
    if (!j.is_final() && !j.is_error()) continue;
    std::string id = j.str("id");
    terminals[id]++;
    EXPECT_EQ(r.topic, "e2e/kill/" + id);
    EXPECT_EQ(r.correlation, "corr-" + id) << "the same correlation data after the restart";
    if (j.is_error()) {
      EXPECT_EQ(j.error_code(), "internal") << r.payload;
      EXPECT_NE(j.error_message().find("airt restarted"), std::string::npos) << r.payload;
    }
  }
  ASSERT_EQ(int(terminals.size()), kRequests) << s.serve.log();
  for (auto& [id, n] : terminals) EXPECT_EQ(n, 1) << id << " answered " << n << " times\n" << s.serve.log();
  EXPECT_NE(s.serve.log().find("in flight when airt stopped"), std::string::npos) << s.serve.log();
  EXPECT_EQ(s.serve.stop(), 0) << s.serve.log();
}

}  // namespace
}  // namespace airt::service::test
