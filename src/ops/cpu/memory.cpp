// Host memory, and the CPU kernels that move data: copy, fill, add, scale, row gather/scatter, pooling.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/large_buffer.h"
#include "ops/cpu/cpu_kernels.h"

namespace medenc::ops::cpu {

namespace {

class HostAllocator : public Allocator {
 public:
  // 64-byte aligned (one cache line, and an AVX-512 vector); large blocks on huge pages.
  void* allocate(size_t bytes) override {
    try {
      return allocate_large(bytes);
    } catch (const std::bad_alloc&) {
      throw Error(ErrorKind::ResourceExhausted, fmt::format("out of memory allocating {} bytes", bytes));
    }
  }
  void deallocate(void* p) noexcept override { free_large(p, 0); }
};

}  // namespace

Allocator& host_allocator() {
  static HostAllocator allocator;
  return allocator;
}

void copy(const float* src, float* dst, int64_t n) {
  if (n > 0 && src != dst) std::memcpy(dst, src, (size_t)n * sizeof(float));
}

void fill(float* x, int64_t n, float value) {
  #pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) x[i] = value;
}

void add(const float* a, const float* b, float* y, int64_t n) {
  #pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void scale(float* x, int64_t n, float s) {
  #pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

void gather_rows(const float* src, int64_t dim, const int64_t* index, int64_t n, float* out) {
  #pragma omp parallel for schedule(static) if (n * dim > (1 << 16))
  for (int64_t r = 0; r < n; ++r) std::memcpy(out + r * dim, src + index[r] * dim, (size_t)dim * sizeof(float));
}

void scatter_rows(const float* src, int64_t dim, const int64_t* index, int64_t n, float* dst, bool accumulate) {
  #pragma omp parallel for schedule(static) if (n * dim > (1 << 16))
  for (int64_t r = 0; r < n; ++r) {
    float* d = dst + index[r] * dim;
    const float* s = src + r * dim;
    if (accumulate)
      for (int64_t i = 0; i < dim; ++i) d[i] += s[i];
    else
      std::memcpy(d, s, (size_t)dim * sizeof(float));
  }
}

void pool(const float* rows, const int64_t* offsets, int64_t batch, int64_t dim, Pool kind, float* pooled) {
  #pragma omp parallel for schedule(static) if (batch > 1)
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t s0 = offsets[b], s1 = offsets[b + 1];
    float* o = pooled + b * dim;
    switch (kind) {
      case Pool::Cls: std::memcpy(o, rows + s0 * dim, (size_t)dim * sizeof(float)); break;
      case Pool::Mean: {
        std::vector<double> sum((size_t)dim, 0.0);
        for (int64_t t = s0; t < s1; ++t)
          for (int64_t i = 0; i < dim; ++i) sum[(size_t)i] += rows[t * dim + i];
        const double n = (double)(s1 - s0);
        for (int64_t i = 0; i < dim; ++i) o[i] = (float)(sum[(size_t)i] / n);
        break;
      }
      case Pool::MeanF32: {
        std::fill(o, o + dim, 0.0f);
        for (int64_t t = s0; t < s1; ++t)
          for (int64_t i = 0; i < dim; ++i) o[i] += rows[t * dim + i];
        const float n = (float)(s1 - s0);
        for (int64_t i = 0; i < dim; ++i) o[i] /= n;
        break;
      }
      case Pool::Max: {
        std::memcpy(o, rows + s0 * dim, (size_t)dim * sizeof(float));
        for (int64_t t = s0 + 1; t < s1; ++t)
          for (int64_t i = 0; i < dim; ++i) {
            const float x = rows[t * dim + i];
            if (x > o[i] || std::isnan(x)) o[i] = x;  // NaN propagates, as torch.max does
          }
        break;
      }
    }
  }
}

}  // namespace medenc::ops::cpu
