// Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_ with norm_type 2).
#include <cmath>

#include "medenc/train.h"

namespace medenc {

double clip_grad_norm(std::span<float> grads, double max_norm) {
  const size_t n = grads.size();
  constexpr size_t kChunk = 1 << 16;  // fixed chunks: the same sum whatever the thread count
  const size_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(chunks, 0.0);
  #pragma omp parallel for schedule(static)
  for (size_t c = 0; c < chunks; ++c) {
    double s = 0.0;
    for (size_t i = c * kChunk; i < std::min(n, (c + 1) * kChunk); ++i) s += (double)grads[i] * grads[i];
    partial[c] = s;
  }
  double sum = 0.0;
  for (double s : partial) sum += s;
  const double norm = std::sqrt(sum);
  if (max_norm > 0.0) {
    const float coef = (float)std::min(1.0, max_norm / (norm + 1e-6));
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; ++i) grads[i] *= coef;
  }
  return norm;
}

}  // namespace medenc
