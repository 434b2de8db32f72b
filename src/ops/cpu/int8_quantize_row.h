#pragma once
// One row quantized as int8_rows (int8.h) quantizes it, shared by int8_rows and by the norms and GeGLU
// that write the int8 linear layers' input rows themselves: one definition, so both give the same
// bits. Kernel code: included (after isa.h) by per-ISA sources only.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "ops/cpu/isa.h"

namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS {

// o = round(x * 127 / max|x|) to nearest even, symmetric; returns the row's scale max|x| / 127 (0 for
// a zero row, whose values are all 0).
inline float quantize_row_int8(const float* x, int64_t k, int8_t* o) {
  float amax = 0.0f;
  #pragma omp simd reduction(max : amax)
  for (int64_t i = 0; i < k; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  int64_t i = 0;
#if defined(MEDENC_AVX512)
  // cvtps rounds to nearest even (the default MXCSR mode), as std::nearbyint below does. (Full-mask
  // forms: GCC 12 warns inside the unmasked intrinsics.)
  const __m512 vinv = _mm512_set1_ps(inv);
  for (; i + 16 <= k; i += 16) {
    const __m512i q = _mm512_mask_cvtps_epi32(_mm512_setzero_si512(), 0xffff, _mm512_mul_ps(_mm512_loadu_ps(x + i), vinv));
    _mm_storeu_si128((__m128i*)(o + i), _mm512_mask_cvtsepi32_epi8(_mm_setzero_si128(), 0xffff, q));
  }
#endif
  for (; i < k; ++i) {
    const float q = std::nearbyint(x[i] * inv);
    o[i] = (int8_t)std::min(127.0f, std::max(-127.0f, q));
  }
  return amax / 127.0f;
}

}  // namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS
