// GEMMs on CPU through oneDNN's BLAS-style sgemm (row-major).
#include <cstring>

#include <oneapi/dnnl/dnnl.h>

#include "medenc/error.h"
#include "ops/cpu/cpu_kernels.h"

namespace medenc::ops::cpu {

void gemm(const Context&, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // C = beta * C
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (st != dnnl_success) throw Error("oneDNN sgemm failed with status " + std::to_string((int)st));
}

void linear(const Context& ctx, const LinearWeights& w, const float* x, float* y, int64_t rows, bool accumulate) {
  if (rows == 0) return;
  float beta = 0.0f;
  if (w.bias) {
    // Prefill with the bias (added to y when accumulating) so the GEMM adds the product once.
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      float* yr = y + r * w.out;
      if (accumulate)
        for (int64_t j = 0; j < w.out; ++j) yr[j] += w.bias[j];
      else
        std::memcpy(yr, w.bias, sizeof(float) * (size_t)w.out);
    }
    beta = 1.0f;
  } else if (accumulate) {
    beta = 1.0f;
  }
  cpu::gemm(ctx, false, true, rows, w.out, w.in, 1.0f, x, w.in, w.weight, w.in, beta, y, w.out);
}

}  // namespace medenc::ops::cpu
