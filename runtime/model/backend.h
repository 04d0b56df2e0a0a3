// Backend: the seam the engine evaluates a model through. A backend has a name and a
// device kind, says which (op, type) pairs it supports, adds its regions to the memory
// plan (each tagged host, device or mapped), carves the host ones from the engine's
// arena, binds the model's weights (in place from the mapping where it can), evaluates a
// batch against the KV cache and keeps the logits of the rows asked for.
//
// The KV cache (kv_cache.h) speaks in block ids and byte offsets; the backend owns the
// block storage (it is the cache's KvStore), so a device backend keeps the pool in its
// own memory. The CPU backend (cpu_backend.h) is the forward pass (forward.h), the kernel
// table and the thread pool; a device backend is a second implementation of this class,
// checked op by op against the CPU reference by the conformance harness
// (tests/support/conformance.h). A Vulkan request for fewer device layers than the model
// has (gpu_layers, --gpu-layers N) is a split pass (split_backend.h): a CPU backend and a
// Vulkan one, each evaluating a layer range and keeping only that range's KV.
//
// Threading: one caller at a time. Ownership: the Model must outlive the backend.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "governor/operating_point.h"
#include "hal/cpu/kernels.h"
#include "hal/cpu/thread_pool.h"
#include "hal/dtype.h"
#include "hal/op.h"
#include "runtime/core/arena.h"
#include "runtime/core/memory_plan.h"
#include "runtime/core/result.h"
#include "runtime/model/kv_cache.h"
#include "runtime/model/model.h"

namespace airt::model {

enum class DeviceKind : uint8_t { kCpu, kIntegratedGpu, kDiscreteGpu, kSoftwareGpu };
const char* device_kind_name(DeviceKind d);  // "cpu", "integrated gpu", ...

// One eval()'s work, one entry per row. Rows of one sequence come in increasing
// positions; every (seq, pos) must have been made room for (KvCache::seq_append).
struct Batch {
  std::span<const int32_t> token;
  std::span<const int32_t> pos;
  std::span<const int32_t> seq;
  std::span<const int32_t> logits;  // rows whose logits to keep, ascending
};

// Layers [begin, end) of the pass (end -1: the model's last). A backend given a range
// that starts after layer 0 takes the residual stream entering it (hidden_in) instead of
// embedding the tokens; one that ends before the last layer leaves it (hidden_out) and
// keeps no logits. The split backend (split_backend.h) sets these for its parts.
struct LayerRange {
  int32_t begin = 0;
  int32_t end = -1;
};

// The K and V of a layer range, packed block by block: what a backend evaluating only
// those layers keeps. KvCache offsets (every layer of a block, kv_cache.h) map to the
// range's own storage by at(); for the whole model at(off) == off.
struct KvSlice {
  size_t block = 0;   // bytes of one cache block, every layer
  size_t layer = 0;   // bytes of one layer of one block (its K rows, then its V rows)
  int32_t begin = 0;  // the range's layers
  int32_t end = 0;
  size_t packed() const { return layer * size_t(end - begin); }  // bytes of one block here
  // Where cache offset `off` (inside a layer of the range) lies in the range's storage.
  size_t at(size_t off) const { return off / block * packed() + off % block - size_t(begin) * layer; }
  int32_t layer_of(size_t off) const { return int32_t(off % block / layer); }
};

// The largest work the engine will ask for: the backend's plan is sized from it.
struct BackendParams {
  governor::BackendKind kind = governor::BackendKind::kCpu;
  int32_t gpu = -1;            // device: Vulkan device index; -1: the first usable one
  uint32_t masked = 0;         // device: features turned off (hal/vulkan feature bits):
                               // the portable shader variants, as on a device without them
  // vulkan: transformer layers the device runs (--gpu-layers), the LAST ones, with the
  // output head; the CPU runs the embeddings and the layers before them (a split pass,
  // split_backend.h). -1 or >= n_layer: the whole pass on the device; 0: the CPU only.
  int32_t gpu_layers = -1;
  LayerRange layers;  // the part of the pass this backend evaluates (set by a split)
  int32_t n_rows = 512;        // most rows one eval() takes, all sequences together
  int32_t n_logits = 1;        // most rows whose logits one eval() keeps
  int32_t max_visible = 2048;  // most positions one row attends to
  int32_t n_threads = 1;       // CPU: threads the pool owns (a step may use fewer)
  const hal::Kernels* kernels = nullptr;  // CPU: null = hal::kernels_generic()
  KvParams kv;                 // the pool whose block storage the backend keeps
  // CPU: run on this pool (of n_threads, its scratch attached by its owner) instead of
  // one of the backend's own: a speculative drafter shares the target's threads.
  hal::ThreadPool* shared_pool = nullptr;
  bool shares_pool = false;  // planning such a backend: it takes no thread scratch
  // Layers eval() leaves out (bit l of skip[l / 64]): self-speculation by layer skipping.
  std::array<uint64_t, 4> skip{};
  // CPU: each tier's weights as the forward pass reads them, in place of the model's: the
  // engine's repacked copies (repack.h), filled before the first set_tier(). Null: the
  // model's own.
  const std::vector<Weights>* tier_weights = nullptr;
  static constexpr int32_t kMaxSkipLayer = 256;
};

// Device time per op kind, accumulated over the evals while `on` (bench --profile).
struct OpTime {
  std::string op;  // "matvec q4_0", "attention", ...
  int64_t calls = 0;
  double ms = 0;
};
struct OpProfile {
  bool on = false;          // set by the caller: the next eval()s write timestamps
  int64_t rows = 0;         // rows evaluated while on
  std::vector<OpTime> ops;  // in the order the pass first runs them
  void clear() { rows = 0, ops.clear(); }
};

class Backend : public KvStore {
 public:
  ~Backend() override = default;

