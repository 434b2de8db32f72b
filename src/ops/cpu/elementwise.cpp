// Row-wise and elementwise CPU kernels: LayerNorm, activations, GeGLU, embeddings, RoPE.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ops/cpu/bf16.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/vec_math.h"
#include "ops/cpu/int8_quantize_row.h"

namespace medenc::ops {

// Defined once (in the baseline or native compilation), not per ISA level.
#ifdef MEDENC_CPU_ISA_SHARED
float activation_scalar(float x, Activation act) {
  switch (act) {
    case Activation::GeluErf: return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752440f));
    case Activation::GeluTanh: {
      const float k = 0.79788456080286535588f;  // sqrt(2/pi)
      return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
    }
    case Activation::GeluFast: return 0.5f * x * (1.0f + std::tanh(0.7978845608f * x * (1.0f + 0.044715f * x * x)));
    case Activation::QuickGelu: return x / (1.0f + std::exp(-1.702f * x));
    case Activation::Gelu10: {
      float g = 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752440f));
      return std::min(std::max(g, -10.0f), 10.0f);
    }
    case Activation::Silu: return x / (1.0f + std::exp(-x));
    case Activation::Relu: return x > 0.0f ? x : 0.0f;
    case Activation::Relu6: return std::min(std::max(x, 0.0f), 6.0f);
    case Activation::Relu2: { float r = x > 0.0f ? x : 0.0f; return r * r; }
    case Activation::LeakyRelu: return x >= 0.0f ? x : 0.01f * x;
    case Activation::Tanh: return std::tanh(x);
    case Activation::Sigmoid: return 1.0f / (1.0f + std::exp(-x));
    case Activation::Mish: {
      float sp = x > 20.0f ? x : std::log1p(std::exp(x));
      return x * std::tanh(sp);
    }
    case Activation::Linear: return x;
  }
  return x;
}
#endif

namespace cpu::MEDENC_CPU_ISA_NS {

// A kernel's fp32 result as it is stored: as is, or rounded to bf16 bits (the rounding bf16_rows makes:
// the bits a bf16 linear layer would have made of the fp32 value).
template <typename Out>
static inline Out bf16_or_f32(float v) {
  if constexpr (std::is_same_v<Out, float>) {
    return v;
  } else {
    return bf16_as<uint16_t>(v);
  }
}

// Mean and biased variance over a row, two passes, each summing in 8 float lanes combined in a fixed
// order: vectorisable, accurate to ~1e-7 relative, and independent of threading. R rows at once:
// one row's chain of dependent lane additions leaves the adders idle most cycles, so R rows' chains
// are interleaved (each row's sums are the same operations in the same order whatever R).
template <int R>
static inline void row_stats(const float* x, int64_t dim, float eps, float* mean, float* rstd) {
  using Lanes = float __attribute__((vector_size(32)));
  auto pass = [&](const float* shift, bool squares, float* out) {
    Lanes acc[R];
    for (int r = 0; r < R; ++r) acc[r] = Lanes{};
    int64_t i = 0;
    for (; i + 8 <= dim; i += 8)
      for (int r = 0; r < R; ++r) {
        Lanes v;
        std::memcpy(&v, x + r * dim + i, sizeof v);
        const Lanes d = v - shift[r];
        acc[r] += squares ? d * d : d;
      }
    for (int r = 0; r < R; ++r) {
      float tail = 0.0f;
      for (int64_t j = i; j < dim; ++j) {
        const float d = x[r * dim + j] - shift[r];
        tail += squares ? d * d : d;
      }
      const Lanes& a = acc[r];
      out[r] = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7])) + tail;
    }
  };
  const float zero[R] = {};
  float sums[R];
  pass(zero, false, sums);
  for (int r = 0; r < R; ++r) mean[r] = sums[r] / (float)dim;
  pass(mean, true, sums);
  for (int r = 0; r < R; ++r) rstd[r] = 1.0f / std::sqrt(sums[r] / (float)dim + eps);
}

// f(r, mean, rstd) for each of rows [0, rows) of x (row stride dim), the statistics made four rows
// at a time.
template <class F>
static inline void with_row_stats(const float* x, int64_t rows, int64_t dim, float eps, F f) {
  constexpr int kGroup = 4;
  float mean[kGroup], rstd[kGroup];
  int64_t r = 0;
  for (; r + kGroup <= rows; r += kGroup) {
    row_stats<kGroup>(x + r * dim, dim, eps, mean, rstd);
    for (int k = 0; k < kGroup; ++k) f(r + k, mean[k], rstd[k]);
  }
  for (; r < rows; ++r) {
    row_stats<1>(x + r * dim, dim, eps, mean, rstd);
    f(r, mean[0], rstd[0]);
  }
}

