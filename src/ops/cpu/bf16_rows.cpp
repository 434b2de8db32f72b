// The bf16 linear layers' (gemm.cpp) passes over rows, compiled per ISA level: the fp32 inputs rounded
// to bf16 for the GEMMs, and the residual added to a finished output tile. At 8x512 tokens a forward
// pass converts ~2e8 values, and the baseline's 4-wide SSE2 code would cost a few percent of it.
#include "ops/cpu/bf16.h"
#include "ops/cpu/isa.h"

namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS {

namespace {

template <typename Out>
void rows_to_bf16(const float* x, int64_t rows, int64_t padded_rows, int64_t k, Out* out) {
  #pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < padded_rows; ++r) {
    Out* o = out + r * k;
    if (r >= rows) {
      std::memset(o, 0, sizeof(Out) * (size_t)k);
      continue;
    }
    const float* xr = x + r * k;
    #pragma omp simd
    for (int64_t i = 0; i < k; ++i) o[i] = bf16_as<Out>(xr[i]);
  }
}

}  // namespace

void bf16_rows(const float* x, int64_t rows, int64_t padded_rows, int64_t k, uint16_t* out) {
  rows_to_bf16(x, rows, padded_rows, k, out);
}

void bf16_rounded_rows(const float* x, int64_t rows, int64_t padded_rows, int64_t k, float* out) {
  rows_to_bf16(x, rows, padded_rows, k, out);
}

void add_tile_rows(const float* tile, int64_t rows, int64_t cols, int64_t ld_tile, float* y, int64_t ldy) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* t = tile + r * ld_tile;
    float* out = y + r * ldy;
    #pragma omp simd
    for (int64_t j = 0; j < cols; ++j) out[j] += t[j];
  }
}

}  // namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS
