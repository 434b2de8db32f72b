// The int8 linear layers' (gemm_int8.cpp) passes over activation rows, compiled per ISA level:
// - int8_rows: fp32 rows quantized to int8, symmetric, one scale per row (the row's largest
//   magnitude maps to 127), rounded to nearest even. Each row depends on nothing but itself, so a
//   document's quantized rows do not depend on the rest of its batch.
// - int8_dequantize_rows: a tile of int32 products back to fp32, with the bias and the residual.
//   It touches every output of the layer, so it must run at the CPU's vector width (compiled for
//   baseline x86-64 it ran 4 floats at a time and cost as much as the int8 GEMM's tiles).
#include "ops/cpu/isa.h"
#include "ops/cpu/int8_quantize_row.h"

namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS {

void int8_rows(const float* x, int64_t rows, int64_t padded_rows, int64_t k, int8_t* out, float* scales) {
  #pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < padded_rows; ++r) {
    int8_t* o = out + r * k;
    if (r >= rows) {
      std::memset(o, 0, (size_t)k);
      scales[r] = 0.0f;
      continue;
    }
    scales[r] = quantize_row_int8(x + r * k, k, o);
  }
}

void int8_dequantize_rows(const int32_t* acc, int64_t rows, int64_t cols, const float* row_scales,
                          const float* col_scales, const float* bias, float* y, int64_t ldy, bool accumulate) {
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t* a = acc + r * cols;
    float* out = y + r * ldy;
    const float s = row_scales[r];
    int64_t j = 0;
#if defined(MEDENC_AVX512)
    // The same operations as the scalar loop below, in the same order (no fused multiply-add). (A
    // full-mask conversion: GCC 12 warns inside the unmasked one.)
    const __m512 vs = _mm512_set1_ps(s);
    for (; j + 16 <= cols; j += 16) {
      const __m512 acc_f = _mm512_mask_cvtepi32_ps(_mm512_setzero_ps(), 0xffff, _mm512_loadu_si512(a + j));
      __m512 v = _mm512_mul_ps(acc_f, _mm512_mul_ps(vs, _mm512_loadu_ps(col_scales + j)));
      if (bias) v = _mm512_add_ps(v, _mm512_loadu_ps(bias + j));
      if (accumulate) v = _mm512_add_ps(_mm512_loadu_ps(out + j), v);
      _mm512_storeu_ps(out + j, v);
    }
#endif
    // The tail, and whole rows below AVX-512: one loop per case, so that each vectorizes.
    const float* sw = col_scales;
    if (bias && accumulate) {
      #pragma omp simd
      for (int64_t i = j; i < cols; ++i) out[i] += (float)a[i] * (s * sw[i]) + bias[i];
    } else if (bias) {
      #pragma omp simd
      for (int64_t i = j; i < cols; ++i) out[i] = (float)a[i] * (s * sw[i]) + bias[i];
    } else if (accumulate) {
      #pragma omp simd
      for (int64_t i = j; i < cols; ++i) out[i] += (float)a[i] * (s * sw[i]);
    } else {
      #pragma omp simd
      for (int64_t i = j; i < cols; ++i) out[i] = (float)a[i] * (s * sw[i]);
    }
  }
}

}  // namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS
