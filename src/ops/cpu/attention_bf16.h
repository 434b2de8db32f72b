#pragma once
// The fused bf16 attention kernel for head size 64 (attention_bf16.cpp), used by attention.cpp in
// bf16 mode where the CPU has AVX-512-BF16. Compiled per ISA level (isa.h); only the avx512 (and a
// native AVX-512) level has it, the others report it unavailable.
//
// It reads attention.cpp's row-major bf16 Q panels, and K and V panels packed (pack_kv_bf16_d64) into
// the layouts its dot products read:
// - K in 16-key groups, each [32 value pairs][16 keys][2]: one 64-byte load is one value pair of 16
//   keys, the operand of vdpbf16ps that gives 16 scores;
// - V in key pairs, each [64 values][2 keys]: one 64-byte load is 16 values of two keys, the operand
//   that adds two weighted keys to 16 outputs.
// A pair of adjacent Q (or P) values is the 32-bit word the dot products broadcast.
#include <cstdint>
#include <vector>

namespace medenc::ops::cpu {

// For tests: forces attention's oneDNN bf16 path (true) or restores the fused kernel where available
// (false); and the number of attention calls the fused kernel has run so far.
void force_unfused_bf16_attention(bool on);
bool unfused_bf16_attention_forced();
int64_t fused_bf16_attention_calls();
void count_fused_bf16_attention_call();

}  // namespace medenc::ops::cpu

#ifdef MEDENC_CPU_ISA_NS  // the kernel itself: only in the per-level compilations
namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS {

constexpr int64_t kFusedHeadDim = 64;

// Whether this level and CPU run the fused kernel (AVX-512-BF16) and tests have not turned it off.
bool fused_bf16_attention_available();

// Per-thread buffers of the fused kernel.
struct FusedScratch {
  std::vector<float> scores, o_block, row_max, row_sum, alpha;
  std::vector<uint16_t> probs;
};

// `rows` rows (a multiple of 16) of 64 values of one (sequence, head)'s K and V, row-major bf16,
// into the layouts above.
void pack_kv_bf16_d64(const uint16_t* k_rows, const uint16_t* v_rows, int64_t rows, uint16_t* k_out, uint16_t* v_out);

// One row (64 bf16 values) stored into a panel's packed K groups or V key pairs at panel row `row`
// (the other rows' values around it untouched): for writers that get a panel's rows one at a time.
void put_k_row_bf16_d64(const uint16_t* values, int64_t row, uint16_t* k_panel);
void put_v_row_bf16_d64(const uint16_t* values, int64_t row, uint16_t* v_panel);

// Attention of the queries at tokens [query_begin, query_end) of one (sequence, head) of `len`
// tokens (query_begin a multiple of query_block), on its row-major bf16 Q panel and packed K and V:
// queries in blocks of `query_block` rows, each block against `keys_per_block` panel rows (a
// multiple of 64) starting at panel row i0 (band) or 0, in chunks; a query at token i sees the keys
// at tokens [max(0, i - window), min(len, i + window + 1)) (window < 0: all), every other key gets
// exactly zero weight. Token i is panel row front + i. Writes the output of token i (64 fp32 values)
// at out + i * out_stride: straight into the attention's output rows. scale must be > 0.
void attend_bf16_d64(const uint16_t* q, const uint16_t* k, const uint16_t* v, float* out, int64_t out_stride, int64_t len,
                     int64_t query_begin, int64_t query_end, int64_t window, int64_t front, bool band,
                     int64_t query_block, int64_t keys_per_block, float scale, FusedScratch& s);

}  // namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS
#endif
