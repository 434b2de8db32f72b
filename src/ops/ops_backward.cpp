// Device dispatch for the training ops. Only the CPU backend exists today.
#include "ops/ops_backward.h"

#include "ops/cpu/backward_kernels.h"

namespace medenc::ops {

void dropout(const Context& ctx, float* x, int64_t n, const Dropout& d, int64_t first) {
  if (!d.active()) return;
  const OpTimer timer("dropout");
  switch (ctx.device) {
    case Device::CPU: return cpu::dropout(x, n, d, first);
  }
}

void linear_backward(const Context& ctx, const LinearWeights& w, const float* x, const float* dy, int64_t rows,
                     float* dx, float* dweight, float* dbias, bool accumulate) {
  const OpTimer timer("linear backward");
  switch (ctx.device) {
    case Device::CPU: return cpu::linear_backward(ctx, w, x, dy, rows, dx, dweight, dbias, accumulate);
  }
}

void layernorm_backward(const Context& ctx, const float* x, const float* gamma, const float* dy, float* dx,
                        float* dgamma, float* dbeta, int64_t rows, int64_t dim, float eps, bool accumulate) {
  const OpTimer timer("layernorm backward");
  switch (ctx.device) {
    case Device::CPU: return cpu::layernorm_backward(x, gamma, dy, dx, dgamma, dbeta, rows, dim, eps, accumulate);
  }
}

void activation_backward(const Context& ctx, const float* x, const float* dy, float* dx, int64_t n, Activation act) {
  const OpTimer timer("activation backward");
  switch (ctx.device) {
    case Device::CPU: return cpu::activation_backward(x, dy, dx, n, act);
  }
}

void geglu_backward(const Context& ctx, const float* z, const float* dout, float* dz, int64_t rows, int64_t inter,
                    Activation act) {
  const OpTimer timer("geglu backward");
  switch (ctx.device) {
    case Device::CPU: return cpu::geglu_backward(z, dout, dz, rows, inter, act);
  }
}

void embedding_backward(const Context& ctx, const int32_t* ids, int64_t n, const float* dout, float* dtable,
                        int64_t dim, int64_t padding_idx) {
  const OpTimer timer("embedding backward");
  switch (ctx.device) {
    case Device::CPU: return cpu::embedding_backward(ids, n, dout, dtable, dim, padding_idx);
  }
}

void rope_qkv_backward(const Context& ctx, float* dqkv, const int32_t* positions, int64_t rows, int heads,
                       int head_dim, const float* inv_freq) {
  const OpTimer timer("rope backward");
  switch (ctx.device) {
    case Device::CPU: return cpu::rope_qkv_backward(dqkv, positions, rows, heads, head_dim, inv_freq);
  }
}

void attention_forward_train(const Context& ctx, const float* qkv, float* out, float* stats, const int64_t* cu_seqlens,
                             int64_t batch, int heads, int head_dim, int64_t window, float scale,
                             const Dropout& dropout) {
  const OpTimer timer("attention (training forward)");
  switch (ctx.device) {
    case Device::CPU:
      return cpu::attention_forward_train(qkv, out, stats, cu_seqlens, batch, heads, head_dim, window, scale, dropout);
  }
}

void attention_backward(const Context& ctx, const float* qkv, const float* out, const float* dout, const float* stats,
                        float* dqkv, const int64_t* cu_seqlens, int64_t batch, int heads, int head_dim,
                        int64_t window, float scale, const Dropout& dropout) {
  const OpTimer timer("attention backward");
  switch (ctx.device) {
    case Device::CPU:
      return cpu::attention_backward(qkv, out, dout, stats, dqkv, cu_seqlens, batch, heads, head_dim, window, scale,
                                     dropout);
  }
}

void pool_backward(const Context& ctx, const int64_t* offsets, int64_t batch, const float* dpooled, float* drows,
                   int64_t dim, bool mean) {
  const OpTimer timer("pool backward");
  switch (ctx.device) {
    case Device::CPU: return cpu::pool_backward(offsets, batch, dpooled, drows, dim, mean);
  }
}

}  // namespace medenc::ops
