// Attention for training on CPU: a forward that keeps each query's softmax statistics (max score and
// 1 / sum), and the backward that uses them (FlashAttention-2 style, on sgemm tiles).
//
// Work items are (sequence, head) pairs. Each gathers its Q, K, V (and for the backward O and dO) into
// contiguous [len, head_dim] panels, Q padded with zero rows to whole blocks of kBlock queries. A
// block's scores against the keys it may see (all keys on global layers, the band [i0 - w, i1 + w) on
// local layers) are one sgemm followed by an exact max-subtracted softmax whose max and 1 / sum are
// kept; the backward repeats the same sgemm and exp on the same tiles, so it recomputes the forward's
// probabilities bit for bit. The backward is four more sgemms per
// block: dV += P'^T dO, dP = dO V^T, dQ = dS K, dK += dS^T Q. Scratch is O(kBlock * len + len *
// head_dim) per thread; nothing of size len x len is ever stored.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <oneapi/dnnl/dnnl.h>

#include "medenc/error.h"
#include "ops/cpu/backward_kernels.h"
#include "ops/cpu/vec_math.h"

namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS {

namespace {

constexpr int64_t kBlock = 64;

void sgemm(char ta, char tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
           int64_t ldb, float beta, float* c, int64_t ldc) {
  if (dnnl_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc) != dnnl_success)
    throw Error("oneDNN sgemm failed in attention");
}

// dst[j, :] = src[j * stride, :head_dim] for j < len, zero rows up to `rows`.
void gather(const float* src, int64_t stride, int64_t len, int64_t rows, int64_t d, std::vector<float>& dst) {
  dst.resize((size_t)(rows * d));
  for (int64_t j = 0; j < len; ++j) std::memcpy(dst.data() + j * d, src + j * stride, sizeof(float) * (size_t)d);
  std::fill(dst.begin() + len * d, dst.end(), 0.0f);
}

// One (sequence, head) item: where its rows live in the packed buffers.
struct Item {
  int64_t s0, len, padded;  // first packed row, real rows, rows rounded up to whole blocks
  int h;
};

Item make_item(const int64_t* cu_seqlens, int64_t item, int heads) {
  Item it;
  it.h = (int)(item % heads);
  it.s0 = cu_seqlens[item / heads];
  it.len = cu_seqlens[item / heads + 1] - it.s0;
  it.padded = (it.len + kBlock - 1) / kBlock * kBlock;
  return it;
}

// Keys of query block [i0, i0 + kBlock): [k0, k1).
struct KeyRange {
  int64_t k0, k1;
};
KeyRange block_keys(int64_t i0, int64_t len, int64_t window) {
  const int64_t i1 = std::min(len, i0 + kBlock);
  if (window < 0) return {0, len};
  return {std::max<int64_t>(0, i0 - window), std::min<int64_t>(len, i1 + window)};
}

// Row i's probabilities over the block's keys (relative to k0) from its raw scores s[0, nk): scale, max
// over the band [lo, hi), shifted exp, times 1 / sum; zero outside the band. known: the max and 1 / sum are read from *m, *inv; otherwise computed into them.
void softmax_row(float* s, int64_t nk, int64_t lo, int64_t hi, float scale, float* m, float* inv, bool known) {
  float mx = known ? *m : -INFINITY;
  for (int64_t j = lo; j < hi; ++j) {
    s[j] *= scale;
    if (!known) mx = std::max(mx, s[j]);
  }
  const float sum = vec::exp_shifted_sum(s + lo, s + lo, hi - lo, mx);
  const float r = known ? *inv : 1.0f / sum;
  for (int64_t j = 0; j < lo; ++j) s[j] = 0.0f;
  for (int64_t j = lo; j < hi; ++j) s[j] *= r;
  for (int64_t j = hi; j < nk; ++j) s[j] = 0.0f;
  *m = mx;
  *inv = r;
}

// The item's Q (zero-padded to whole blocks), K and V panels.
void gather_qkv(const float* qkv, const Item& it, int64_t hidden, int64_t d, std::vector<float>& q,
                std::vector<float>& k, std::vector<float>& v) {
  const int64_t stride = 3 * hidden;
  const float* base = qkv + it.s0 * stride + (int64_t)it.h * d;
  gather(base, stride, it.len, it.padded, d, q);
  gather(base + hidden, stride, it.len, it.len, d, k);
  gather(base + 2 * hidden, stride, it.len, it.len, d, v);
}

uint64_t dropout_stream_base(int64_t row, int h, int heads) { return ((uint64_t)(row * heads + h)) << 32; }

}  // namespace

