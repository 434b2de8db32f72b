// Attention over unpadded sequences on CPU, with no rows x rows buffer at any length.
//
// Work items are (sequence, head) pairs. For each, K and V are gathered once into contiguous
// [len, head_dim] panels; queries are processed in blocks of kBlock rows. A block's scores against
// the keys it may see (all keys on global layers; the band [i0 - w, i1 + w) on local layers) are one
// sgemm into a kBlock x keys scratch; each row then gets an exact max-subtracted softmax in fp32
// (keys outside |i - j| <= w are excluded), is normalised, and P.V is a second sgemm. Scratch is
// O(kBlock * len) per thread: 2 MB at 8,192 tokens.
//
// Every call has a shape that depends only on the sequence itself (partial query blocks are
// zero-padded to kBlock rows), and each runs single-threaded inside the item's thread, so a
// document's attention output never depends on its batch neighbours or on the thread count.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <oneapi/dnnl/dnnl.h>

#include "medenc/error.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/vec_math.h"

namespace medenc::ops::cpu {

namespace {

constexpr int64_t kBlock = 64;

void sgemm_or_throw(char ta, char tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                    int64_t ldb, float* c, int64_t ldc) {
  if (dnnl_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc) != dnnl_success)
    throw Error("oneDNN sgemm failed in attention");
}

}  // namespace

void attention(const float* qkv, float* out, const int64_t* cu_seqlens, int64_t batch, int heads, int head_dim,
               int64_t window, float scale) {
  const int64_t hidden = (int64_t)heads * head_dim;
  const int64_t stride = 3 * hidden;
  const int64_t d = head_dim;
  // Items in decreasing cost order would balance better, but a static order keeps runs reproducible
  // in time as well; dynamic scheduling takes care of uneven lengths.
  const int64_t items = batch * heads;
  #pragma omp parallel
  {
    std::vector<float> k_panel, v_panel, q_block, scores, o_block;
    #pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t b = item / heads;
      const int h = (int)(item % heads);
      const int64_t s0 = cu_seqlens[b];
      const int64_t len = cu_seqlens[b + 1] - s0;
      if (len <= 0) continue;
      const float* base = qkv + s0 * stride + (int64_t)h * d;
      k_panel.resize((size_t)(len * d));
      v_panel.resize((size_t)(len * d));
      for (int64_t j = 0; j < len; ++j) {
        std::memcpy(k_panel.data() + j * d, base + j * stride + hidden, sizeof(float) * (size_t)d);
        std::memcpy(v_panel.data() + j * d, base + j * stride + 2 * hidden, sizeof(float) * (size_t)d);
      }
      const int64_t max_keys = window < 0 ? len : std::min<int64_t>(len, kBlock + 2 * window);
      q_block.resize((size_t)(kBlock * d));
      scores.resize((size_t)(kBlock * max_keys));
      o_block.resize((size_t)(kBlock * d));
      for (int64_t i0 = 0; i0 < len; i0 += kBlock) {
        const int64_t i1 = std::min(len, i0 + kBlock);
        const int64_t k0 = window < 0 ? 0 : std::max<int64_t>(0, i0 - window);
        const int64_t k1 = window < 0 ? len : std::min<int64_t>(len, i1 - 1 + window + 1);
        const int64_t nk = k1 - k0;
        std::fill(q_block.begin(), q_block.end(), 0.0f);
        for (int64_t i = i0; i < i1; ++i)
          std::memcpy(q_block.data() + (i - i0) * d, base + i * stride, sizeof(float) * (size_t)d);
        // S = Q K^T over the block's key range.
        sgemm_or_throw('N', 'T', kBlock, nk, d, q_block.data(), d, k_panel.data() + k0 * d, d, scores.data(), nk);
        for (int64_t i = i0; i < i1; ++i) {
          float* s = scores.data() + (i - i0) * nk;
          // Keys this query may see, relative to k0.
          const int64_t lo = window < 0 ? 0 : std::max<int64_t>(k0, i - window) - k0;
          const int64_t hi = window < 0 ? nk : std::min<int64_t>(k1, i + window + 1) - k0;
          float m = -INFINITY;
          for (int64_t j = lo; j < hi; ++j) {
            s[j] *= scale;
            m = std::max(m, s[j]);
          }
          const float sum = vec::exp_shifted_sum(s + lo, s + lo, hi - lo, m);
          const float inv = 1.0f / sum;
          for (int64_t j = 0; j < lo; ++j) s[j] = 0.0f;
          for (int64_t j = lo; j < hi; ++j) s[j] *= inv;
          for (int64_t j = hi; j < nk; ++j) s[j] = 0.0f;
        }
        for (int64_t i = i1; i < i0 + kBlock; ++i) std::fill(scores.begin() + (i - i0) * nk, scores.begin() + (i - i0 + 1) * nk, 0.0f);
        // O = P V.
        sgemm_or_throw('N', 'N', kBlock, d, nk, scores.data(), nk, v_panel.data() + k0 * d, d, o_block.data(), d);
        for (int64_t i = i0; i < i1; ++i)
          std::memcpy(out + (s0 + i) * hidden + (int64_t)h * d, o_block.data() + (i - i0) * d, sizeof(float) * (size_t)d);
      }
    }
  }
}

}  // namespace medenc::ops::cpu
