// Fused bf16 attention for head size 64 on AVX-512-BF16 (flash-attention style; the layouts and the
// contract are in attention_bf16.h).
//
// A query block is cut into strips of up to kStripRows rows. For each chunk of keys, a strip's
// scores S = Q K^T come out of vdpbf16ps dot products held in registers (6 rows x 64 keys: 24
// accumulators) into a small fp32 buffer that stays in L1; each row then gets its online softmax in
// fp32 (the maximum of its visible keys, kept by the score tiles as they are stored, the rescaling
// of what earlier chunks accumulated, exp2 of score * scale * log2(e) - max and the row sum) and
// writes its probabilities as bf16; and O += P V
// runs on the same strip with the output rows held in registers. Nothing larger than a strip of
// scores is ever written, and the K and V chunks are read from L1/L2 by every strip of the block.
//
// Numbers: Q, K, V and P enter both products as bf16 with fp32 accumulation (vdpbf16ps adds the two
// products of a pair one after the other in fp32), the scale, the maximum, exp and the sums are fp32;
// the same budget as attention.cpp's oneDNN bf16 path, whose summation order differs. The exp2 is
// vec::exp2_16_bf16 (relative error 7.5e-5, far below the 2^-9 rounding of P to bf16). Every row's
// arithmetic depends only on its sequence and head, in a fixed order: results do not depend on the
// thread count or on the batch.
#include <atomic>

#include "ops/cpu/attention_bf16.h"
#include "ops/cpu/vec_math.h"  // includes isa.h, after which nothing but kernels follows

#if defined(MEDENC_AVX512)
#pragma GCC target("avx2,fma,f16c,bmi,bmi2,lzcnt,movbe,popcnt,avx512f,avx512bw,avx512dq,avx512vl,avx512cd,avx512bf16")
#endif

#ifdef MEDENC_CPU_ISA_SHARED
namespace medenc::ops::cpu {
namespace {
std::atomic<bool> g_unfused{false};
std::atomic<int64_t> g_fused_calls{0};
}  // namespace
void force_unfused_bf16_attention(bool on) { g_unfused.store(on, std::memory_order_relaxed); }
bool unfused_bf16_attention_forced() { return g_unfused.load(std::memory_order_relaxed); }
int64_t fused_bf16_attention_calls() { return g_fused_calls.load(std::memory_order_relaxed); }
void count_fused_bf16_attention_call() { g_fused_calls.fetch_add(1, std::memory_order_relaxed); }
}  // namespace medenc::ops::cpu
#endif

namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS {

#if defined(MEDENC_AVX512)

namespace {

constexpr int kStripRows = 6;        // 6 rows x 4 vectors: 24 of the 32 registers accumulate
constexpr int64_t kKeyChunk = 256;   // keys per chunk: K and V chunks of 32 KB each (L1/L2); fewer per-chunk
                                     // row costs (maximum, rescaling) than 128 keys: 2-10% faster
constexpr int64_t kD = kFusedHeadDim;

inline __m512bh pair_broadcast(const uint16_t* p) {
  int32_t word;
  std::memcpy(&word, p, 4);
  return (__m512bh)_mm512_set1_epi32(word);
}

// s[r][0, 16 NG) = q_r . k_j for the keys of NG K groups, rows r < MR (q rows 64 apart); each row's
// 16 lanes of mx (16 floats per row) take the largest of its scores in those lanes, which saves the
// softmax a pass over the scores for rows that see every key of the chunk.
template <int MR, int NG>
__attribute__((always_inline)) inline void scores_tile(const uint16_t* q, const uint16_t* k, float* s, int64_t lds, float* mx) {
  __m512 acc[MR][NG];
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
    #pragma GCC unroll 4
    for (int g = 0; g < NG; ++g) acc[r][g] = _mm512_setzero_ps();
  #pragma GCC unroll 2
  for (int tp = 0; tp < (int)kD / 2; ++tp) {
    __m512bh kv[4];
    #pragma GCC unroll 4
    for (int g = 0; g < NG; ++g) kv[g] = (__m512bh)_mm512_loadu_si512(k + g * 16 * kD + tp * 32);
    #pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512bh qb = pair_broadcast(q + r * kD + 2 * tp);
      #pragma GCC unroll 4
      for (int g = 0; g < NG; ++g) acc[r][g] = _mm512_dpbf16_ps(acc[r][g], qb, kv[g]);
    }
  }
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    __m512 m = _mm512_loadu_ps(mx + r * 16);
    #pragma GCC unroll 4
    for (int g = 0; g < NG; ++g) {
      _mm512_storeu_ps(s + r * lds + g * 16, acc[r][g]);
      m = vec::max16(m, acc[r][g]);
    }
    _mm512_storeu_ps(mx + r * 16, m);
  }
}