void attention_forward_train(const float* qkv, float* out, float* stats, const int64_t* cu_seqlens, int64_t batch,
                             int heads, int head_dim, int64_t window, float scale, const Dropout& dropout) {
  const int64_t hidden = (int64_t)heads * head_dim, d = head_dim;
  const uint64_t threshold = dropout_threshold(dropout.p);
  const float keep_scale = 1.0f / (1.0f - dropout.p);
  #pragma omp parallel
  {
    std::vector<float> q, k, v, s, o_block;
    #pragma omp for schedule(dynamic, 1)
    for (int64_t index = 0; index < batch * heads; ++index) {
      const Item it = make_item(cu_seqlens, index, heads);
      if (it.len <= 0) continue;
      gather_qkv(qkv, it, hidden, d, q, k, v);
      const int64_t max_keys = window < 0 ? it.len : std::min<int64_t>(it.len, kBlock + 2 * window);
      s.resize((size_t)(kBlock * max_keys));
      o_block.resize((size_t)(kBlock * d));
      for (int64_t i0 = 0; i0 < it.len; i0 += kBlock) {
        const KeyRange kr = block_keys(i0, it.len, window);
        const int64_t nk = kr.k1 - kr.k0;
        sgemm('N', 'T', kBlock, nk, d, q.data() + i0 * d, d, k.data() + kr.k0 * d, d, 0.0f, s.data(), nk);
        for (int64_t i = i0; i < i0 + kBlock; ++i) {
          float* row = s.data() + (i - i0) * nk;
          if (i >= it.len) {
            std::fill(row, row + nk, 0.0f);
            continue;
          }
          const int64_t lo = window < 0 ? 0 : std::max<int64_t>(kr.k0, i - window) - kr.k0;
          const int64_t hi = window < 0 ? nk : std::min<int64_t>(kr.k1, i + window + 1) - kr.k0;
          const int64_t packed = it.s0 + i;
          float* st = stats + (packed * heads + it.h) * 2;
          softmax_row(row, nk, lo, hi, scale, &st[0], &st[1], /*known=*/false);
          if (dropout.active()) {
            const uint64_t stream = dropout_stream_base(packed, it.h, heads) + (uint64_t)kr.k0;
            for (int64_t j = lo; j < hi; ++j)
              row[j] = dropout_keep(dropout.seed, stream + (uint64_t)j, threshold) ? row[j] * keep_scale : 0.0f;
          }
        }
        sgemm('N', 'N', kBlock, d, nk, s.data(), nk, v.data() + kr.k0 * d, d, 0.0f, o_block.data(), d);
        for (int64_t i = i0; i < std::min(it.len, i0 + kBlock); ++i)
          std::memcpy(out + (it.s0 + i) * hidden + (int64_t)it.h * d, o_block.data() + (i - i0) * d,
                      sizeof(float) * (size_t)d);
      }
    }
  }
}

