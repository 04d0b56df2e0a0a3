#include "runtime/model/model.h"

#include <cstdio>
#include <map>

namespace airt::model {
namespace {

using models::ArchDescriptor;

std::string key(const ArchDescriptor& a, const char* suffix) { return std::string(a.name) + "." + suffix; }

Result<int32_t> get_dim(const gguf::File& f, const std::string& k, int64_t lo, int64_t hi) {
  uint64_t v = AIRT_TRY(f.get_u64(k));
  if (int64_t(v) < lo || v > uint64_t(hi)) {
    return errorf(Error::kFormatInvalid, "%s: %s = %llu is out of range [%lld, %lld]", f.path().c_str(),
                  k.c_str(), (unsigned long long)v, (long long)lo, (long long)hi);
  }
  return int32_t(v);
}

}  // namespace

Result<Hparams> read_hparams(const gguf::File& f, const ArchDescriptor& a) {
  Hparams hp;
  hp.arch = a.name;
  hp.rope_mode = a.rope_mode;
  hp.dim = AIRT_TRY(get_dim(f, key(a, "embedding_length"), 1, 1 << 16));
  hp.n_layer = AIRT_TRY(get_dim(f, key(a, "block_count"), 1, 1024));
  hp.n_head = AIRT_TRY(get_dim(f, key(a, "attention.head_count"), 1, 1024));
  hp.n_ff = AIRT_TRY(get_dim(f, key(a, "feed_forward_length"), 1, 1 << 20));
  hp.n_ctx_train = int32_t(AIRT_TRY(f.get_u64_or(key(a, "context_length"), 2048)));
  hp.n_head_kv = int32_t(AIRT_TRY(f.get_u64_or(key(a, "attention.head_count_kv"), uint64_t(hp.n_head))));
  if (hp.n_head_kv < 1 || hp.n_head % hp.n_head_kv != 0) {
    return errorf(Error::kFormatInvalid, "%s: %s = %d must divide head_count = %d", f.path().c_str(),
                  key(a, "attention.head_count_kv").c_str(), hp.n_head_kv, hp.n_head);
  }
  if (hp.dim % hp.n_head != 0) {
    return errorf(Error::kFormatInvalid, "%s: embedding_length %d is not a multiple of head_count %d",
                  f.path().c_str(), hp.dim, hp.n_head);
  }
  hp.head_dim = hp.dim / hp.n_head;
  if (const gguf::Value* kl = f.find(key(a, "attention.key_length")); kl && kl->is_integer()) {
    if (int64_t(kl->as_u64()) != hp.head_dim) {
      return errorf(Error::kFormatUnsupported, "%s: attention.key_length %llu != embedding_length/head_count %d",
                    f.path().c_str(), (unsigned long long)kl->as_u64(), hp.head_dim);
    }
  }
  hp.n_rot = int32_t(AIRT_TRY(f.get_u64_or(key(a, "rope.dimension_count"), uint64_t(hp.head_dim))));
  if (hp.n_rot < 2 || hp.n_rot > hp.head_dim || hp.n_rot % 2) {
    return errorf(Error::kFormatInvalid, "%s: rope.dimension_count %d must be even and within 2..%d",
                  f.path().c_str(), hp.n_rot, hp.head_dim);
  }
  hp.rope_base = float(AIRT_TRY(f.get_f64_or(key(a, "rope.freq_base"), a.default_rope_base)));
  hp.rms_eps = float(AIRT_TRY(f.get_f64_or(key(a, "attention.layer_norm_rms_epsilon"), a.default_rms_eps)));
  if (const gguf::Value* st = f.find(key(a, "rope.scaling.type")); st && st->is_string()) {
    std::string_view t = st->as_string();
    if (t == "linear") {
      double factor = AIRT_TRY(f.get_f64_or(key(a, "rope.scaling.factor"), 1.0));
      if (factor > 0) hp.rope_scale = float(1.0 / factor);
    } else if (t != "none") {
      return errorf(Error::kFormatUnsupported, "%s: rope.scaling.type '%.*s' is not supported (none, linear)",
                    f.path().c_str(), int(t.size()), t.data());
    }
  }
  return hp;
}

namespace {

struct Binder {
  const gguf::File& f;
  std::string err;