// o_r = alpha_r o_r + sum_j p_r[j] v_j over nk keys (nk even), rows r < MR.
template <int MR>
__attribute__((always_inline)) inline void output_tile(const uint16_t* p, int64_t ldp, const uint16_t* v, int64_t nk, float* o, const float* alpha) {
  __m512 acc[MR][4];
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    const __m512 a = _mm512_set1_ps(alpha[r]);
    #pragma GCC unroll 4
    for (int g = 0; g < 4; ++g) acc[r][g] = _mm512_mul_ps(_mm512_loadu_ps(o + r * kD + g * 16), a);
  }
  #pragma GCC unroll 2
  for (int64_t kp = 0; kp < nk / 2; ++kp) {
    __m512bh vv[4];
    #pragma GCC unroll 4
    for (int g = 0; g < 4; ++g) vv[g] = (__m512bh)_mm512_loadu_si512(v + kp * 2 * kD + g * 32);
    #pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512bh pb = pair_broadcast(p + r * ldp + 2 * kp);
      #pragma GCC unroll 4
      for (int g = 0; g < 4; ++g) acc[r][g] = _mm512_dpbf16_ps(acc[r][g], pb, vv[g]);
    }
  }
  #pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
    #pragma GCC unroll 4
    for (int g = 0; g < 4; ++g) _mm512_storeu_ps(o + r * kD + g * 16, acc[r][g]);
}

// The largest of 16 lanes, by a tree of shuffles (full-mask forms: GCC 12 warns inside the unmasked
// and the reduce intrinsics).
inline float lane_max(__m512 x) {
  x = vec::max16(x, _mm512_mask_shuffle_f32x4(x, 0xffff, x, x, 0x4e));  // 256-bit halves swapped
  x = vec::max16(x, _mm512_mask_shuffle_f32x4(x, 0xffff, x, x, 0xb1));  // 128-bit quarters swapped
  x = vec::max16(x, _mm512_mask_permute_ps(x, 0xffff, x, 0x4e));        // 64-bit pairs swapped
  x = vec::max16(x, _mm512_mask_permute_ps(x, 0xffff, x, 0xb1));        // neighbours swapped
  return _mm512_cvtss_f32(x);
}

// The sum of 16 lanes, in a fixed order (through memory, as vec_math's sums).
inline float lane_sum(__m512 x) {
  alignas(64) float v[16];
  _mm512_store_ps(v, x);
  float s = 0.0f;
  for (int i = 0; i < 16; ++i) s += v[i];
  return s;
}

// Lanes [lo, hi) of a 16-lane chunk (lo, hi relative to its first lane).
inline __mmask16 lanes(int64_t lo, int64_t hi) {
  lo = std::clamp<int64_t>(lo, 0, 16);
  hi = std::clamp<int64_t>(hi, 0, 16);
  if (hi <= lo) return 0;
  return (__mmask16)(((1u << (hi - lo)) - 1u) << lo);
}

// 16 zero probabilities at each 16-key group of [begin, end).
inline void zero_groups(uint16_t* p, int64_t begin, int64_t end) {
  for (int64_t j = begin; j < end; j += 16) _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + j), _mm256_setzero_si256());
}

