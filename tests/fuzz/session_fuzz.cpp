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
#include "runtime/engine/engine.h"
#include "runtime/model/backend.h"
#include "runtime/model/model.h"
#include "tests/fuzz/fuzz_support.h"

namespace airt {
namespace {

constexpr size_t kHead = 12;  // "AIRTSESS" + u32 version

struct State {
  std::string dir, input;
  std::string head;  // magic and version of a file session_save wrote
  std::unique_ptr<model::Model> model;
  std::unique_ptr<text::Tokenizer> tok;
  // The cache sessions are read against and restored into, with the backend keeping its blocks.
  Arena arena;
  model::KvCache kv;
  std::unique_ptr<model::Backend> backend;
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
// Runs 20 prompt tokens and one generated token through an engine that saves the session.
void write_seeds() {
  std::vector<int32_t> tokens;
  for (int i = 0; i < 20; ++i) tokens.push_back(1 + (i * 37) % 500);
  engine::EngineConfig c;
  c.n_ctx = 64;
  auto e = engine::Engine::create(*g->model, *g->tok, c);
  fuzz::check(e.ok(), "create an engine");
  const std::string path = g->dir + "/seed.airtsession";
  engine::Request r;
  r.prompt_tokens = tokens;
  r.max_tokens = 1;
  r.sampling.temp = 0;
  r.session_path = path;
  fuzz::check((*e)->submit(1, r).ok(), "submit the seed request");
  struct Quiet : engine::Sink {
    void on_token(engine::Ticket, int32_t, std::string_view) override {}
    void on_finish(engine::Ticket, const engine::Finish&) override {}
    void on_error(engine::Ticket, const ErrorInfo&) override {}
  } sink;
  while ((*e)->step(sink)) {
  }
  const std::string file = read_all(path);
  g->head = file.substr(0, kHead);
  fuzz::write_seed("session-file", tagged('\1', file));
  std::string payload(ZSTD_getFrameContentSize(file.data() + kHead, file.size() - kHead), '\0');
  const size_t got = ZSTD_decompress(payload.data(), payload.size(), file.data() + kHead, file.size() - kHead);
  fuzz::check(!ZSTD_isError(got) && got == payload.size(), "decompress the seed");
  fuzz::write_seed("session-payload", tagged('\0', payload));
  fuzz::write_seed("session-payload-short", tagged('\0', std::string_view(payload).substr(0, 64)));
}

// A one-sequence cache of 64 positions and a CPU backend keeping its blocks.
void make_cache() {
  model::BackendParams bp;
  bp.kv.n_ctx = 64;
  bp.kv.n_step = 1;
  bp.n_rows = 1;
  bp.max_visible = 64;
  MemoryPlan plan;
  fuzz::check(model::backend_plan(*g->model, bp, plan).ok(), "plan the backend");
  auto arena = Arena::reserve(plan.arena_bytes() + model::KvCache::arena_bytes(g->model->hparams(), bp.kv));
  fuzz::check(arena.ok(), "reserve the arena");
  g->arena = std::move(*arena);
  fuzz::check(g->kv.carve(g->arena, g->model->hparams(), bp.kv).ok(), "carve the cache");
  auto b = model::backend_create(*g->model, bp);
  fuzz::check(b.ok() && (*b)->carve(g->arena).ok(), "create the backend");
  g->backend = std::move(*b);
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
  auto tok = text::Tokenizer::from_gguf(g->model->file());
  fuzz::check(tok.ok(), "load the vocabulary");
  g->tok = std::move(*tok);
  make_cache();
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
  auto s = engine::Session::read(g->input, *g->model, g->kv);
  if (!s.ok()) {
    fuzz::check(s.error().message.find(g->input) != std::string::npos, "session errors name the file");
    return 0;
  }
  model::KvCache& kv = g->kv;
  const int32_t n = s->positions();
  for (int32_t upto : {n, n / 2}) {
    if (s->restore(kv, *g->backend, 0, upto).ok()) {
      fuzz::check(kv.seq_pos(0) <= upto, "a restored sequence holds at most the positions asked for");
    }
    kv.seq_clear(0);
  }
  return 0;
}
