#include "runtime/model/model.h"

#include <algorithm>
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

// get_dim() where present, else `dflt`.
Result<int32_t> get_dim_or(const gguf::File& f, const std::string& k, int64_t lo, int64_t hi, int32_t dflt) {
  if (!f.find(k)) return dflt;
  return get_dim(f, k, lo, hi);
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
  hp.n_ctx_train = AIRT_TRY(get_dim_or(f, key(a, "context_length"), 1, 1 << 30, 2048));
  hp.n_head_kv = AIRT_TRY(get_dim_or(f, key(a, "attention.head_count_kv"), 1, 1024, hp.n_head));
  if (hp.n_head_kv < 1 || hp.n_head % hp.n_head_kv != 0) {
    return errorf(Error::kFormatInvalid, "%s: %s = %d must divide head_count = %d", f.path().c_str(),
                  key(a, "attention.head_count_kv").c_str(), hp.n_head_kv, hp.n_head);
  }
  if (hp.dim % hp.n_head != 0) {
    return errorf(Error::kFormatInvalid, "%s: embedding_length %d is not a multiple of head_count %d",
                  f.path().c_str(), hp.dim, hp.n_head);
  }
  hp.head_dim = hp.dim / hp.n_head;
  if (f.find(key(a, "attention.key_length"))) {
    const uint64_t kl = AIRT_TRY(f.get_u64(key(a, "attention.key_length")));
    if (int64_t(kl) != hp.head_dim) {
      return errorf(Error::kFormatUnsupported, "%s: attention.key_length %llu != embedding_length/head_count %d",
                    f.path().c_str(), (unsigned long long)kl, hp.head_dim);
    }
  }
  hp.n_rot = int32_t(std::min<uint64_t>(AIRT_TRY(f.get_u64_or(key(a, "rope.dimension_count"), uint64_t(hp.head_dim))),
                                         uint64_t(INT32_MAX)));
  if (hp.n_rot < 2 || hp.n_rot > hp.head_dim || hp.n_rot % 2) {
    return errorf(Error::kFormatInvalid, "%s: rope.dimension_count %d must be even and within 2..%d",
                  f.path().c_str(), hp.n_rot, hp.head_dim);
  }
  hp.rope_base = float(AIRT_TRY(f.get_f64_or(key(a, "rope.freq_base"), a.default_rope_base)));
  hp.rms_eps = float(AIRT_TRY(f.get_f64_or(key(a, "attention.layer_norm_rms_epsilon"), a.default_rms_eps)));
  if (f.find(key(a, "rope.scaling.type"))) {
    std::string_view t = AIRT_TRY(f.get_string(key(a, "rope.scaling.type")));
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

namespace {

// The architecture `f` declares, or an error listing the supported ones.
Result<const ArchDescriptor*> arch_of(const gguf::File& f) {
  std::string_view arch_name = AIRT_TRY(f.get_string("general.architecture"));
  const ArchDescriptor* arch = models::find_arch(arch_name);
  if (arch) return arch;
  std::string known;
  for (const auto& a : models::all_archs()) known += std::string(known.empty() ? "" : ", ") + a.name;
  return errorf(Error::kFormatUnsupported, "%s: architecture '%.*s' is not supported (supported: %s)",
                f.path().c_str(), int(arch_name.size()), arch_name.data(), known.c_str());
}

// n_vocab from token_embd.weight, checked against vocab_size where present.
Result<int32_t> vocab_of(const gguf::File& f, const ArchDescriptor& arch) {
  namespace tn = models::tensor_names;
  const gguf::TensorInfo* embd = f.tensor(tn::kTokenEmbd);
  if (!embd) return errorf(Error::kFormatInvalid, "%s: missing tensor '%s'", f.path().c_str(), tn::kTokenEmbd);
  const int32_t n_vocab = int32_t(embd->ne[1]);
  if (f.find(std::string(arch.name) + ".vocab_size")) {
    const uint64_t vs = AIRT_TRY(f.get_u64(std::string(arch.name) + ".vocab_size"));
    if (int64_t(vs) != n_vocab) {
      return errorf(Error::kFormatInvalid, "%s: vocab_size %llu disagrees with token_embd.weight rows %d",
                    f.path().c_str(), (unsigned long long)vs, n_vocab);
    }
  }
  return n_vocab;
}

Result<LayerWeights> bind_layer(Binder& b, const Hparams& hp, const ArchDescriptor& arch, int l) {
  namespace tn = models::tensor_names;
  const int64_t q = hp.q_dim(), kv = hp.kv_dim();
  LayerWeights L;
  L.attn_norm = AIRT_TRY(b.bind(layer_name(tn::kAttnNorm, l), hp.dim, 0));
  L.wq = AIRT_TRY(b.bind(layer_name(tn::kAttnQ, l), hp.dim, q));
  L.wk = AIRT_TRY(b.bind(layer_name(tn::kAttnK, l), hp.dim, kv));
  L.wv = AIRT_TRY(b.bind(layer_name(tn::kAttnV, l), hp.dim, kv));
  L.bq = AIRT_TRY(b.bind(layer_name(tn::kAttnQBias, l), q, 0, arch.qkv_bias));
  L.bk = AIRT_TRY(b.bind(layer_name(tn::kAttnKBias, l), kv, 0, arch.qkv_bias));
  L.bv = AIRT_TRY(b.bind(layer_name(tn::kAttnVBias, l), kv, 0, arch.qkv_bias));
  L.wo = AIRT_TRY(b.bind(layer_name(tn::kAttnOut, l), q, hp.dim));
  L.ffn_norm = AIRT_TRY(b.bind(layer_name(tn::kFfnNorm, l), hp.dim, 0));
  L.w_gate = AIRT_TRY(b.bind(layer_name(tn::kFfnGate, l), hp.dim, hp.n_ff));
  L.w_up = AIRT_TRY(b.bind(layer_name(tn::kFfnUp, l), hp.dim, hp.n_ff));
  L.w_down = AIRT_TRY(b.bind(layer_name(tn::kFfnDown, l), hp.n_ff, hp.dim));
  return L;
}

// Binds every weight of `file` for hyperparameters `hp` (tied output: token_embd).
Result<Tier> bind_tier(std::unique_ptr<gguf::File> file, const Hparams& hp, const ArchDescriptor& arch) {
  namespace tn = models::tensor_names;
  Binder b{*file, {}};
  Tier t;
  Weights& w = t.weights;
  w.token_embd = AIRT_TRY(b.bind(tn::kTokenEmbd, hp.dim, hp.n_vocab));
  w.output_norm = AIRT_TRY(b.bind(tn::kOutputNorm, hp.dim, 0));
  w.output = AIRT_TRY(b.bind(tn::kOutput, hp.dim, hp.n_vocab, /*required=*/false));
  if (!w.output.data) w.output = w.token_embd;
  for (int l = 0; l < hp.n_layer; ++l) w.layers.push_back(AIRT_TRY(bind_layer(b, hp, arch, l)));
  std::map<hal::DType, size_t> by_type;
  for (const gguf::TensorInfo& ti : file->tensors()) {
    t.weight_bytes += ti.bytes;
    // token_embd is only looked up row by row (unless tied); it does not say what decoding reads.
    // Counted in elements, not bytes: a few matrices left at f16 (rows that fit no
    // quant block) must not outweigh the many quantized ones.
    if (ti.ne[1] > 1 && ti.name != tn::kTokenEmbd) by_type[ti.type] += size_t(ti.n_elements());
  }
  size_t best = 0;
  for (auto& [type, n] : by_type)
    if (n > best) best = n, t.main_type = type;
  t.file = std::move(file);
  return t;
}

// The first hyperparameter where a and b differ, or "".
std::string hparams_difference(const Hparams& a, const Hparams& b) {
  char buf[128] = "";
  auto cmp = [&](const char* what, double x, double y) {
    if (!buf[0] && x != y) std::snprintf(buf, sizeof buf, "%s is %g, the first file's %g", what, y, x);
  };
  if (a.arch != b.arch) return "architecture is " + b.arch + ", the first file's " + a.arch;
  cmp("n_vocab", a.n_vocab, b.n_vocab);
  cmp("embedding_length", a.dim, b.dim);
  cmp("block_count", a.n_layer, b.n_layer);
  cmp("head_count", a.n_head, b.n_head);
  cmp("head_count_kv", a.n_head_kv, b.n_head_kv);
  cmp("feed_forward_length", a.n_ff, b.n_ff);
  cmp("rope.dimension_count", a.n_rot, b.n_rot);
  cmp("context_length", a.n_ctx_train, b.n_ctx_train);
  cmp("rope.freq_base", a.rope_base, b.rope_base);
  cmp("rope scale", a.rope_scale, b.rope_scale);
  cmp("layer_norm_rms_epsilon", a.rms_eps, b.rms_eps);
  cmp("tied output", a.tied_output, b.tied_output);
  return buf;
}

// The first difference between the vocabularies (tokenizer model, token texts) of a and b.
std::string vocab_difference(const gguf::File& a, const gguf::File& b) {
  for (const char* k : {"tokenizer.ggml.model", "tokenizer.ggml.pre"}) {
    const gguf::Value* va = a.find(k);
    const gguf::Value* vb = b.find(k);
    std::string_view sa = va && va->is_string() ? va->as_string() : "", sb = vb && vb->is_string() ? vb->as_string() : "";
    if (sa != sb) return std::string(k) + " is '" + std::string(sb) + "', the first file's '" + std::string(sa) + "'";
  }
  const gguf::Value* ta = a.find("tokenizer.ggml.tokens");
  const gguf::Value* tb = b.find("tokenizer.ggml.tokens");
  const uint64_t na = ta ? ta->array_size() : 0, nb = tb ? tb->array_size() : 0;
  if (na != nb) return "tokenizer.ggml.tokens has " + std::to_string(nb) + " tokens, the first file " + std::to_string(na);
  for (uint64_t i = 0; i < na; ++i) {
    if (ta->array_string(i) != tb->array_string(i)) {
      return "token " + std::to_string(i) + " is '" + std::string(tb->array_string(i)) + "', the first file's '" +
             std::string(ta->array_string(i)) + "'";
    }
  }
  return "";
}

// The first tensor whose name, shape or presence differs, or "".
std::string tensors_difference(const gguf::File& a, const gguf::File& b) {
  for (const gguf::TensorInfo& t : a.tensors()) {
    const gguf::TensorInfo* u = b.tensor(t.name);
    if (!u) return "tensor '" + std::string(t.name) + "' is missing";
    auto shape = [](const gguf::TensorInfo& x) {
      std::string s = std::to_string(x.ne[0]);
      for (uint32_t d = 1; d < x.n_dims; ++d) {
        s += 'x';
        s += std::to_string(x.ne[d]);
      }
      return s;
    };
    for (int d = 0; d < 4; ++d)
      if (t.ne[d] != u->ne[d])
        return "tensor '" + std::string(t.name) + "' has shape " + shape(*u) + ", the first file's " + shape(t);
  }
  if (a.tensors().size() != b.tensors().size()) return "it has tensors the first file does not";
  return "";
}

}  // namespace

Result<std::unique_ptr<Model>> Model::bind(std::unique_ptr<gguf::File> file) {
  const ArchDescriptor* arch = AIRT_TRY(arch_of(*file));
  Hparams hp = AIRT_TRY(read_hparams(*file, *arch));
  hp.n_vocab = AIRT_TRY(vocab_of(*file, *arch));
  hp.tied_output = !file->tensor(models::tensor_names::kOutput);
  auto m = std::unique_ptr<Model>(new Model());
  m->tiers_.push_back(AIRT_TRY(bind_tier(std::move(file), hp, *arch)));
  m->arch_ = arch;
  m->hp_ = hp;
  return m;
}

Status Model::add_tier(const std::string& path) { return add_tier(AIRT_TRY(gguf::File::open(path))); }

Status Model::add_tier(std::unique_ptr<gguf::File> file) {
  const gguf::File& f = *file;
  const ArchDescriptor* arch = AIRT_TRY(arch_of(f));
  Hparams hp = AIRT_TRY(read_hparams(f, *arch));
  hp.n_vocab = AIRT_TRY(vocab_of(f, *arch));
  hp.tied_output = !f.tensor(models::tensor_names::kOutput);
  std::string diff = hparams_difference(hp_, hp);
  if (diff.empty()) diff = tensors_difference(this->file(), f);
  if (diff.empty()) diff = vocab_difference(this->file(), f);
  if (!diff.empty()) {
    return errorf(Error::kFormatInvalid, "%s is not a tier of %s: %s", f.path().c_str(), this->file().path().c_str(),
                  diff.c_str());
  }
  tiers_.push_back(AIRT_TRY(bind_tier(std::move(file), hp_, *arch_)));
  return {};
}

int32_t Model::find_tier(std::string_view name) const {
  for (int32_t i = 0; i < n_tiers(); ++i)
    if (name == tier_name(i)) return i;
  return -1;
}

size_t Model::mapped_bytes() const {
  size_t n = 0;
  for (const Tier& t : tiers_) n += t.weight_bytes;
  return n;
}

size_t pass_bytes(const Weights& w, std::span<const uint64_t> skip) {
  const auto bytes = [](const WeightTensor& t) { return t.data ? size_t(std::max<int64_t>(t.rows, 1)) * t.row_bytes : size_t(0); };
  size_t n = bytes(w.output) + bytes(w.output_norm);
  for (size_t l = 0; l < w.layers.size(); ++l) {
    if (l / 64 < skip.size() && (skip[l / 64] >> (l % 64) & 1)) continue;
    const LayerWeights& x = w.layers[l];
    for (const WeightTensor* t : {&x.attn_norm, &x.wq, &x.wk, &x.wv, &x.bq, &x.bk, &x.bv, &x.wo, &x.ffn_norm,
                                  &x.w_gate, &x.w_up, &x.w_down})
      n += bytes(*t);
  }
  return n;
}

}  // namespace airt::model
