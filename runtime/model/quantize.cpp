// Quantizing a GGUF file: the per-tensor type choice (the recipe) and the streaming
// conversion, rows converted in parallel chunk by chunk.
#include "runtime/model/quantize.h"

#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "hal/cpu/kernels.h"
#include "hal/cpu/thread_pool.h"

namespace airt::model {

namespace {

using hal::DType;

// general.file_type numbers are llama_ftype's (LLAMA_FTYPE_MOSTLY_*); readers show them
// as the file's quantization. Plain q4_k has no ftype of its own: it is the small Q4_K
// mix (Q4_K_S, 14) without that mix's extra bits.
constexpr QuantRecipe kRecipes[] = {
    {"q8_0", DType::kQ8_0, 7, false},  {"q4_0", DType::kQ4_0, 2, false}, {"q5_0", DType::kQ5_0, 8, false},
    {"q4_k", DType::kQ4_K, 14, false}, {"q6_k", DType::kQ6_K, 18, false}, {"q4_k_m", DType::kQ4_K, 15, true},
};

// Rows of input converted per chunk: small enough that memory holds a few MiB, large
// enough that the threads' fork-join costs nothing.
constexpr uint64_t kChunkFloats = uint64_t{1} << 20;

// The version of the quantized block formats written (ggml's GGML_QNT_VERSION).
constexpr uint32_t kQuantizationVersion = 2;

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// Matrices named *weight that are not norms; vectors and other tensors keep their type.
bool quantizable(const gguf::TensorInfo& t) {
  return t.n_dims >= 2 && ends_with(t.name, "weight") && t.name.find("_norm.weight") == std::string_view::npos;
}

// Types a tensor can be converted from without compounding an earlier quantization's error.
bool convertible_from(DType t) {
  return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16 || t == DType::kQ8_0;
}

// The recipe's rule for spending more bits on some layers: the first and last eighth
// and every third layer between.
bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// A type whose blocks fit rows of `cols` elements, starting from `want`; the note says
// why it changed.
DType fit_rows(DType want, int64_t cols, std::string_view name, std::string& note) {
  const int64_t block = hal::dtype_info(want).block_size;
  if (cols % block == 0) return want;
  DType got = want == DType::kQ4_K ? DType::kQ5_0 : want == DType::kQ6_K ? DType::kQ8_0
            : want == DType::kQ5_K ? DType::kQ5_1 : DType::kF16;
  note = std::string(name) + ": " + std::to_string(cols) + " columns are not whole " + std::to_string(block) + "-blocks";
  if (cols % hal::dtype_info(got).block_size != 0) {
    note += " (nor " + std::to_string(hal::dtype_info(got).block_size) + "-blocks)";
    got = DType::kF16;
  }
  note += std::string(", ") + hal::dtype_name(got);
  return got;
}

struct PlanState {
  bool tied = false;  // no output.weight: token_embd is the output matrix
  int n_attn_v = 0, i_attn_v = 0;
  int n_ffn_down = 0, i_ffn_down = 0;
};

// The recipe's type for one quantizable matrix (before the row-fit fallback).
DType recipe_type(const gguf::TensorInfo& t, const QuantRecipe& r, PlanState& s) {
  const bool output = t.name == "output.weight" || (s.tied && t.name == "token_embd.weight");
  if (output) {
    if (t.ne[0] % hal::dtype_info(r.base).block_size != 0) return DType::kQ8_0;
    return r.base == DType::kQ8_0 ? DType::kQ8_0 : DType::kQ6_K;
  }
  DType type = r.base;
  if (t.name.find("attn_v.weight") != std::string_view::npos) {
    if (r.k_mix && use_more_bits(s.i_attn_v, s.n_attn_v)) type = DType::kQ6_K;
    ++s.i_attn_v;
  } else if (t.name.find("ffn_down") != std::string_view::npos) {
    if (r.k_mix && use_more_bits(s.i_ffn_down, s.n_ffn_down)) type = DType::kQ6_K;
    ++s.i_ffn_down;
  } else if (r.k_mix && t.name.find("attn_qkv.weight") != std::string_view::npos) {
    type = DType::kQ5_K;
  }
  return type;
}

}  // namespace

const QuantRecipe* quant_recipe_find(std::string_view name) {
  for (const QuantRecipe& r : kRecipes) {
    if (name.size() == std::string_view(r.name).size() && strncasecmp(name.data(), r.name, name.size()) == 0) return &r;
  }
  return nullptr;
}

std::string quant_recipe_names() {
  std::string s;
  for (const QuantRecipe& r : kRecipes) s += std::string(s.empty() ? "" : ", ") + r.name;
  return s;
}

Result<std::vector<TensorChoice>> quant_plan(const gguf::File& in, const QuantRecipe& r) {
  PlanState s;
  s.tied = in.tensor("output.weight") == nullptr;
  for (const gguf::TensorInfo& t : in.tensors()) {
    if (!quantizable(t)) continue;
    if (t.name.find("attn_v.weight") != std::string_view::npos) ++s.n_attn_v;
    if (t.name.find("ffn_down") != std::string_view::npos) ++s.n_ffn_down;
  }
  std::vector<TensorChoice> plan;
  for (const gguf::TensorInfo& t : in.tensors()) {
    TensorChoice c{std::string(t.name), t.type, t.type, {}};
    if (quantizable(t)) c.to = fit_rows(recipe_type(t, r, s), t.ne[0], t.name, c.note);
    if (c.to != c.from && !convertible_from(c.from)) {
      return errorf(Error::kFormatUnsupported,
                    "%s: tensor %s is already %s; airt quantize converts from f32, f16, bf16 or q8_0 (quantizing "
                    "it again would add a second rounding error): start from the original f16/f32 file",
                    in.path().c_str(), c.name.c_str(), hal::dtype_name(c.from));
    }
    plan.push_back(std::move(c));
  }
  return plan;
}

namespace {

// One chunk of rows converted from `src` (type from) to `dst` (type to) on every thread.
struct ChunkJob {
  const hal::TypeKernels* from = nullptr;
  const hal::TypeKernels* to = nullptr;
  int64_t cols = 0, rows = 0;
  size_t src_row = 0, dst_row = 0;
  const uint8_t* src = nullptr;
  uint8_t* dst = nullptr;
  std::vector<std::vector<float>>* scratch = nullptr;  // one row of floats per thread