// One row's online softmax over a chunk of nk raw scores (nk a multiple of 32), keys [lo, hi)
// visible: updates the running maximum m (log2 units) and the 16 lanes of the running sum l, returns
// the factor by which the row's earlier output must be scaled, and writes the bf16 probabilities of
// (at least) the keys [zs, ze) that P V reads (16-key groups holding [lo, hi)), zero outside [lo, hi).
// tile_max: the row's 16 lane maxima from scores_tile, used when the row sees the whole chunk.
// (Inlined into the strip: as a call its fixed costs were a visible part of a 128-key chunk's.)
__attribute__((always_inline)) inline float softmax_chunk(const float* s, uint16_t* p, int64_t nk, int64_t lo,
                                                          int64_t hi, int64_t zs, int64_t ze, float c, float& m,
                                                          float* l, const float* tile_max) {
  if (hi <= lo) {
    zero_groups(p, zs, ze);
    return 1.0f;
  }
  const bool all = lo == 0 && hi == nk;  // global rows: every chunk but a sequence's last
  __m512 mx = _mm512_set1_ps(-INFINITY);
  if (all) {
    mx = _mm512_loadu_ps(tile_max);
  } else {
    for (int64_t j = lo / 16 * 16; j < hi; j += 16)
      mx = _mm512_mask_max_ps(mx, lanes(lo - j, hi - j), mx, _mm512_loadu_ps(s + j));
  }
  // c > 0: the largest scaled score is the largest score scaled (rounding is monotonic).
  const float m_new = std::max(m, lane_max(mx) * c);
  const float alpha = m_new == m ? 1.0f : m == -INFINITY ? 0.0f : std::exp2(m - m_new);
  m = m_new;
  const __m512 vc = _mm512_set1_ps(c), vm = _mm512_set1_ps(m_new);
  __m512 sum = _mm512_mul_ps(_mm512_loadu_ps(l), _mm512_set1_ps(alpha));
  if (all) {
    for (int64_t j = 0; j < nk; j += 32) {
      const __m512 e0 = vec::exp2_16_bf16(_mm512_fmsub_ps(_mm512_loadu_ps(s + j), vc, vm));
      const __m512 e1 = vec::exp2_16_bf16(_mm512_fmsub_ps(_mm512_loadu_ps(s + j + 16), vc, vm));
      sum = _mm512_add_ps(sum, _mm512_add_ps(e0, e1));
      _mm512_storeu_si512(p + j, (__m512i)_mm512_cvtne2ps_pbh(e1, e0));
    }
  } else {
    const int64_t pair_first = lo / 32 * 32, pair_last = (hi + 31) / 32 * 32;
    zero_groups(p, zs, pair_first);
    // A group no visible key falls in is zero without its exponentials (and what it adds is +0:
    // the sum's bits are those of the full pair).
    for (int64_t j = pair_first; j < pair_last; j += 32) {
      const __mmask16 m0 = lanes(lo - j, hi - j), m1 = lanes(lo - j - 16, hi - j - 16);
      const __m512 e0 = m0 ? _mm512_maskz_mov_ps(m0, vec::exp2_16_bf16(_mm512_fmsub_ps(_mm512_loadu_ps(s + j), vc, vm)))
                           : _mm512_setzero_ps();
      const __m512 e1 = m1 ? _mm512_maskz_mov_ps(m1, vec::exp2_16_bf16(_mm512_fmsub_ps(_mm512_loadu_ps(s + j + 16), vc, vm)))
                           : _mm512_setzero_ps();
      sum = _mm512_add_ps(sum, _mm512_add_ps(e0, e1));
      _mm512_storeu_si512(p + j, (__m512i)_mm512_cvtne2ps_pbh(e1, e0));
    }
    zero_groups(p, pair_last, ze);
  }
  _mm512_storeu_ps(l, sum);
  return alpha;
}

// 16 x 16 32-bit words transposed in registers: x[i] word j becomes x[j] word i. (Full-mask forms
// of the shuffles, as below.)
inline __m512i unpacklo32(__m512i a, __m512i b) { return _mm512_mask_unpacklo_epi32(a, 0xffff, a, b); }
inline __m512i unpackhi32(__m512i a, __m512i b) { return _mm512_mask_unpackhi_epi32(a, 0xffff, a, b); }
inline __m512i unpacklo64(__m512i a, __m512i b) { return _mm512_mask_unpacklo_epi64(a, 0xff, a, b); }
inline __m512i unpackhi64(__m512i a, __m512i b) { return _mm512_mask_unpackhi_epi64(a, 0xff, a, b); }
template <int kImm>
inline __m512i lanes128(__m512i a, __m512i b) { return _mm512_mask_shuffle_i32x4(a, 0xffff, a, b, kImm); }

