// Attention over unpadded sequences on CPU. Per (sequence, head) the keys are transposed once into a
// [head_dim, len] scratch; each query row then computes its scores only over its own key range
// (the band |i - j| <= window on local layers), an exact max-subtracted softmax, and P.V. Scratch is
// O(len * head_dim) per thread; nothing of size len x len is ever allocated.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/cpu/cpu_kernels.h"

namespace medenc::ops::cpu {

void attention(const float* qkv, float* out, const int64_t* cu_seqlens, int64_t batch, int heads, int head_dim,
               int64_t window, float scale) {
  const int64_t hidden = (int64_t)heads * head_dim;
  const int64_t stride = 3 * hidden;
  const int64_t items = batch * heads;
  #pragma omp parallel
  {
    std::vector<float> kt, row;
    #pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t b = item / heads;
      const int h = (int)(item % heads);
      const int64_t s0 = cu_seqlens[b];
      const int64_t len = cu_seqlens[b + 1] - s0;
      if (len <= 0) continue;
      const float* q_base = qkv + s0 * stride + (int64_t)h * head_dim;
      const float* k_base = q_base + hidden;
      const float* v_base = q_base + 2 * hidden;
      kt.resize((size_t)(head_dim * len));
      row.resize((size_t)len);
      for (int64_t j = 0; j < len; ++j)
        for (int t = 0; t < head_dim; ++t) kt[(size_t)(t * len + j)] = k_base[j * stride + t];
      for (int64_t i = 0; i < len; ++i) {
        const int64_t lo = window < 0 ? 0 : std::max<int64_t>(0, i - window);
        const int64_t hi = window < 0 ? len : std::min<int64_t>(len, i + window + 1);
        const int64_t n = hi - lo;
        float* s = row.data() + lo;
        const float* q = q_base + i * stride;
        std::fill(s, s + n, 0.0f);
        for (int t = 0; t < head_dim; ++t) {
          const float qt = q[t];
          const float* kr = kt.data() + (size_t)t * len + lo;
          for (int64_t j = 0; j < n; ++j) s[j] += qt * kr[j];
        }
        float m = -INFINITY;
        for (int64_t j = 0; j < n; ++j) {
          s[j] *= scale;
          m = std::max(m, s[j]);
        }
        float sum = 0.0f;
        for (int64_t j = 0; j < n; ++j) {
          s[j] = std::exp(s[j] - m);
          sum += s[j];
        }
        const float inv = 1.0f / sum;
        float* o = out + (s0 + i) * hidden + (int64_t)h * head_dim;
        std::fill(o, o + head_dim, 0.0f);
        for (int64_t j = 0; j < n; ++j) {
          const float p = s[j] * inv;
          const float* v = v_base + (lo + j) * stride;
          for (int t = 0; t < head_dim; ++t) o[t] += p * v[t];
        }
      }
    }
  }
}

}  // namespace medenc::ops::cpu
