// AdamW's step over a flat parameter buffer, and global-norm gradient clipping, on CPU.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/cpu/backward_kernels.h"

namespace medenc::ops::cpu {

void adamw_step(float* params, const float* grads, float* m, float* v, std::span<const ParamRange> tensors,
                const AdamWStep& hp) {
  const double t = (double)hp.step;
  AdamWConstants k;
  k.decay_factor = (float)(1.0 - hp.lr * hp.weight_decay);
  k.beta1 = (float)hp.beta1;
  k.one_minus_beta1 = (float)(1.0 - hp.beta1);
  k.beta2 = (float)hp.beta2;
  k.one_minus_beta2 = (float)(1.0 - hp.beta2);
  k.neg_step_size = (float)(-(hp.lr / (1.0 - std::pow(hp.beta1, t))));
  k.bias_correction2_sqrt = (float)std::sqrt(1.0 - std::pow(hp.beta2, t));
  k.eps = (float)hp.eps;
  // Work in fixed slices of the flat buffer, each inside one tensor, so large and small tensors spread
  // evenly over the threads.
  constexpr int64_t kSlice = 1 << 16;
  struct Slice {
    int64_t begin, end;
    float decay_factor;
  };
  std::vector<Slice> slices;
  for (const ParamRange& r : tensors) {
    const float f = r.decay ? k.decay_factor : 1.0f;
    for (int64_t b = r.offset; b < r.offset + r.numel; b += kSlice)
      slices.push_back({b, std::min(r.offset + r.numel, b + kSlice), f});
  }
  #pragma omp parallel for schedule(static)
  for (size_t i = 0; i < slices.size(); ++i) {
    const Slice& s = slices[i];
    adamw_update(params + s.begin, grads + s.begin, m + s.begin, v + s.begin, (size_t)(s.end - s.begin),
                 s.decay_factor, k);
  }
}

double l2_norm(const float* x, int64_t n) {
  constexpr int64_t kChunk = 1 << 16;  // fixed chunks: the same sum whatever the thread count
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial((size_t)std::max<int64_t>(chunks, 0), 0.0);
  #pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    double s = 0.0;
    for (int64_t i = c * kChunk; i < std::min(n, (c + 1) * kChunk); ++i) s += (double)x[i] * x[i];
    partial[(size_t)c] = s;
  }
  double sum = 0.0;
  for (double s : partial) sum += s;
  return std::sqrt(sum);
}

double clip_grad_norm(float* grads, int64_t n, double max_norm) {
  const double norm = l2_norm(grads, n);
  if (max_norm > 0.0) {
    const float coef = (float)std::min(1.0, max_norm / (norm + 1e-6));
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) grads[i] *= coef;
  }
  return norm;
}

}  // namespace medenc::ops::cpu
