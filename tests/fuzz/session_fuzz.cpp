// libFuzzer target for the session file reader (runtime/engine/session.h): any file is
// refused with an error, or read into a Session that restores into the cache it was
// checked against without leaving the cache's blocks.
//
// Session files are zstd frames with a checksum, so mutating the file mostly tests zstd.
// Byte 0 of the input chooses: odd, the rest is the file as is; even, the rest is the
// decompressed payload, which this target compresses and frames as session_save does, so
// the fuzzer works on the header, token, logit and block records the reader validates.
// The model is a random-weight airt-micro written at start-up (bench/synthetic_model.h).
#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench/synthetic_model.h"
#include "runtime/core/file.h"
#include "runtime/engine/session.h"
#include "runtime/model/context.h"
#include "runtime/model/model.h"
#include "tests/fuzz/fuzz_support.h"

namespace airt {
namespace {

constexpr size_t kHead = 12;  // "AIRTSESS" + u32 version

struct State {
  std::string dir, input;
  std::string head;  // magic and version of a file session_save wrote
  std::unique_ptr<model::Model> model;
  std::unique_ptr<model::Context> ctx;
};
State* g = nullptr;

std::string read_all(const std::string& path) {
  auto r = read_file(path);
  fuzz::check(r.ok(), "read a session file this target wrote");
  return *r;
}

void write_all(const std::string& path, std::string_view bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  fuzz::check(f != nullptr, "open the input file");
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

// The input for `bytes` in mode `mode` (appended, not operator+, which trips gcc 12's
// -Wrestrict false positive).
std::string tagged(char mode, std::string_view bytes) {
  std::string s(1, mode);
  s.append(bytes);
  return s;
}

// A valid session of the model (20 positions, last logits) as seeds: the file, and its payload.
void write_seeds() {
  std::vector<int32_t> tokens;
  for (int i = 0; i < 20; ++i) tokens.push_back(1 + (i * 37) % 500);
  fuzz::check(g->ctx->eval(tokens).ok(), "evaluate the seed tokens");
  const std::string path = g->dir + "/seed.airtsession";
  fuzz::check(engine::session_save(path, *g->model, g->ctx->kv(), 0, tokens, g->ctx->logits()).ok(), "save a seed");
  g->ctx->kv().seq_clear(0);
  const std::string file = read_all(path);
  g->head = file.substr(0, kHead);
  fuzz::write_seed("session-file", tagged('\1', file));
  std::string payload(ZSTD_getFrameContentSize(file.data() + kHead, file.size() - kHead), '\0');
  const size_t got = ZSTD_decompress(payload.data(), payload.size(), file.data() + kHead, file.size() - kHead);
  fuzz::check(!ZSTD_isError(got) && got == payload.size(), "decompress the seed");
  fuzz::write_seed("session-payload", tagged('\0', payload));
  fuzz::write_seed("session-payload-short", tagged('\0', std::string_view(payload).substr(0, 64)));
}

// The file session_save would write for `payload`.
std::string frame(std::string_view payload) {
  std::string out = g->head;
  std::string z(ZSTD_compressBound(payload.size()), '\0');
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
  const size_t n = ZSTD_compress2(c, z.data(), z.size(), payload.data(), payload.size());
  ZSTD_freeCCtx(c);
  fuzz::check(!ZSTD_isError(n), "compress the payload");
  return out + z.substr(0, n);
}

}  // namespace
}  // namespace airt

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace airt;
  g = new State();
  g->dir = fuzz::make_temp_dir("session-fuzz");
  g->input = g->dir + "/input.airtsession";
  const std::string model_path = g->dir + "/micro.gguf";
  const models::SyntheticShape* shape = models::find_synthetic_shape("airt-micro");
  fuzz::check(shape != nullptr, "the airt-micro shape exists");
  fuzz::check(bench::write_synthetic_model(*shape, hal::DType::kQ8_0, model_path).ok(), "write the model");
  auto m = model::Model::load(model_path);
  fuzz::check(m.ok(), "load the model");
  g->model = std::move(*m);
  model::ContextParams p;
  p.n_ctx = 64;
  auto ctx = model::Context::create(*g->model, p);
  fuzz::check(ctx.ok(), "create a context");
  g->ctx = std::move(*ctx);
  write_seeds();
  // The mapping stays valid after unlink; only the input file is rewritten per run.
  std::remove(model_path.c_str());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace airt;
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  write_all(g->input, (data[0] & 1) ? std::string(rest) : frame(rest));
  auto s = engine::Session::read(g->input, *g->model, g->ctx->kv());
  if (!s.ok()) {
    fuzz::check(s.error().message.find(g->input) != std::string::npos, "session errors name the file");
    return 0;
  }
  model::KvCache& kv = g->ctx->kv();
  const int32_t n = int32_t(s->tokens().size());
  for (int32_t upto : {n, n / 2}) {
    if (s->restore(kv, 0, upto).ok()) {
      fuzz::check(kv.seq_pos(0) <= upto, "a restored sequence holds at most the positions asked for");
    }
    kv.seq_clear(0);
  }
  return 0;
}
