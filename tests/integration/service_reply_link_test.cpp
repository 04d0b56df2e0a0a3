// The reply link against a real mosquitto: chunks and finals in order, and exactly once
// across a crash at each point of the QoS 2 exchange. A crash is played by a bare
// connection under the link's client id that stops at that point and drops the socket
// without a DISCONNECT (as a killed process does); a new link then resumes the final
// from the state the journal would hold at that point.
#include "runtime/service/reply_link.h"

#include "runtime/service/mqtt_wire.h"
#include "runtime/service/net_socket.h"
#include "tests/integration/service_fixture.h"

namespace airt::service::test {
namespace {

class Recorder final : public ReplyLinkHandler {
 public:
  void on_reply_released(uint64_t token) override {
    std::lock_guard<std::mutex> lock(mu_);
    released_.push_back(token);
  }
  void on_reply_done(uint64_t token) override {
    std::lock_guard<std::mutex> lock(mu_);
    done_.push_back(token);
    cv_.notify_all();
  }
  bool wait_done(size_t n, int ms = 10000) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return done_.size() >= n; });
  }
  std::vector<uint64_t> released() {
    std::lock_guard<std::mutex> lock(mu_);
    return released_;
  }
  std::vector<uint64_t> done() {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<uint64_t> released_, done_;
};

MqttOptions link_options(int port, bool v5 = true) {
  MqttOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.v5 = v5;
  o.client_id = "link-" + std::to_string(getpid()) + "-" + std::to_string(now_ns());
  o.session_expiry_s = 600;
  o.keepalive_s = 5;
  o.reconnect_min_ms = 50;
  o.reconnect_max_ms = 200;
  return o;
}

// A bare MQTT connection for playing a crash: connect, send, read, then drop.
class BareClient {
 public:
  bool connect(const MqttOptions& o) {
    v5_ = o.v5;
    auto s = NetSocket::connect(o, 5000);
    if (!s.ok()) return false;
    sock_ = std::move(s.value());
    wire::ConnectFields f;
    f.v5 = o.v5;
    f.client_id = o.client_id;
    f.keepalive_s = 60;
    f.session_expiry_s = uint32_t(o.session_expiry_s);
    std::string out;
    wire::encode_connect(out, f);
    if (!sock_->write_all(out).ok()) return false;
    wire::Packet p;
    return read(p) && p.type == wire::kConnack && wire::parse_connack(p, o.v5).value().code == 0;
  }
  bool send(const std::string& bytes) { return sock_->write_all(bytes).ok(); }
  bool read(wire::Packet& p) {
    char buf[1024];
    for (;;) {
      Result<bool> got = reader_.next(p);
      if (!got.ok()) return false;
      if (got.value()) return true;
      Result<size_t> n = sock_->read_some(buf, sizeof buf);
      if (!n.ok() || n.value() == 0) return false;
      reader_.feed(buf, n.value());
    }
  }
  void drop() { sock_.reset(); }  // no DISCONNECT: the broker keeps the session as it was

 private:
  bool v5_ = true;
  std::unique_ptr<NetSocket> sock_;
  wire::PacketReader reader_;
};

TEST(ReplyLink, ChunksThenTheFinalInOrderOnceEach) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.start());
  TestClient app(broker.port(), "link-app");
  ASSERT_TRUE(app.connect({"link/reply"}));
  Recorder rec;
  MqttOptions o = link_options(broker.port());
  auto link = ReplyLink::create(o, &rec);
  ASSERT_TRUE(link.ok()) << link.error().message;
  ASSERT_TRUE(link.value()->start().ok());
  for (int i = 0; i < 200 && !link.value()->connected(); ++i) usleep(10000);
  ASSERT_TRUE(link.value()->connected());
  std::string corr = "c1";
  for (int i = 0; i < 3; ++i) link.value()->send_chunk("link/reply", "chunk" + std::to_string(i), &corr);
  uint16_t pid = link.value()->reserve();
  ASSERT_NE(pid, 0);
  link.value()->send_final(pid, 41, "link/reply", "final", &corr);
  ASSERT_TRUE(rec.wait_done(1)) << broker.log();
  ASSERT_TRUE(app.wait_for([](auto& m) { return m.size() >= 4; }));
  usleep(300000);
  auto got = replies_to(app.received(), "link/reply");
  ASSERT_EQ(got.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(got[size_t(i)].payload, "chunk" + std::to_string(i));
  EXPECT_EQ(got[3].payload, "final");
  EXPECT_EQ(got[3].correlation, "c1");
  EXPECT_EQ(rec.released(), std::vector<uint64_t>{41});
  EXPECT_EQ(rec.done(), std::vector<uint64_t>{41});
  EXPECT_EQ(link.value()->pending(), 0u);
  link.value()->stop(1000);
}

