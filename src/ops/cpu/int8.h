#pragma once
// The int8 linear layers (ComputeType::INT8; gemm_int8.cpp) and the kernel that quantizes their
// inputs (int8_rows.cpp).
#include <cstdint>
#include <string>
#include <vector>

#include "ops/cpu/cpu_kernels.h"
#include "ops/ops.h"

namespace medenc::ops::cpu {

// y = dequant(q(x) . q(W)^T) + b (+ y when accumulate). W is quantized once per output channel
// (symmetric, scale max|W[c]| / 127) into LinearWeights::int8_cache, x per row on every call; the
// int32 products are exact, so results do not depend on the thread count or on the other rows.
void linear_int8(const Context& ctx, const LinearWeights& w, const float* x, float* y, int64_t rows, bool accumulate);
// The same on input rows already quantized as int8_rows quantizes them (q [rows, in], one scale per row).
void linear_int8(const Context& ctx, const LinearWeights& w, const int8_t* q, const float* scales, float* y,
                 int64_t rows, bool accumulate);
// linear_int8 with each tile handed to an epilogue instead of written into y (linear_tiles in
// cpu_kernels.h): on fp32 rows x, or on quantized rows q with their scales.
void linear_int8_tiles(const LinearWeights& w, const float* x, const int8_t* q, const float* scales, int64_t rows,
                       bool paired, const TileEpilogue& epilogue);
// The values of quantized rows (width k) as fp32: q[r, i] * scales[r].
std::vector<float> int8_values(const int8_t* q, const float* scales, int64_t rows, int64_t k);

// Which int8 GEMM runs: "onednn" (oneDNN's s8s8s32 matmul, taken only where the CPU has
// AVX-512-VNNI, AVX-VNNI or AMX, whose products are exact) or "exact-fp32" (the fallback: int8
// values multiplied by fp32 GEMMs in blocks of at most 1,024 products, each block's sum an exact
// integer). Both give the same bits.
std::string int8_gemm_kernel();
// For tests: forces the fallback (true) or restores the automatic choice (false).
void force_int8_fallback(bool on);

// Rows [0, rows) of x (width k) quantized to int8 with one scale per row (out = round(x * 127 /
// max|x_row|), scales[r] = max|x_row| / 127, 0 for a zero row); rows [rows, padded_rows) zero.
void int8_rows(const float* x, int64_t rows, int64_t padded_rows, int64_t k, int8_t* out, float* scales);

// A dense tile of int32 products (rows x cols) back to fp32 in y (row stride ldy):
//   y[r, j] = float(acc[r, j]) * (row_scales[r] * col_scales[j]) + bias[j]   (bias may be null)
// or, with accumulate, y[r, j] += that. One rounding per operation, in this order, at every ISA level.
void int8_dequantize_rows(const int32_t* acc, int64_t rows, int64_t cols, const float* row_scales,
                          const float* col_scales, const float* bias, float* y, int64_t ldy, bool accumulate);

}  // namespace medenc::ops::cpu