// With P the probabilities, P' = P * mask / (1 - p) and O = P' V:
//   dV += P'^T dO;  dP' = dO V^T;  dS = P * (dP' * mask / (1 - p) - rowsum(dO * O)) * scale;
//   dQ = dS K;  dK += dS^T Q.
void attention_backward(const float* qkv, const float* out, const float* dout, const float* stats, float* dqkv,
                        const int64_t* cu_seqlens, int64_t batch, int heads, int head_dim, int64_t window,
                        float scale, const Dropout& dropout) {
  const int64_t hidden = (int64_t)heads * head_dim, stride = 3 * hidden, d = head_dim;
  const uint64_t threshold = dropout_threshold(dropout.p);
  const float keep_scale = 1.0f / (1.0f - dropout.p);
  #pragma omp parallel
  {
    std::vector<float> q, k, v, go, dk, dv, p, p_kept, dp, dq_block;
    std::vector<float> d_row((size_t)kBlock);
    #pragma omp for schedule(dynamic, 1)
    for (int64_t index = 0; index < batch * heads; ++index) {
      const Item it = make_item(cu_seqlens, index, heads);
      if (it.len <= 0) continue;
      gather_qkv(qkv, it, hidden, d, q, k, v);
      gather(dout + it.s0 * hidden + (int64_t)it.h * d, hidden, it.len, it.padded, d, go);
      dk.assign((size_t)(it.len * d), 0.0f);
      dv.assign((size_t)(it.len * d), 0.0f);
      const int64_t max_keys = window < 0 ? it.len : std::min<int64_t>(it.len, kBlock + 2 * window);
      p.resize((size_t)(kBlock * max_keys));
      dp.resize((size_t)(kBlock * max_keys));
      if (dropout.active()) p_kept.resize((size_t)(kBlock * max_keys));
      dq_block.resize((size_t)(kBlock * d));
      for (int64_t i0 = 0; i0 < it.len; i0 += kBlock) {
        const KeyRange kr = block_keys(i0, it.len, window);
        const int64_t nk = kr.k1 - kr.k0;
        const float* q_block = q.data() + i0 * d;
        const float* go_block = go.data() + i0 * d;
        // P, recomputed exactly; P' with the dropout mask applied (the weights that multiplied V).
        sgemm('N', 'T', kBlock, nk, d, q_block, d, k.data() + kr.k0 * d, d, 0.0f, p.data(), nk);
        for (int64_t i = i0; i < i0 + kBlock; ++i) {
          float* row = p.data() + (i - i0) * nk;
          d_row[i - i0] = 0.0f;
          if (i >= it.len) {
            std::fill(row, row + nk, 0.0f);
            if (dropout.active()) std::fill(p_kept.begin() + (i - i0) * nk, p_kept.begin() + (i - i0 + 1) * nk, 0.0f);
            continue;
          }
          const int64_t lo = window < 0 ? 0 : std::max<int64_t>(kr.k0, i - window) - kr.k0;
          const int64_t hi = window < 0 ? nk : std::min<int64_t>(kr.k1, i + window + 1) - kr.k0;
          const int64_t packed = it.s0 + i;
          float m = stats[(packed * heads + it.h) * 2], inv = stats[(packed * heads + it.h) * 2 + 1];
          softmax_row(row, nk, lo, hi, scale, &m, &inv, /*known=*/true);
          if (dropout.active()) {
            float* kept = p_kept.data() + (i - i0) * nk;
            const uint64_t stream = dropout_stream_base(packed, it.h, heads) + (uint64_t)kr.k0;
            for (int64_t j = 0; j < nk; ++j)
              kept[j] = dropout_keep(dropout.seed, stream + (uint64_t)j, threshold) ? row[j] * keep_scale : 0.0f;
          }
          const float* o = out + packed * hidden + (int64_t)it.h * d;
          const float* g = go_block + (i - i0) * d;
          float dot = 0.0f;
          for (int64_t t = 0; t < d; ++t) dot += g[t] * o[t];
          d_row[i - i0] = dot;
        }
        const float* weights = dropout.active() ? p_kept.data() : p.data();
        sgemm('T', 'N', nk, d, kBlock, weights, nk, go_block, d, 1.0f, dv.data() + kr.k0 * d, d);
        sgemm('N', 'T', kBlock, nk, d, go_block, d, v.data() + kr.k0 * d, d, 0.0f, dp.data(), nk);
        // dS overwrites dP.
        for (int64_t r = 0; r < kBlock; ++r) {
          const float* pr = p.data() + r * nk;
          float* ds = dp.data() + r * nk;
          const float dr = d_row[r];
          if (dropout.active()) {
            const float* kept = p_kept.data() + r * nk;
            // P * mask / (1 - p) is P' where kept and 0 where dropped, so dP' * mask / (1 - p) * P = dP' * P'.
            for (int64_t j = 0; j < nk; ++j) ds[j] = (ds[j] * kept[j] - pr[j] * dr) * scale;
          } else {
            for (int64_t j = 0; j < nk; ++j) ds[j] = pr[j] * (ds[j] - dr) * scale;
          }
        }
        sgemm('N', 'N', kBlock, d, nk, dp.data(), nk, k.data() + kr.k0 * d, d, 0.0f, dq_block.data(), d);
        sgemm('T', 'N', nk, d, kBlock, dp.data(), nk, q_block, d, 1.0f, dk.data() + kr.k0 * d, d);
        for (int64_t i = i0; i < std::min(it.len, i0 + kBlock); ++i)
          std::memcpy(dqkv + (it.s0 + i) * stride + (int64_t)it.h * d, dq_block.data() + (i - i0) * d,
                      sizeof(float) * (size_t)d);
      }
      for (int64_t j = 0; j < it.len; ++j) {
        float* row = dqkv + (it.s0 + j) * stride + (int64_t)it.h * d;
        std::memcpy(row + hidden, dk.data() + j * d, sizeof(float) * (size_t)d);
        std::memcpy(row + 2 * hidden, dv.data() + j * d, sizeof(float) * (size_t)d);
      }
    }
  }
}

}  // namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS
