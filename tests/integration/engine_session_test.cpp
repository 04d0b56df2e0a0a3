// Session files: saving and restoring continues a sequence with identical greedy tokens;
// damaged or mismatched files are refused with errors that say why.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <cstring>
#include <map>

#include <zstd.h>

#include "runtime/core/file.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/session.h"
#include "tests/support/test_support.h"

namespace airt {
namespace {

struct Collect : engine::Sink {
  std::map<engine::Ticket, std::vector<int32_t>> tokens;
  std::map<engine::Ticket, engine::Finish> finished;
  void on_token(engine::Ticket t, int32_t id, std::string_view) override { tokens[t].push_back(id); }
  void on_finish(engine::Ticket t, const engine::Finish& f) override { finished[t] = f; }
  void on_error(engine::Ticket, const ErrorInfo& e) override { ADD_FAILURE() << e.message; }
};

class SessionTest : public ::testing::Test {

 public:
  void SetUp() override {
    std::string path = test::model_path("stories260K.gguf");
    if (path.empty()) GTEST_SKIP() << "shared models absent";
    m_ = std::move(model::Model::load(path).value());
    tok_ = std::move(text::Tokenizer::from_gguf(m_->file()).value());
    dir_ = test::temp_dir();
  }
  std::unique_ptr<engine::Engine> make_engine(const model::Model& m, model::KvTypes t = {}, int32_t window = 0) {
    engine::EngineConfig c;
    c.n_ctx = 256;
    c.kv_types = t;
    c.window = window;
    c.sinks = window ? 4 : 0;
    auto e = engine::Engine::create(m, *tok_, c);
    EXPECT_TRUE(e.ok()) << e.error().message;
    return std::move(*e);
  }
  // n greedy tokens after `prompt` (a session's saved tokens first, with `continue_session`).
  std::vector<int32_t> greedy(engine::Engine& e, std::span<const int32_t> prompt, int n, const std::string& session,
                              bool continue_session = false) {
    engine::Request r;
    r.prompt_tokens = prompt;
    r.max_tokens = n;
    r.sampling.temp = 0;
    r.ignore_eos = true;
    r.session_path = session;
    r.continue_session = continue_session;
    Status s = e.submit(1, r);
    EXPECT_TRUE(s.ok()) << s.error().message;
    Collect sink;
    while (e.step(sink)) {
    }
    return sink.tokens[1];
  }
  // Prompt, 32 greedy tokens, saved to `file` with the engine's settings.
  std::vector<int32_t> save_half(const std::string& file, model::KvTypes t = {}, int32_t window = 0) {
    auto e = make_engine(*m_, t, window);
    return greedy(*e, prompt_, 32, file);
  }
  std::unique_ptr<model::Model> m_;
  std::unique_ptr<text::Tokenizer> tok_;
  std::string dir_;
  std::vector<int32_t> prompt_ = {1, 403, 407, 261, 378, 10, 51, 257};
};

void expect_same_continuation(SessionTest* t, const model::Model& m, const std::vector<int32_t>& prompt,
                              const std::string& file, model::KvTypes types, int32_t window) {
  auto whole = t->make_engine(m, types, window);
  auto want = t->greedy(*whole, prompt, 64, "");
  std::vector<int32_t> h1 = prompt;
  h1.insert(h1.end(), want.begin(), want.end());

  auto e = t->make_engine(m, types, window);
  auto sess = engine::Session::read(file, m, e->kv());
  ASSERT_TRUE(sess.ok()) << sess.error().message;
  ASSERT_EQ(sess->tokens().size(), prompt.size() + 32);
  std::vector<int32_t> h2(sess->tokens().begin(), sess->tokens().end());
  // The saved tokens continue: their KV comes from the file, the last one is evaluated.
  auto second = t->greedy(*e, {}, 32, file, /*continue_session=*/true);
  h2.insert(h2.end(), second.begin(), second.end());
  EXPECT_EQ(std::vector<int32_t>(want.begin() + 32, want.end()), second);
  EXPECT_EQ(h1, h2);
}

TEST_F(SessionTest, RestoreContinuesWithIdenticalGreedyTokens) {
  for (auto [t, name] : {std::pair{model::KvTypes{}, "f16"},
                         std::pair{model::KvTypes{hal::DType::kQ8_0, hal::DType::kQ4_0}, "q8q4"}}) {
    std::string file = dir_ + "/s-" + name + ".airtsession";
    save_half(file, t);
    expect_same_continuation(this, *m_, prompt_, file, t, 0);
  }
}

TEST_F(SessionTest, WindowedSequenceRestores) {
  std::string file = dir_ + "/w.airtsession";
  save_half(file, {}, 16);
  expect_same_continuation(this, *m_, prompt_, file, {}, 16);
}

TEST_F(SessionTest, MismatchedAndDamagedFilesAreRefused) {
  std::string file = dir_ + "/good.airtsession";
  save_half(file);
  auto ctx = make_engine(*m_);
  ASSERT_TRUE(engine::Session::read(file, *m_, ctx->kv()).ok());

  // Other KV type.
  auto q8 = make_engine(*m_, {hal::DType::kQ8_0, hal::DType::kQ8_0});
  auto r = engine::Session::read(file, *m_, q8->kv());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("holds KV type f16, this run uses q8_0"), std::string::npos) << r.error().message;

  // Other model of a similar shape.
  std::string other = test::model_path("llama2xs-vocab512.gguf");
  if (!other.empty()) {
    auto m2 = std::move(model::Model::load(other).value());
    auto tok2 = std::move(text::Tokenizer::from_gguf(m2->file()).value());
    engine::EngineConfig c;
    c.n_ctx = 256;
    auto c2 = std::move(engine::Engine::create(*m2, *tok2, c).value());
    r = engine::Session::read(file, *m2, c2->kv());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("another model"), std::string::npos) << r.error().message;
  }