  void operator()(int ith, int nth) {
    int64_t r0 = 0, r1 = 0;
    hal::split_range(rows, ith, nth, 1, r0, r1);
    float* f = (*scratch)[size_t(ith)].data();
    for (int64_t r = r0; r < r1; ++r) {
      from->to_float(src + size_t(r) * src_row, f, cols);
      to->from_float(f, dst + size_t(r) * dst_row, cols);
    }
  }
};

class Quantizer {
 public:
  Quantizer(const gguf::File& in, const QuantizeOptions& o, hal::ThreadPool& pool, gguf::StreamWriter& out)
      : in_(in), o_(o), pool_(pool), out_(out) {
    for (const gguf::TensorInfo& t : in.tensors()) total_ += t.bytes;
  }

  Status tensor(const gguf::TensorInfo& t, DType to) {
    const int64_t cols = t.ne[0], rows = t.n_elements() / cols;
    const size_t src_row = hal::dtype_row_bytes(t.type, cols), dst_row = hal::dtype_row_bytes(to, cols);
    const int64_t chunk = std::max<int64_t>(1, int64_t(kChunkFloats / uint64_t(cols)));
    const uint8_t* src = static_cast<const uint8_t*>(t.data);
    if (to != t.type) prepare(cols, size_t(chunk) * dst_row);
    for (int64_t r = 0; r < rows; r += chunk) {
      const int64_t n = std::min(chunk, rows - r);
      if (to == t.type) {
        AIRT_TRY(out_.append(src + size_t(r) * src_row, size_t(n) * src_row));
      } else {
        ChunkJob job{&hal::kernels_generic().of(t.type), &hal::kernels_generic().of(to), cols, n, src_row, dst_row,
                     src + size_t(r) * src_row, buf_.data(), &scratch_};
        pool_.parallel(job);
        AIRT_TRY(out_.append(buf_.data(), size_t(n) * dst_row));
      }
      release(src + size_t(r) * src_row, size_t(n) * src_row);
      done_ += size_t(n) * src_row;
      if (o_.progress) o_.progress(done_, total_, t.name);
      if (o_.cancel && *o_.cancel) {
        return errorf(Error::kRequestCancelled, "%s: quantizing interrupted; no output written", in_.path().c_str());
      }
    }
    return ok_status();
  }

