// The int8 linear layers (`--dtype int8`): dynamic quantization as ONNX Runtime and CTranslate2 do
// it on CPU. Weights are quantized once per output channel (symmetric int8, scale max|W[c]| / 127),
// inputs per row on every call (int8_rows.cpp), the product runs on integers with int32
// accumulation, and the result is scaled back and the bias added in fp32:
//   y[r, c] = float(sum_k qx[r, k] qw[c, k]) * (sx[r] * sw[c]) + b[c]   (+ the residual y[r, c])
// Integer sums are exact, so the output does not depend on the summation order: the thread count and
// the rows around a row cannot change it. Only the kernel choice must keep them exact:
// - oneDNN's s8s8s32 matmul where the CPU has VNNI (AVX-512-VNNI, AVX-VNNI) or AMX, whose dot
//   products accumulate in int32 without saturation (without VNNI, oneDNN's int8 kernels go through
//   saturating int16 pairs and halve s8 weights, so they are not used);
// - otherwise an exact fallback on fp32 GEMMs: the int8 values as floats, multiplied in blocks of
//   1,024 along k, where every partial sum is an integer below 2^24 and so exact in fp32, the blocks
//   then added in int32.
// Like gemm.cpp, the output is cut into fixed tiles of kTileRows x kTileCols, each one single-threaded
// primitive run inside our own parallel loop, with the weights packed once per column tile.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include "medenc/error.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/dnnl_engine.h"
#include "ops/cpu/int8.h"
#include "ops/cpu/parallel.h"

