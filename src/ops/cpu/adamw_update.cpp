// AdamW's elementwise update (called by train/adamw.cpp per slice of one tensor), compiled per ISA level.
#include "ops/cpu/isa.h"

namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS {

// The 8-lane path does the same float operations as the scalar one (torch's vectorised kernels also
// use a fused multiply-add for exp_avg).
void adamw_update(float* p, const float* g, float* m, float* v, size_t n, float decay_factor,
                  const AdamWConstants& k) {
  size_t i = 0;
#ifdef MEDENC_AVX2
  const __m256 f = _mm256_set1_ps(decay_factor), b1 = _mm256_set1_ps(k.beta1), a1 = _mm256_set1_ps(k.one_minus_beta1);
  const __m256 b2 = _mm256_set1_ps(k.beta2), a2 = _mm256_set1_ps(k.one_minus_beta2);
  const __m256 bc2 = _mm256_set1_ps(k.bias_correction2_sqrt), eps = _mm256_set1_ps(k.eps);
  const __m256 step = _mm256_set1_ps(k.neg_step_size);
  for (; i + 8 <= n; i += 8) {
    const __m256 gi = _mm256_loadu_ps(g + i);
    const __m256 pi = _mm256_mul_ps(_mm256_loadu_ps(p + i), f);
    const __m256 mi = _mm256_fmadd_ps(gi, a1, _mm256_mul_ps(_mm256_loadu_ps(m + i), b1));
    const __m256 vi =
        _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), b2), _mm256_mul_ps(_mm256_mul_ps(a2, gi), gi));
    const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bc2), eps);
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
    _mm256_storeu_ps(p + i, _mm256_add_ps(pi, _mm256_div_ps(_mm256_mul_ps(step, mi), denom)));
  }
#endif
  for (; i < n; ++i) {
    p[i] = p[i] * decay_factor;  // with no decay the factor is 1 and p is unchanged
    m[i] = std::fma(g[i], k.one_minus_beta1, m[i] * k.beta1);
    v[i] = v[i] * k.beta2 + k.one_minus_beta2 * g[i] * g[i];
    const float denom = std::sqrt(v[i]) / k.bias_correction2_sqrt + k.eps;
    p[i] = p[i] + k.neg_step_size * m[i] / denom;
  }
}

}  // namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS
