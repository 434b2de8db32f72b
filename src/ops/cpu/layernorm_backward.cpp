// LayerNorm backward on CPU. With xhat = (x - mean) * rstd and dxhat = dy * gamma:
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dgamma += sum dy * xhat,  dbeta += sum dy.
// One fused pass: rows are taken in fixed chunks (so the parameter-gradient sums do not depend on the
// thread count), each row's statistics are recomputed from x (vectorised double sums), dx is written
// and the chunk's dgamma / dbeta partials accumulate; the chunks are then summed in order.
#include <cmath>

#include "ops/cpu/backward_kernels.h"
#include "ops/cpu/isa.h"

namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS {

void layernorm_backward(const float* x, const float* gamma, const float* dy, float* dx, float* dgamma, float* dbeta,
                        int64_t rows, int64_t dim, float eps, bool accumulate) {
  constexpr int64_t kChunk = 64;
  const int64_t chunks = (rows + kChunk - 1) / kChunk;
  if (chunks == 0) return;
  const bool params = dgamma || dbeta;
  std::vector<float> partial(params ? (size_t)(chunks * 2 * dim) : 0, 0.0f);  // [chunk][dgamma | dbeta]
  #pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    float* pg = params ? partial.data() + c * 2 * dim : nullptr;
    float* pb = params ? pg + dim : nullptr;
    for (int64_t r = c * kChunk; r < std::min(rows, (c + 1) * kChunk); ++r) {
      const float* xr = x + r * dim;
      const float* g = dy + r * dim;
      double sum = 0.0;
      #pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < dim; ++i) sum += xr[i];
      const double mean_d = sum / (double)dim;
      double var = 0.0;
      #pragma omp simd reduction(+ : var)
      for (int64_t i = 0; i < dim; ++i) var += ((double)xr[i] - mean_d) * ((double)xr[i] - mean_d);
      const float mean = (float)mean_d;
      const float rstd = (float)(1.0 / std::sqrt(var / (double)dim + (double)eps));
      if (params) {
        #pragma omp simd
        for (int64_t i = 0; i < dim; ++i) {
          pg[i] += g[i] * ((xr[i] - mean) * rstd);
          pb[i] += g[i];
        }
      }
      if (!dx) continue;
      double sum_dxhat = 0.0, sum_dxhat_xhat = 0.0;
      #pragma omp simd reduction(+ : sum_dxhat, sum_dxhat_xhat)
      for (int64_t i = 0; i < dim; ++i) {
        const float dxhat = g[i] * gamma[i];
        sum_dxhat += dxhat;
        sum_dxhat_xhat += (double)(dxhat * ((xr[i] - mean) * rstd));
      }
      const float mean_dxhat = (float)(sum_dxhat / (double)dim);
      const float mean_dxhat_xhat = (float)(sum_dxhat_xhat / (double)dim);
      float* o = dx + r * dim;
      #pragma omp simd
      for (int64_t i = 0; i < dim; ++i) {
        const float v = rstd * (g[i] * gamma[i] - mean_dxhat - ((xr[i] - mean) * rstd) * mean_dxhat_xhat);
        o[i] = accumulate ? o[i] + v : v;
      }
    }
  }
  if (!params) return;
  #pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < dim; ++i) {
    double sg = 0.0, sb = 0.0;
    for (int64_t c = 0; c < chunks; ++c) {
      sg += partial[(size_t)(c * 2 * dim + i)];
      sb += partial[(size_t)(c * 2 * dim + dim + i)];
    }
    if (dgamma) dgamma[i] += (float)sg;
    if (dbeta) dbeta[i] += (float)sb;
  }
}

}  // namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS
