// Backward of y = x W^T + b on CPU: two GEMMs and a column sum.
#include "ops/cpu/backward_kernels.h"
#include "ops/cpu/cpu_kernels.h"

namespace medenc::ops::cpu {

void linear_backward(const Context& ctx, const LinearWeights& w, const float* x, const float* dy, int64_t rows,
                     float* dx, float* dweight, float* dbias, bool accumulate) {
  if (rows == 0) return;
  // dx[rows, in] = dy[rows, out] . W[out, in]
  if (dx)
    cpu::gemm(ctx, false, false, rows, w.in, w.out, 1.0f, dy, w.out, w.weight, w.in, accumulate ? 1.0f : 0.0f, dx,
              w.in);
  // dW[out, in] += dy^T . x
  if (dweight) cpu::gemm(ctx, true, false, w.out, w.in, rows, 1.0f, dy, w.out, x, w.in, 1.0f, dweight, w.in);
  if (dbias)
    add_column_sums(rows, w.out, dbias, [&](int64_t r, float* acc) {
      const float* g = dy + r * w.out;
      for (int64_t j = 0; j < w.out; ++j) acc[j] += g[j];
    });
}

}  // namespace medenc::ops::cpu