  std::string bytes = read_file(file).value();
  auto refused = [&](const std::string& data, const char* what) {
    std::string bad = dir_ + "/bad.airtsession";
    ASSERT_TRUE(write_file_atomic(bad, data).ok());
    auto res = engine::Session::read(bad, *m_, ctx->kv());
    ASSERT_FALSE(res.ok()) << what;
    EXPECT_NE(res.error().message.find("bad.airtsession"), std::string::npos) << res.error().message;
  };
  refused(bytes.substr(0, bytes.size() / 2), "truncated");
  refused(bytes.substr(0, 10), "header only");
  refused("", "empty");
  refused("not a session at all, just text", "text");
  for (size_t at : {size_t(14), bytes.size() / 2, bytes.size() - 3}) {
    std::string flipped = bytes;
    flipped[at] = char(flipped[at] ^ 0x5a);
    refused(flipped, "flipped byte");
  }
  std::string version = bytes;
  version[8] = 9;
  refused(version, "version");
  // A missing file is kIoNotFound: callers start a fresh session.
  r = engine::Session::read(dir_ + "/absent.airtsession", *m_, ctx->kv());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Error::kIoNotFound);
}

// A saved file with its payload edited by `edit`, compressed again (so the checksum holds
// and only the reader's own checks can refuse it).
std::string edited_session(const std::string& file, void (*edit)(std::string&)) {
  const std::string bytes = read_file(file).value();
  const size_t head = 12;  // "AIRTSESS" + u32 version
  std::string payload(ZSTD_getFrameContentSize(bytes.data() + head, bytes.size() - head), '\0');
  EXPECT_EQ(ZSTD_decompress(payload.data(), payload.size(), bytes.data() + head, bytes.size() - head), payload.size());
  edit(payload);
  std::string out = bytes.substr(0, head);
  out.resize(head + ZSTD_compressBound(payload.size()));
  out.resize(head + ZSTD_compress(out.data() + head, out.size() - head, payload.data(), payload.size(), 1));
  return out;
}

// Found by the session fuzzer: header fields are checked before they are used.
TEST_F(SessionTest, HostileHeaderFieldsAreRefusedBeforeUse) {
  std::string file = dir_ + "/h.airtsession";
  save_half(file);
  auto e = make_engine(*m_);
  auto refused = [&](void (*edit)(std::string&), const char* what) {
    std::string bad = dir_ + "/hostile.airtsession";
    ASSERT_TRUE(write_file_atomic(bad, edited_session(file, edit)).ok());
    auto r = engine::Session::read(bad, *m_, e->kv());
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.error().code, Error::kFormatInvalid) << r.error().message;
    EXPECT_NE(r.error().message.find("damaged"), std::string::npos) << r.error().message;
  };
  // KV types that are no type at all (bytes 24, 25: pool_k, pool_v).
  refused([](std::string& p) { p[24] = char(0x33), p[25] = char(0xb1); }, "unknown KV types");
  refused([](std::string& p) { p[24] = p[25] = char(0x77); }, "the same unknown type twice");
  // n_pos = n_tokens near 2^31 (bytes 34, 38): refused before 8 GiB is allocated.
  refused([](std::string& p) {
    const int32_t huge = 0x7fffff00;
    std::memcpy(&p[34], &huge, 4);
    std::memcpy(&p[38], &huge, 4);
  }, "huge token count");
}

TEST_F(SessionTest, EngineRequestResumesFromItsSessionFile) {
  auto& tok = tok_;
  engine::EngineConfig c;
  c.n_ctx = 256;
  c.n_slots = 2;
  auto run = [&](engine::Engine& e, std::span<const int32_t> prompt, const std::string& session, int n) {
    engine::Request r;
    r.prompt_tokens = prompt;
    r.max_tokens = n;
    r.sampling.temp = 0;
    r.session_path = session;
    EXPECT_TRUE(e.submit(7, r).ok());
    Collect sink;
    while (e.step(sink)) {
    }
    return std::make_pair(sink.tokens[7], sink.finished[7]);
  };
  auto e = std::move(engine::Engine::create(*m_, *tok, c).value());
  const std::string file = dir_ + "/chat.airtsession";
  auto [first, f1] = run(*e, prompt_, file, 24);
  EXPECT_EQ(f1.cached_tokens, 0);
  // The next turn's prompt starts with everything the first turn evaluated.
  std::vector<int32_t> turn2 = prompt_;
  turn2.insert(turn2.end(), first.begin(), first.end());
  for (int32_t t : {13, 403, 407}) turn2.push_back(t);
  auto [resumed, f2] = run(*e, turn2, file, 24);
  EXPECT_EQ(f2.cached_tokens, int32_t(prompt_.size() + first.size() - 1));
  auto fresh = std::move(engine::Engine::create(*m_, *tok, c).value());
  auto [plain, f3] = run(*fresh, turn2, "", 24);
  EXPECT_EQ(f3.cached_tokens, 0);
  EXPECT_EQ(resumed, plain);
  // A damaged session file refuses the request up front.
  ASSERT_TRUE(write_file_atomic(file, "AIRTSESS\x01\x00\x00\x00garbage").ok());
  engine::Request r;
  r.prompt_tokens = turn2;
  r.session_path = file;
  Status s = e->submit(8, r);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("chat.airtsession"), std::string::npos) << s.error().message;
  EXPECT_FALSE(e->busy());
}

}  // namespace
}  // namespace airt
