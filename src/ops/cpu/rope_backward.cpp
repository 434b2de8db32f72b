// Backward of rotate-half RoPE on CPU: the forward rotates each (j, j + half) pair by +angle, so the
// gradient is rotated by -angle. Angles are computed exactly as the forward kernel computes them.
#include <cmath>

#include "ops/cpu/backward_kernels.h"

namespace medenc::ops::cpu {

void rope_qkv_backward(float* dqkv, const int32_t* positions, int64_t rows, int heads, int head_dim,
                       const float* inv_freq) {
  const int half = head_dim / 2;
  const int64_t hidden = (int64_t)heads * head_dim;
  #pragma omp parallel
  {
    std::vector<float> cos_v((size_t)half), sin_v((size_t)half);
    #pragma omp for schedule(static)
    for (int64_t t = 0; t < rows; ++t) {
      const float p = (float)positions[t];
      for (int j = 0; j < half; ++j) {
        const float angle = p * inv_freq[j];
        cos_v[j] = (float)std::cos((double)angle);
        sin_v[j] = (float)std::sin((double)angle);
      }
      for (int part = 0; part < 2; ++part) {
        for (int h = 0; h < heads; ++h) {
          float* g = dqkv + t * 3 * hidden + part * hidden + (int64_t)h * head_dim;
          for (int j = 0; j < half; ++j) {
            const float ga = g[j], gb = g[j + half];
            g[j] = ga * cos_v[j] + gb * sin_v[j];
            g[j + half] = gb * cos_v[j] - ga * sin_v[j];
          }
        }
      }
    }
  }
}

}  // namespace medenc::ops::cpu
