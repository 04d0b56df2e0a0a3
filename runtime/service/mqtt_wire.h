// The MQTT packets the reply link (reply_link.h) sends and reads, MQTT 3.1.1 and 5.0:
// CONNECT / CONNACK, PUBLISH (QoS 0 and 2), PUBREC / PUBREL / PUBCOMP, PINGREQ /
// PINGRESP and DISCONNECT. Encoding appends to a string; PacketReader cuts a byte stream
// into packets. Layouts are those of the OASIS MQTT 3.1.1 and 5.0 standards.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/core/result.h"

namespace airt::service::wire {

enum Type : uint8_t {
  kConnect = 1, kConnack = 2, kPublish = 3, kPuback = 4, kPubrec = 5, kPubrel = 6, kPubcomp = 7,
  kPingreq = 12, kPingresp = 13, kDisconnect = 14,
};

// The largest remaining length MQTT can encode (four length bytes).
constexpr uint32_t kMaxRemaining = 268435455;

struct ConnectFields {
  bool v5 = true;
  std::string client_id;
  std::string username, password;  // empty: not sent
  bool clean_start = false;
  uint16_t keepalive_s = 30;
  uint32_t session_expiry_s = 0;   // v5 only
};

void encode_connect(std::string& out, const ConnectFields& f);
// `pid` is ignored at QoS 0. `correlation` (v5) is sent as Correlation Data when not null.
void encode_publish(std::string& out, bool v5, std::string_view topic, std::string_view payload, int qos,
                    uint16_t pid, bool dup, const std::string* correlation);
// PUBREL (and PUBREC / PUBCOMP / PUBACK): the packet id, success (no reason code).
void encode_ack(std::string& out, Type type, uint16_t pid);
void encode_pingreq(std::string& out);
void encode_disconnect(std::string& out);

struct Packet {
  uint8_t type = 0;
  uint8_t flags = 0;
  std::string body;  // the variable header and payload
};

// Feeds bytes in, takes whole packets out. A malformed length (five length bytes) or a
// packet over `max_bytes` is an error: the connection cannot be read any further.
class PacketReader {
 public:
  explicit PacketReader(uint32_t max_bytes = 1 << 20) : max_bytes_(max_bytes) {}
  void feed(const char* data, size_t n) { buf_.append(data, n); }
  // True with a packet; false when more bytes are needed.
  Result<bool> next(Packet& out);
  void clear() { buf_.clear(); }

 private:
  std::string buf_;
  uint32_t max_bytes_;
};

struct Connack {
  bool session_present = false;
  uint8_t code = 0;              // 0: accepted
  uint16_t receive_max = 65535;  // v5: how many QoS 1/2 messages may be in flight
  uint32_t max_packet = 0;       // v5: 0 when the broker gave no limit
  uint16_t server_keepalive = 0; // v5: 0 when the broker keeps ours
};
Result<Connack> parse_connack(const Packet& p, bool v5);

struct Ack {
  uint16_t pid = 0;
  uint8_t reason = 0;  // v5 reason code; 0 (success) when absent or in 3.1.1
};
Result<Ack> parse_ack(const Packet& p);

// The broker's words for a CONNACK code (3.1.1 return code or v5 reason code).
const char* connack_reason(uint8_t code, bool v5);

}  // namespace airt::service::wire
