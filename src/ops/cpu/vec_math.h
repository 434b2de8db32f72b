#pragma once
// 8-wide AVX2 versions of exp, erf and tanh for the hot elementwise kernels (16-wide AVX-512 2^x and
// max for the softmax loops), with scalar fallbacks that compute the same formulas. Accuracy: exp
// within ~1 ulp (Cody-Waite reduction + degree-6 polynomial), erf within 1e-7 absolute (rational
// minimax on [-4, 4]), which keeps every model output far inside the 5e-5 parity budget with
// Hugging Face.
// Compiled once per ISA level (isa.h sets MEDENC_AVX2 / MEDENC_AVX512), in that level's namespace.
#include "util/bf16.h"  // before isa.h: library headers stay baseline code
#include "ops/cpu/isa.h"

namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS::vec {

// ---- scalar reference formulas (also used for loop tails) ----

inline float exp_scalar(float x) { return std::exp(x); }

inline float erf_scalar(float x) {
  x = std::fmin(4.0f, std::fmax(-4.0f, x));
  const float x2 = x * x;
  float p = -2.72614225801306e-10f;
  p = std::fma(p, x2, 2.77068142495902e-08f);
  p = std::fma(p, x2, -2.10102402082508e-06f);
  p = std::fma(p, x2, -5.69250639462346e-05f);
  p = std::fma(p, x2, -7.34990630326855e-04f);
  p = std::fma(p, x2, -2.95459980854025e-03f);
  p = std::fma(p, x2, -1.60960333262415e-02f);
  float q = -1.45660718464996e-05f;
  q = std::fma(q, x2, -2.13374055278905e-04f);
  q = std::fma(q, x2, -1.68282697438203e-03f);
  q = std::fma(q, x2, -7.37332916720468e-03f);
  q = std::fma(q, x2, -1.42647390514189e-02f);
  return x * p / q;
}

#ifdef MEDENC_AVX2

inline __m256 exp8(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-103.972084045410f);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  // n = round(x / ln2); r = x - n ln2 (two-step for accuracy)
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500E-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // 2^n in two halves so that n down to -150 (subnormal results) stays exact.
  __m256i ni = _mm256_cvtps_epi32(n);
  __m256i n1 = _mm256_srai_epi32(ni, 1);
  __m256i n2 = _mm256_sub_epi32(ni, n1);
  __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
  __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

#ifdef MEDENC_AVX512
// GCC 12 flags the undefined pass-through operand inside its own unmasked AVX-512 intrinsics
// (-Wmaybe-uninitialized at every inlining site); this full-mask form computes the same thing.
inline __m512 max16(__m512 a, __m512 b) { return _mm512_mask_max_ps(a, 0xffff, a, b); }

// 2^t on 16 lanes: n = round(t), 2^(t - n) by a degree-6 polynomial (Chebyshev fit on [-1/2, 1/2],
// relative error 2e-8 before fp32 rounding), scaled by 2^n in one rounding by scalef (subnormal
// results included; t is clamped at -150, below which 2^t rounds to zero). Fewer operations than
// exp8's Cody-Waite reduction: the softmax runs it on every score, on the FMA ports the GEMMs need.
inline __m512 exp2_16(__m512 t) {
  t = max16(t, _mm512_set1_ps(-150.0f));
  const __m512 n = _mm512_mask_roundscale_ps(t, 0xffff, t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(t, n);
  __m512 p = _mm512_set1_ps(1.5461444854736328e-4f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3400427997112274e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618056938052177e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550327152013779e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022650718688965e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931471824645996e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_mask_scalef_ps(p, 0xffff, p, n);
}

// 2^t on 16 lanes to a relative error of 7.5e-5, for values that are rounded to bf16 next (a bf16
// ulp is 2^-8): the fused attention's probabilities. n = round(t) by adding and subtracting 1.5 * 2^23
// (two adds, off the FMA ports), 2^(t - n) by a degree-3 polynomial (minimax for relative error on
// [-1/2, 1/2]), scaled by scalef. Three FMAs where exp2_16 takes six, a clamp and a roundscale. t
// must not be -inf or NaN (its lanes come out NaN); very negative t gives 0.
inline __m512 exp2_16_bf16(__m512 t) {
  const __m512 shifter = _mm512_set1_ps(12582912.0f);
  const __m512 n = _mm512_sub_ps(_mm512_add_ps(t, shifter), shifter);
  const __m512 f = _mm512_sub_ps(t, n);
  __m512 p = _mm512_set1_ps(5.517134442925453e-2f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4261033535003662e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.932609677314758e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.999281167984009e-1f));
  return _mm512_mask_scalef_ps(p, 0xffff, p, n);
}
#endif

inline __m256 erf8(__m256 x) {
  x = _mm256_min_ps(_mm256_set1_ps(4.0f), _mm256_max_ps(_mm256_set1_ps(-4.0f), x));
  const __m256 x2 = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-2.72614225801306e-10f);
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(2.77068142495902e-08f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-2.10102402082508e-06f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-5.69250639462346e-05f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-7.34990630326855e-04f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-2.95459980854025e-03f));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-1.60960333262415e-02f));
  __m256 q = _mm256_set1_ps(-1.45660718464996e-05f);
  q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-2.13374055278905e-04f));
  q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-1.68282697438203e-03f));
  q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-7.37332916720468e-03f));
  q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(-1.42647390514189e-02f));
  return _mm256_div_ps(_mm256_mul_ps(x, p), q);
}