// A broker that lets two QoS 2 messages be in flight per client (Receive Maximum 2):
// forty finals queued at once all arrive, in order, and the connection is never dropped
// for exceeding it.
TEST(ReplyLink, ManyFinalsWithinTheBrokersReceiveMaximum) {
  MosquittoBroker broker(false, "allow_anonymous true\nmax_inflight_messages 2\n");
  ASSERT_TRUE(broker.start());
  TestClient app(broker.port(), "many-app");
  ASSERT_TRUE(app.connect({"many/reply"}));
  Recorder rec;
  auto link = ReplyLink::create(link_options(broker.port()), &rec);
  ASSERT_TRUE(link.ok());
  ASSERT_TRUE(link.value()->start().ok());
  constexpr int kFinals = 40;
  for (int i = 0; i < kFinals; ++i) link.value()->send_final(link.value()->reserve(), uint64_t(i + 1), "many/reply",
                                                             "final " + std::to_string(i), nullptr);
  ASSERT_TRUE(rec.wait_done(kFinals, 20000)) << rec.done().size() << " done\n" << broker.log();
  ASSERT_TRUE(app.wait_for([&](auto& m) { return int(m.size()) >= kFinals; }));
  auto got = replies_to(app.received(), "many/reply");
  ASSERT_EQ(int(got.size()), kFinals);
  for (int i = 0; i < kFinals; ++i) EXPECT_EQ(got[size_t(i)].payload, "final " + std::to_string(i));
  EXPECT_EQ(link.value()->connect_count(), 1u) << "never dropped for exceeding Receive Maximum\n" << broker.log();
  link.value()->stop(1000);
}

// A final over the broker's maximum packet size is refused with a log line and marked
// done (it could never be sent); the finals after it go on.
TEST(ReplyLink, AFinalOverTheBrokersPacketSizeIsDroppedNotRetriedForever) {
  MosquittoBroker broker(false, "allow_anonymous true\nmax_packet_size 300\n");
  ASSERT_TRUE(broker.start());
  TestClient app(broker.port(), "size-app");
  ASSERT_TRUE(app.connect({"size/reply"}));
  Recorder rec;
  auto link = ReplyLink::create(link_options(broker.port()), &rec);
  ASSERT_TRUE(link.ok());
  ASSERT_TRUE(link.value()->start().ok());
  for (int i = 0; i < 200 && !link.value()->connected(); ++i) usleep(10000);
  link.value()->send_final(link.value()->reserve(), 1, "size/reply", std::string(1000, 'x'), nullptr);
  link.value()->send_final(link.value()->reserve(), 2, "size/reply", "small", nullptr);
  ASSERT_TRUE(rec.wait_done(2)) << broker.log();
  EXPECT_EQ(rec.done(), (std::vector<uint64_t>{1, 2}));
  ASSERT_TRUE(app.wait_for([](auto& m) { return !m.empty(); }));
  usleep(200000);
  auto got = replies_to(app.received(), "size/reply");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "small");
  EXPECT_EQ(link.value()->connect_count(), 1u);
  link.value()->stop(1000);
}

