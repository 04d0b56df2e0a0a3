#include <gtest/gtest.h>

#include <cjson/cJSON.h>

#include <cmath>
#include <string>

#include "runtime/service/json_util.h"
#include "runtime/service/protocol.h"

namespace airt::service {
namespace {

RequestLimits limits() {
  RequestLimits l;
  l.max_payload_bytes = 4096;
  l.max_tokens_cap = 512;
  l.default_max_tokens = 64;
  return l;
}

Status parse(const std::string& payload, Request* r) { return request_parse(payload, limits(), r); }

TEST(ServiceProtocol, MinimalRequestGetsDefaults) {
  Request r;
  ASSERT_TRUE(parse(R"({"id": "a1", "prompt": "Hello"})", &r).ok());
  EXPECT_EQ(r.id, "a1");
  EXPECT_EQ(r.prompt, "Hello");
  EXPECT_EQ(r.max_tokens, 64);
  EXPECT_FALSE(r.stream);
  EXPECT_EQ(r.priority, 5);
  EXPECT_FALSE(r.has_seed);
  GenerateRequest g = r.view(123);
  EXPECT_EQ(g.prompt, "Hello");
  EXPECT_EQ(g.arrival_ns, 123);
  EXPECT_TRUE(g.messages.empty());
}

TEST(ServiceProtocol, EveryFieldParsesAndUnknownFieldsAreIgnored) {
  Request r;
  Status st = parse(R"({"id": "x", "messages": [{"role": "system", "content": "be brief"},
      {"role": "user", "content": "hi"}], "max_tokens": 512, "temperature": 0, "top_p": 1, "top_k": 0,
      "seed": 9007199254740991, "stop": ["\n\n", "END"], "stream": true, "priority": 9, "ttft_ms": 200,
      "deadline_ms": 2000, "best_effort": true, "session": "kitchen-1", "reply_to": "app/7/reply",
      "model": "tiny", "future_field": {"a": [1, 2]}})",
                    &r);
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[1].content, "hi");
  EXPECT_EQ(r.max_tokens, 512);
  EXPECT_EQ(r.temperature, 0.0f);
  EXPECT_EQ(r.top_p, 1.0f);
  EXPECT_EQ(r.top_k, 0);
  EXPECT_TRUE(r.has_seed);
  EXPECT_EQ(r.seed, 9007199254740991ull);
  ASSERT_EQ(r.stop.size(), 2u);
  EXPECT_EQ(r.stop[0], "\n\n");
  EXPECT_TRUE(r.stream);
  EXPECT_EQ(r.priority, 9);
  EXPECT_EQ(r.ttft_ms, 200);
  EXPECT_EQ(r.deadline_ms, 2000);
  EXPECT_TRUE(r.best_effort);
  EXPECT_EQ(r.session, "kitchen-1");
  EXPECT_EQ(r.reply_to, "app/7/reply");
  EXPECT_EQ(r.model, "tiny");
  GenerateRequest g = r.view(0);
  EXPECT_EQ(g.messages.size(), 2u);
  EXPECT_EQ(g.stop.size(), 2u);
  EXPECT_EQ(g.session, "kitchen-1");
}

struct BadCase {
  const char* fields;    // JSON members added to {"id": "r", "prompt": "p", ...}
  const char* message;   // the exact error message
  Error code = Error::kRequestInvalid;
};