#endif

// out[i] = exp(x[i] - shift) for n elements; returns their sum (accumulated in a fixed lane order,
// so the result does not depend on anything but the row).
inline float exp_shifted_sum(const float* x, float* out, int64_t n, float shift) {
  int64_t i = 0;
  float sum = 0.0f;
#if defined(MEDENC_AVX512)
  __m512 acc = _mm512_setzero_ps();
  const __m512 s = _mm512_set1_ps(shift), log2e = _mm512_set1_ps(1.44269504088896341f);
  for (; i + 16 <= n; i += 16) {
    // x - shift first (exact for the scores near the shift, which dominate the sum), then to base 2.
    const __m512 e = exp2_16(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), s), log2e));
    _mm512_storeu_ps(out + i, e);
    acc = _mm512_add_ps(acc, e);
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, acc);
  for (int l = 0; l < 16; ++l) sum += lanes[l];
#elif defined(MEDENC_AVX2)
  __m256 acc = _mm256_setzero_ps();
  const __m256 s = _mm256_set1_ps(shift);
  for (; i + 8 <= n; i += 8) {
    __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
    _mm256_storeu_ps(out + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  for (int l = 0; l < 8; ++l) sum += lanes[l];
#endif
  for (; i < n; ++i) {
    out[i] = exp_scalar(x[i] - shift);
    sum += out[i];
  }
  return sum;
}

// exp_shifted_sum with the exps stored as bf16 (bf16::bits of each fp32 exp) for a bf16 product;
// the sum is of the fp32 exps, in the same order. x is scratch: it may be overwritten.
inline float exp_shifted_sum_bf16(float* x, uint16_t* out, int64_t n, float shift) {
  int64_t i = 0;
  float sum = 0.0f;
#if defined(MEDENC_AVX512)
  // One pass instead of exp_shifted_sum's store and a second pass to convert.
  __m512 acc = _mm512_setzero_ps();
  const __m512 s = _mm512_set1_ps(shift), log2e = _mm512_set1_ps(1.44269504088896341f);
  const __m512i round_bias = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
  for (; i + 16 <= n; i += 16) {
    const __m512 e = exp2_16(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), s), log2e));
    acc = _mm512_add_ps(acc, e);
    // bf16::bits: round to nearest even (the exps are finite and >= 0: no NaN case).
    const __m512i b = _mm512_castps_si512(e);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), one);
    const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, round_bias), lsb), 16);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm512_cvtepi32_epi16(r));
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, acc);
  for (int l = 0; l < 16; ++l) sum += lanes[l];
  for (; i < n; ++i) {  // the tail as exp_shifted_sum's
    const float e = exp_scalar(x[i] - shift);
    sum += e;
    out[i] = bf16::bits(e);
  }
#else
  sum = exp_shifted_sum(x, x, n, shift);
  for (; i < n; ++i) out[i] = bf16::bits(x[i]);
#endif
  return sum;
}

// The maximum of x[0, n) (exact, so lane order does not matter).
inline float max_of(const float* x, int64_t n) {
  int64_t i = 0;
  float m = -INFINITY;
#if defined(MEDENC_AVX512)
  // Four running maxima: one alone waits on the previous max's latency at every step.
  __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
  for (; i + 64 <= n; i += 64) {
    m0 = max16(m0, _mm512_loadu_ps(x + i));
    m1 = max16(m1, _mm512_loadu_ps(x + i + 16));
    m2 = max16(m2, _mm512_loadu_ps(x + i + 32));
    m3 = max16(m3, _mm512_loadu_ps(x + i + 48));
  }
  __m512 mx = max16(max16(m0, m1), max16(m2, m3));
  for (; i + 16 <= n; i += 16) mx = max16(mx, _mm512_loadu_ps(x + i));
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, mx);
  for (int l = 0; l < 16; ++l) m = std::max(m, lanes[l]);
#elif defined(MEDENC_AVX2)
  __m256 mx = _mm256_set1_ps(-INFINITY);
  for (; i + 8 <= n; i += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(x + i));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, mx);
  for (int l = 0; l < 8; ++l) m = std::max(m, lanes[l]);
#endif
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

// Exact-erf GELU of u times the gate g: out[i] = 0.5 u (1 + erf(u / sqrt 2)) * g[i].
inline void gelu_erf_gate(const float* u, const float* g, float* out, int64_t n) {
  int64_t i = 0;
#ifdef MEDENC_AVX2
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), rs2 = _mm256_set1_ps(0.70710678118654752440f);
  for (; i + 8 <= n; i += 8) {
    __m256 x = _mm256_loadu_ps(u + i);
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_add_ps(one, erf8(_mm256_mul_ps(x, rs2))));
    if (g) y = _mm256_mul_ps(y, _mm256_loadu_ps(g + i));
    _mm256_storeu_ps(out + i, y);
  }
#endif
  for (; i < n; ++i) {
    const float x = u[i];
    const float y = 0.5f * x * (1.0f + erf_scalar(x * 0.70710678118654752440f));
    out[i] = g ? y * g[i] : y;
  }
}

}  // namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS::vec