 private:
  void prepare(int64_t cols, size_t out_bytes) {
    if (buf_.size() < out_bytes) buf_.resize(out_bytes);
    scratch_.resize(size_t(pool_.size()));
    for (auto& s : scratch_) {
      if (s.size() < size_t(cols)) s.resize(size_t(cols));
    }
  }
  // Input already converted is not read again: hand its pages back so the resident set
  // stays at a chunk, not the model, on a board with less memory than the file. PAGEOUT
  // rather than DONTNEED: for a File parsed from the caller's buffer (not a mapping) it
  // can never discard data. Best effort; older kernels refuse it.
  static void release(const uint8_t* p, size_t n) {
#ifdef MADV_PAGEOUT
    const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
    uintptr_t b = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
    uintptr_t e = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
    if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_PAGEOUT);
#else
    (void)p, (void)n;
#endif
  }

  const gguf::File& in_;
  const QuantizeOptions& o_;
  hal::ThreadPool& pool_;
  gguf::StreamWriter& out_;
  uint64_t total_ = 0, done_ = 0;
  std::vector<uint8_t> buf_;
  std::vector<std::vector<float>> scratch_;
};

// The output's layout: every key of `in` (file type updated), the tensors as planned.
Result<std::unique_ptr<gguf::Writer>> output_layout(const gguf::File& in, const std::vector<TensorChoice>& plan,
                                                    const QuantRecipe& r) {
  auto w = std::make_unique<gguf::Writer>();
  for (const gguf::KeyValue& kv : in.metadata()) w->set_value(std::string(kv.key), kv.value);
  w->set_u32("general.file_type", r.file_type);
  w->set_u32("general.quantization_version", kQuantizationVersion);
  auto tensors = in.tensors();
  if (plan.size() != tensors.size()) {
    return errorf(Error::kInternal, "%s: quantization plan has %zu tensors, the file %zu", in.path().c_str(),
                  plan.size(), tensors.size());
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    AIRT_TRY(w->add_tensor_info(plan[i].name, plan[i].to, std::span<const int64_t>(tensors[i].ne, tensors[i].n_dims)));
  }
  AIRT_TRY(w->status());
  return w;
}

}  // namespace

Result<QuantizeStats> quantize_file(const gguf::File& in, const std::vector<TensorChoice>& plan,
                                    const QuantRecipe& r, const std::string& out_path, const QuantizeOptions& o) {
  auto layout = AIRT_TRY(output_layout(in, plan, r));
  auto pool = AIRT_TRY(hal::ThreadPool::create(o.threads > 0 ? o.threads : hal::physical_cores()));
  auto out = AIRT_TRY(gguf::StreamWriter::begin(*layout, out_path));
  Quantizer q(in, o, *pool, *out);
  QuantizeStats st;
  auto tensors = in.tensors();
  for (size_t i = 0; i < tensors.size(); ++i) {
    AIRT_TRY(q.tensor(tensors[i], plan[i].to));
    st.in_bytes += tensors[i].bytes;
    st.out_bytes += hal::dtype_row_bytes(plan[i].to, tensors[i].ne[0]) * size_t(tensors[i].n_elements() / tensors[i].ne[0]);
    st.n_tensors++;
    if (plan[i].to != plan[i].from) st.n_converted++;
  }
  AIRT_TRY(out->commit());
  return st;
}

}  // namespace airt::model
