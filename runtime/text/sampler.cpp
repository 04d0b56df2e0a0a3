#include "runtime/text/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <new>

namespace airt::text {
namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Higher logit first; equal logits by lower id, so sorting gives one answer everywhere.
struct ByLogit {
  template <class C>
  bool operator()(const C& a, const C& b) const {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  }
};

}  // namespace

void Rng::seed_with(uint64_t seed) {
  uint64_t x = seed;
  for (uint64_t& s : s_) s = splitmix64(x);
}

uint64_t Rng::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

Status Sampler::check_size(int32_t n_vocab, int32_t max_repeat_last_n) {
  if (n_vocab <= 0) return errorf(Error::kRequestInvalid, "sampler: n_vocab %d must be > 0", n_vocab);
  if (max_repeat_last_n < 0 || max_repeat_last_n > kMaxRepeatLastN)
    return errorf(Error::kRequestOutOfRange, "sampler: repeat_last_n %d must be in 0..%d",
                  max_repeat_last_n, kMaxRepeatLastN);
  return ok_status();
}

Status Sampler::check_params(const SamplerParams& p) {
  if (!std::isfinite(p.temp))
    return errorf(Error::kRequestInvalid, "sampler: temperature %g is not a number; use 0 for greedy", p.temp);
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
    return errorf(Error::kRequestOutOfRange, "sampler: top_p %g must be in (0, 1] (1 turns it off)", p.top_p);
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f))
    return errorf(Error::kRequestOutOfRange, "sampler: min_p %g must be in [0, 1] (0 turns it off)", p.min_p);
  if (!(p.repeat_penalty > 0.0f) || !std::isfinite(p.repeat_penalty))
    return errorf(Error::kRequestOutOfRange, "sampler: repeat_penalty %g must be > 0 (1 turns it off)",
                  p.repeat_penalty);
  if (p.repeat_last_n < 0 || p.repeat_last_n > kMaxRepeatLastN)
    return errorf(Error::kRequestOutOfRange, "sampler: repeat_last_n %d must be in 0..%d",
                  p.repeat_last_n, kMaxRepeatLastN);
  return ok_status();
}

size_t Sampler::buffer_bytes(int32_t n_vocab, int32_t max_repeat_last_n) {
  const auto n = static_cast<size_t>(n_vocab);
  return align_up(n * sizeof(Candidate), 64) + align_up(n * sizeof(uint32_t), 64) +
         align_up(static_cast<size_t>(max_repeat_last_n) * sizeof(int32_t), 64);
}

size_t Sampler::arena_bytes(int32_t n_vocab, int32_t max_repeat_last_n) {
  if (n_vocab <= 0 || max_repeat_last_n < 0) return 0;
  return align_up(sizeof(Sampler), 64) + buffer_bytes(n_vocab, max_repeat_last_n);
}

void Sampler::bind(std::byte* mem, int32_t n_vocab, int32_t max_repeat_last_n) {
  const auto n = static_cast<size_t>(n_vocab);
  const auto h = static_cast<size_t>(max_repeat_last_n);
  n_vocab_ = n_vocab;
  max_repeat_last_n_ = max_repeat_last_n;
  cand_ = {reinterpret_cast<Candidate*>(mem), n};
  mem += align_up(n * sizeof(Candidate), 64);
  seen_ = {reinterpret_cast<uint32_t*>(mem), n};
  mem += align_up(n * sizeof(uint32_t), 64);
  history_buf_ = {reinterpret_cast<int32_t*>(mem), h};
  // Greedy, no penalty, until configure() says otherwise.
  params_ = SamplerParams{};
  params_.temp = 0.0f;
  params_.repeat_last_n = 0;
  history_ = history_buf_.first(0);
  reset();
}