// TLS through OpenSSL: the broker's certificate is checked against broker.ca_file and
// its name against broker.host. A certificate for "localhost" is taken when the link
// connects to localhost, and refused when it connects to 127.0.0.1 or trusts another CA
// (the link then stays down and keeps the final).
TEST(ReplyLink, TlsChecksTheBrokersCertificateAndName) {
  std::string d = airt::test::temp_dir();
  ASSERT_TRUE(make_test_certificates(d, "DNS:localhost")) << "openssl could not make test certificates";
  // The subscriber uses the plain listener; the link the TLS one.
  const int tls_port = free_port();
  MosquittoBroker broker(false, "allow_anonymous true\nlistener " + std::to_string(tls_port) + " 127.0.0.1\ncafile " +
                                    d + "/ca.crt\ncertfile " + d + "/srv.crt\nkeyfile " + d + "/srv.key\n");
  ASSERT_TRUE(broker.start()) << broker.log();
  TestClient app(broker.port(), "tls-link-app");
  ASSERT_TRUE(app.connect({"tls/reply"})) << broker.log();
  auto refused = [&](const std::string& host, const std::string& ca) {
    MqttOptions o = link_options(tls_port);
    o.host = host;
    o.tls = true;
    o.ca_file = ca;
    Recorder rec;
    auto link = ReplyLink::create(o, &rec);
    if (!link.ok() || !link.value()->start().ok()) return false;
    link.value()->send_final(link.value()->reserve(), 1, "tls/reply", "not sent", nullptr);
    usleep(800000);
    bool down = !link.value()->connected() && link.value()->pending() == 1 && rec.done().empty();
    link.value()->stop(0);
    return down;
  };
  EXPECT_TRUE(refused("127.0.0.1", d + "/ca.crt")) << "the certificate names localhost, not 127.0.0.1";
  EXPECT_TRUE(refused("localhost", d + "/other.crt")) << "signed by a CA the link does not trust";
  MqttOptions o = link_options(tls_port);
  o.host = "localhost";
  o.tls = true;
  o.ca_file = d + "/ca.crt";
  Recorder rec;
  auto link = ReplyLink::create(o, &rec);
  ASSERT_TRUE(link.ok());
  ASSERT_TRUE(link.value()->start().ok());
  link.value()->send_final(link.value()->reserve(), 2, "tls/reply", "over tls", nullptr);
  ASSERT_TRUE(rec.wait_done(1)) << broker.log();
  ASSERT_TRUE(app.wait_for([](auto& m) { return !m.empty(); }));
  EXPECT_EQ(replies_to(app.received(), "tls/reply").size(), 1u);
  EXPECT_EQ(app.received().back().payload, "over tls");
  link.value()->stop(1000);
}

// Where a crash can stop the QoS 2 exchange of one final, and what the journal holds then.
enum class CrashAt { kBeforePublish, kAfterPublish, kAfterPubrec, kAfterPubrecJournaled, kAfterPubrel };

class ReplyLinkCrash : public ::testing::TestWithParam<std::tuple<CrashAt, bool>> {};