  virtual const char* name() const = 0;  // "cpu"
  virtual DeviceKind device() const = 0;
  // "cpu avx512, 2 threads": what a plan or a log line shows.
  virtual std::string describe() const = 0;
  virtual bool supports(hal::Op op, hal::DType type) const = 0;

  // Adds the backend's regions to `plan` (the same regions carve() takes).
  virtual void plan(MemoryPlan& plan) const = 0;
  // Takes the host regions from `arena` (device memory is the backend's own).
  virtual Status carve(Arena& arena) = 0;
  // Binds the weights of every tier of `m`: checks that every matrix type is supported
  // and makes the weights reachable (in place for the CPU; a copy for a device).
  virtual Status bind(const Model& m) = 0;

  // Evaluates the batch, writing each row's K and V into the blocks `kv` assigns, and
  // keeps the logits of b.logits. Requires 1 <= rows <= n_rows, logits <= n_logits.
  virtual Status eval(const Batch& b, const KvCache& kv) = 0;
  // Logits of the i-th kept row of the last eval().
  virtual std::span<const float> logits(int32_t i) const = 0;

  // Operating point knobs, effective from the next eval(); checked against the plan.
  virtual Status set_tier(int32_t tier) = 0;
  virtual Status set_threads(int32_t n) = 0;  // 1..max_threads()
  virtual int32_t threads() const = 0;
  virtual int32_t max_threads() const = 0;
  virtual const BackendParams& params() const = 0;
  // The host threads eval() runs on, which a speculative drafter shares; null when the
  // backend has none to share (a device backend).
  virtual hal::ThreadPool* host_pool() const { return nullptr; }
  // The backend's per-op timing, which the caller switches on and reads (reachable through
  // the engine's const view, as host_pool()); an error says why it has none.
  virtual Result<OpProfile*> op_profile() const {
    return errorf(Error::kBackendUnsupported,
                  "--profile: the %s backend has no per-op device timing (use --backend vulkan)", name());
  }

  // A part of a split pass (params().layers): where the caller writes the residual stream
  // entering the range (rows x dim floats) before eval(), and where eval() leaves it at
  // the range's end. Empty where the backend's range does not start (end) there.
  virtual std::span<float> hidden_in(int32_t rows) {
    (void)rows;
    return {};
  }
  virtual std::span<const float> hidden_out(int32_t rows) const {
    (void)rows;
    return {};
  }
};

// The layer range `p` evaluates, resolved against the model ([0, n_layer) by default).
LayerRange layer_range(const Hparams& hp, const BackendParams& p);
// The KV storage layout of that range, and its bytes (every block of the pool). A
// backend of a range keeps only this; its kv_read / kv_write take offsets into it
// (KvSlice::at of the cache's), while a whole-pass backend's are the cache's own.
KvSlice kv_slice(const Hparams& hp, const BackendParams& p);
size_t kv_storage_bytes(const Hparams& hp, const BackendParams& p);
// Layers a p.kind == vulkan backend runs on the device (p.gpu_layers resolved: 0..n_layer).
int32_t device_layers(const Hparams& hp, const BackendParams& p);

// The regions a backend of `p.kind` for `m` would take, without creating it.
Status backend_plan(const Model& m, const BackendParams& p, MemoryPlan& plan);
// Creates the backend of `p.kind` (threads and devices, no model memory yet: carve()).
Result<std::unique_ptr<Backend>> backend_create(const Model& m, const BackendParams& p);

}  // namespace airt::model
