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

// ---- optimizer and losses ----

namespace medenc::ops {

void adamw_step(const Context& ctx, float* params, const float* grads, float* m, float* v,
                std::span<const ParamRange> tensors, const AdamWStep& hp) {
  const OpTimer timer("adamw");
  switch (ctx.device) {
    case Device::CPU: return cpu::adamw_step(params, grads, m, v, tensors, hp);
  }
}

double l2_norm(const Context& ctx, const float* x, int64_t n) {
  const OpTimer timer("l2 norm");
  switch (ctx.device) {
    case Device::CPU: return cpu::l2_norm(x, n);
  }
  return 0.0;
}

double clip_grad_norm(const Context& ctx, float* grads, int64_t n, double max_norm) {
  const OpTimer timer("clip grad norm");
  switch (ctx.device) {
    case Device::CPU: return cpu::clip_grad_norm(grads, n, max_norm);
  }
  return 0.0;
}

double cross_entropy_loss(const Context& ctx, const float* logits, int64_t rows, int64_t classes,
                          const int32_t* labels, float* grad, float grad_scale, int32_t ignore_index) {
  const OpTimer timer("cross-entropy loss");
  switch (ctx.device) {
    case Device::CPU: return cpu::cross_entropy_loss(logits, rows, classes, labels, grad, grad_scale, ignore_index);
  }
  return 0.0;
}

double bce_with_logits_loss(const Context& ctx, const float* logits, const float* targets, int64_t n, float* grad,
                            float grad_scale) {
  const OpTimer timer("bce-with-logits loss");
  switch (ctx.device) {
    case Device::CPU: return cpu::bce_with_logits_loss(logits, targets, n, grad, grad_scale);
  }
  return 0.0;
}

double mse_loss(const Context& ctx, const float* logits, const float* targets, int64_t n, float* grad,
                float grad_scale) {
  const OpTimer timer("mse loss");
  switch (ctx.device) {
    case Device::CPU: return cpu::mse_loss(logits, targets, n, grad, grad_scale);
  }
  return 0.0;
}

}  // namespace medenc::ops
