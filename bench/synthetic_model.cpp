#include "bench/synthetic_model.h"

#include <cmath>
#include <cstdio>
#include <vector>

#include "hal/cpu/kernels.h"
#include "runtime/gguf/gguf.h"

namespace airt::bench {
namespace {

// xorshift64*: fast, and the same weights on every platform for a seed.
struct Rng {
  uint64_t s;
  float uniform() {  // in [-1, 1)
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    uint64_t r = s * 0x2545F4914F6CDD1Dull;
    return float(r >> 40) / float(1 << 23) - 1.0f;
  }
};

struct Builder {
  gguf::Writer& w;
  hal::DType type;
  Rng rng;
  std::vector<float> row;
  std::vector<uint8_t> data;

  // A (rows x cols) matrix with weights uniform in +-scale. Rows that are not a whole
  // number of 256-element super-blocks take a 32-element type instead of a K-quant, as
  // llama.cpp's quantizer does (Q4_K -> Q5_0, Q6_K -> Q8_0).
  Status matrix(const std::string& name, int64_t cols, int64_t rows, float scale) {
    hal::DType t = type;
    if (cols % hal::dtype_info(t).block_size != 0) t = t == hal::DType::kQ4_K ? hal::DType::kQ5_0 : hal::DType::kQ8_0;
    const hal::TypeKernels& tk = hal::kernels_generic().of(t);
    const size_t rb = hal::dtype_row_bytes(t, cols);
    row.resize(size_t(cols));
    data.resize(rb * size_t(rows));
    for (int64_t r = 0; r < rows; ++r) {
      for (auto& v : row) v = rng.uniform() * scale;
      tk.from_float(row.data(), data.data() + size_t(r) * rb, cols);
    }
    int64_t ne[2] = {cols, rows};
    return w.add_tensor(name, t, ne, data.data());
  }

  Status norm(const std::string& name, int64_t n) {
    std::vector<float> ones(size_t(n), 1.0f);
    int64_t ne[1] = {n};
    return w.add_tensor(name, hal::DType::kF32, ne, ones.data());
  }
};

std::string blk(int l, const char* what) { return "blk." + std::to_string(l) + "." + what; }

}  // namespace

Result<SyntheticSpec> parse_synthetic_spec(const std::string& spec) {
  SyntheticSpec out;
  size_t colon = spec.find(':');
  std::string shape = spec.substr(0, colon);
  std::string type = colon == std::string::npos ? "q4_0" : spec.substr(colon + 1);
  out.shape = models::find_synthetic_shape(shape);
  if (!out.shape) {
    std::string known;
    for (auto& s : models::synthetic_shapes()) known += std::string(known.empty() ? "" : ", ") + s.name;
    return errorf(Error::kRequestInvalid, "synthetic shape '%s' is not known (known: %s)", shape.c_str(), known.c_str());
  }
  const hal::DType types[] = {hal::DType::kQ4_0, hal::DType::kQ8_0, hal::DType::kQ4_K, hal::DType::kQ6_K,
                              hal::DType::kF16,  hal::DType::kF32};
  for (hal::DType t : types) {
    if (type == hal::dtype_name(t)) {
      out.type = t;
      return out;
    }
  }
  return errorf(Error::kRequestInvalid, "synthetic type '%s' is not one of q4_0, q8_0, q4_k, q6_k, f16, f32", type.c_str());
}

Status write_synthetic_model(const models::SyntheticShape& s, hal::DType type, const std::string& path, uint64_t seed) {
  gguf::Writer w;
  const std::string a = s.arch;
  w.set_string("general.architecture", a);
  w.set_string("general.name", std::string("synthetic ") + s.name);
  w.set_u32(a + ".context_length", uint32_t(s.n_ctx_train));
  w.set_u32(a + ".embedding_length", uint32_t(s.dim));
  w.set_u32(a + ".block_count", uint32_t(s.n_layer));
  w.set_u32(a + ".feed_forward_length", uint32_t(s.n_ff));
  w.set_u32(a + ".attention.head_count", uint32_t(s.n_head));
  w.set_u32(a + ".attention.head_count_kv", uint32_t(s.n_head_kv));
  w.set_u32(a + ".rope.dimension_count", uint32_t(s.dim / s.n_head));
  w.set_f32(a + ".rope.freq_base", s.rope_base);
  w.set_f32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);

  // A SentencePiece-style vocabulary: control tokens, the 256 byte tokens, then
  // numbered pieces, so any tokenizer-checking loader accepts the file.
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  tokens = {"<unk>", "<s>", "</s>"};
  types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    tokens.push_back(buf);
    types.push_back(6);
  }
  for (int i = int(tokens.size()); i < s.n_vocab; ++i) {
    tokens.push_back("\xE2\x96\x81t" + std::to_string(i));
    types.push_back(1);
  }
  scores.assign(tokens.size(), 0.0f);
  for (size_t i = 0; i < scores.size(); ++i) scores[i] = -float(i);
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_array_string("tokenizer.ggml.tokens", tokens);
  w.set_array_f32("tokenizer.ggml.scores", scores);
  w.set_array_i32("tokenizer.ggml.token_type", types);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);

  Builder b{w, type, Rng{seed * 0x9E3779B97F4A7C15ull + 1}, {}, {}};
  const int64_t hd = s.dim / s.n_head, q = int64_t(s.n_head) * hd, kv = int64_t(s.n_head_kv) * hd;
  const float scale = 1.0f / std::sqrt(float(s.dim));
  AIRT_TRY(b.matrix("token_embd.weight", s.dim, s.n_vocab, 1.0f));
  AIRT_TRY(b.norm("output_norm.weight", s.dim));
  if (!s.tied_output) AIRT_TRY(b.matrix("output.weight", s.dim, s.n_vocab, scale));
  const bool bias = a == "qwen2";
  for (int l = 0; l < s.n_layer; ++l) {
    AIRT_TRY(b.norm(blk(l, "attn_norm.weight"), s.dim));
    AIRT_TRY(b.matrix(blk(l, "attn_q.weight"), s.dim, q, scale));
    AIRT_TRY(b.matrix(blk(l, "attn_k.weight"), s.dim, kv, scale));
    AIRT_TRY(b.matrix(blk(l, "attn_v.weight"), s.dim, kv, scale));
    if (bias) {
      std::vector<float> zeros(size_t(q), 0.0f);
      int64_t nq[1] = {q}, nkv[1] = {kv};
      AIRT_TRY(w.add_tensor(blk(l, "attn_q.bias"), hal::DType::kF32, nq, zeros.data()));
      AIRT_TRY(w.add_tensor(blk(l, "attn_k.bias"), hal::DType::kF32, nkv, zeros.data()));
      AIRT_TRY(w.add_tensor(blk(l, "attn_v.bias"), hal::DType::kF32, nkv, zeros.data()));
    }
    AIRT_TRY(b.matrix(blk(l, "attn_output.weight"), q, s.dim, 1.0f / std::sqrt(float(q))));
    AIRT_TRY(b.norm(blk(l, "ffn_norm.weight"), s.dim));
    AIRT_TRY(b.matrix(blk(l, "ffn_gate.weight"), s.dim, s.n_ff, scale));
    AIRT_TRY(b.matrix(blk(l, "ffn_up.weight"), s.dim, s.n_ff, scale));
    AIRT_TRY(b.matrix(blk(l, "ffn_down.weight"), s.n_ff, s.dim, 1.0f / std::sqrt(float(s.n_ff))));
  }
  return w.write(path);
}

}  // namespace airt::bench