// Every field, wrong type and out of range, names itself in the error.
TEST(ServiceProtocol, WrongTypesAndRangesNameTheField) {
  const BadCase cases[] = {
      {R"("max_tokens": "ten")", "max_tokens: must be an integer 1..512, got \"ten\""},
      {R"("max_tokens": 0)", "max_tokens: must be an integer 1..512, got 0"},
      {R"("max_tokens": 1.5)", "max_tokens: must be an integer 1..512, got 1.5"},
      {R"("max_tokens": 513)", "max_tokens: 513 is above this node's cap of 512", Error::kRequestTooLarge},
      {R"("temperature": "hot")", "temperature: must be a number 0..2, got \"hot\""},
      {R"("temperature": -0.1)", "temperature: must be a number 0..2, got -0.1"},
      {R"("temperature": 2.5)", "temperature: must be a number 0..2, got 2.5"},
      {R"("top_p": true)", "top_p: must be a number above 0, at most 1, got true"},
      {R"("top_p": 0)", "top_p: must be a number above 0, at most 1, got 0"},
      {R"("top_p": 1.01)", "top_p: must be a number above 0, at most 1, got 1.01"},
      {R"("top_k": null)", "top_k: must be an integer 0..100000, got null"},
      {R"("top_k": -1)", "top_k: must be an integer 0..100000, got -1"},
      {R"("top_k": 100001)", "top_k: must be an integer 0..100000, got 100001"},
      {R"("seed": "1")", "seed: must be an integer 0..9007199254740991, got \"1\""},
      {R"("seed": -1)", "seed: must be an integer 0..9007199254740991, got -1"},
      {R"("seed": 1e300)", "seed: must be an integer 0..9007199254740991, got 1e+300"},
      {R"("stop": "END")", "stop: must be an array of strings, got \"END\""},
      {R"("stop": [1])", "stop[0]: must be a string of 1..128 bytes, got 1"},
      {R"("stop": [""])", "stop[0]: must be a string of 1..128 bytes, got 0 bytes"},
      {R"("stop": ["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"])",
       "stop: must hold at most 16 strings, got 17"},
      {R"("stream": "yes")", "stream: must be true or false, got \"yes\""},
      {R"("stream": 1)", "stream: must be true or false, got 1"},
      {R"("priority": 10)", "priority: must be an integer 0..9, got 10"},
      {R"("priority": -1)", "priority: must be an integer 0..9, got -1"},
      {R"("priority": "high")", "priority: must be an integer 0..9, got \"high\""},
      {R"("ttft_ms": 0)", "ttft_ms: must be an integer 1..86400000, got 0"},
      {R"("ttft_ms": [])", "ttft_ms: must be an integer 1..86400000, got an array"},
      {R"("deadline_ms": 86400001)", "deadline_ms: must be an integer 1..86400000, got 86400001"},
      {R"("deadline_ms": {})", "deadline_ms: must be an integer 1..86400000, got an object"},
      {R"("ttft_ms": 500, "deadline_ms": 100)", "ttft_ms: 500 is above deadline_ms (100)"},
      {R"("best_effort": "true")", "best_effort: must be true or false, got \"true\""},
      {R"("session": 5)", "session: must be a string of 1..64 bytes, got 5"},
      {R"("session": "../etc")", "session: must use only letters, digits, '-', '_' and '.', not starting with '.', got \"../etc\""},
      {R"("session": "a b")", "session: must use only letters, digits, '-', '_' and '.', not starting with '.', got \"a b\""},
      {R"("reply_to": "a/+/b")", "reply_to: must be a topic name without wildcards, not starting with '$', got \"a/+/b\""},
      {R"("reply_to": "$SYS/x")", "reply_to: must be a topic name without wildcards, not starting with '$', got \"$SYS/x\""},
      {R"("reply_to": 7)", "reply_to: must be a string of 1..1024 bytes, got 7"},
      {R"("model": false)", "model: must be a string of 1..256 bytes, got false"},
      {R"("messages": [])", "prompt: give either prompt or messages, not both"},
  };
  for (const BadCase& c : cases) {
    Request r;
    std::string payload = std::string(R"({"id": "r", "prompt": "p", )") + c.fields + "}";
    Status st = parse(payload, &r);
    ASSERT_FALSE(st.ok()) << payload;
    EXPECT_EQ(st.error().message, c.message) << payload;
    EXPECT_EQ(st.error().code, c.code) << payload;
    EXPECT_EQ(r.id, "r") << "the error reply must stay addressable: " << payload;
  }
}

TEST(ServiceProtocol, IdPromptAndMessagesShapes) {
  const BadCase cases[] = {
      {R"({"prompt": "p"})", "id: required (a string of 1..128 bytes)"},
      {R"({"id": 5, "prompt": "p"})", "id: must be a string of 1..128 bytes, got 5"},
      {R"({"id": "", "prompt": "p"})", "id: must be a string of 1..128 bytes, got 0 bytes"},
      {R"({"id": "a\nb", "prompt": "p"})", "id: must not contain control characters, got \"a\\nb\""},
      {R"({"id": "r"})", "prompt: required (a string), or messages (an array)"},
      {R"({"id": "r", "prompt": 3})", "prompt: must be a string of 1..16777216 bytes, got 3"},
      {R"({"id": "r", "prompt": ""})", "prompt: must be a string of 1..16777216 bytes, got 0 bytes"},
      {R"({"id": "r", "messages": "hi"})", "messages: must be an array of {\"role\", \"content\"} objects, got \"hi\""},
      {R"({"id": "r", "messages": []})", "messages: must hold 1..256 messages, got 0"},
      {R"({"id": "r", "messages": [3]})", "messages[0]: must be an object {\"role\", \"content\"}, got 3"},
      {R"({"id": "r", "messages": [{"content": "x"}]})", "messages[0].role: required"},
      {R"({"id": "r", "messages": [{"role": "user"}]})", "messages[0].content: required"},
      {R"({"id": "r", "messages": [{"role": "robot", "content": "x"}]})",
       "messages[0].role: must be \"system\", \"user\" or \"assistant\", got \"robot\""},
      {R"({"id": "r", "messages": [{"role": "user", "content": 1}]})",
       "messages[0].content: must be a string of at most 16777216 bytes, got 1"},
      {R"({"id": "r", "prompt": "\u0000"})", "prompt: must not contain NUL characters (\\u0000)"},
      {"{\"id\": \"r\", \"prompt\": \"\xff\xfe\"}", "prompt: must be valid UTF-8, got a string that is not UTF-8"},
      {"[1, 2]", "payload: must be a JSON object, got an array"},
      {"{\"id\": \"r\", \"prompt\": ", "payload: not valid JSON"},
      {"", "payload: not valid JSON"},
  };
  for (const BadCase& c : cases) {
    Request r;
    Status st = parse(c.fields, &r);
    ASSERT_FALSE(st.ok()) << c.fields;
    EXPECT_EQ(st.error().message, c.message) << c.fields;
    EXPECT_EQ(st.error().code, Error::kRequestInvalid);
  }
}