Result<Sampler*> Sampler::carve(Arena& arena, int32_t n_vocab, int32_t max_repeat_last_n) {
  AIRT_TRY(check_size(n_vocab, max_repeat_last_n));
  const size_t bytes = arena_bytes(n_vocab, max_repeat_last_n);
  auto* mem = static_cast<std::byte*>(arena.alloc(bytes, 64));
  if (!mem)
    return errorf(
        Error::kResourceOutOfMemory,
        "sampler: the arena has no room for %zu bytes (n_vocab %d, repeat_last_n up to %d); "
        "%zu of %zu bytes are used (a planning bug: the plan must include Sampler::arena_bytes)",
        bytes, n_vocab, max_repeat_last_n, arena.used(), arena.capacity());
  auto* s = new (mem) Sampler();
  s->bind(mem + align_up(sizeof(Sampler), 64), n_vocab, max_repeat_last_n);
  return s;
}

Result<std::unique_ptr<Sampler>> Sampler::create(int32_t n_vocab, const SamplerParams& p) {
  if (n_vocab <= 0)
    return errorf(Error::kRequestInvalid, "sampler: n_vocab %d must be > 0", n_vocab);
  AIRT_TRY(check_params(p));
  std::unique_ptr<Sampler> s(new Sampler());
  // operator new[] aligns to 16 only; over-allocate so the buffers can start on 64.
  s->owned_ = std::make_unique<std::byte[]>(buffer_bytes(n_vocab, p.repeat_last_n) + 64);
  const auto base = reinterpret_cast<uintptr_t>(s->owned_.get());
  s->bind(s->owned_.get() + (align_up(base, 64) - base), n_vocab, p.repeat_last_n);
  AIRT_TRY(s->configure(p));
  return s;
}

Status Sampler::configure(const SamplerParams& p) {
  AIRT_TRY(check_params(p));
  if (p.repeat_last_n > max_repeat_last_n_)
    return errorf(Error::kRequestOutOfRange,
                  "sampler: repeat_last_n %d is more than the %d this sampler was sized for "
                  "(max_repeat_last_n); ask for at most %d or raise the maximum in the config",
                  p.repeat_last_n, max_repeat_last_n_, max_repeat_last_n_);
  params_ = p;
  history_ = history_buf_.first(static_cast<size_t>(p.repeat_last_n));
  reset();
  return ok_status();
}

void Sampler::reset() {
  history_next_ = 0;
  history_size_ = 0;
  rng_.seed_with(params_.seed);
}

void Sampler::accept(int32_t id) {
  if (history_.empty() || id < 0 || id >= n_vocab_) return;
  history_[history_next_] = id;
  history_next_ = (history_next_ + 1) % history_.size();
  history_size_ = std::min(history_size_ + 1, history_.size());
}

void Sampler::apply_penalty() {
  if (params_.repeat_penalty == 1.0f || history_size_ == 0) return;
  if (++stamp_ == 0) {  // the stamp wrapped: clear the marks once every 2^32 calls
    std::fill(seen_.begin(), seen_.end(), 0u);
    stamp_ = 1;
  }
  for (size_t i = 0; i < history_size_; ++i) {
    const int32_t id = history_[i];
    if (seen_[id] == stamp_) continue;  // each distinct token is penalised once
    seen_[id] = stamp_;
    // cand_ is still in id order here. Dividing a positive logit and multiplying a
    // negative one both make the token less likely.
    float& l = cand_[id].logit;
    l = l > 0.0f ? l / params_.repeat_penalty : l * params_.repeat_penalty;
  }
}

size_t Sampler::load(std::span<const float> logits) {
  AIRT_DCHECK(logits.size() == static_cast<size_t>(n_vocab_));
  const size_t n = std::min(logits.size(), cand_.size());
  for (size_t i = 0; i < n; ++i) {
    // NaN would break the sort's ordering; treat it as impossible.
    const float l = std::isnan(logits[i]) ? -std::numeric_limits<float>::infinity() : logits[i];
    cand_[i] = {l, 0.0f, static_cast<int32_t>(i)};
  }
  apply_penalty();
  return n;
}

