// Backward of sequence pooling ("cls" takes the first row, "mean" averages the rows) on CPU.
#include "ops/cpu/backward_kernels.h"

namespace medenc::ops::cpu {

void pool_backward(const int64_t* offsets, int64_t batch, const float* dpooled, float* drows, int64_t dim, bool mean) {
  #pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < batch; ++b) {
    const float* g = dpooled + b * dim;
    const int64_t s0 = offsets[b], s1 = mean ? offsets[b + 1] : offsets[b] + 1;
    const float inv = mean ? 1.0f / (float)(s1 - s0) : 1.0f;
    for (int64_t t = s0; t < s1; ++t)
      for (int64_t i = 0; i < dim; ++i) drows[t * dim + i] += g[i] * inv;
  }
}

}  // namespace medenc::ops::cpu
