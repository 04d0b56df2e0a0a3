// libFuzzer target for what the reply link reads from the broker (runtime/service/
// mqtt_wire.h): the bytes are fed to PacketReader in pieces (byte 0 picks the piece size
// and the protocol), and every packet it gives is read as a CONNACK and an
// acknowledgement. Nothing may crash or read past the packet; a packet is never over the
// reader's bound; a malformed stream is an error, after which the link drops the connection.
// Also, every PUBLISH the link could write reads back as one whole packet.
#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/service/mqtt_wire.h"
#include "tests/fuzz/fuzz_support.h"

namespace airt {
namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int v : b) s.push_back(char(v));
  return s;
}

void write_seeds() {
  using namespace service::wire;
  // A v5 CONNACK with properties, then a PUBREC, a PUBCOMP with a reason code, a PINGRESP.
  std::string stream = bytes({0x20, 13, 1, 0, 10, 0x21, 0, 20, 0x27, 0, 0, 0x10, 0, 0x13, 0, 30});
  stream += bytes({0x50, 2, 0, 7, 0x70, 3, 0, 7, 0x92, 0xD0, 0});
  fuzz::write_seed("v5-session", std::string(1, '\x11') + stream);
  fuzz::write_seed("v311-session", std::string(1, '\x02') + bytes({0x20, 2, 0, 0, 0x50, 2, 1, 2, 0x70, 2, 1, 2}));
  fuzz::write_seed("refused", std::string(1, '\x01') + bytes({0x20, 3, 0, 0x87, 0}));
  fuzz::write_seed("long-length", std::string(1, '\x03') + bytes({0x30, 0xFF, 0xFF, 0xFF, 0x7F}));
  std::string pub;
  encode_publish(pub, true, "reply/x", "{\"id\":\"a\"}", 2, 9, true, nullptr);
  fuzz::write_seed("publish", std::string(1, '\x05') + pub + bytes({0xE0, 1, 0x8E}));
}

}  // namespace
}  // namespace airt

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  airt::write_seeds();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace airt;
  using namespace airt::service::wire;
  if (size < 1) return 0;
  const bool v5 = data[0] & 1;
  const size_t piece = size_t(data[0] >> 1) + 1;
  const uint32_t max_bytes = 4096;
  PacketReader reader(max_bytes);
  bool failed = false;
  for (size_t at = 1; at < size && !failed; at += piece) {
    reader.feed(reinterpret_cast<const char*>(data + at), std::min(piece, size - at));
    for (;;) {
      Packet p;
      Result<bool> got = reader.next(p);
      if (!got.ok()) {
        fuzz::check(!got.error().message.empty(), "a stream error says why");
        failed = true;
        break;
      }
      if (!got.value()) break;
      fuzz::check(p.body.size() <= max_bytes, "a packet is within the reader's bound");
      fuzz::check(p.type <= 15 && p.flags <= 15, "type and flags are four bits each");
      Result<Connack> a = parse_connack(p, v5);
      if (a.ok()) {
        fuzz::check(p.type == kConnack, "only a CONNACK reads as one");
        fuzz::check(a.value().receive_max >= 1, "a receive maximum of at least 1");
        (void)connack_reason(a.value().code, v5);
      }
      Result<Ack> ack = parse_ack(p);
      if (ack.ok()) fuzz::check(ack.value().pid != 0, "packet id 0 is refused");
    }
  }
  // What the link writes reads back whole: the input's tail as topic and payload.
  const size_t split = size / 2;
  std::string topic(reinterpret_cast<const char*>(data), std::min<size_t>(split, 1000));
  std::string payload(reinterpret_cast<const char*>(data + split), size - split);
  std::string corr = topic.substr(0, topic.size() / 2);
  std::string out;
  encode_publish(out, v5, topic, payload, 2, 1, true, v5 ? &corr : nullptr);
  PacketReader back(kMaxRemaining);
  back.feed(out.data(), out.size());
  Packet p;
  Result<bool> got = back.next(p);
  fuzz::check(got.ok() && got.value(), "an encoded PUBLISH reads back");
  fuzz::check(p.type == kPublish && p.flags == 0x0C, "as a DUP QoS 2 PUBLISH");
  fuzz::check(p.body.size() + 2 <= out.size() && p.body.substr(p.body.size() - payload.size()) == payload,
              "its payload last, unchanged");
  return 0;
}