namespace medenc::ops::cpu {

namespace {

constexpr int64_t kTileRows = 96;
constexpr int64_t kTileCols = 512;
// Products per fp32 block of the fallback: 1024 * 127 * 127 < 2^24.
constexpr int64_t kExactBlock = 1024;

std::atomic<bool> g_force_fallback{false};

// oneDNN's int8 matmul is exact here: a VNNI or AMX ISA and a non-reference kernel for s8s8s32.
bool onednn_int8_exact() {
  static const bool ok = [] {
    const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    const bool vnni = (isa & (unsigned)dnnl_cpu_isa_avx512_core_vnni) == (unsigned)dnnl_cpu_isa_avx512_core_vnni ||
                      (isa & (unsigned)dnnl_cpu_isa_avx2_vnni) == (unsigned)dnnl_cpu_isa_avx2_vnni;
    if (!vnni) return false;
    using dt = dnnl::memory::data_type;
    return native_matmul(dt::s8, dt::s8, dt::s32, dnnl::memory::format_tag::any, kTileRows);
  }();
  return ok;
}

bool use_onednn() { return !g_force_fallback.load(std::memory_order_relaxed) && onednn_int8_exact(); }

// One tile shape's s8 x s8 -> s32 primitive (dense int32 tile, no bias: linear_int8 scales it).
struct Int8TileKernel {
  dnnl::matmul matmul;
  dnnl::memory::desc a, w, c, scratchpad, w_user;
};

const Int8TileKernel& int8_tile_kernel(int64_t cols, int64_t in) {
  static std::mutex mu;
  static std::map<std::pair<int64_t, int64_t>, std::unique_ptr<Int8TileKernel>> kernels;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = kernels[{cols, in}];
  if (!slot) {
    using dt = dnnl::memory::data_type;
    auto k = std::make_unique<Int8TileKernel>();
    k->a = dnnl::memory::desc({kTileRows, in}, dt::s8, dnnl::memory::dims{in, 1});
    k->w_user = dnnl::memory::desc({in, cols}, dt::s8, dnnl::memory::dims{1, in});  // [out, in] row-major
    const dnnl::memory::desc wanted({in, cols}, dt::s8, dnnl::memory::format_tag::any);
    k->c = dnnl::memory::desc({kTileRows, cols}, dt::s32, dnnl::memory::dims{cols, 1});
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    try {
      const dnnl::matmul::primitive_desc pd = single_thread_matmul(dnnl::matmul::desc(k->a, wanted, k->c), attr);
      k->scratchpad = pd.scratchpad_desc();
      k->w = pd.weights_desc();
      k->matmul = dnnl::matmul(pd);
    } catch (const dnnl::error& e) {
      throw Error(std::string("oneDNN int8 matmul for a linear layer tile failed: ") + e.what());
    }
    slot = std::move(k);
  }
  return *slot;
}

// What linear_int8 derives from one weight (LinearWeights::int8_cache): the per-channel scales, the
// quantized weight, and its column tiles packed for the oneDNN kernels or, for the fallback, as
// floats.
struct Int8Weight {
  std::vector<float> scales;  // [out]
  std::vector<int8_t> q;      // [out, in]
  std::vector<float> bias;    // the paired order's bias (the plain order uses w.bias)
  std::vector<dnnl::memory> packed_tiles;
  std::vector<float> q_float;  // [out, in], the fallback's operand
};
// In the weight's column order and in linear_tiles' paired-halves order (each made only when used; a
// channel's quantization does not depend on its position, so both orders hold the same channels).
struct Int8Cache {
  std::mutex mu;
  Int8Weight order[2];
};

Int8Cache& int8_cache(const LinearWeights& w) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (!w.int8_cache) w.int8_cache = std::make_shared<Int8Cache>();
  return *static_cast<Int8Cache*>(w.int8_cache.get());
}

// Quantizes the weight (once), and packs it for the kernel in use (once per kind and order).
const Int8Weight& prepared(const LinearWeights& w, bool onednn, bool paired) {
  Int8Cache& c = int8_cache(w);
  std::lock_guard<std::mutex> lock(c.mu);
  const int64_t K = w.in, N = w.out;
  Int8Weight& cache = c.order[paired ? 1 : 0];
  if (cache.q.empty()) {
    cache.scales.resize((size_t)N);
    cache.q.resize((size_t)(N * K));
    const float* rows = w.weight;
    std::vector<float> gathered;  // paired: the weight's rows in that order
    if (paired) {
      gathered.resize((size_t)(N * K));
      if (w.bias) cache.bias.resize((size_t)N);
      paired_weight_rows(w, kTileCols, 0, N, gathered.data(), w.bias ? cache.bias.data() : nullptr);
      rows = gathered.data();
    }
    // A weight row is an activation row to int8_rows: the same symmetric rule, per output channel.
    int8_rows(rows, N, N, K, cache.q.data(), cache.scales.data());
  }
  const int64_t col_tiles = (N + kTileCols - 1) / kTileCols;
  if (onednn && cache.packed_tiles.empty()) {
    std::vector<dnnl::memory> tiles((size_t)col_tiles);
    for (int64_t ct = 0; ct < col_tiles; ++ct) {
      const int64_t nc = std::min(N, (ct + 1) * kTileCols) - ct * kTileCols;
      const Int8TileKernel& kernel = int8_tile_kernel(nc, K);
      dnnl::stream stream(cpu_engine());
      dnnl::memory user(kernel.w_user, cpu_engine(), cache.q.data() + ct * kTileCols * K);
      dnnl::memory packed(kernel.w, cpu_engine());
      dnnl::reorder(user, packed).execute(stream, user, packed);
      stream.wait();
      tiles[(size_t)ct] = packed;
    }
    cache.packed_tiles = std::move(tiles);
  }
  if (!onednn && cache.q_float.empty()) cache.q_float.assign(cache.q.begin(), cache.q.end());
  return cache;
}

struct Int8Scratch {
  std::vector<int8_t> a_pad;
  std::vector<int32_t> acc;
  std::vector<float> block;
  std::vector<float> tile;  // a dequantized tile for an epilogue
  std::vector<uint8_t> dnnl_scratch;
};

// The fallback's tile: acc[r, j] = sum_k xq[r, k] wq[j, k] exactly, for kTileRows rows and nc columns.
void exact_tile_fp32(const float* xq, const float* wq, int64_t K, int64_t nc, int32_t* acc, Int8Scratch& s) {
  std::fill(acc, acc + kTileRows * nc, 0);
  s.block.resize((size_t)(kTileRows * nc));
  for (int64_t k0 = 0; k0 < K; k0 += kExactBlock) {
    const int64_t kb = std::min(kExactBlock, K - k0);
    dnnl_status_t st = dnnl_sgemm('N', 'T', kTileRows, nc, kb, 1.0f, xq + k0, K, wq + k0, K, 0.0f, s.block.data(), nc);
    if (st != dnnl_success) throw Error("oneDNN sgemm failed with status " + std::to_string((int)st));
    for (int64_t i = 0; i < kTileRows * nc; ++i) acc[i] += (int32_t)s.block[(size_t)i];
  }
}

}  // namespace

std::string int8_gemm_kernel() { return use_onednn() ? "onednn" : "exact-fp32"; }

void force_int8_fallback(bool on) { g_force_fallback.store(on, std::memory_order_relaxed); }

