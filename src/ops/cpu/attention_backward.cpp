// Attention for training on CPU: a forward that keeps each query's softmax statistics (max score and
// 1 / sum), and the backward that uses them. Work is split by (sequence, head); each item copies its
// keys and values into contiguous scratch (row-major and transposed) and walks its queries, each over
// its own key band. Scores and probabilities are recomputed with the forward's exact arithmetic, so
// memory stays O(len * head_dim) per thread.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/cpu/backward_kernels.h"

namespace medenc::ops::cpu {

namespace {

// Per-(sequence, head) view of the packed qkv buffer.
struct HeadSlice {
  int64_t s0 = 0, len = 0;
  int64_t stride = 0;  // floats between consecutive tokens in qkv
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
};

HeadSlice head_slice(const float* qkv, const int64_t* cu_seqlens, int64_t b, int h, int heads, int head_dim) {
  const int64_t hidden = (int64_t)heads * head_dim;
  HeadSlice s;
  s.s0 = cu_seqlens[b];
  s.len = cu_seqlens[b + 1] - s.s0;
  s.stride = 3 * hidden;
  s.q = qkv + s.s0 * s.stride + (int64_t)h * head_dim;
  s.k = s.q + hidden;
  s.v = s.q + 2 * hidden;
  return s;
}

// dst[t * len + j] = src[j * stride + t]
void transpose_rows(const float* src, int64_t stride, int64_t len, int head_dim, std::vector<float>& dst) {
  dst.resize((size_t)(head_dim * len));
  for (int64_t j = 0; j < len; ++j)
    for (int t = 0; t < head_dim; ++t) dst[(size_t)(t * len + j)] = src[j * stride + t];
}

struct Band {
  int64_t lo, n;
};
Band key_band(int64_t i, int64_t len, int64_t window) {
  const int64_t lo = window < 0 ? 0 : std::max<int64_t>(0, i - window);
  const int64_t hi = window < 0 ? len : std::min<int64_t>(len, i + window + 1);
  return {lo, hi - lo};
}

// s[j] = (q . k_{lo+j}) * scale over the band, summed over t in order exactly as ops::attention does.
void band_scores(const float* q, const float* kt, int64_t len, Band band, int head_dim, float scale, float* s) {
  std::fill(s, s + band.n, 0.0f);
  for (int t = 0; t < head_dim; ++t) {
    const float qt = q[t];
    const float* kr = kt + (size_t)t * len + band.lo;
    for (int64_t j = 0; j < band.n; ++j) s[j] += qt * kr[j];
  }
  for (int64_t j = 0; j < band.n; ++j) s[j] *= scale;
}

uint64_t dropout_stream_base(int64_t row, int h, int heads) { return ((uint64_t)(row * heads + h)) << 32; }

}  // namespace

void attention_forward_train(const float* qkv, float* out, float* stats, const int64_t* cu_seqlens, int64_t batch,
                             int heads, int head_dim, int64_t window, float scale, const Dropout& dropout) {
  const int64_t hidden = (int64_t)heads * head_dim;
  const uint64_t threshold = dropout_threshold(dropout.p);
  const float keep_scale = 1.0f / (1.0f - dropout.p);
  #pragma omp parallel
  {
    std::vector<float> kt, scores;
    #pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < batch * heads; ++item) {
      const int h = (int)(item % heads);
      const HeadSlice hs = head_slice(qkv, cu_seqlens, item / heads, h, heads, head_dim);
      if (hs.len <= 0) continue;
      transpose_rows(hs.k, hs.stride, hs.len, head_dim, kt);
      scores.resize((size_t)hs.len);
      for (int64_t i = 0; i < hs.len; ++i) {
        const Band band = key_band(i, hs.len, window);
        float* s = scores.data();
        band_scores(hs.q + i * hs.stride, kt.data(), hs.len, band, head_dim, scale, s);
        float m = -INFINITY;
        for (int64_t j = 0; j < band.n; ++j) m = std::max(m, s[j]);
        float sum = 0.0f;
        for (int64_t j = 0; j < band.n; ++j) {
          s[j] = std::exp(s[j] - m);
          sum += s[j];
        }
        const float inv = 1.0f / sum;
        const int64_t row = hs.s0 + i;
        stats[(row * heads + h) * 2] = m;
        stats[(row * heads + h) * 2 + 1] = inv;
        const uint64_t base = dropout_stream_base(row, h, heads);
        float* o = out + row * hidden + (int64_t)h * head_dim;
        std::fill(o, o + head_dim, 0.0f);
        for (int64_t j = 0; j < band.n; ++j) {
          float p = s[j] * inv;
          if (dropout.active())
            p = dropout_keep(dropout.seed, base + (uint64_t)(band.lo + j), threshold) ? p * keep_scale : 0.0f;
          const float* v = hs.v + (band.lo + j) * hs.stride;
          for (int t = 0; t < head_dim; ++t) o[t] += p * v[t];
        }
      }
    }
  }
}