TEST_P(ReplyLinkCrash, TheResumedFinalIsDeliveredExactlyOnce) {
  auto [at, v5] = GetParam();
  MosquittoBroker broker;
  ASSERT_TRUE(broker.start());
  TestClient app(broker.port(), "crash-app");
  ASSERT_TRUE(app.connect({"crash/reply"}));
  MqttOptions o = link_options(broker.port(), v5);
  const uint16_t pid = 7;
  const std::string payload = R"({"id":"r1","text":"once"})";
  std::string corr = "k";
  {
    BareClient crashed;
    ASSERT_TRUE(crashed.connect(o)) << broker.log();
    std::string out;
    if (at != CrashAt::kBeforePublish) {
      wire::encode_publish(out, v5, "crash/reply", payload, 2, pid, false, &corr);
      ASSERT_TRUE(crashed.send(out));
    }
    if (at >= CrashAt::kAfterPubrec) {
      wire::Packet p;
      ASSERT_TRUE(crashed.read(p));
      ASSERT_EQ(p.type, wire::kPubrec);
    }
    if (at == CrashAt::kAfterPubrel) {
      out.clear();
      wire::encode_ack(out, wire::kPubrel, pid);
      ASSERT_TRUE(crashed.send(out));
      wire::Packet p;
      ASSERT_TRUE(crashed.read(p));  // the PUBCOMP, which the crashed run never handled
      ASSERT_EQ(p.type, wire::kPubcomp);
    }
    crashed.drop();
  }
  if (at == CrashAt::kAfterPubrel) {
    ASSERT_TRUE(app.wait_for([](auto& m) { return !m.empty(); })) << "delivered at the PUBREL";
  } else {
    usleep(200000);
    EXPECT_TRUE(replies_to(app.received(), "crash/reply").empty()) << "QoS 2: nothing delivered before the PUBREL";
  }

  Recorder rec;
  auto link = ReplyLink::create(o, &rec);
  ASSERT_TRUE(link.ok());
  bool released = at == CrashAt::kAfterPubrecJournaled || at == CrashAt::kAfterPubrel;
  link.value()->resume(9, pid, released, "crash/reply", payload, &corr);
  ASSERT_TRUE(link.value()->start().ok());
  ASSERT_TRUE(rec.wait_done(1)) << broker.log();
  EXPECT_EQ(link.value()->pending(), 0u);
  usleep(500000);  // a second copy would be here by now
  auto got = replies_to(app.received(), "crash/reply");
  ASSERT_EQ(got.size(), 1u) << "delivered " << got.size() << " times\n" << broker.log();
  EXPECT_EQ(got[0].payload, payload);
  if (v5) {
    EXPECT_EQ(got[0].correlation, "k");
  }
  // The link goes on with new finals after the resumed one; its ids skip the resumed one.
  uint16_t next = link.value()->reserve();
  EXPECT_NE(next, 0);
  link.value()->send_final(next, 10, "crash/reply", "after", nullptr);
  ASSERT_TRUE(rec.wait_done(2));
  ASSERT_TRUE(app.wait_for([](auto& m) { return m.size() >= 2; }));
  EXPECT_EQ(replies_to(app.received(), "crash/reply").back().payload, "after");
  link.value()->stop(1000);
}

std::string crash_name(const ::testing::TestParamInfo<std::tuple<CrashAt, bool>>& info) {
  static const char* const kNames[] = {"BeforePublish", "AfterPublish", "AfterPubrec", "AfterPubrecJournaled",
                                       "AfterPubrel"};
  return std::string(kNames[int(std::get<0>(info.param))]) + (std::get<1>(info.param) ? "V5" : "V311");
}

INSTANTIATE_TEST_SUITE_P(Points, ReplyLinkCrash,
                         ::testing::Combine(::testing::Values(CrashAt::kBeforePublish, CrashAt::kAfterPublish,
                                                              CrashAt::kAfterPubrec, CrashAt::kAfterPubrecJournaled,
                                                              CrashAt::kAfterPubrel),
                                            ::testing::Bool()),
                         crash_name);

// The broker is killed (persistence off) with a final in flight: it forgets the link's
// session, and the link sends the final again as a new message after the restart.
TEST(ReplyLink, ABrokerThatLostTheSessionGetsTheFinalAgain) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.start());
  int port = broker.port();
  Recorder rec;
  MqttOptions o = link_options(port);
  // Slow to reconnect, so the client below has subscribed again before the final comes.
  o.reconnect_min_ms = 1500;
  o.reconnect_max_ms = 2000;
  auto link = ReplyLink::create(o, &rec);
  ASSERT_TRUE(link.ok());
  ASSERT_TRUE(link.value()->start().ok());
  for (int i = 0; i < 200 && !link.value()->connected(); ++i) usleep(10000);
  broker.kill_now();
  for (int i = 0; i < 200 && link.value()->connected(); ++i) usleep(10000);
  uint16_t pid = link.value()->reserve();
  link.value()->send_final(pid, 5, "lost/reply", "kept", nullptr);
  usleep(200000);
  EXPECT_EQ(link.value()->pending(), 1u) << "kept while the broker is away";
  ASSERT_TRUE(broker.start(port));
  TestClient app(port, "lost-app");
  ASSERT_TRUE(app.connect({"lost/reply"}));
  ASSERT_TRUE(rec.wait_done(1, 20000)) << broker.log();
  ASSERT_TRUE(app.wait_for([](auto& m) { return !m.empty(); }));
  EXPECT_EQ(app.received().back().payload, "kept");
  link.value()->stop(1000);
}

}  // namespace
}  // namespace airt::service::test