namespace {

// linear_int8 on fp32 rows x, or (q_in set) on rows already quantized, with their scales.
// With `epilogue`, each tile goes to it (dequantized into a dense scratch tile) instead of into y;
// `paired`: in linear_tiles' paired-halves column order.
void int8_tiles(const LinearWeights& w, const float* x, const int8_t* q_in, const float* scales_in, float* y,
                int64_t rows, bool accumulate, const TileEpilogue* epilogue = nullptr, bool paired = false) {
  if (rows == 0) return;
  const int64_t K = w.in, N = w.out;
  const bool onednn = use_onednn();
  const Int8Weight& cache = prepared(w, onednn, paired);
  const float* bias_all = paired && w.bias ? cache.bias.data() : w.bias;
  const int64_t row_tiles = (rows + kTileRows - 1) / kTileRows;
  const int64_t col_tiles = (N + kTileCols - 1) / kTileCols;

  // The input rows quantized once, zero-padded to whole tiles (the fallback also as floats). Rows
  // given quantized are used as they are, a partial last tile copied zero-padded below.
  static thread_local std::vector<int8_t> xq;
  static thread_local std::vector<float> xscale, xq_float;
  const int64_t padded = row_tiles * kTileRows;
  const int8_t* xqp = q_in;
  const float* sx = scales_in;
  if (!q_in) {
    xq.resize((size_t)(padded * K));
    xscale.resize((size_t)padded);
    int8_rows(x, rows, padded, K, xq.data(), xscale.data());
    xqp = xq.data();
    sx = xscale.data();
  }
  if (!onednn) {
    xq_float.assign((size_t)(padded * K), 0.0f);
    std::copy(xqp, xqp + rows * K, xq_float.begin());
  }
  const float* xqf = xq_float.data();

  parallel_items(row_tiles * col_tiles, [&](int64_t tile) {
    static thread_local Int8Scratch scratch;
    static thread_local dnnl::stream stream(cpu_engine());
    const int64_t rt = tile / col_tiles, ct = tile % col_tiles;
    const int64_t r0 = rt * kTileRows, r1 = std::min(rows, r0 + kTileRows);
    const int64_t c0 = ct * kTileCols, nc = std::min(N, c0 + kTileCols) - c0;
    if (scratch.acc.size() < (size_t)(kTileRows * nc)) scratch.acc.resize((size_t)(kTileRows * nc));
    int32_t* acc = scratch.acc.data();
    if (onednn) {
      const Int8TileKernel& kernel = int8_tile_kernel(nc, K);
      if (scratch.dnnl_scratch.size() < kernel.scratchpad.get_size())
        scratch.dnnl_scratch.resize(kernel.scratchpad.get_size());
      const int8_t* a = xqp + r0 * K;
      if (q_in && r1 - r0 < kTileRows) {  // a given partial tile: zero-padded
        scratch.a_pad.assign((size_t)(kTileRows * K), 0);
        std::memcpy(scratch.a_pad.data(), a, (size_t)((r1 - r0) * K));
        a = scratch.a_pad.data();
      }
      kernel.matmul.execute(
          stream, {{DNNL_ARG_SRC, dnnl::memory(kernel.a, cpu_engine(), const_cast<int8_t*>(a))},
                   {DNNL_ARG_WEIGHTS, cache.packed_tiles[(size_t)ct]},
                   {DNNL_ARG_DST, dnnl::memory(kernel.c, cpu_engine(), acc)},
                   {DNNL_ARG_SCRATCHPAD,
                    dnnl::memory(kernel.scratchpad, cpu_engine(), scratch.dnnl_scratch.data())}});
    } else {
      exact_tile_fp32(xqf + r0 * K, cache.q_float.data() + c0 * K, K, nc, acc, scratch);
    }
    // Back to fp32: one scale product per output, then the bias, then the residual.
    const float* bias = bias_all ? bias_all + c0 : nullptr;
    if (epilogue) {
      scratch.tile.resize((size_t)(kTileRows * nc));
      int8_dequantize_rows(acc, r1 - r0, nc, sx + r0, cache.scales.data() + c0, bias, scratch.tile.data(), nc,
                           false);
      (*epilogue)(scratch.tile.data(), nc, r0, r1, c0, nc);
    } else {
      int8_dequantize_rows(acc, r1 - r0, nc, sx + r0, cache.scales.data() + c0, bias, y + r0 * N + c0, N,
                           accumulate);
    }
  });
}

}  // namespace

void linear_int8(const Context&, const LinearWeights& w, const float* x, float* y, int64_t rows, bool accumulate) {
  int8_tiles(w, x, nullptr, nullptr, y, rows, accumulate);
}

void linear_int8(const Context&, const LinearWeights& w, const int8_t* q, const float* scales, float* y, int64_t rows,
                 bool accumulate) {
  int8_tiles(w, nullptr, q, scales, y, rows, accumulate);
}

void linear_int8_tiles(const LinearWeights& w, const float* x, const int8_t* q, const float* scales, int64_t rows,
                       bool paired, const TileEpilogue& epilogue) {
  int8_tiles(w, x, q, scales, nullptr, rows, false, &epilogue, paired);
}

std::vector<float> int8_values(const int8_t* q, const float* scales, int64_t rows, int64_t k) {
  std::vector<float> out((size_t)(rows * k));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < k; ++i) out[(size_t)(r * k + i)] = (float)q[r * k + i] * scales[r];
  return out;
}

}  // namespace medenc::ops::cpu
