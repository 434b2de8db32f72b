// Attention over unpadded sequences on CPU, with no rows x rows buffer at any length.
//
// Work items are (sequence, head) pairs. Global layers gather K and V once into contiguous
// [len, head_dim] panels (the GEMMs pack them faster); local layers, which touch each key only a few
// times, read them in place from the packed qkv rows. Queries are processed in blocks of
// kGlobalQueryBlock / kLocalQueryBlock rows. A block visits the keys it may see (all keys on global
// layers; the band [i0 - w, i1 + w) on local layers) in chunks of at most kGlobalKeyChunk /
// kLocalKeyChunk keys, so the score tile stays in L2: S = Q K^T is one sgemm, each row gets a
// max-subtracted fp32 softmax carried across chunks (online rescaling), and O += P V is a second
// sgemm. Keys outside |i - j| <= w get exactly zero weight. Rows are divided by their sums at the end.
//
// Every call has a shape that depends only on the sequence itself (partial query blocks are
// zero-padded), and each runs single-threaded inside the item's thread, so a document's attention
// output never depends on its batch neighbours or on the thread count.
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

// Global layers: larger blocks amortise the GEMM packing over long key runs (~10% faster at 8,192
// tokens); local layers: smaller ones waste fewer keys outside the band.
constexpr int64_t kGlobalQueryBlock = 128, kGlobalKeyChunk = 1024;
constexpr int64_t kLocalQueryBlock = 64, kLocalKeyChunk = 512;

void sgemm_or_throw(char ta, char tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                    int64_t ldb, float beta, float* c, int64_t ldc) {
  if (dnnl_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc) != dnnl_success)
    throw Error("oneDNN sgemm failed in attention");
}

}  // namespace

void attention(const float* qkv, float* out, const int64_t* cu_seqlens, int64_t batch, int heads, int head_dim,
               int64_t window, float scale) {
  const int64_t hidden = (int64_t)heads * head_dim;
  const int64_t stride = 3 * hidden;
  const int64_t d = head_dim;
  const int64_t items = batch * heads;
  #pragma omp parallel
  {
    std::vector<float> k_panel, v_panel, q_block, scores, o_block, row_max, row_sum;
    #pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t b = item / heads;
      const int h = (int)(item % heads);
      const int64_t s0 = cu_seqlens[b];
      const int64_t len = cu_seqlens[b + 1] - s0;
      if (len <= 0) continue;
      const float* base = qkv + s0 * stride + (int64_t)h * d;
      const float* k_rows = base + hidden;
      const float* v_rows = base + 2 * hidden;
      int64_t kv_stride = stride;
      if (window < 0) {
        k_panel.resize((size_t)(len * d));
        v_panel.resize((size_t)(len * d));
        for (int64_t j = 0; j < len; ++j) {
          std::memcpy(k_panel.data() + j * d, k_rows + j * stride, sizeof(float) * (size_t)d);
          std::memcpy(v_panel.data() + j * d, v_rows + j * stride, sizeof(float) * (size_t)d);
        }
        k_rows = k_panel.data();
        v_rows = v_panel.data();
        kv_stride = d;
      }
      const int64_t query_block = window < 0 ? kGlobalQueryBlock : kLocalQueryBlock;
      const int64_t key_chunk = window < 0 ? kGlobalKeyChunk : kLocalKeyChunk;
      q_block.resize((size_t)(query_block * d));
      scores.resize((size_t)(query_block * key_chunk));
      o_block.resize((size_t)(query_block * d));
      row_max.resize((size_t)query_block);
      row_sum.resize((size_t)query_block);
      for (int64_t i0 = 0; i0 < len; i0 += query_block) {
        const int64_t i1 = std::min(len, i0 + query_block);
        const int64_t rows = i1 - i0;
        const int64_t k_begin = window < 0 ? 0 : std::max<int64_t>(0, i0 - window);
        const int64_t k_end = window < 0 ? len : std::min<int64_t>(len, i1 + window);
        std::fill(q_block.begin(), q_block.end(), 0.0f);
        for (int64_t i = i0; i < i1; ++i)
          std::memcpy(q_block.data() + (i - i0) * d, base + i * stride, sizeof(float) * (size_t)d);
        std::fill(o_block.begin(), o_block.end(), 0.0f);
        std::fill(row_max.begin(), row_max.end(), -INFINITY);
        std::fill(row_sum.begin(), row_sum.end(), 0.0f);
        for (int64_t k0 = k_begin; k0 < k_end; k0 += key_chunk) {
          const int64_t k1 = std::min(k_end, k0 + key_chunk);
          const int64_t nk = k1 - k0;
          // S = Q K^T for this chunk.
          sgemm_or_throw('N', 'T', query_block, nk, d, q_block.data(), d, k_rows + k0 * kv_stride, kv_stride, 0.0f,
                         scores.data(), nk);
          for (int64_t r = 0; r < query_block; ++r) {
            float* s = scores.data() + r * nk;
            const int64_t i = i0 + r;
            // Keys of this chunk the query may see, relative to k0 (none for padding rows).
            int64_t lo = 0, hi = 0;
            if (r < rows) {
              lo = window < 0 ? 0 : std::max<int64_t>(k0, i - window) - k0;
              hi = window < 0 ? nk : std::min<int64_t>(k1, i + window + 1) - k0;
              hi = std::max(hi, lo);
            }
            float* o = o_block.data() + r * d;
            if (hi == lo) {
              std::fill(s, s + nk, 0.0f);
              continue;
            }
            const float chunk_max = vec::scale_and_max(s + lo, hi - lo, scale);
            const float new_max = std::max(row_max[r], chunk_max);
            if (new_max > row_max[r] && row_sum[r] > 0.0f) {
              // Rescale what earlier chunks accumulated to the new maximum.
              const float alpha = std::exp(row_max[r] - new_max);
              row_sum[r] *= alpha;
              for (int64_t t = 0; t < d; ++t) o[t] *= alpha;
            }
            row_max[r] = new_max;
            row_sum[r] += vec::exp_shifted_sum(s + lo, s + lo, hi - lo, new_max);
            std::fill(s, s + lo, 0.0f);
            std::fill(s + hi, s + nk, 0.0f);
          }
          // O += P V.
          sgemm_or_throw('N', 'N', query_block, d, nk, scores.data(), nk, v_rows + k0 * kv_stride, kv_stride, 1.0f,
                         o_block.data(), d);
        }
        for (int64_t i = i0; i < i1; ++i) {
          const float inv = 1.0f / row_sum[i - i0];
          const float* o = o_block.data() + (i - i0) * d;
          float* dst = out + (s0 + i) * hidden + (int64_t)h * d;
          for (int64_t t = 0; t < d; ++t) dst[t] = o[t] * inv;
        }
      }
    }
  }
}

}  // namespace medenc::ops::cpu