int32_t Sampler::sample(std::span<const float> logits) {
  bool decided = false;
  auto d = survivors(logits, decided);
  return decided ? d[0].id : draw(d.size());
}

// The survivors of the chain, sorted, with p still the temperature-1 probabilities; one
// candidate with p = 1 and `decided` set where the choice is already made (greedy, top-k
// 1, nothing finite), which draws nothing from the RNG.
std::span<Sampler::Candidate> Sampler::survivors(std::span<const float> logits, bool& decided) {
  const size_t n = load(logits);
  decided = true;
  if (n == 0) {
    cand_[0] = {0.0f, 1.0f, 0};
    return cand_.first(1);
  }
  const auto first = cand_.begin();
  if (params_.temp <= 0.0f || params_.top_k == 1) {
    auto best = std::min_element(first, first + static_cast<std::ptrdiff_t>(n), ByLogit{});
    std::swap(cand_[0], *best);
    cand_[0].p = 1.0f;
    return cand_.first(1);
  }
  size_t k = n;
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < n) {
    k = static_cast<size_t>(params_.top_k);
    std::partial_sort(first, first + static_cast<std::ptrdiff_t>(k), first + static_cast<std::ptrdiff_t>(n),
                      ByLogit{});
  } else {
    std::sort(first, first + static_cast<std::ptrdiff_t>(n), ByLogit{});
  }
  if (!std::isfinite(cand_[0].logit)) {  // all -inf (or +inf): nothing to weigh
    cand_[0].p = 1.0f;
    return cand_.first(1);
  }
  decided = false;
  return cand_.first(truncate(k));
}

std::span<const Sampler::Candidate> Sampler::distribution(std::span<const float> logits) {
  bool decided = false;
  auto d = survivors(logits, decided);
  if (decided) return d;
  const double sum = weigh(d.size());
  for (auto& c : d) c.p = static_cast<float>(c.p / sum);
  return d;
}

// Top-k, softmax, top-p, min-p over the sorted candidates; returns how many survive.
size_t Sampler::truncate(size_t k) {
  const float max_l = cand_[0].logit;
  double sum = 0.0;
  for (size_t i = 0; i < k; ++i) {
    cand_[i].p = std::exp(cand_[i].logit - max_l);
    sum += cand_[i].p;
  }
  for (size_t i = 0; i < k; ++i) cand_[i].p = static_cast<float>(cand_[i].p / sum);

  // Top-p: the smallest prefix whose mass reaches top_p (at least one token).
  if (params_.top_p < 1.0f) {
    double cum = 0.0;
    for (size_t i = 0; i < k; ++i) {
      cum += cand_[i].p;
      if (cum >= params_.top_p) {
        k = i + 1;
        break;
      }
    }
  }
  // Min-p: drop tokens less likely than min_p times the most likely one.
  if (params_.min_p > 0.0f) {
    const float floor_p = params_.min_p * cand_[0].p;
    size_t keep = 1;
    while (keep < k && cand_[keep].p >= floor_p) ++keep;
    k = keep;
  }
  return k;
}

double Sampler::weigh(size_t k) {
  const float max_l = cand_[0].logit;
  double sum = 0.0;
  for (size_t i = 0; i < k; ++i) {
    cand_[i].p = std::exp((cand_[i].logit - max_l) / params_.temp);
    sum += cand_[i].p;
  }
  return sum;
}

// One draw from the seeded RNG over the k survivors' temperature weights.
int32_t Sampler::draw(size_t k) {
  const double r = rng_.uniform() * weigh(k);
  double cum = 0.0;
  for (size_t i = 0; i < k; ++i) {
    cum += cand_[i].p;
    if (r < cum) return cand_[i].id;
  }
  return cand_[k - 1].id;  // rounding left r at the very top
}

}  // namespace airt::text
