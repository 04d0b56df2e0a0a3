#include "runtime/service/mqtt_wire.h"

namespace airt::service::wire {
namespace {

void put_u16(std::string& out, uint16_t v) {
  out.push_back(char(v >> 8));
  out.push_back(char(v & 0xFF));
}

void put_u32(std::string& out, uint32_t v) {
  put_u16(out, uint16_t(v >> 16));
  put_u16(out, uint16_t(v & 0xFFFF));
}

void put_varint(std::string& out, uint32_t v) {
  do {
    uint8_t b = v & 0x7F;
    v >>= 7;
    out.push_back(char(v ? b | 0x80 : b));
  } while (v);
}

void put_str(std::string& out, std::string_view s) {
  put_u16(out, uint16_t(s.size()));
  out.append(s);
}

void put_packet(std::string& out, uint8_t first, const std::string& body) {
  out.push_back(char(first));
  put_varint(out, uint32_t(body.size()));
  out += body;
}

// Reads big-endian fields from a packet body; any overrun clears ok.
struct Cursor {
  std::string_view s;
  bool ok = true;
  uint8_t u8() {
    if (s.empty()) return ok = false, 0;
    uint8_t v = uint8_t(s[0]);
    s.remove_prefix(1);
    return v;
  }
  uint16_t u16() {
    uint16_t hi = u8();
    return uint16_t(hi << 8 | u8());
  }
  uint32_t u32() {
    uint32_t hi = u16();
    return hi << 16 | u16();
  }
  uint32_t varint() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      uint8_t b = u8();
      v |= uint32_t(b & 0x7F) << (7 * i);
      if (!(b & 0x80)) return v;
    }
    ok = false;
    return 0;
  }
  void skip(size_t n) {
    if (s.size() < n) {
      ok = false;
      s = {};
      return;
    }
    s.remove_prefix(n);
  }
};

}  // namespace

void encode_connect(std::string& out, const ConnectFields& f) {
  std::string body;
  put_str(body, "MQTT");
  body.push_back(char(f.v5 ? 5 : 4));
  uint8_t flags = f.clean_start ? 0x02 : 0;
  if (!f.username.empty()) flags |= 0x80;
  if (!f.password.empty()) flags |= 0x40;
  body.push_back(char(flags));
  put_u16(body, f.keepalive_s);
  if (f.v5) {
    std::string props;
    props.push_back(0x11);  // Session Expiry Interval
    put_u32(props, f.session_expiry_s);
    put_varint(body, uint32_t(props.size()));
    body += props;
  }
  put_str(body, f.client_id);
  if (!f.username.empty()) put_str(body, f.username);
  if (!f.password.empty()) put_str(body, f.password);
  put_packet(out, kConnect << 4, body);
}

void encode_publish(std::string& out, bool v5, std::string_view topic, std::string_view payload, int qos,
                    uint16_t pid, bool dup, const std::string* correlation) {
  std::string head;
  put_str(head, topic);
  if (qos > 0) put_u16(head, pid);
  if (v5) {
    std::string props;
    if (correlation) {
      props.push_back(0x09);  // Correlation Data
      put_str(props, *correlation);
    }
    put_varint(head, uint32_t(props.size()));
    head += props;
  }
  out.push_back(char(kPublish << 4 | (dup && qos > 0 ? 0x08 : 0) | (qos << 1)));
  put_varint(out, uint32_t(head.size() + payload.size()));
  out += head;
  out.append(payload);
}

void encode_ack(std::string& out, Type type, uint16_t pid) {
  out.push_back(char(type << 4 | (type == kPubrel ? 0x02 : 0)));
  out.push_back(2);
  put_u16(out, pid);
}

void encode_pingreq(std::string& out) {
  out.push_back(char(kPingreq << 4));
  out.push_back(0);
}

void encode_disconnect(std::string& out) {
  out.push_back(char(kDisconnect << 4));
  out.push_back(0);  // v5: no reason code means normal disconnection
}