// With P the probabilities, P' = P * dropout mask / (1 - p) and O = P' V:
//   dV += P'^T dO;  dP' = dO V^T;  dS = P * (dP' * mask / (1 - p) - rowsum(dO * O));
//   dQ = scale * dS K;  dK += scale * dS^T Q.
void attention_backward(const float* qkv, const float* out, const float* dout, const float* stats, float* dqkv,
                        const int64_t* cu_seqlens, int64_t batch, int heads, int head_dim, int64_t window,
                        float scale, const Dropout& dropout) {
  const int64_t hidden = (int64_t)heads * head_dim;
  const uint64_t threshold = dropout_threshold(dropout.p);
  const float keep_scale = 1.0f / (1.0f - dropout.p);
  #pragma omp parallel
  {
    std::vector<float> kt, vt, kc, dk, dv, prob, dprob;
    #pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < batch * heads; ++item) {
      const int h = (int)(item % heads);
      const HeadSlice hs = head_slice(qkv, cu_seqlens, item / heads, h, heads, head_dim);
      const int64_t len = hs.len;
      if (len <= 0) continue;
      transpose_rows(hs.k, hs.stride, len, head_dim, kt);
      transpose_rows(hs.v, hs.stride, len, head_dim, vt);
      kc.resize((size_t)(len * head_dim));
      for (int64_t j = 0; j < len; ++j)
        std::copy(hs.k + j * hs.stride, hs.k + j * hs.stride + head_dim, kc.begin() + j * head_dim);
      dk.assign((size_t)(len * head_dim), 0.0f);
      dv.assign((size_t)(len * head_dim), 0.0f);
      prob.resize((size_t)len);
      dprob.resize((size_t)len);
      for (int64_t i = 0; i < len; ++i) {
        const Band band = key_band(i, len, window);
        const int64_t row = hs.s0 + i;
        const float* q = hs.q + i * hs.stride;
        const float* go = dout + row * hidden + (int64_t)h * head_dim;
        const float* o = out + row * hidden + (int64_t)h * head_dim;
        float* p = prob.data();
        float* dp = dprob.data();
        band_scores(q, kt.data(), len, band, head_dim, scale, p);
        const float m = stats[(row * heads + h) * 2], inv = stats[(row * heads + h) * 2 + 1];
        for (int64_t j = 0; j < band.n; ++j) p[j] = std::exp(p[j] - m) * inv;
        // dp[j] = dO . v_j
        std::fill(dp, dp + band.n, 0.0f);
        for (int t = 0; t < head_dim; ++t) {
          const float g = go[t];
          const float* vr = vt.data() + (size_t)t * len + band.lo;
          for (int64_t j = 0; j < band.n; ++j) dp[j] += g * vr[j];
        }
        float d_row = 0.0f;  // rowsum(dO * O)
        for (int t = 0; t < head_dim; ++t) d_row += go[t] * o[t];
        float* dq = dqkv + row * 3 * hidden + (int64_t)h * head_dim;
        std::fill(dq, dq + head_dim, 0.0f);
        const uint64_t base = dropout_stream_base(row, h, heads);
        for (int64_t j = 0; j < band.n; ++j) {
          float mask = 1.0f;
          if (dropout.active())
            mask = dropout_keep(dropout.seed, base + (uint64_t)(band.lo + j), threshold) ? keep_scale : 0.0f;
          const float pj = p[j];
          const float ds = pj * (dp[j] * mask - d_row) * scale;
          const float pv = pj * mask;
          const float* kj = kc.data() + (band.lo + j) * head_dim;
          float* dkj = dk.data() + (band.lo + j) * head_dim;
          float* dvj = dv.data() + (band.lo + j) * head_dim;
          for (int t = 0; t < head_dim; ++t) {
            dq[t] += ds * kj[t];
            dkj[t] += ds * q[t];
            dvj[t] += pv * go[t];
          }
        }
      }
      for (int64_t j = 0; j < len; ++j) {
        float* row = dqkv + (hs.s0 + j) * 3 * hidden + (int64_t)h * head_dim;
        std::copy(dk.begin() + j * head_dim, dk.begin() + (j + 1) * head_dim, row + hidden);
        std::copy(dv.begin() + j * head_dim, dv.begin() + (j + 1) * head_dim, row + 2 * hidden);
      }
    }
  }
}

}  // namespace medenc::ops::cpu