TEST(ServiceProtocol, OversizedPayloadIsTooLargeButStillAddressed) {
  std::string big = R"({"id": "big-1", "reply_to": "app/r", "prompt": ")" + std::string(5000, 'x') + "\"}";
  Request r;
  Status st = parse(big, &r);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Error::kRequestTooLarge);
  EXPECT_EQ(st.error().message, "payload: " + std::to_string(big.size()) + " bytes is over this node's limit of 4096 bytes");
  EXPECT_EQ(r.id, "big-1");
  EXPECT_EQ(r.reply_to, "app/r");
  EXPECT_EQ(reply_error_for(st.error().code), ReplyError::kTooLarge);
}

TEST(ServiceProtocol, CancelAndReplyTopics) {
  std::string id, reply_to;
  ASSERT_TRUE(cancel_parse(R"({"id": "q"})", &id, &reply_to).ok());
  EXPECT_EQ(id, "q");
  EXPECT_TRUE(reply_to.empty());
  EXPECT_FALSE(cancel_parse(R"({"ids": "q"})", &id, &reply_to).ok());
  EXPECT_FALSE(cancel_parse("nope", &id, &reply_to).ok());
  EXPECT_TRUE(reply_topic_valid("app/1/reply"));
  EXPECT_FALSE(reply_topic_valid(""));
  EXPECT_FALSE(reply_topic_valid("a/#"));
  EXPECT_FALSE(reply_topic_valid("$share/g/t"));
}

cJSON* parse_json(const std::string& s) {
  cJSON* j = cJSON_Parse(s.c_str());
  EXPECT_NE(j, nullptr) << s;
  return j;
}

TEST(ServiceProtocol, FinalReplyHasTheDocumentedFields) {
  FinalReply f;
  f.reason = engine::FinishReason::kLength;
  f.prompt_tokens = 7;
  f.completion_tokens = 3;
  f.ttft_ms = 12.3456;
  f.total_ms = 40;
  f.tokens_per_s = 71.5;
  f.tier_name = "Q4_0";
  f.operating_point.threads = 4;
  f.operating_point.window = 512;
  f.operating_point.draft_len = 3;
  f.operating_point.backend = governor::BackendKind::kCpu;
  std::string s = reply_final("id\"1", "said \"hi\"\n", f);
  cJSON* j = parse_json(s);
  ASSERT_NE(j, nullptr);
  EXPECT_STREQ(cJSON_GetObjectItem(j, "id")->valuestring, "id\"1");
  EXPECT_STREQ(cJSON_GetObjectItem(j, "text")->valuestring, "said \"hi\"\n");
  EXPECT_STREQ(cJSON_GetObjectItem(j, "finish_reason")->valuestring, "length");
  cJSON* usage = cJSON_GetObjectItem(j, "usage");
  EXPECT_EQ(cJSON_GetObjectItem(usage, "prompt_tokens")->valueint, 7);
  EXPECT_EQ(cJSON_GetObjectItem(usage, "completion_tokens")->valueint, 3);
  cJSON* t = cJSON_GetObjectItem(j, "timings");
  EXPECT_DOUBLE_EQ(cJSON_GetObjectItem(t, "ttft_ms")->valuedouble, 12.346);
  EXPECT_DOUBLE_EQ(cJSON_GetObjectItem(t, "total_ms")->valuedouble, 40);
  EXPECT_DOUBLE_EQ(cJSON_GetObjectItem(t, "tokens_per_s")->valuedouble, 71.5);
  cJSON* op = cJSON_GetObjectItem(j, "operating_point");
  EXPECT_STREQ(cJSON_GetObjectItem(op, "weights")->valuestring, "Q4_0");
  EXPECT_EQ(cJSON_GetObjectItem(op, "threads")->valueint, 4);
  EXPECT_EQ(cJSON_GetObjectItem(op, "attention_window")->valueint, 512);
  EXPECT_EQ(cJSON_GetObjectItem(op, "draft_len")->valueint, 3);
  EXPECT_STREQ(cJSON_GetObjectItem(op, "backend")->valuestring, "cpu");
  EXPECT_EQ(cJSON_GetArraySize(op), 5) << "the operating point's JSON fields are the documented five";
  EXPECT_EQ(cJSON_GetArraySize(j), 6);
  cJSON_Delete(j);
}

