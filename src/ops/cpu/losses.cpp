// Losses (mean reductions) and their gradients on CPU; the callers validate labels and shapes.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/cpu/backward_kernels.h"

namespace medenc::ops::cpu {

double mse_loss(const float* logits, const float* targets, int64_t n, float* grad, float grad_scale) {
  if (n <= 0) return 0.0;
  double sum = 0.0;
  const float g_scale = 2.0f * grad_scale / (float)n;
  for (int64_t i = 0; i < n; ++i) {
    const float d = logits[i] - targets[i];
    sum += (double)d * d;
    if (grad) grad[i] = g_scale * d;
  }
  return sum / (double)n;
}

double bce_with_logits_loss(const float* logits, const float* targets, int64_t n, float* grad, float grad_scale) {
  if (n <= 0) return 0.0;
  double sum = 0.0;
  const float g_scale = grad_scale / (float)n;
  for (int64_t i = 0; i < n; ++i) {
    const float x = logits[i], y = targets[i];
    // (1 - y) x + log(1 + exp(-x)), written so that neither exp overflows.
    const float max_val = std::max(-x, 0.0f);
    sum += (double)((1.0f - y) * x + max_val + std::log(std::exp(-max_val) + std::exp(-x - max_val)));
    if (grad) grad[i] = g_scale * (1.0f / (1.0f + std::exp(-x)) - y);
  }
  return sum / (double)n;
}

double cross_entropy_loss(const float* logits, int64_t rows, int64_t classes, const int32_t* labels, float* grad,
                          float grad_scale, int32_t ignore_index) {
  int64_t counted = 0;
  for (int64_t r = 0; r < rows; ++r) counted += labels[r] != ignore_index;
  const float g_scale = counted ? grad_scale / (float)counted : 0.0f;
  // Rows in parallel (MLM rows span the whole vocabulary); their losses are summed in row order
  // afterwards, so the result does not depend on the thread count.
  std::vector<double> row_loss((size_t)std::max<int64_t>(rows, 0), 0.0);
  #pragma omp parallel for schedule(dynamic, 4)
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = logits + r * classes;
    float* g = grad ? grad + r * classes : nullptr;
    const int32_t y = labels[r];
    if (y == ignore_index) {
      if (g) std::fill(g, g + classes, 0.0f);
      continue;
    }
    float m = -INFINITY;
    for (int64_t c = 0; c < classes; ++c) m = std::max(m, x[c]);
    double s = 0.0;
    for (int64_t c = 0; c < classes; ++c) s += std::exp((double)(x[c] - m));
    const double log_z = (double)m + std::log(s);
    row_loss[(size_t)r] = log_z - (double)x[y];
    if (g) {
      for (int64_t c = 0; c < classes; ++c) g[c] = g_scale * (float)std::exp((double)x[c] - log_z);
      g[y] -= g_scale;
    }
  }
  double sum = 0.0;
  for (double l : row_loss) sum += l;
  return counted ? sum / (double)counted : 0.0;
}

}  // namespace medenc::ops::cpu
