#pragma once
// CPU implementations of the ops in ops/ops.h (same signatures, no context dispatch).
#include <cmath>
#include <functional>
#include <vector>

#include "ops/ops.h"

namespace medenc::ops::cpu {

bool native_bf16_matmul();
void linear(const Context& ctx, const LinearWeights& w, const float* x, float* y, int64_t rows, bool accumulate);
// bf16 mode with the input rows already bf16 (ops.h).
void linear(const Context& ctx, const LinearWeights& w, const uint16_t* x_bf16, float* y, int64_t rows,
            bool accumulate);
// A finished tile of a bf16 linear layer: rows [r0, r1) of the output, its columns [c0, c0 + cols)
// (in the paired-halves order when asked), fp32 at tile[(r - r0) * ld + (j - c0)]. Column tiles are
// 512 wide (the last one what is left) and start at multiples of 512; row tiles at multiples of 96.
using TileEpilogue = std::function<void(const float* tile, int64_t ld, int64_t r0, int64_t r1, int64_t c0,
                                        int64_t cols)>;
// Whether linear_tiles runs in this mode: bf16 with a native bf16 matmul, or int8.
bool linear_tiles_available(const Context& ctx);
// ops::linear() without an output buffer: each tile of x W^T + b is handed to `epilogue` as it is
// finished, from the thread that computed it, instead of being written into y; the values are
// linear()'s. `paired`: the output is two halves whose column j and j + out / 2 go together
// (GeGLU), and every tile holds matching columns of both: its first cols / 2 are columns
// c0 / 2 + [0, cols / 2) of the first half, the rest the same columns of the second.
void linear_tiles(const Context& ctx, const LinearWeights& w, const LinearInput& x, int64_t rows, bool paired,
                  const TileEpilogue& epilogue);
// The output column at position p of the paired-halves order, for tiles of tile_cols columns.
int64_t paired_column(int64_t out, int64_t tile_cols, int64_t p);
// Positions [p0, p0 + n) of that order: the weight's rows into rows ([n, in]) and its biases into
// bias, each when not null.
void paired_weight_rows(const LinearWeights& w, int64_t tile_cols, int64_t p0, int64_t n, float* rows, float* bias);
// n bf16 values as fp32 (exact).
std::vector<float> bf16_widened(const uint16_t* x, int64_t n);
void gemm(const Context& ctx, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void layernorm(const float* x, const float* gamma, const float* beta, float* y, int64_t rows, int64_t dim, float eps);
void layernorm_bf16(const float* x, const float* gamma, const float* beta, uint16_t* y, int64_t rows, int64_t dim,
                    float eps);
void layernorm_int8(const float* x, const float* gamma, const float* beta, int8_t* y, float* scales, int64_t rows,
                    int64_t dim, float eps);
void add_layernorm(const float* x, const float* r, const float* gamma, const float* beta, float* y, int64_t rows,
                   int64_t dim, float eps);
void activation(float* x, int64_t n, Activation act);
void geglu(const float* z, float* out, int64_t rows, int64_t inter, Activation act);
void geglu_bf16(const float* z, uint16_t* out, int64_t rows, int64_t inter, Activation act);
void geglu_int8(const float* z, int8_t* out, float* scales, int64_t rows, int64_t inter, Activation act);
// act over rows of cols values (row stride ld), rounded to bf16 into out (row stride ldo): one tile,
// single-threaded. activation_bf16: all rows, in parallel; activation_int8: quantized per row.
void activation_bf16_rows(const float* x, int64_t ld, int64_t rows, int64_t cols, uint16_t* out, int64_t ldo,
                          Activation act);
void activation_bf16(const float* x, uint16_t* out, int64_t rows, int64_t cols, Activation act);
void activation_int8(const float* x, int8_t* q, float* scales, int64_t rows, int64_t cols, Activation act);
// geglu_bf16 on a paired-halves tile (linear_tiles): row r's activated half at tile + r * ld,
// its gate `pairs` floats later; out row r at out + r * ldo. The same bits as geglu_bf16 of the
// unpaired rows where the tile's pairs start at a multiple of 8 (its vector width).
void geglu_pairs_bf16(const float* tile, int64_t ld, int64_t rows, int64_t pairs, uint16_t* out, int64_t ldo,
                      Activation act);
// The same in fp32 (geglu's values).
void geglu_pairs(const float* tile, int64_t ld, int64_t rows, int64_t pairs, float* out, int64_t ldo, Activation act);
void embedding(const float* table, int64_t dim, const int32_t* ids, int64_t n, float* out, bool accumulate);
void rope_qkv(float* qkv, const int32_t* positions, int64_t rows, int heads, int head_dim, const float* inv_freq);
void attention(const Context& ctx, const float* qkv, float* out, const int64_t* cu_seqlens, int64_t batch, int heads, int head_dim,
               int64_t window, float scale, const Rotary* rotary);
// attention(linear(x)) with the QKV projection's tiles written straight into the fused bf16
// attention kernel's panels (ops::qkv_attention), timing its GEMM as "linear" and the rest as
// attention; *done = false (and nothing done) where that path does not apply (no linear_tiles, no
// fused kernel, or head size not 64).
void qkv_attention(const Context& ctx, const LinearWeights& w, const LinearInput& x, float* out,
                   const int64_t* cu_seqlens, int64_t batch, int heads, int head_dim, int64_t window, float scale,
                   const Rotary* rotary, bool* done);
// Rows [0, rows) of x (width k) rounded to bf16 (bits, or the same values as fp32), rows
// [rows, padded_rows) zero.
void bf16_rows(const float* x, int64_t rows, int64_t padded_rows, int64_t k, uint16_t* out);
void bf16_rounded_rows(const float* x, int64_t rows, int64_t padded_rows, int64_t k, float* out);
// y[r, j] += tile[r, j] for a rows x cols tile (row strides ld_tile, ldy): a residual added to a
// linear layer's finished output tile.
void add_tile_rows(const float* tile, int64_t rows, int64_t cols, int64_t ld_tile, float* y, int64_t ldy);

// Memory and data movement (memory.cpp).
Allocator& host_allocator();
void copy(const float* src, float* dst, int64_t n);
void fill(float* x, int64_t n, float value);
void add(const float* a, const float* b, float* y, int64_t n);
void scale(float* x, int64_t n, float s);
void gather_rows(const float* src, int64_t dim, const int64_t* index, int64_t n, float* out);
void scatter_rows(const float* src, int64_t dim, const int64_t* index, int64_t n, float* dst, bool accumulate);
void pool(const float* rows, const int64_t* offsets, int64_t batch, int64_t dim, Pool kind, float* pooled);

// Rotate-half RoPE, shared by rope_qkv and attention's split_heads so that both give the same
// numbers (split_heads_fused writes the same arithmetic out in its AVX-512 loop). rope_angles: cos and sin of position * inv_freq[j], j < half (one fp32 multiply, as
// Hugging Face does, then cos/sin in double). rope_rotate: one head's [head_dim] vector from src
// into dst (which may be src).
inline void rope_angles(int32_t position, const float* inv_freq, int half, float* cos_v, float* sin_v) {
  const float p = (float)position;
  for (int j = 0; j < half; ++j) {
    const float angle = p * inv_freq[j];
    cos_v[j] = (float)std::cos((double)angle);
    sin_v[j] = (float)std::sin((double)angle);
  }
}

inline void rope_rotate(const float* src, float* dst, int half, const float* cos_v, const float* sin_v) {
  for (int j = 0; j < half; ++j) {
    const float a = src[j], b = src[j + half];
    dst[j] = a * cos_v[j] - b * sin_v[j];
    dst[j + half] = b * cos_v[j] + a * sin_v[j];
  }
}

}  // namespace medenc::ops::cpu