TEST(ServiceProtocol, ChunkErrorStatusTelemetry) {
  std::string buf;
  reply_chunk(buf, "c", "a\tb", 3);
  EXPECT_EQ(buf, R"({"id":"c","delta":"a\tb","index":3})");
  size_t cap = buf.capacity();
  reply_chunk(buf, "c", "x", 4);  // reuses the buffer
  EXPECT_EQ(buf.capacity(), cap);

  std::string id = "e1";
  EXPECT_EQ(reply_error(&id, ReplyError::kOverloaded, "busy"),
            R"({"id":"e1","error":{"code":"overloaded","message":"busy"}})");
  EXPECT_EQ(reply_error(nullptr, ReplyError::kBadRequest, "payload: not valid JSON"),
            R"({"id":null,"error":{"code":"bad_request","message":"payload: not valid JSON"}})");

  StatusInfo s;
  s.state = "online";
  s.node = "n1";
  s.model = "tiny";
  s.slots = 4;
  s.has_operating_point = true;
  cJSON* j = parse_json(status_json(s));
  EXPECT_STREQ(cJSON_GetObjectItem(j, "state")->valuestring, "online");
  EXPECT_EQ(cJSON_GetObjectItem(j, "slots")->valueint, 4);
  EXPECT_TRUE(cJSON_IsObject(cJSON_GetObjectItem(j, "operating_point")));
  cJSON_Delete(j);
  s.state = "offline";
  EXPECT_EQ(status_json(s), R"({"state":"offline","node":"n1"})");

  TelemetryInfo t;
  t.node = "n1";
  t.now_ns = 5000000000;
  t.stats.events.push_back({4000000000, "weights Q8_0 -> Q4_0", "hot"});
  j = parse_json(telemetry_json(t));
  EXPECT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(j, "temperature_c")));
  cJSON* ev = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "governor_events"), 0);
  EXPECT_EQ(cJSON_GetObjectItem(ev, "age_ms")->valueint, 1000);
  cJSON_Delete(j);
}

TEST(ServiceProtocol, ErrorCodeMapping) {
  EXPECT_EQ(reply_error_for(Error::kRequestInvalid), ReplyError::kBadRequest);
  EXPECT_EQ(reply_error_for(Error::kRequestTooLarge), ReplyError::kTooLarge);
  EXPECT_EQ(reply_error_for(Error::kResourceExhausted), ReplyError::kOverloaded);
  EXPECT_EQ(reply_error_for(Error::kResourceOverBudget), ReplyError::kDeadlineUnmeetable);
  EXPECT_EQ(reply_error_for(Error::kBackendFailure), ReplyError::kInternal);
  EXPECT_STREQ(reply_error_name(ReplyError::kDeadlineUnmeetable), "deadline_unmeetable");
  EXPECT_STREQ(engine::finish_reason_name(engine::FinishReason::kCancelled), "cancelled");
}

TEST(ServiceProtocol, Utf8Validation) {
  EXPECT_TRUE(utf8_valid("héllo €𝄞"));
  EXPECT_FALSE(utf8_valid("\xc0\xaf"));          // overlong
  EXPECT_FALSE(utf8_valid("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(utf8_valid("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(utf8_valid("\xe2\x82"));          // truncated
}

}  // namespace
}  // namespace airt::service

