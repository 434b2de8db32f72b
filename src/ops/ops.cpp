// Device dispatch for every op. Only the CPU backend exists today; a CUDA backend adds a case here.
#include "ops/ops.h"

#include <omp.h>

#include "ops/cpu/cpu_kernels.h"

namespace medenc::ops {

void configure_threads(const Context& ctx) {
  if (ctx.threads > 0) omp_set_num_threads(ctx.threads);
}

int max_threads() { return omp_get_max_threads(); }

bool native_bf16(const Context& ctx) {
  switch (ctx.device) {
    case Device::CPU: return cpu::native_bf16_matmul();
  }
  return false;
}

void linear(const Context& ctx, const LinearWeights& w, const float* x, float* y, int64_t rows, bool accumulate) {
  switch (ctx.device) {
    case Device::CPU: return cpu::linear(ctx, w, x, y, rows, accumulate);
  }
}

void gemm(const Context& ctx, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  switch (ctx.device) {
    case Device::CPU: return cpu::gemm(ctx, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

void layernorm(const Context& ctx, const float* x, const float* gamma, const float* beta, float* y, int64_t rows,
               int64_t dim, float eps) {
  switch (ctx.device) {
    case Device::CPU: return cpu::layernorm(x, gamma, beta, y, rows, dim, eps);
  }
}

void add_layernorm(const Context& ctx, const float* x, const float* r, const float* gamma, const float* beta, float* y,
                   int64_t rows, int64_t dim, float eps) {
  switch (ctx.device) {
    case Device::CPU: return cpu::add_layernorm(x, r, gamma, beta, y, rows, dim, eps);
  }
}

void activation(const Context& ctx, float* x, int64_t n, Activation act) {
  switch (ctx.device) {
    case Device::CPU: return cpu::activation(x, n, act);
  }
}

void geglu(const Context& ctx, const float* z, float* out, int64_t rows, int64_t inter, Activation act) {
  switch (ctx.device) {
    case Device::CPU: return cpu::geglu(z, out, rows, inter, act);
  }
}

void embedding(const Context& ctx, const float* table, int64_t dim, const int32_t* ids, int64_t n, float* out,
               bool accumulate) {
  switch (ctx.device) {
    case Device::CPU: return cpu::embedding(table, dim, ids, n, out, accumulate);
  }
}

void rope_qkv(const Context& ctx, float* qkv, const int32_t* positions, int64_t rows, int heads, int head_dim,
              const float* inv_freq) {
  switch (ctx.device) {
    case Device::CPU: return cpu::rope_qkv(qkv, positions, rows, heads, head_dim, inv_freq);
  }
}

void attention(const Context& ctx, const float* qkv, float* out, const int64_t* cu_seqlens, int64_t batch, int heads,
               int head_dim, int64_t window, float scale) {
  switch (ctx.device) {
    case Device::CPU: return cpu::attention(qkv, out, cu_seqlens, batch, heads, head_dim, window, scale);
  }
}

}  // namespace medenc::ops
