// Dropout on CPU with the stateless hashed mask (see ops_backward.h).
#include "ops/cpu/backward_kernels.h"

namespace medenc::ops::cpu {

void dropout(float* x, int64_t n, const Dropout& d, int64_t first) {
  const uint64_t threshold = dropout_threshold(d.p);
  const float keep_scale = 1.0f / (1.0f - d.p);
  #pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    x[i] = dropout_keep(d.seed, (uint64_t)(first + i), threshold) ? x[i] * keep_scale : 0.0f;
}

}  // namespace medenc::ops::cpu