namespace airt::service {
namespace {

// Validation to the byte: a NUL inside a string (raw or \u0000) is an error naming the
// field, never a silently shortened value.
TEST(ServiceProtocol, NulInsideStringsIsRejectedNamingTheField) {
  Request r;
  Status st = parse(R"({"id": "n", "prompt": "safe\u0000ignore the rest"})", &r);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(reply_error_for(st.error().code), ReplyError::kBadRequest);
  EXPECT_EQ(st.error().message, "prompt: must not contain NUL characters (\\u0000)");
  EXPECT_EQ(r.id, "n") << "still addressed";

  std::string raw = std::string(R"({"id": "n", "prompt": "safe)") + '\0' + R"(rest"})";
  st = parse(raw, &r);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "prompt: must not contain NUL characters (\\u0000)");

  st = parse(R"({"id": "n", "messages": [{"role": "user", "content": "a\u0000b"}]})", &r);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "messages[0].content: must not contain NUL characters (\\u0000)");
  st = parse(R"({"id": "n", "messages": [{"role": "user\u0000x", "content": "hi"}]})", &r);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("messages[0].role"), std::string::npos) << st.error().message;
  st = parse(R"({"id": "n\u0000", "prompt": "p"})", &r);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "id: must not contain NUL characters (\\u0000)");
  st = parse(R"({"id": "n", "prompt": "p", "stop": ["\u0000"]})", &r);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "stop[0]: must not contain NUL characters (\\u0000)");

  // An escaped backslash before "u0000" is text, not a NUL.
  ASSERT_TRUE(parse(R"({"id": "n", "prompt": "a\\u0000b"})", &r).ok());
  EXPECT_EQ(r.prompt, "a\\u0000b");
  ASSERT_TRUE(parse(R"({"id": "n", "prompt": "caf\u00e9"})", &r).ok());
  EXPECT_EQ(r.prompt, "caf\xc3\xa9");
}

TEST(ServiceProtocol, ExactlyOneJsonValuePerPayload) {
  Request r;
  Status st = parse(R"({"id": "a", "prompt": "p"} {"id": "b", "prompt": "q", "max_tokens": 500})", &r);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(reply_error_for(st.error().code), ReplyError::kBadRequest);
  EXPECT_NE(st.error().message.find("payload: unexpected text after the JSON value"), std::string::npos)
      << st.error().message;
  EXPECT_NE(st.error().message.find("{\"id\": \"b\""), std::string::npos) << "names what follows";
  EXPECT_FALSE(parse(R"({"id": "a", "prompt": "p"}x)", &r).ok());
  ASSERT_TRUE(parse("{\"id\": \"a\", \"prompt\": \"p\"} \r\n\t", &r).ok()) << "trailing whitespace is fine";
  std::string id, reply_to;
  EXPECT_FALSE(cancel_parse(R"({"id": "a"} {"id": "b"})", &id, &reply_to).ok());
  EXPECT_TRUE(cancel_parse(R"({"id": "a"} )", &id, &reply_to).ok());
}

TEST(ServiceProtocol, NumbersAreCheckedAsTheTypeTheyAreStoredIn) {
  Request r;
  Status st = parse(R"({"id": "a", "prompt": "p", "top_p": 1e-300})", &r);
  ASSERT_FALSE(st.ok()) << "1e-300 is 0 as a float";
  EXPECT_NE(st.error().message.find("top_p"), std::string::npos);
  EXPECT_FALSE(parse(R"({"id": "a", "prompt": "p", "top_p": 1e-46})", &r).ok());
  ASSERT_TRUE(parse(R"({"id": "a", "prompt": "p", "top_p": 1e-30})", &r).ok());
  EXPECT_GT(r.top_p, 0.0f);
  EXPECT_FALSE(parse(R"({"id": "a", "prompt": "p", "top_p": 1.00000001})", &r).ok() && r.top_p > 1.0f);
  ASSERT_TRUE(parse(R"({"id": "a", "prompt": "p", "temperature": 1e-300})", &r).ok());
  EXPECT_EQ(r.temperature, 0.0f) << "0 is a valid temperature";
  EXPECT_FALSE(parse(R"({"id": "a", "prompt": "p", "temperature": 1e39})", &r).ok());
  // Integers: integral and in range after conversion.
  EXPECT_FALSE(parse(R"({"id": "a", "prompt": "p", "top_k": 1e300})", &r).ok());
  EXPECT_FALSE(parse(R"({"id": "a", "prompt": "p", "priority": 9.5})", &r).ok());
  ASSERT_TRUE(parse(R"({"id": "a", "prompt": "p", "priority": 9.0, "seed": 9007199254740991})", &r).ok());
  EXPECT_EQ(r.priority, 9);
  EXPECT_EQ(r.seed, 9007199254740991u);
  EXPECT_FALSE(parse(R"({"id": "a", "prompt": "p", "seed": 9007199254740993})", &r).ok() && r.seed != 9007199254740993u);
}

}  // namespace
}  // namespace airt::service
