// Derivatives of every activation in medenc::Activation, and the GeGLU backward, on CPU. Where torch
// defines a one-sided value at a kink (relu at 0, relu6 at 0 and 6, the gelu_10 clip), we follow it.
#include <algorithm>
#include <cmath>

#include "ops/cpu/backward_kernels.h"

namespace medenc::ops {

namespace {

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;

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

namespace cpu {

void activation_backward(const float* x, const float* dy, float* dx, int64_t n, Activation act) {
  #pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * activation_derivative(x[i], act);
}

void geglu_backward(const float* z, const float* dout, float* dz, int64_t rows, int64_t inter, Activation act) {
  #pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* u = z + r * 2 * inter;
    const float* g = u + inter;
    const float* d = dout + r * inter;
    float* du = dz + r * 2 * inter;
    float* dg = du + inter;
    for (int64_t i = 0; i < inter; ++i) {
      du[i] = d[i] * g[i] * activation_derivative(u[i], act);
      dg[i] = d[i] * activation_scalar(u[i], act);
    }
  }
}

}  // namespace cpu
}  // namespace medenc::ops
