#pragma once
// CPU implementations of the training ops in ops/ops_backward.h, plus the helpers they share.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "ops/ops_backward.h"

namespace medenc::ops::cpu {

void dropout(float* x, int64_t n, const Dropout& d, int64_t first);
void linear_backward(const Context& ctx, const LinearWeights& w, const float* x, const float* dy, int64_t rows,
                     float* dx, float* dweight, float* dbias, bool accumulate);
void layernorm_backward(const float* x, const float* gamma, const float* dy, float* dx, float* dgamma, float* dbeta,
                        int64_t rows, int64_t dim, float eps, bool accumulate);
void activation_backward(const float* x, const float* dy, float* dx, int64_t n, Activation act);
void geglu_backward(const float* z, const float* dout, float* dz, int64_t rows, int64_t inter, Activation act);
void embedding_backward(const int32_t* ids, int64_t n, const float* dout, float* dtable, int64_t dim,
                        int64_t padding_idx);
void rope_qkv_backward(float* dqkv, const int32_t* positions, int64_t rows, int heads, int head_dim,
                       const float* inv_freq);
void attention_forward_train(const float* qkv, float* out, float* stats, const int64_t* cu_seqlens, int64_t batch,
                             int heads, int head_dim, int64_t window, float scale, const Dropout& dropout);
void attention_backward(const float* qkv, const float* out, const float* dout, const float* stats, float* dqkv,
                        const int64_t* cu_seqlens, int64_t batch, int heads, int head_dim, int64_t window,
                        float scale, const Dropout& dropout);
void pool_backward(const int64_t* offsets, int64_t batch, const float* dpooled, float* drows, int64_t dim, bool mean);

// Optimizer and losses (optimizer.cpp, losses.cpp).
void adamw_step(float* params, const float* grads, float* m, float* v, std::span<const ParamRange> tensors,
                const AdamWStep& hp);
double l2_norm(const float* x, int64_t n);
double clip_grad_norm(float* grads, int64_t n, double max_norm);
double cross_entropy_loss(const float* logits, int64_t rows, int64_t classes, const int32_t* labels, float* grad,
                          float grad_scale, int32_t ignore_index);
double bce_with_logits_loss(const float* logits, const float* targets, int64_t n, float* grad, float grad_scale);
double mse_loss(const float* logits, const float* targets, int64_t n, float* grad, float grad_scale);

// One AdamW step's float constants (see optimizer.cpp), and the update of n elements of one tensor.
struct AdamWConstants {
  float decay_factor, beta1, one_minus_beta1, beta2, one_minus_beta2, neg_step_size, bias_correction2_sqrt, eps;
};
void adamw_update(float* p, const float* g, float* m, float* v, size_t n, float decay_factor, const AdamWConstants& k);


// out[c] += sum over rows r of the row vectors that add_row(r, acc) adds into acc[cols]. Rows are summed
// in fixed chunks and the chunks in order, so the result does not depend on the thread count.
template <class AddRow>
void add_column_sums(int64_t rows, int64_t cols, float* out, AddRow add_row) {
  constexpr int64_t kChunk = 64;
  const int64_t chunks = (rows + kChunk - 1) / kChunk;
  if (chunks == 0) return;
  std::vector<float> partial((size_t)(chunks * cols), 0.0f);
  #pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    float* acc = partial.data() + c * cols;
    for (int64_t r = c * kChunk; r < std::min(rows, (c + 1) * kChunk); ++r) add_row(r, acc);
  }
  #pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < cols; ++j) {
    double s = 0.0;
    for (int64_t c = 0; c < chunks; ++c) s += partial[(size_t)(c * cols + j)];
    out[j] += (float)s;
  }
}

}  // namespace medenc::ops::cpu
