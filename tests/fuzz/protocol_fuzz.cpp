// libFuzzer target for the MQTT request parser (runtime/service/protocol.h): any payload
// is either refused with a request error (kRequestInvalid / kRequestTooLarge) or gives a
// Request inside the documented limits; cancel messages and reply topics likewise.
// Byte 0 of the input picks small or default limits, so the limit checks are reached.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/service/protocol.h"
#include "tests/fuzz/fuzz_support.h"

namespace airt {
namespace {

void check_request(const service::Request& r, const service::RequestLimits& lim) {
  fuzz::check(!r.id.empty() && r.id.size() <= 128, "id is 1..128 bytes");
  fuzz::check(r.prompt.empty() != r.messages.empty(), "exactly one of prompt or messages");
  fuzz::check(r.messages.size() <= 256, "at most 256 messages");
  fuzz::check(r.max_tokens >= 1 && r.max_tokens <= lim.max_tokens_cap, "max_tokens 1..cap");
  fuzz::check(r.temperature >= 0 && r.temperature <= 2, "temperature 0..2");
  fuzz::check(r.top_p > 0 && r.top_p <= 1, "top_p (0, 1]");
  fuzz::check(r.top_k >= 0 && r.top_k <= 100000, "top_k 0..100000");
  fuzz::check(r.stop.size() <= 16, "at most 16 stop strings");
  fuzz::check(r.priority >= 0 && r.priority <= 9, "priority 0..9");
  fuzz::check(r.ttft_ms >= 0 && r.deadline_ms >= 0, "deadlines not negative");
  fuzz::check(r.reply_to.empty() || service::reply_topic_valid(r.reply_to), "reply_to is a valid topic");
  (void)r.view(0);
}

void write_seeds() {
  const char* seeds[] = {
      R"({"id": "k-17", "prompt": "Once upon a time", "max_tokens": 64, "stream": true})",
      R"({"id":"a","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],)"
      R"("temperature":0,"top_p":0.5,"top_k":0,"seed":42,"stop":["\n","END"],"priority":9,)"
      R"("ttft_ms":100,"deadline_ms":2000,"best_effort":true,"session":"chat-1","model":"m","reply_to":"client/1/reply"})",
      R"({"id":"big","prompt":"x","max_tokens":100000})",
      R"({"id":"\u00e9\ud83d\ude00","prompt":"\u0000","max_tokens":"ten"})",
      R"([1,2,{"id":null}])",
      R"({"id":"c","reply_to":"a/+/b"})",
  };
  int i = 0;
  for (const char* s : seeds) {
    for (char mode : {'\0', '\1'}) fuzz::write_seed("req-" + std::to_string(i++), std::string(1, mode) + s);
  }
}

}  // namespace
}  // namespace airt

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  airt::write_seeds();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace airt;
  if (size < 1) return 0;
  service::RequestLimits lim;
  if (data[0] & 1) {
    lim.max_payload_bytes = 96;
    lim.max_tokens_cap = 8;
    lim.default_max_tokens = 4;
  }
  const std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
  service::Request req;
  Status s = service::request_parse(payload, lim, &req);
  if (s.ok()) {
    check_request(req, lim);
  } else {
    const Error e = s.error().code;
    fuzz::check(e == Error::kRequestInvalid || e == Error::kRequestTooLarge, "parse errors are request errors");
    fuzz::check(!s.error().message.empty(), "parse errors say why");
    const ErrorInfo& info = s.error();
    const std::string reply = service::reply_error(req.id.empty() ? nullptr : &req.id,
                                                   service::reply_error_for(info.code), info.message);
    fuzz::check(!reply.empty(), "an error reply can be built");
  }
  std::string id, reply_to;
  if (service::cancel_parse(payload, &id, &reply_to).ok()) fuzz::check(!id.empty(), "a cancel names an id");
  (void)service::reply_topic_valid(payload);
  return 0;
}
