// LayerNorm backward on CPU. With xhat = (x - mean) * rstd and dxhat = dy * gamma:
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dgamma += sum dy * xhat,  dbeta += sum dy.
// The row statistics are recomputed from x exactly as the forward kernel computes them (double sums).
#include <cmath>

#include "ops/cpu/backward_kernels.h"

namespace medenc::ops::cpu {

namespace {

struct RowStats {
  float mean;
  float rstd;
};

RowStats row_stats(const float* x, int64_t dim, float eps) {
  double s = 0.0;
  for (int64_t i = 0; i < dim; ++i) s += x[i];
  const double m = s / (double)dim;
  double v = 0.0;
  for (int64_t i = 0; i < dim; ++i) {
    const double d = (double)x[i] - m;
    v += d * d;
  }
  return {(float)m, (float)(1.0 / std::sqrt(v / (double)dim + (double)eps))};
}

}  // namespace

void layernorm_backward(const float* x, const float* gamma, const float* dy, float* dx, float* dgamma, float* dbeta,
                        int64_t rows, int64_t dim, float eps, bool accumulate) {
  if (dx) {
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * dim;
      const float* g = dy + r * dim;
      float* o = dx + r * dim;
      const RowStats st = row_stats(xr, dim, eps);
      double sum_dxhat = 0.0, sum_dxhat_xhat = 0.0;
      for (int64_t i = 0; i < dim; ++i) {
        const float xhat = (xr[i] - st.mean) * st.rstd;
        const float dxhat = g[i] * gamma[i];
        sum_dxhat += dxhat;
        sum_dxhat_xhat += (double)dxhat * xhat;
      }
      const float mean_dxhat = (float)(sum_dxhat / (double)dim);
      const float mean_dxhat_xhat = (float)(sum_dxhat_xhat / (double)dim);
      for (int64_t i = 0; i < dim; ++i) {
        const float xhat = (xr[i] - st.mean) * st.rstd;
        const float v = st.rstd * (g[i] * gamma[i] - mean_dxhat - xhat * mean_dxhat_xhat);
        o[i] = accumulate ? o[i] + v : v;
      }
    }
  }
  if (dgamma)
    add_column_sums(rows, dim, dgamma, [&](int64_t r, float* acc) {
      const float* xr = x + r * dim;
      const float* g = dy + r * dim;
      const RowStats st = row_stats(xr, dim, eps);
      for (int64_t i = 0; i < dim; ++i) acc[i] += g[i] * ((xr[i] - st.mean) * st.rstd);
    });
  if (dbeta)
    add_column_sums(rows, dim, dbeta, [&](int64_t r, float* acc) {
      const float* g = dy + r * dim;
      for (int64_t i = 0; i < dim; ++i) acc[i] += g[i];
    });
}

}  // namespace medenc::ops::cpu
