// GEMMs on CPU through oneDNN's BLAS-style sgemm (row-major).
//
// linear() is deterministic by construction: the output is cut into fixed tiles of kTileRows x
// kTileCols and every tile is one single-threaded sgemm call of exactly that shape (a partial row
// tile is computed in a zero-padded scratch tile). Each output element therefore goes through the
// same kernel and the same summation order whatever the batch around it and whatever the thread
// count, so a document's score never depends on its neighbours. Fixed tiles cost ~5-10% against one
// big multi-threaded sgemm (measured on AVX2), which the benchmark reports.
#include <algorithm>
#include <cstring>
#include <vector>

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include "medenc/error.h"
#include "ops/cpu/cpu_kernels.h"

namespace medenc::ops::cpu {

namespace {

constexpr int64_t kTileRows = 64;
constexpr int64_t kTileCols = 256;

void sgemm_checked(char ta, char tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                   const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  dnnl_status_t st = dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (st != dnnl_success) throw Error("oneDNN sgemm failed with status " + std::to_string((int)st));
}

}  // namespace

void gemm(const Context&, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // C = beta * C
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  sgemm_checked(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void linear(const Context& ctx, const LinearWeights& w, const float* x, float* y, int64_t rows, bool accumulate) {
  if (rows == 0) return;
  const int64_t K = w.in, N = w.out;
  const float* weight = w.weight;
  const int64_t row_tiles = (rows + kTileRows - 1) / kTileRows;
  const int64_t col_tiles = (N + kTileCols - 1) / kTileCols;
  const float beta = (w.bias || accumulate) ? 1.0f : 0.0f;

  #pragma omp parallel
  {
    std::vector<float> a_pad, c_pad;
    #pragma omp for schedule(static) collapse(2)
    for (int64_t rt = 0; rt < row_tiles; ++rt) {
      for (int64_t ct = 0; ct < col_tiles; ++ct) {
        const int64_t r0 = rt * kTileRows, r1 = std::min(rows, r0 + kTileRows);
        const int64_t c0 = ct * kTileCols, nc = std::min(N, c0 + kTileCols) - c0;
        const bool full = (r1 - r0) == kTileRows;
        // A operand: the input rows directly, or a zero-padded copy for a partial tile.
        const float* a = x + r0 * K;
        const int64_t lda = K;
        if (!full) {
          a_pad.assign((size_t)(kTileRows * K), 0.0f);
          std::memcpy(a_pad.data(), x + r0 * K, sizeof(float) * (size_t)((r1 - r0) * K));
          a = a_pad.data();
        }
        // C operand: y itself for full tiles, else a scratch tile copied back afterwards.
        float* c = y + r0 * N + c0;
        int64_t ldc = N;
        if (!full) {
          c_pad.assign((size_t)(kTileRows * nc), 0.0f);
          if (accumulate)
            for (int64_t r = r0; r < r1; ++r)
              std::memcpy(c_pad.data() + (r - r0) * nc, y + r * N + c0, sizeof(float) * (size_t)nc);
          c = c_pad.data();
          ldc = nc;
        }
        if (w.bias) {
          for (int64_t r = 0; r < r1 - r0; ++r) {
            float* cr = c + r * ldc;
            if (accumulate)
              for (int64_t j = 0; j < nc; ++j) cr[j] += w.bias[c0 + j];
            else
              std::memcpy(cr, w.bias + c0, sizeof(float) * (size_t)nc);
          }
        }
        sgemm_checked('N', 'T', kTileRows, nc, K, 1.0f, a, lda, weight + c0 * K, K, beta, c, ldc);
        if (!full)
          for (int64_t r = r0; r < r1; ++r)
            std::memcpy(y + r * N + c0, c_pad.data() + (r - r0) * nc, sizeof(float) * (size_t)nc);
      }
    }
  }
}

}  // namespace medenc::ops::cpu
