// Derivatives of every activation in medenc::Activation, and the GeGLU backward, on CPU. Where torch
// defines a one-sided value at a kink (relu at 0, relu6 at 0 and 6, the gelu_10 clip), we follow it.
#include <algorithm>
#include <cmath>

#include "ops/cpu/backward_kernels.h"
#include "ops/cpu/vec_math.h"

namespace medenc::ops {

namespace {

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;

}  // namespace

// Defined once (in the baseline or native compilation), not per ISA level.
#ifdef MEDENC_CPU_ISA_SHARED
namespace {

float gelu_erf_derivative(float x) {
  return 0.5f * (1.0f + std::erf(x * kInvSqrt2)) + x * kInvSqrt2Pi * std::exp(-0.5f * x * x);
}

// d/dx of 0.5 x (1 + tanh(c (x + a x^3))).
float gelu_tanh_derivative(float x, float c, float a) {
  const float t = std::tanh(c * (x + a * x * x * x));
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * c * (1.0f + 3.0f * a * x * x);
}

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

float activation_derivative(float x, Activation act) {
  switch (act) {
    case Activation::GeluErf: return gelu_erf_derivative(x);
    case Activation::GeluTanh: return gelu_tanh_derivative(x, 0.79788456080286535588f, 0.044715f);
    case Activation::GeluFast: return gelu_tanh_derivative(x, 0.7978845608f, 0.044715f);
    case Activation::QuickGelu: {
      const float s = sigmoid(1.702f * x);
      return s + 1.702f * x * s * (1.0f - s);
    }
    case Activation::Gelu10: {
      const float g = activation_scalar(x, Activation::GeluErf);
      return (g >= -10.0f && g <= 10.0f) ? gelu_erf_derivative(x) : 0.0f;
    }
    case Activation::Silu: {
      const float s = sigmoid(x);
      return s + x * s * (1.0f - s);
    }
    case Activation::Relu: return x > 0.0f ? 1.0f : 0.0f;
    case Activation::Relu6: return (x > 0.0f && x < 6.0f) ? 1.0f : 0.0f;
    case Activation::Relu2: return x > 0.0f ? 2.0f * x : 0.0f;
    case Activation::LeakyRelu: return x > 0.0f ? 1.0f : 0.01f;
    case Activation::Tanh: {
      const float t = std::tanh(x);
      return 1.0f - t * t;
    }
    case Activation::Sigmoid: {
      const float s = sigmoid(x);
      return s * (1.0f - s);
    }
    case Activation::Mish: {
      const float sp = x > 20.0f ? x : std::log1p(std::exp(x));
      const float t = std::tanh(sp);
      return t + x * (1.0f - t * t) * sigmoid(x);
    }
    case Activation::Linear: return 1.0f;
  }
  return 1.0f;
}
#endif

namespace cpu::MEDENC_CPU_ISA_NS {

namespace {

// Exact-erf GELU and its derivative for n values, 8 lanes at a time with the forward kernel's erf:
// gelu = x cdf, gelu' = cdf + x pdf, cdf = (1 + erf(x / sqrt 2)) / 2, pdf = exp(-x^2 / 2) / sqrt(2 pi).
// Writes d_act[i] = scale[i] * gelu'(x[i]) and, when value is non-null, value[i] = value_scale[i] * gelu(x[i]).
void gelu_erf_backward(const float* x, const float* scale, float* d_act, const float* value_scale, float* value,
                       int64_t n) {
  int64_t i = 0;
#ifdef MEDENC_AVX2
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), rs2 = _mm256_set1_ps(kInvSqrt2);
  const __m256 rs2pi = _mm256_set1_ps(kInvSqrt2Pi), minus_half = _mm256_set1_ps(-0.5f);
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 cdf = _mm256_mul_ps(half, _mm256_add_ps(one, vec::erf8(_mm256_mul_ps(v, rs2))));
    const __m256 pdf = _mm256_mul_ps(rs2pi, vec::exp8(_mm256_mul_ps(minus_half, _mm256_mul_ps(v, v))));
    const __m256 deriv = _mm256_fmadd_ps(v, pdf, cdf);
    const __m256 gelu = _mm256_mul_ps(v, cdf);  // = (v / 2)(1 + erf), as the forward kernel rounds it
    _mm256_storeu_ps(d_act + i, _mm256_mul_ps(_mm256_loadu_ps(scale + i), deriv));
    if (value) _mm256_storeu_ps(value + i, _mm256_mul_ps(_mm256_loadu_ps(value_scale + i), gelu));
  }
#endif
  for (; i < n; ++i) {
    const float v = x[i];
    const float e = vec::erf_scalar(v * kInvSqrt2);
    const float deriv = 0.5f * (1.0f + e) + v * kInvSqrt2Pi * std::exp(-0.5f * v * v);
    d_act[i] = scale[i] * deriv;
    if (value) value[i] = value_scale[i] * (0.5f * v * (1.0f + e));
  }
}

}  // namespace

void activation_backward(const float* x, const float* dy, float* dx, int64_t n, Activation act) {
  if (act == Activation::GeluErf) {
    constexpr int64_t kChunk = 4096;
    #pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < (n + kChunk - 1) / kChunk; ++c)
      gelu_erf_backward(x + c * kChunk, dy + c * kChunk, dx + c * kChunk, nullptr, nullptr,
                        std::min(kChunk, n - c * kChunk));
    return;
  }
  #pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * activation_derivative(x[i], act);
}

void geglu_backward(const float* z, const float* dout, float* dz, int64_t rows, int64_t inter, Activation act) {
  #pragma omp parallel
  {
    std::vector<float> dg_scale;
    #pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* u = z + r * 2 * inter;
      const float* g = u + inter;
      const float* d = dout + r * inter;
      float* du = dz + r * 2 * inter;
      float* dg = du + inter;
      if (act == Activation::GeluErf) {
        // du = (d * g) * gelu'(u), dg = d * gelu(u)
        dg_scale.resize((size_t)inter);
        for (int64_t i = 0; i < inter; ++i) dg_scale[i] = d[i] * g[i];
        gelu_erf_backward(u, dg_scale.data(), du, d, dg, inter);
        continue;
      }
      for (int64_t i = 0; i < inter; ++i) {
        du[i] = d[i] * g[i] * activation_derivative(u[i], act);
        dg[i] = d[i] * activation_scalar(u[i], act);
      }
    }
  }
}

}  // namespace cpu::MEDENC_CPU_ISA_NS
}  // namespace medenc::ops