  // Finds `name` and checks it is a matrix of `rows` rows of `cols` (rows == 0: a vector).
  Result<WeightTensor> bind(const std::string& name, int64_t cols, int64_t rows, bool required = true) {
    const gguf::TensorInfo* t = f.tensor(name);
    if (!t) {
      if (!required) return WeightTensor{};
      return errorf(Error::kFormatInvalid, "%s: missing tensor '%s' (expected %lldx%lld)", f.path().c_str(),
                    name.c_str(), (long long)cols, (long long)(rows ? rows : 1));
    }
    int64_t want_rows = rows ? rows : 1;
    if (t->ne[0] != cols || t->ne[1] != want_rows || t->ne[2] != 1 || t->ne[3] != 1) {
      return errorf(Error::kFormatInvalid, "%s: tensor '%s' has shape %lldx%lldx%lldx%lld, expected %lldx%lld",
                    f.path().c_str(), name.c_str(), (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                    (long long)t->ne[3], (long long)cols, (long long)want_rows);
    }
    if (rows == 0 && t->type != hal::DType::kF32) {
      return errorf(Error::kFormatUnsupported, "%s: tensor '%s' is %s; norms and biases must be f32",
                    f.path().c_str(), name.c_str(), hal::dtype_name(t->type));
    }
    WeightTensor w;
    w.data = t->data;
    w.type = t->type;
    w.cols = cols;
    w.rows = want_rows;
    w.row_bytes = hal::dtype_row_bytes(t->type, cols);
    w.name = t->name;
    return w;
  }
};

std::string layer_name(const char* pattern, int layer) {
  char buf[96];
  std::snprintf(buf, sizeof buf, pattern, layer);
  return buf;
}

}  // namespace

Result<std::unique_ptr<Model>> Model::load(const std::string& path) {
  auto file = AIRT_TRY(gguf::File::open(path));
  return bind(std::move(file));
}

Result<std::unique_ptr<Model>> Model::bind(std::unique_ptr<gguf::File> file) {
  const gguf::File& f = *file;
  std::string_view arch_name = AIRT_TRY(f.get_string("general.architecture"));
  const ArchDescriptor* arch = models::find_arch(arch_name);
  if (!arch) {
    std::string known;
    for (const auto& a : models::all_archs()) known += std::string(known.empty() ? "" : ", ") + a.name;
    return errorf(Error::kFormatUnsupported, "%s: architecture '%.*s' is not supported (supported: %s)",
                  f.path().c_str(), int(arch_name.size()), arch_name.data(), known.c_str());
  }
  Hparams hp = AIRT_TRY(read_hparams(f, *arch));

  namespace tn = models::tensor_names;
  Binder b{f, {}};
  const gguf::TensorInfo* embd = f.tensor(tn::kTokenEmbd);
  if (!embd) return errorf(Error::kFormatInvalid, "%s: missing tensor '%s'", f.path().c_str(), tn::kTokenEmbd);
  hp.n_vocab = int32_t(embd->ne[1]);
  if (const gguf::Value* vs = f.find(std::string(arch->name) + ".vocab_size"); vs && vs->is_integer()) {
    if (int64_t(vs->as_u64()) != hp.n_vocab) {
      return errorf(Error::kFormatInvalid, "%s: vocab_size %llu disagrees with token_embd.weight rows %d",
                    f.path().c_str(), (unsigned long long)vs->as_u64(), hp.n_vocab);
    }
  }

  auto m = std::unique_ptr<Model>(new Model());
  Weights& w = m->w_;
  w.token_embd = AIRT_TRY(b.bind(tn::kTokenEmbd, hp.dim, hp.n_vocab));
  w.output_norm = AIRT_TRY(b.bind(tn::kOutputNorm, hp.dim, 0));
  w.output = AIRT_TRY(b.bind(tn::kOutput, hp.dim, hp.n_vocab, /*required=*/false));
  if (!w.output.data) {
    w.output = w.token_embd;
    hp.tied_output = true;
  }
  const int64_t q = hp.q_dim(), kv = hp.kv_dim();
  for (int l = 0; l < hp.n_layer; ++l) {
    LayerWeights L;
    L.attn_norm = AIRT_TRY(b.bind(layer_name(tn::kAttnNorm, l), hp.dim, 0));
    L.wq = AIRT_TRY(b.bind(layer_name(tn::kAttnQ, l), hp.dim, q));
    L.wk = AIRT_TRY(b.bind(layer_name(tn::kAttnK, l), hp.dim, kv));
    L.wv = AIRT_TRY(b.bind(layer_name(tn::kAttnV, l), hp.dim, kv));
    L.bq = AIRT_TRY(b.bind(layer_name(tn::kAttnQBias, l), q, 0, arch->qkv_bias));
    L.bk = AIRT_TRY(b.bind(layer_name(tn::kAttnKBias, l), kv, 0, arch->qkv_bias));
    L.bv = AIRT_TRY(b.bind(layer_name(tn::kAttnVBias, l), kv, 0, arch->qkv_bias));
    L.wo = AIRT_TRY(b.bind(layer_name(tn::kAttnOut, l), q, hp.dim));
    L.ffn_norm = AIRT_TRY(b.bind(layer_name(tn::kFfnNorm, l), hp.dim, 0));
    L.w_gate = AIRT_TRY(b.bind(layer_name(tn::kFfnGate, l), hp.dim, hp.n_ff));
    L.w_up = AIRT_TRY(b.bind(layer_name(tn::kFfnUp, l), hp.dim, hp.n_ff));
    L.w_down = AIRT_TRY(b.bind(layer_name(tn::kFfnDown, l), hp.n_ff, hp.dim));
    w.layers.push_back(L);
  }

  std::map<hal::DType, size_t> by_type;
  for (const gguf::TensorInfo& t : f.tensors()) {
    m->weight_bytes_ += t.bytes;
    // token_embd is only looked up row by row (unless tied); it does not say what decoding reads.
    if (t.ne[1] > 1 && t.name != tn::kTokenEmbd) by_type[t.type] += t.bytes;
  }
  size_t best = 0;
  for (auto& [t, n] : by_type)
    if (n > best) best = n, m->main_type_ = t;

  m->file_ = std::move(file);
  m->arch_ = arch;
  m->hp_ = hp;
  return m;
}

}  // namespace airt::model