// One row normalized with its statistics. Out: float, or uint16_t for the fp32 result rounded to bf16
// (layernorm_bf16).
template <typename Out>
static inline void normalize_row(const float* x, float mean, float rstd, const float* gamma, const float* beta, Out* y,
                                 int64_t dim) {
  if (beta)
    for (int64_t i = 0; i < dim; ++i) y[i] = bf16_or_f32<Out>((x[i] - mean) * rstd * gamma[i] + beta[i]);
  else
    for (int64_t i = 0; i < dim; ++i) y[i] = bf16_or_f32<Out>((x[i] - mean) * rstd * gamma[i]);
}

// Rows per parallel work item of the norms: whole groups of with_row_stats.
constexpr int64_t kNormRowsPerItem = 16;

template <typename Out>
static void layernorm_rows(const float* x, const float* gamma, const float* beta, Out* y, int64_t rows, int64_t dim,
                           float eps) {
  with_row_stats(x, rows, dim, eps, [&](int64_t r, float mean, float rstd) {
    normalize_row(x + r * dim, mean, rstd, gamma, beta, y + r * dim, dim);
  });
}

// layernorm_rows on all rows, in parallel work items of kNormRowsPerItem rows.
template <typename Out>
static void layernorm_parallel(const float* x, const float* gamma, const float* beta, Out* y, int64_t rows,
                               int64_t dim, float eps) {
  #pragma omp parallel for schedule(static)
  for (int64_t r0 = 0; r0 < rows; r0 += kNormRowsPerItem)
    layernorm_rows(x + r0 * dim, gamma, beta, y + r0 * dim, std::min(kNormRowsPerItem, rows - r0), dim, eps);
}

void layernorm(const float* x, const float* gamma, const float* beta, float* y, int64_t rows, int64_t dim, float eps) {
  layernorm_parallel(x, gamma, beta, y, rows, dim, eps);
}

// A row computed in fp32 rounded to bf16.
static inline void round_row_to_bf16(const float* x, uint16_t* out, int64_t n) {
  #pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_or_f32<uint16_t>(x[i]);
}

// convert(r, row) for every row r, each thread with its own fp32 row buffer of `width` (in L1): the
// kernels that compute a row in fp32 and store it converted.
template <class Convert>
static void rows_through_buffer(int64_t rows, int64_t width, Convert convert) {
  #pragma omp parallel
  {
    std::vector<float> row((size_t)width);
    #pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) convert(r, row.data());
  }
}

void layernorm_bf16(const float* x, const float* gamma, const float* beta, uint16_t* y, int64_t rows, int64_t dim,
                    float eps) {
  layernorm_parallel(x, gamma, beta, y, rows, dim, eps);
}

void layernorm_int8(const float* x, const float* gamma, const float* beta, int8_t* y, float* scales, int64_t rows,
                    int64_t dim, float eps) {
  #pragma omp parallel
  {
    std::vector<float> row((size_t)dim);
    #pragma omp for schedule(static)
    for (int64_t r0 = 0; r0 < rows; r0 += kNormRowsPerItem)
      with_row_stats(x + r0 * dim, std::min(kNormRowsPerItem, rows - r0), dim, eps,
                     [&](int64_t r, float mean, float rstd) {
                       normalize_row(x + (r0 + r) * dim, mean, rstd, gamma, beta, row.data(), dim);
                       scales[r0 + r] = quantize_row_int8(row.data(), dim, y + (r0 + r) * dim);
                     });
  }
}

void add_layernorm(const float* x, const float* r, const float* gamma, const float* beta, float* y, int64_t rows,
                   int64_t dim, float eps) {
  #pragma omp parallel
  {
    std::vector<float> sum((size_t)(kNormRowsPerItem * dim));
    #pragma omp for schedule(static)
    for (int64_t r0 = 0; r0 < rows; r0 += kNormRowsPerItem) {
      const int64_t n = std::min(kNormRowsPerItem, rows - r0);
      for (int64_t i = 0; i < n * dim; ++i) sum[(size_t)i] = x[r0 * dim + i] + r[r0 * dim + i];
      layernorm_rows(sum.data(), gamma, beta, y + r0 * dim, n, dim, eps);
    }
  }
}

void activation(float* x, int64_t n, Activation act) {
  if (act == Activation::Linear) return;
  #pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] = activation_scalar(x[i], act);
}

// o[i] = act(u[i]) * g[i] (GeGLU), or act(u[i]) without g, i < n: GELU (erf) by the vectorized
// erf; the layers' inputs in bf16 and int8 take it without g too (ops.h).
static inline void activation_gated(const float* u, const float* g, float* o, int64_t n, Activation act) {
  if (act == Activation::GeluErf) {
    vec::gelu_erf_gate(u, g, o, n);
  } else if (g) {
    for (int64_t i = 0; i < n; ++i) o[i] = activation_scalar(u[i], act) * g[i];
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = activation_scalar(u[i], act);
  }
}

// For each of `rows` rows: compute(r, j, n, buf) writes values [j, j + n) of row r in fp32 into buf,
// which are then rounded to bf16 at out + r * ldo + j. One tile from one thread: the buffer is on the
// stack, and the pieces start at multiples of 8 (gelu_erf_gate's vector width), so a value takes the
// same code path whatever the tile width.
template <class Compute>
static inline void rows_rounded_to_bf16(int64_t rows, int64_t cols, uint16_t* out, int64_t ldo, Compute compute) {
  constexpr int64_t kPiece = 512;
  float buf[kPiece];
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; j += kPiece) {
      const int64_t n = std::min(kPiece, cols - j);
      compute(r, j, n, buf);
      round_row_to_bf16(buf, out + r * ldo + j, n);
    }
}