inline void transpose16x16(__m512i x[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {  // word pairs of row pairs
    t[i] = unpacklo32(x[i], x[i + 1]);
    t[i + 1] = unpackhi32(x[i], x[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // 4 x 4 blocks inside each 128-bit lane
    x[i] = unpacklo64(t[i], t[i + 2]);
    x[i + 1] = unpackhi64(t[i], t[i + 2]);
    x[i + 2] = unpacklo64(t[i + 1], t[i + 3]);
    x[i + 3] = unpackhi64(t[i + 1], t[i + 3]);
  }
  for (int i = 0; i < 4; ++i) {  // then the 128-bit lanes: 4 x 4 of them
    t[i] = lanes128<0x88>(x[i], x[i + 4]);
    t[i + 4] = lanes128<0xdd>(x[i], x[i + 4]);
    t[i + 8] = lanes128<0x88>(x[i + 8], x[i + 12]);
    t[i + 12] = lanes128<0xdd>(x[i + 8], x[i + 12]);
  }
  for (int i = 0; i < 8; ++i) {
    x[i] = lanes128<0x88>(t[i], t[i + 8]);
    x[i + 8] = lanes128<0xdd>(t[i], t[i + 8]);
  }
}

// K and V panels (rows x 64, row-major) into the layouts of attention_bf16.h.
void pack_k(const uint16_t* k, int64_t rows, uint16_t* out) {
  // Value pair tp of a row is one 32-bit word: a 16-key group is its 16 rows' [32 words] transposed.
  for (int64_t r0 = 0; r0 < rows; r0 += 16) {
    __m512i lo[16], hi[16];  // words 0-15 and 16-31 of each row
    for (int r = 0; r < 16; ++r) {
      lo[r] = _mm512_loadu_si512(k + (r0 + r) * kD);
      hi[r] = _mm512_loadu_si512(k + (r0 + r) * kD + 32);
    }
    transpose16x16(lo);
    transpose16x16(hi);
    uint16_t* group = out + r0 * kD;
    for (int tp = 0; tp < 16; ++tp) {
      _mm512_storeu_si512(group + tp * 32, lo[tp]);
      _mm512_storeu_si512(group + (tp + 16) * 32, hi[tp]);
    }
  }
}

// 16 bf16 values widened to 32-bit lanes (zero-masked forms here and below: GCC 12 warns inside the
// unmasked ones).
inline __m512i widened(const uint16_t* x) {
  return _mm512_maskz_cvtepu16_epi32(0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
}

void pack_v(const uint16_t* v, int64_t rows, uint16_t* out) {
  // Two rows' values interleaved: 16 of each widened, the odd row's moved to the high halves.
  for (int64_t r = 0; r < rows; r += 2)
    for (int g = 0; g < 4; ++g) {
      const __m512i even = widened(v + r * kD + g * 16), odd = widened(v + (r + 1) * kD + g * 16);
      _mm512_storeu_si512(out + r * kD + g * 32, _mm512_or_si512(even, _mm512_maskz_slli_epi32(0xffff, odd, 16)));
    }
}

// One strip of MR rows against a chunk of nk keys (a multiple of 64), row r seeing [lo[r], hi[r]).
template <int MR>
void strip(const uint16_t* q, const uint16_t* k, const uint16_t* v, int64_t nk, FusedScratch& s, float* o,
           const int64_t* lo, const int64_t* hi, float c, float* m, float* l) {
  // Only the keys some row of the strip sees (a band is 2w + 6 keys of the 2w + 64 of its block; a
  // sequence's last chunk ends at its length), widened to whole 16-key groups: [ks, ke).
  int64_t ks = nk, ke = 0;
  for (int r = 0; r < MR; ++r)
    if (hi[r] > lo[r]) {
      ks = std::min(ks, lo[r]);
      ke = std::max(ke, hi[r]);
    }
  if (ke <= ks) return;  // no row sees a key of this chunk: nothing changes
  ks = ks / 16 * 16;
  ke = std::min(nk, (ke + 15) / 16 * 16);
  // The softmax adds a row's exponentials up in pairs of 16-key groups, and the pairing shows in the
  // bits of its sum: pairs counted from `base`, over [base, pair_end) (ks, or 16 keys before it, to
  // an even number of groups), as when the scores spanned whole pairs. Keys outside [ks, ke) get
  // zero weight in every row, so the products skip them.
  int64_t base = ks, pair_end = ke;
  if ((ke - ks) % 32 != 0) {
    if (ke + 16 <= nk) pair_end += 16;
    else base -= 16;
  }
  const int64_t n = ke - ks, skip = ks - base;  // scores and probabilities are indexed from base
  alignas(64) float tile_max[MR * 16];
  for (int i = 0; i < MR * 16; ++i) tile_max[i] = -INFINITY;
  int64_t j = 0;
  for (; j + 64 <= n; j += 64)
    scores_tile<MR, 4>(q, k + (ks + j) * kD, s.scores.data() + skip + j, kKeyChunk, tile_max);
  if (j + 32 <= n) {
    scores_tile<MR, 2>(q, k + (ks + j) * kD, s.scores.data() + skip + j, kKeyChunk, tile_max);
    j += 32;
  }
  if (j < n) scores_tile<MR, 1>(q, k + (ks + j) * kD, s.scores.data() + skip + j, kKeyChunk, tile_max);
  for (int r = 0; r < MR; ++r)
    s.alpha[r] = softmax_chunk(s.scores.data() + r * kKeyChunk, s.probs.data() + r * kKeyChunk, pair_end - base,
                               lo[r] - base, hi[r] - base, skip, skip + n, c, m[r], l + r * 16, tile_max + r * 16);
  output_tile<MR>(s.probs.data() + skip, kKeyChunk, v + ks * kD, n, o, s.alpha.data());
}

}  // namespace

bool fused_bf16_attention_available() {
  static const bool cpu_has_it = __builtin_cpu_supports("avx512bf16") != 0;
  return cpu_has_it && !unfused_bf16_attention_forced();
}

void pack_kv_bf16_d64(const uint16_t* k_rows, const uint16_t* v_rows, int64_t rows, uint16_t* k_out, uint16_t* v_out) {
  pack_k(k_rows, rows, k_out);
  pack_v(v_rows, rows, v_out);
}

void put_k_row_bf16_d64(const uint16_t* values, int64_t row, uint16_t* k_panel) {
  // Value pair tp of the row: word (row % 16) of the group's tp-th 16-word vector.
  uint16_t* group = k_panel + row / 16 * 16 * kD + row % 16 * 2;
  for (int tp = 0; tp < (int)kD / 2; ++tp) std::memcpy(group + tp * 32, values + 2 * tp, 4);
}

void put_v_row_bf16_d64(const uint16_t* values, int64_t row, uint16_t* v_panel) {
  // Value j of the row: the low (even row) or high (odd row) half of word j of its key pair.
  uint16_t* pair = v_panel + row / 2 * 2 * kD;
  const __mmask32 halves = row % 2 ? 0xaaaaaaaau : 0x55555555u;
  for (int g = 0; g < 4; ++g) {
    __m512i x = widened(values + g * 16);
    if (row % 2) x = _mm512_maskz_slli_epi32(0xffff, x, 16);
    _mm512_mask_storeu_epi16(pair + g * 32, halves, x);
  }
}

void attend_bf16_d64(const uint16_t* q, const uint16_t* k, const uint16_t* v, float* out, int64_t out_stride, int64_t len,
                     int64_t query_begin, int64_t query_end, int64_t window, int64_t front, bool band,
                     int64_t query_block, int64_t keys_per_block, float scale, FusedScratch& s) {
  const bool local = window >= 0;
  const int64_t w = local ? window : 0;
  const float c = scale * 1.44269504088896341f;  // scores to log2 units
  s.scores.resize((size_t)(kStripRows * kKeyChunk));
  s.probs.resize((size_t)(kStripRows * kKeyChunk));
  s.o_block.resize((size_t)(query_block * kD));
  s.row_max.resize((size_t)query_block);
  s.row_sum.resize((size_t)(query_block * 16));  // 16 lanes per row, added up at the end
  s.alpha.resize((size_t)kStripRows);
  int64_t lo[kStripRows], hi[kStripRows];
  for (int64_t i0 = query_begin; i0 < query_end; i0 += query_block) {
    const int64_t rows = std::min(query_end, i0 + query_block) - i0;
    std::fill(s.o_block.begin(), s.o_block.begin() + rows * kD, 0.0f);
    std::fill(s.row_max.begin(), s.row_max.end(), -INFINITY);
    std::fill(s.row_sum.begin(), s.row_sum.end(), 0.0f);
    const int64_t p_begin = band ? i0 : 0;
    for (int64_t c0 = 0; c0 < keys_per_block; c0 += kKeyChunk) {
      const int64_t nk = std::min(keys_per_block - c0, kKeyChunk);
      const int64_t k0 = p_begin + c0;  // first panel row of the chunk: a multiple of 64
      for (int64_t r0 = 0; r0 < rows; r0 += kStripRows) {
        const int mr = (int)std::min<int64_t>(kStripRows, rows - r0);
        for (int r = 0; r < mr; ++r) {
          const int64_t i = i0 + r0 + r;
          const int64_t first_key = local ? std::max<int64_t>(0, i - w) : 0;
          const int64_t end_key = local ? std::min<int64_t>(len, i + w + 1) : len;
          lo[r] = std::clamp<int64_t>(first_key + front - k0, 0, nk);
          hi[r] = std::clamp<int64_t>(end_key + front - k0, 0, nk);
        }
        const uint16_t* qs = q + (front + i0 + r0) * kD;
        const uint16_t* kc = k + k0 * kD;  // group-aligned: k0 % 16 == 0
        const uint16_t* vc = v + k0 * kD;  // pair-aligned
        float* o = s.o_block.data() + r0 * kD;
        float* m = s.row_max.data() + r0;
        float* l = s.row_sum.data() + r0 * 16;
        switch (mr) {
          case 6: strip<6>(qs, kc, vc, nk, s, o, lo, hi, c, m, l); break;
          case 5: strip<5>(qs, kc, vc, nk, s, o, lo, hi, c, m, l); break;
          case 4: strip<4>(qs, kc, vc, nk, s, o, lo, hi, c, m, l); break;
          case 3: strip<3>(qs, kc, vc, nk, s, o, lo, hi, c, m, l); break;
          case 2: strip<2>(qs, kc, vc, nk, s, o, lo, hi, c, m, l); break;
          default: strip<1>(qs, kc, vc, nk, s, o, lo, hi, c, m, l); break;
        }
      }
    }
    for (int64_t r = 0; r < rows; ++r) {
      const __m512 inv = _mm512_set1_ps(1.0f / lane_sum(_mm512_loadu_ps(s.row_sum.data() + r * 16)));
      const float* o = s.o_block.data() + r * kD;
      float* dst = out + (i0 + r) * out_stride;
      for (int g = 0; g < 4; ++g) _mm512_storeu_ps(dst + g * 16, _mm512_mul_ps(_mm512_loadu_ps(o + g * 16), inv));
    }
  }
}

#else  // levels without AVX-512: never called

bool fused_bf16_attention_available() { return false; }

void pack_kv_bf16_d64(const uint16_t*, const uint16_t*, int64_t, uint16_t*, uint16_t*) {}
void put_k_row_bf16_d64(const uint16_t*, int64_t, uint16_t*) {}
void put_v_row_bf16_d64(const uint16_t*, int64_t, uint16_t*) {}

void attend_bf16_d64(const uint16_t*, const uint16_t*, const uint16_t*, float*, int64_t, int64_t, int64_t, int64_t,
                     int64_t, int64_t, bool, int64_t, int64_t, float, FusedScratch&) {}

#endif

}  // namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS
