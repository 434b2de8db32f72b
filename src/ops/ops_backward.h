#pragma once
// Training ops: the backward of every forward op in ops.h, dropout, pooling, and the attention forward
// that also keeps the softmax statistics its backward needs. Each op dispatches on the context's
// device like ops.h; src/ops/cpu/*_backward.cpp hold the CPU kernels.
//
// Conventions: parameter gradients (dweight, dbias, dgamma, dtable) are always ADDED to (so micro-batches
// accumulate, as in torch). Input gradients are written, or added when `accumulate` is set. Null
// gradient pointers are skipped.
#include <cstdint>
#include <span>

#include "medenc/config.h"
#include "ops/ops.h"

namespace medenc::ops {

// Dropout with a stateless mask: element i of stream `seed` is kept iff a hash of (seed, i) falls at or
// above p, so a backward pass regenerates the forward's mask without storing it. Kept values are scaled
// by 1 / (1 - p), as torch does. p == 0 is the identity.
struct Dropout {
  float p = 0.0f;
  uint64_t seed = 0;
  bool active() const { return p > 0.0f; }
};

// The dropout mask bit of element `index` of stream `seed` (splitmix64 finaliser of the pair). The
// mask is part of the op's contract: every device must draw the same one.
inline bool dropout_keep(uint64_t seed, uint64_t index, uint64_t threshold) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (index + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (z >> 32) >= threshold;
}
// Elements whose 32-bit hash is below this are dropped.
inline uint64_t dropout_threshold(float p) { return (uint64_t)((double)p * 4294967296.0); }

// x[i] = keep(i) ? x[i] / (1 - p) : 0, for i in [0, n) of the stream (first = index of x[0] in it).
// Applying it to a gradient is its own backward.
void dropout(const Context& ctx, float* x, int64_t n, const Dropout& d, int64_t first = 0);

// y = x W^T + b:  dx (= or +=) dy W;  dweight += dy^T x;  dbias += column sums of dy.
void linear_backward(const Context& ctx, const LinearWeights& w, const float* x, const float* dy, int64_t rows,
                     float* dx, float* dweight, float* dbias, bool accumulate = false);

// y = LayerNorm(x) (gamma, optional beta): recomputes the row statistics from x.
void layernorm_backward(const Context& ctx, const float* x, const float* gamma, const float* dy, float* dx,
                        float* dgamma, float* dbeta, int64_t rows, int64_t dim, float eps, bool accumulate = false);

// dx = dy * act'(x) (x is the activation's input); dx may alias dy.
void activation_backward(const Context& ctx, const float* x, const float* dy, float* dx, int64_t n, Activation act);
float activation_derivative(float x, Activation act);

// out = act(u) * g with z = [u | g] per row (ops::geglu): writes dz [rows, 2 * inter].
void geglu_backward(const Context& ctx, const float* z, const float* dout, float* dz, int64_t rows, int64_t inter,
                    Activation act);

// dtable[ids[t]] += dout[t] for every t whose id is not padding_idx (nn.Embedding's padding_idx rule;
// padding_idx < 0: none).
void embedding_backward(const Context& ctx, const int32_t* ids, int64_t n, const float* dout, float* dtable,
                        int64_t dim, int64_t padding_idx);

// Backward of rope_qkv, in place on the Q and K parts of dqkv (the transposed rotation).
void rope_qkv_backward(const Context& ctx, float* dqkv, const int32_t* positions, int64_t rows, int heads,
                       int head_dim, const float* inv_freq);

// ops::attention for training (the same function, up to rounding): also writes the softmax statistics
// stats[row, head] = (max score, 1 / sum of exponentials), and applies dropout to the probabilities
// (stream index ((row * heads + head) << 32) + key position).
void attention_forward_train(const Context& ctx, const float* qkv, float* out, float* stats, const int64_t* cu_seqlens,
                             int64_t batch, int heads, int head_dim, int64_t window, float scale,
                             const Dropout& dropout = {});

// Backward of attention_forward_train from the saved qkv, out and stats: each query's scores and
// probabilities are recomputed exactly; nothing of size len x len is stored. Writes dqkv
// [rows, 3 * heads * head_dim].
void attention_backward(const Context& ctx, const float* qkv, const float* out, const float* dout, const float* stats,
                        float* dqkv, const int64_t* cu_seqlens, int64_t batch, int heads, int head_dim,
                        int64_t window, float scale, const Dropout& dropout = {});

// Backward of ops::pool, Cls or either mean: drows[t] += dpooled[b] ("cls": the first row of each
// sequence only; "mean": every row, divided by the length).
void pool_backward(const Context& ctx, const int64_t* offsets, int64_t batch, const float* dpooled, float* drows,
                   int64_t dim, bool mean);

// ---------------------------------------------------------------------------------------------
// Optimizer and losses. Each reduction is summed in a fixed order, so results do not depend on the
// thread count.

// One tensor of a flat parameter buffer, and whether weight decay applies to it.
struct ParamRange {
  int64_t offset = 0;
  int64_t numel = 0;
  bool decay = true;
};

// Hyperparameters of one torch.optim.AdamW step; `step` counts from 1.
struct AdamWStep {
  double lr = 0.0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  int64_t step = 1;
};

// torch.optim.AdamW's single-tensor update of params, exp_avg (m) and exp_avg_sq (v) from grads,
// over the tensors listed (together they cover the buffers): every elementwise step is a float32
// operation on the hyperparameters rounded to float, as torch's kernels do.
void adamw_step(const Context& ctx, float* params, const float* grads, float* m, float* v,
                std::span<const ParamRange> tensors, const AdamWStep& hp);

// sqrt(sum of x[i]^2), accumulated in double.
double l2_norm(const Context& ctx, const float* x, int64_t n);

// torch.nn.utils.clip_grad_norm_ (norm 2): returns the norm before clipping and scales grads by
// min(1, max_norm / (norm + 1e-6)); max_norm <= 0 only measures.
double clip_grad_norm(const Context& ctx, float* grads, int64_t n, double max_norm);

// Losses with mean reduction, as torch computes them for Hugging Face heads. Each returns the mean
// loss (accumulated in double) and, when grad is non-null, writes d loss / d logits * grad_scale.
// Labels and shapes are validated by the caller (medenc::cross_entropy_loss & co. in train.h).

// Cross-entropy over rows of `classes` logits, mean over the rows whose label is not ignore_index
// (the others get a zero gradient); no labelled row: loss 0, gradient 0.
double cross_entropy_loss(const Context& ctx, const float* logits, int64_t rows, int64_t classes,
                          const int32_t* labels, float* grad, float grad_scale, int32_t ignore_index);
// BCEWithLogitsLoss over n elements (targets in [0, 1]).
double bce_with_logits_loss(const Context& ctx, const float* logits, const float* targets, int64_t n, float* grad,
                            float grad_scale);
// Mean squared error over n elements.
double mse_loss(const Context& ctx, const float* logits, const float* targets, int64_t n, float* grad,
                float grad_scale);

}  // namespace medenc::ops