void activation_bf16_rows(const float* x, int64_t ld, int64_t rows, int64_t cols, uint16_t* out, int64_t ldo,
                          Activation act) {
  rows_rounded_to_bf16(rows, cols, out, ldo, [&](int64_t r, int64_t j, int64_t n, float* buf) {
    activation_gated(x + r * ld + j, nullptr, buf, n, act);
  });
}

// One GeGLU row: z_row's first half activated, times its second.
static inline void geglu_row(const float* z_row, float* o, int64_t inter, Activation act) {
  activation_gated(z_row, z_row + inter, o, inter, act);
}

void activation_bf16(const float* x, uint16_t* out, int64_t rows, int64_t cols, Activation act) {
  #pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) activation_bf16_rows(x + r * cols, cols, 1, cols, out + r * cols, cols, act);
}

void activation_int8(const float* x, int8_t* q, float* scales, int64_t rows, int64_t cols, Activation act) {
  rows_through_buffer(rows, cols, [&](int64_t r, float* row) {
    activation_gated(x + r * cols, nullptr, row, cols, act);
    scales[r] = quantize_row_int8(row, cols, q + r * cols);
  });
}

void geglu(const float* z, float* out, int64_t rows, int64_t inter, Activation act) {
  #pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) geglu_row(z + r * 2 * inter, out + r * inter, inter, act);
}

void geglu_bf16(const float* z, uint16_t* out, int64_t rows, int64_t inter, Activation act) {
  rows_through_buffer(rows, inter, [&](int64_t r, float* row) {
    geglu_row(z + r * 2 * inter, row, inter, act);
    round_row_to_bf16(row, out + r * inter, inter);
  });
}

void geglu_pairs_bf16(const float* tile, int64_t ld, int64_t rows, int64_t pairs, uint16_t* out, int64_t ldo,
                      Activation act) {
  rows_rounded_to_bf16(rows, pairs, out, ldo, [&](int64_t r, int64_t j, int64_t n, float* buf) {
    activation_gated(tile + r * ld + j, tile + r * ld + pairs + j, buf, n, act);
  });
}

void geglu_pairs(const float* tile, int64_t ld, int64_t rows, int64_t pairs, float* out, int64_t ldo, Activation act) {
  for (int64_t r = 0; r < rows; ++r) activation_gated(tile + r * ld, tile + r * ld + pairs, out + r * ldo, pairs, act);
}

void geglu_int8(const float* z, int8_t* out, float* scales, int64_t rows, int64_t inter, Activation act) {
  rows_through_buffer(rows, inter, [&](int64_t r, float* row) {
    geglu_row(z + r * 2 * inter, row, inter, act);
    scales[r] = quantize_row_int8(row, inter, out + r * inter);
  });
}

void embedding(const float* table, int64_t dim, const int32_t* ids, int64_t n, float* out, bool accumulate) {
  #pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < n; ++t) {
    const float* src = table + (int64_t)ids[t] * dim;
    float* dst = out + t * dim;
    if (accumulate)
      for (int64_t i = 0; i < dim; ++i) dst[i] += src[i];
    else
      std::memcpy(dst, src, sizeof(float) * (size_t)dim);
  }
}

void rope_qkv(float* qkv, const int32_t* positions, int64_t rows, int heads, int head_dim, const float* inv_freq) {
  const int half = head_dim / 2;
  const int64_t hidden = (int64_t)heads * head_dim;
  #pragma omp parallel
  {
    std::vector<float> cos_v((size_t)half), sin_v((size_t)half);
    #pragma omp for schedule(static)
    for (int64_t t = 0; t < rows; ++t) {
      rope_angles(positions[t], inv_freq, half, cos_v.data(), sin_v.data());
      float* row = qkv + t * 3 * hidden;
      for (int part = 0; part < 2; ++part)  // Q then K; V is not rotated
        for (int h = 0; h < heads; ++h) {
          float* v = row + part * hidden + (int64_t)h * head_dim;
          rope_rotate(v, v, half, cos_v.data(), sin_v.data());
        }
    }
  }
}

}  // namespace cpu::MEDENC_CPU_ISA_NS

#ifdef MEDENC_CPU_ISA_SHARED
void softmax_rows(float* x, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    float* v = x + r * cols;
    float m = -INFINITY;
    for (int64_t i = 0; i < cols; ++i) m = std::max(m, v[i]);
    float s = 0.0f;
    for (int64_t i = 0; i < cols; ++i) {
      v[i] = std::exp(v[i] - m);
      s += v[i];
    }
    for (int64_t i = 0; i < cols; ++i) v[i] /= s;
  }
}
#endif

}  // namespace medenc::ops