Result<bool> PacketReader::next(Packet& out) {
  if (buf_.size() < 2) return false;
  uint32_t len = 0;
  size_t i = 1;
  for (;; ++i) {
    if (i > 4) return errorf(Error::kRequestInvalid, "mqtt: the broker sent a packet with a malformed length");
    if (i >= buf_.size()) return false;
    uint8_t b = uint8_t(buf_[i]);
    len |= uint32_t(b & 0x7F) << (7 * (i - 1));
    if (!(b & 0x80)) break;
  }
  if (len > max_bytes_)
    return errorf(Error::kRequestInvalid, "mqtt: the broker sent a %u-byte packet (at most %u expected)", len, max_bytes_);
  size_t total = i + 1 + len;
  if (buf_.size() < total) return false;
  out.type = uint8_t(buf_[0]) >> 4;
  out.flags = uint8_t(buf_[0]) & 0x0F;
  out.body.assign(buf_, i + 1, len);
  buf_.erase(0, total);
  return true;
}

Result<Connack> parse_connack(const Packet& p, bool v5) {
  Cursor c{p.body};
  Connack a;
  a.session_present = c.u8() & 1;
  a.code = c.u8();
  if (v5 && c.ok && !c.s.empty()) {
    uint32_t n = c.varint();
    Cursor props{c.s.substr(0, std::min<size_t>(n, c.s.size()))};
    if (n > c.s.size()) c.ok = false;
    while (c.ok && props.ok && !props.s.empty()) {
      uint8_t id = props.u8();
      switch (id) {
        case 0x21: a.receive_max = props.u16(); break;
        case 0x27: a.max_packet = props.u32(); break;
        case 0x13: a.server_keepalive = props.u16(); break;
        case 0x24: case 0x25: case 0x28: case 0x29: case 0x2A: case 0x01: case 0x17: case 0x19:
          props.skip(1); break;
        case 0x22: case 0x23: props.skip(2); break;
        case 0x02: case 0x11: case 0x18: props.skip(4); break;
        case 0x0B: (void)props.varint(); break;
        case 0x03: case 0x08: case 0x09: case 0x12: case 0x15: case 0x16: case 0x1A: case 0x1C: case 0x1F:
          props.skip(props.u16()); break;
        case 0x26:
          props.skip(props.u16());
          props.skip(props.u16());
          break;
        default: props.ok = false;
      }
    }
    c.ok = c.ok && props.ok;
  }
  if (!c.ok || p.type != kConnack) return errorf(Error::kRequestInvalid, "mqtt: the broker sent a malformed CONNACK");
  if (a.receive_max == 0) a.receive_max = 1;
  return a;
}

Result<Ack> parse_ack(const Packet& p) {
  Cursor c{p.body};
  Ack a;
  a.pid = c.u16();
  if (c.ok && !c.s.empty()) a.reason = c.u8();
  if (!c.ok || a.pid == 0) return errorf(Error::kRequestInvalid, "mqtt: the broker sent a malformed acknowledgement");
  return a;
}

const char* connack_reason(uint8_t code, bool v5) {
  if (!v5) {
    switch (code) {
      case 0: return "accepted";
      case 1: return "unacceptable protocol version";
      case 2: return "client identifier rejected";
      case 3: return "server unavailable";
      case 4: return "bad user name or password";
      case 5: return "not authorized";
      default: return "refused";
    }
  }
  switch (code) {
    case 0x00: return "success";
    case 0x84: return "unsupported protocol version";
    case 0x85: return "client identifier not valid";
    case 0x86: return "bad user name or password";
    case 0x87: return "not authorized";
    case 0x88: return "server unavailable";
    case 0x89: return "server busy";
    case 0x8A: return "banned";
    case 0x95: return "packet too large";
    case 0x97: return "quota exceeded";
    default: return "refused";
  }
}

}  // namespace airt::service::wire
