#pragma once
// Training ops: the backward of every forward op in ops.h, dropout, pooling, and the attention forward
// that also keeps the softmax statistics its backward needs. Each op dispatches on the context's
// device like ops.h; src/ops/cpu/*_backward.cpp hold the CPU kernels.
//
// Conventions: parameter gradients (dweight, dbias, dgamma, dtable) are always ADDED to (so micro-batches
// accumulate, as in torch). Input gradients are written, or added when `accumulate` is set. Null
// gradient pointers are skipped.
#include <cstdint>

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

// Backward of pool_sequences: drows[t] += dpooled[b] ("cls": the first row of each sequence only;
// "mean": every row, divided by the length).
void pool_backward(const Context& ctx, const int64_t* offsets, int64_t batch, const float* dpooled, float* drows,
                   int64_t dim, bool mean);

}  // namespace medenc::ops
