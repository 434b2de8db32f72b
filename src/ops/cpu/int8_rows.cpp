// Rows of fp32 activations quantized to int8 for the int8 linear layers (gemm_int8.cpp), compiled
// per ISA level: symmetric, one scale per row (the row's largest magnitude maps to 127), rounded to
// nearest even. Each row depends on nothing but itself, so a document's quantized rows do not depend
// on the rest of its batch.
#include "ops/cpu/isa.h"

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
    const float* xr = x + r * k;
    float amax = 0.0f;
    #pragma omp simd reduction(max : amax)
    for (int64_t i = 0; i < k; ++i) amax = std::max(amax, std::fabs(xr[i]));
    scales[r] = amax / 127.0f;
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    int64_t i = 0;
#if defined(MEDENC_AVX512)
    // cvtps rounds to nearest even (the default MXCSR mode), as std::nearbyint below does.
    const __m512 vinv = _mm512_set1_ps(inv);
    for (; i + 16 <= k; i += 16) {
      const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xr + i), vinv));
      _mm_storeu_si128((__m128i*)(o + i), _mm512_cvtsepi32_epi8(q));
    }
#endif
    for (; i < k; ++i) {
      const float q = std::nearbyint(xr[i] * inv);
      o[i] = (int8_t)std::min(127.0f, std::max(-127.0f, q));
    }
  }
}

}  // namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS
