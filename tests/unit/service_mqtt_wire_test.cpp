// The reply link's MQTT packets, byte for byte against the layouts of the MQTT 3.1.1 and
// 5.0 standards, and the packet reader over streams cut anywhere.
#include "runtime/service/mqtt_wire.h"

#include <gtest/gtest.h>

namespace airt::service::wire {
namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int v : b) s.push_back(char(v));
  return s;
}

TEST(MqttWire, ConnectV311WithCredentials) {
  ConnectFields f;
  f.v5 = false;
  f.client_id = "ab";
  f.username = "u";
  f.password = "p";
  f.keepalive_s = 30;
  std::string out;
  encode_connect(out, f);
  EXPECT_EQ(out, bytes({0x10, 20, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xC0, 0, 30, 0, 2, 'a', 'b', 0, 1, 'u', 0, 1, 'p'}));
}

TEST(MqttWire, ConnectV5CarriesTheSessionExpiry) {
  ConnectFields f;
  f.client_id = "c";
  f.clean_start = true;
  f.keepalive_s = 60;
  f.session_expiry_s = 3600;
  std::string out;
  encode_connect(out, f);
  EXPECT_EQ(out, bytes({0x10, 19, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60, 5, 0x11, 0, 0, 0x0E, 0x10, 0, 1, 'c'}));
}

TEST(MqttWire, PublishQos2WithDupAndCorrelation) {
  std::string corr = "k";
  std::string out;
  encode_publish(out, true, "t/1", "hi", 2, 0x1234, true, &corr);
  EXPECT_EQ(out, bytes({0x3C, 14, 0, 3, 't', '/', '1', 0x12, 0x34, 4, 0x09, 0, 1, 'k', 'h', 'i'}));
  out.clear();
  encode_publish(out, false, "t", "x", 0, 7, true, nullptr);
  EXPECT_EQ(out, bytes({0x30, 4, 0, 1, 't', 'x'})) << "QoS 0: no packet id, no DUP";
}

TEST(MqttWire, LongPayloadTakesAMultiByteLength) {
  std::string payload(200, 'z');
  std::string out;
  encode_publish(out, false, "t", payload, 2, 1, false, nullptr);
  // 2 + 1 topic, 2 id, 200 payload = 205 = 0xCD -> 0xCD 0x01
  ASSERT_GE(out.size(), 3u);
  EXPECT_EQ(uint8_t(out[1]), 0xCD);
  EXPECT_EQ(uint8_t(out[2]), 0x01);
  EXPECT_EQ(out.size(), 3u + 205u);
  PacketReader r;
  r.feed(out.data(), out.size());
  Packet p;
  ASSERT_TRUE(r.next(p).value());
  EXPECT_EQ(p.type, kPublish);
  EXPECT_EQ(p.flags, 0x04);
  EXPECT_EQ(p.body.size(), 205u);
}

TEST(MqttWire, PubrelHasItsReservedFlags) {
  std::string out;
  encode_ack(out, kPubrel, 0xBEEF);
  EXPECT_EQ(out, bytes({0x62, 2, 0xBE, 0xEF}));
  out.clear();
  encode_pingreq(out);
  encode_disconnect(out);
  EXPECT_EQ(out, bytes({0xC0, 0, 0xE0, 0}));
}

TEST(MqttWire, ReaderTakesPacketsCutAnywhere) {
  std::string stream = bytes({0x50, 2, 0, 9, 0x70, 3, 0, 9, 0x92, 0xD0, 0});
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    PacketReader r;
    std::vector<Packet> got;
    Packet p;
    r.feed(stream.data(), cut);
    while (r.next(p).value()) got.push_back(p);
    r.feed(stream.data() + cut, stream.size() - cut);
    while (r.next(p).value()) got.push_back(p);
    ASSERT_EQ(got.size(), 3u) << "cut at " << cut;
    EXPECT_EQ(got[0].type, kPubrec);
    EXPECT_EQ(parse_ack(got[0]).value().pid, 9);
    EXPECT_EQ(parse_ack(got[0]).value().reason, 0);
    EXPECT_EQ(got[1].type, kPubcomp);
    EXPECT_EQ(parse_ack(got[1]).value().reason, 0x92) << "v5 reason: packet identifier not found";
    EXPECT_EQ(got[2].type, kPingresp);
  }
}

TEST(MqttWire, ReaderRefusesMalformedAndOversizedLengths) {
  PacketReader r;
  std::string bad = bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01});
  r.feed(bad.data(), bad.size());
  Packet p;
  EXPECT_FALSE(r.next(p).ok());
  PacketReader small(16);
  std::string big = bytes({0x30, 17});
  small.feed(big.data(), big.size());
  EXPECT_FALSE(small.next(p).ok());
}

TEST(MqttWire, ConnackV5ReadsReceiveMaximumAndSkipsTheRest) {
  Packet p;
  p.type = kConnack;
  // session present, success; properties: Receive Maximum 20, Reason String "ok",
  // Maximum Packet Size 4096, User Property ("a","b"), Topic Alias Maximum 10.
  p.body = bytes({1, 0, 23, 0x21, 0, 20, 0x1F, 0, 2, 'o', 'k', 0x27, 0, 0, 0x10, 0, 0x26, 0, 1, 'a', 0, 1, 'b',
                  0x22, 0, 10});
  Result<Connack> a = parse_connack(p, true);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_TRUE(a.value().session_present);
  EXPECT_EQ(a.value().code, 0);
  EXPECT_EQ(a.value().receive_max, 20);
  EXPECT_EQ(a.value().max_packet, 4096u);
  p.body = bytes({0, 0x86, 0});
  EXPECT_EQ(parse_connack(p, true).value().code, 0x86);
  EXPECT_STREQ(connack_reason(0x86, true), "bad user name or password");
  p.body = bytes({0, 5});
  EXPECT_EQ(parse_connack(p, false).value().code, 5);
  p.body = bytes({0, 0, 3, 0x7F, 0, 0});
  EXPECT_FALSE(parse_connack(p, true).ok()) << "an unknown property cannot be skipped";
  p.body = bytes({0});
  EXPECT_FALSE(parse_connack(p, false).ok());
  Packet ack;
  ack.type = kPubrec;
  ack.body = bytes({0, 0});
  EXPECT_FALSE(parse_ack(ack).ok()) << "packet id 0 is not an id";
}

}  // namespace
}  // namespace airt::service::wire
