// AdamW with torch.optim.AdamW's single-tensor arithmetic (torch 1.13): every elementwise step is a
// float32 operation with the Python-double hyperparameters rounded to float, as torch's kernels do.
#include <cmath>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/train.h"

namespace medenc {

AdamW::AdamW(const ParameterSet& params, AdamWOptions options) : options_(options) {
  for (const ParamSpec& s : params.specs()) decays_.push_back(options_.decay_all || !s.is_bias_or_norm ? 1 : 0);
  m_.assign(params.total(), 0.0f);
  v_.assign(params.total(), 0.0f);
}

namespace {

struct StepConstants {
  float decay_factor, beta1, one_minus_beta1, beta2, one_minus_beta2, neg_step_size, bias_correction2_sqrt, eps;
};

// One slice of one tensor. The 8-lane path does the same float operations as the scalar one (torch's
// vectorised kernels also use a fused multiply-add for exp_avg).
void adamw_update(float* p, const float* g, float* m, float* v, size_t n, float decay_factor,
                  const StepConstants& k) {
  size_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 f = _mm256_set1_ps(decay_factor), b1 = _mm256_set1_ps(k.beta1), a1 = _mm256_set1_ps(k.one_minus_beta1);
  const __m256 b2 = _mm256_set1_ps(k.beta2), a2 = _mm256_set1_ps(k.one_minus_beta2);
  const __m256 bc2 = _mm256_set1_ps(k.bias_correction2_sqrt), eps = _mm256_set1_ps(k.eps);
  const __m256 step = _mm256_set1_ps(k.neg_step_size);
  for (; i + 8 <= n; i += 8) {
    const __m256 gi = _mm256_loadu_ps(g + i);
    const __m256 pi = _mm256_mul_ps(_mm256_loadu_ps(p + i), f);
    const __m256 mi = _mm256_fmadd_ps(gi, a1, _mm256_mul_ps(_mm256_loadu_ps(m + i), b1));
    const __m256 vi =
        _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), b2), _mm256_mul_ps(_mm256_mul_ps(a2, gi), gi));
    const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bc2), eps);
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
    _mm256_storeu_ps(p + i, _mm256_add_ps(pi, _mm256_div_ps(_mm256_mul_ps(step, mi), denom)));
  }
#endif
  for (; i < n; ++i) {
    p[i] = p[i] * decay_factor;  // with no decay the factor is 1 and p is unchanged
    m[i] = std::fma(g[i], k.one_minus_beta1, m[i] * k.beta1);
    v[i] = v[i] * k.beta2 + k.one_minus_beta2 * g[i] * g[i];
    const float denom = std::sqrt(v[i]) / k.bias_correction2_sqrt + k.eps;
    p[i] = p[i] + k.neg_step_size * m[i] / denom;
  }
}

}  // namespace

void AdamW::step(ParameterSet& params, std::span<const float> grads, double lr) {
  const size_t n = params.total();
  if (grads.size() != n || m_.size() != n || decays_.size() != params.specs().size())
    throw Error(fmt::format("AdamW: {} gradients for {} parameters", grads.size(), n));
  ++step_;
  const double t = (double)step_;
  StepConstants k;
  k.decay_factor = (float)(1.0 - lr * options_.weight_decay);
  k.beta1 = (float)options_.beta1;
  k.one_minus_beta1 = (float)(1.0 - options_.beta1);
  k.beta2 = (float)options_.beta2;
  k.one_minus_beta2 = (float)(1.0 - options_.beta2);
  k.neg_step_size = (float)(-(lr / (1.0 - std::pow(options_.beta1, t))));
  k.bias_correction2_sqrt = (float)std::sqrt(1.0 - std::pow(options_.beta2, t));
  k.eps = (float)options_.eps;
  // Work in fixed slices of the flat buffer, each inside one tensor, so large and small tensors spread
  // evenly over the threads.
  constexpr size_t kSlice = 1 << 16;
  struct Slice {
    size_t begin, end;
    float decay_factor;
  };
  std::vector<Slice> slices;
  for (size_t i = 0; i < params.specs().size(); ++i) {
    const ParamSpec& s = params.specs()[i];
    const float f = decays_[i] ? k.decay_factor : 1.0f;
    for (size_t b = s.offset; b < s.offset + s.numel; b += kSlice)
      slices.push_back({b, std::min(s.offset + s.numel, b + kSlice), f});
  }
  float* p = params.data();
  const float* g = grads.data();
  #pragma omp parallel for schedule(static)
  for (size_t i = 0; i < slices.size(); ++i) {
    const Slice& s = slices[i];
    adamw_update(p + s.begin, g + s.begin, m_.data() + s.begin, v_.data() + s.begin, s.end - s.begin, s.decay_factor,
                 k);
  }
}

}  // namespace medenc
