// GEMMs on CPU through oneDNN: BLAS-style sgemm for the attention and backward products, matmul
// primitives for the linear layers.
//
// linear() is deterministic by construction: the output is cut into fixed tiles of kTileRows x
// kTileCols and every tile is one single-threaded matmul of exactly that shape (a partial row tile
// is computed in zero-padded scratch). Each output element therefore goes through the same kernel
// and the same summation order whatever the batch around it and whatever the thread count, so a
// document's score never depends on its neighbours. The tile primitives read the weights from a copy
// made once per weight (LinearWeights::cache), reordered into the kernel's blocked layout: fp32, or
// bf16 (ComputeType::BF16: bf16 inputs, fp32 accumulation, AMX/AVX-512-BF16 kernels where the CPU has
// them). The bias is added to the accumulator and a residual (accumulate) is added last, as
// PyTorch's linear + add would.
#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include "medenc/error.h"
#include "ops/cpu/bf16.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/dnnl_engine.h"
#include "ops/cpu/int8.h"
#include "ops/cpu/parallel.h"

namespace medenc::ops::cpu {

namespace {

void sgemm_checked(char ta, char tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                   const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  dnnl_status_t st = dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (st != dnnl_success) throw Error("oneDNN sgemm failed with status " + std::to_string((int)st));
}

}  // namespace

void gemm(const Context&, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // C = beta * C
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  sgemm_checked(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

namespace {

// 96 rows: a multiple of the row blocking of oneDNN's AVX2 (6), AVX-512 (8) and AMX (16) kernels, so
// that no row of a tile falls in a remainder kernel with another summation order (128 rows would put
// rows 126-127 in one on AVX2). 512 columns: large enough that B panels are not re-packed too often.
constexpr int64_t kTileRows = 96;
constexpr int64_t kTileCols = 512;

// One tile shape's primitive. Tiles are shared by every weight of the same shape.
struct TileKernel {
  dnnl::matmul matmul;
  dnnl::memory::desc a, w, bias, c, scratchpad;
  dnnl::memory::desc w_user;  // [out, in] row-major, as the weights are stored
};

// fp32 tiles write into the output (leading dimension ldc = the layer's width) and add a residual
// with a sum post-op. bf16 tiles write a dense tile (ldc = cols) that linear() copies out, adding
// the residual: oneDNN 2.6 only takes its AMX kernel for a dense destination (a strided one falls
// back to an AVX-512 gemm at about half the speed), whereas for fp32 the strided gemm is the faster.
// Without AMX (AVX-512-BF16 only) the dense tile and copy-out measured ~6-9% faster too.
struct TileKey {
  int64_t cols, in, ldc;
  bool bias, accumulate, bf16;
  auto operator<=>(const TileKey&) const = default;
};

const TileKernel& tile_kernel(const TileKey& key) {
  static std::mutex mu;
  static std::map<TileKey, std::unique_ptr<TileKernel>> kernels;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = kernels[key];
  if (!slot) {
    using dt = dnnl::memory::data_type;
    const dt in_type = key.bf16 ? dt::bf16 : dt::f32;
    auto k = std::make_unique<TileKernel>();
    k->a = dnnl::memory::desc({kTileRows, key.in}, in_type, dnnl::memory::dims{key.in, 1});
    k->w_user = dnnl::memory::desc({key.in, key.cols}, in_type, dnnl::memory::dims{1, key.in});
    // The kernel picks its blocked layout (k->w is set from the primitive below).
    const dnnl::memory::desc wanted({key.in, key.cols}, in_type, dnnl::memory::format_tag::any);
    k->c = dnnl::memory::desc({kTileRows, key.cols}, dt::f32, dnnl::memory::dims{key.ldc, 1});
    if (key.bias) k->bias = dnnl::memory::desc({1, key.cols}, dt::f32, dnnl::memory::dims{key.cols, 1});
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (key.accumulate) {
      dnnl::post_ops po;
      po.append_sum(1.0f);
      attr.set_post_ops(po);
    }
    try {
      const dnnl::matmul::desc desc = key.bias ? dnnl::matmul::desc(k->a, wanted, k->bias, k->c)
                                               : dnnl::matmul::desc(k->a, wanted, k->c);
      const dnnl::matmul::primitive_desc pd = single_thread_matmul(desc, attr);
      k->scratchpad = pd.scratchpad_desc();
      k->w = pd.weights_desc();
      k->matmul = dnnl::matmul(pd);
    } catch (const dnnl::error& e) {
      throw Error(std::string("oneDNN matmul for a linear layer tile failed: ") + e.what());
    }
    slot = std::move(k);
  }
  return *slot;
}

}  // namespace

// Whether oneDNN has a real bf16 matmul here (AVX-512-BF16 or AMX). Without one (AVX2), bf16 mode
// emulates it: the inputs are rounded to bf16 values and multiplied by the fp32 kernels, which gives
// the same products and sums exactly in fp32.
bool native_bf16_matmul() {
  using dt = dnnl::memory::data_type;
  static const bool available = native_matmul(dt::bf16, dt::bf16, dt::f32, dnnl::memory::format_tag::ba, kTileRows);
  return available;
}

namespace {

// Rows [0, rows) of x (width k) rounded to bf16, rows [rows, padded_rows) zero. Out is uint16_t
// (bf16 bits, for bf16 GEMMs) or float (the same values, for emulated bf16 on fp32 GEMMs). The loops
// are per-ISA kernels (bf16_rows.cpp).
template <typename Out>
void to_bf16_padded(const float* x, int64_t rows, int64_t padded_rows, int64_t k, Out* out) {
  if constexpr (std::is_same_v<Out, uint16_t>) {
    bf16_rows(x, rows, padded_rows, k, out);
  } else {
    bf16_rounded_rows(x, rows, padded_rows, k, out);
  }
}

// What linear() derives from one weight, kept in LinearWeights::cache: one copy of each column tile
// of the weight in the blocked layout its kernel asked for (fp32, bf16, or fp32 holding bf16-rounded
// values for emulated bf16). Blocked weights save re-packing them in every tile (~15% faster in
// fp32, ~20% in bf16), for one more copy of the weights in memory.
struct PackedWeight {
  std::vector<dnnl::memory> tiles;
  dnnl::memory::desc full, tail;
  bool rounded = false;     // fp32 tiles holding bf16-rounded values
  std::vector<float> bias;  // paired: the bias in that order
};
struct LinearCache {
  // In the weight's column order, and in the paired-halves order (linear_tiles): kept apart, so that
  // a weight used both ways (inference and training of one model) is packed once for each.
  PackedWeight packed[2];
  std::mutex packing;
};

LinearCache& linear_cache(const LinearWeights& w) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (!w.cache) w.cache = std::make_shared<LinearCache>();
  return *static_cast<LinearCache*>(w.cache.get());
}

// The weight's column tiles reordered into the full and tail kernels' blocked layouts (once, or again
// if this weight meets kernels with other layouts). `round_to_bf16`: emulated bf16 (fp32 kernels fed
// bf16-rounded values); a bf16 kernel's layout takes bf16 bits.
// Paired halves (`paired`, for an output [a | b] of two halves of w.out / 2 columns whose column j
// and j + w.out / 2 belong together, as GeGLU's): column tile ct holds the next nc / 2 columns of
// each half, a's then b's, so that a tile epilogue sees both columns of every pair it is handed.
// Every column's products and sums are those of the unpaired layout: only the order of the tile's
// columns changes, not the tile widths (a tile of 512 takes 256 of each half).
const PackedWeight& packed_tiles(const LinearWeights& w, LinearCache& cache, const TileKernel& full,
                                const TileKernel& tail, int64_t col_tiles, bool round_to_bf16, bool paired) {
  std::lock_guard<std::mutex> lock(cache.packing);
  PackedWeight& packed = cache.packed[paired ? 1 : 0];
  if (!packed.tiles.empty() && packed.full == full.w && packed.tail == tail.w && packed.rounded == round_to_bf16)
    return packed;
  if (paired && w.bias) {
    packed.bias.resize((size_t)w.out);
    paired_weight_rows(w, kTileCols, 0, w.out, nullptr, packed.bias.data());
  }
  std::vector<dnnl::memory> tiles((size_t)col_tiles);
  #pragma omp parallel for schedule(static)
  for (int64_t ct = 0; ct < col_tiles; ++ct) {
    dnnl::stream stream(cpu_engine());
    const int64_t nc = std::min(w.out, (ct + 1) * kTileCols) - ct * kTileCols;
    const TileKernel& kernel = nc == kTileCols ? full : tail;  // as linear() picks it
    const float* source = w.weight + ct * kTileCols * w.in;   // nc rows of width in
    std::vector<float> gathered;  // paired: the tile's weight rows in that order
    if (paired) {
      gathered.resize((size_t)(nc * w.in));
      paired_weight_rows(w, kTileCols, ct * kTileCols, nc, gathered.data(), nullptr);
      source = gathered.data();
    }
    std::vector<uint16_t> bits;
    std::vector<float> rounded;
    void* user_data = const_cast<float*>(source);
    if (kernel.w_user.data_type() == dnnl::memory::data_type::bf16) {
      bits.resize((size_t)(nc * w.in));
      to_bf16_padded(source, nc, nc, w.in, bits.data());
      user_data = bits.data();
    } else if (round_to_bf16) {
      rounded.resize((size_t)(nc * w.in));
      to_bf16_padded(source, nc, nc, w.in, rounded.data());
      user_data = rounded.data();
    }
    dnnl::memory user(kernel.w_user, cpu_engine(), user_data);
    dnnl::memory packed(kernel.w, cpu_engine());
    dnnl::reorder(user, packed).execute(stream, user, packed);
    stream.wait();
    tiles[(size_t)ct] = packed;
  }
  packed.tiles = std::move(tiles);
  packed.full = full.w;
  packed.tail = tail.w;
  packed.rounded = round_to_bf16;
  return packed;
}

struct ThreadScratch {
  std::vector<float> a_pad, c_tile;
  std::vector<uint16_t> a_pad_bf16;
  std::vector<uint8_t> dnnl_scratch;
};

// linear() on fp32 rows x, or (x_bf16 set, bf16 mode with a native bf16 matmul) on rows already bf16.
// With `epilogue` (bf16 tiles only) each finished tile goes to it instead of into y; `paired`: the
// paired-halves column order (packed_tiles).
void linear_tiles(const Context& ctx, const LinearWeights& w, const float* x, const uint16_t* x_bf16, float* y,
                  int64_t rows, bool accumulate, const TileEpilogue* epilogue = nullptr, bool paired = false) {
  if (rows == 0) return;
  const int64_t K = w.in, N = w.out;
  const bool bf16_mode = ctx.compute == ComputeType::BF16;
  const bool bf16 = bf16_mode && native_bf16_matmul();  // bf16 tiles; else fp32 tiles
  const int64_t row_tiles = (rows + kTileRows - 1) / kTileRows;
  const int64_t col_tiles = (N + kTileCols - 1) / kTileCols;
  const int64_t tail_cols = N - (col_tiles - 1) * kTileCols;
  const bool has_bias = w.bias != nullptr;
  // fp32: partial row tiles write to scratch with leading dimension N too, so one kernel serves both.
  // bf16: every tile is written dense and copied out (see TileKey).
  auto key = [&](int64_t cols) {
    return bf16 ? TileKey{cols, K, cols, has_bias, false, true} : TileKey{cols, K, N, has_bias, accumulate, false};
  };
  const TileKernel& tail = tile_kernel(key(tail_cols));
  const TileKernel& full = N >= kTileCols ? tile_kernel(key(kTileCols)) : tail;
  const PackedWeight& packed = packed_tiles(w, linear_cache(w), full, tail, col_tiles, bf16_mode, paired);
  const std::vector<dnnl::memory>& weights = packed.tiles;
  const float* bias = paired && has_bias ? packed.bias.data() : w.bias;

  // bf16 inputs: the rows converted once, zero-padded to whole tiles.
  // Emulated bf16: the rows rounded to bf16 values in fp32, zero-padded likewise.
  // bf16 rows given: used as they are, a partial last tile copied zero-padded below.
  static thread_local std::vector<uint16_t> x_converted;
  static thread_local std::vector<float> x_rounded;
  const uint16_t* xb = x_bf16;
  if (bf16 && !x_bf16) {
    x_converted.resize((size_t)(row_tiles * kTileRows * K));
    to_bf16_padded(x, rows, row_tiles * kTileRows, K, x_converted.data());
    xb = x_converted.data();
  } else if (bf16_mode && !bf16) {
    x_rounded.resize((size_t)(row_tiles * kTileRows * K));
    to_bf16_padded(x, rows, row_tiles * kTileRows, K, x_rounded.data());
    x = x_rounded.data();  // whole tiles: no partial-tile copy needed below
  }

  // The tile, not the thread, fixes each output's summation order.
  parallel_items(row_tiles * col_tiles, [&](int64_t tile) {
    static thread_local ThreadScratch scratch;
    static thread_local dnnl::stream stream(cpu_engine());
    const int64_t rt = tile / col_tiles, ct = tile % col_tiles;
    const int64_t r0 = rt * kTileRows, r1 = std::min(rows, r0 + kTileRows);
    const int64_t c0 = ct * kTileCols, nc = std::min(N, c0 + kTileCols) - c0;
    const bool full_rows = (r1 - r0) == kTileRows;
    const TileKernel& kernel = nc == kTileCols ? full : tail;
    // A operand: bf16 rows, the input rows directly, or a zero-padded copy for a partial tile.
    void* a = nullptr;
    if (bf16 && x_bf16 && !full_rows) {
      scratch.a_pad_bf16.assign((size_t)(kTileRows * K), 0);
      std::memcpy(scratch.a_pad_bf16.data(), xb + r0 * K, sizeof(uint16_t) * (size_t)((r1 - r0) * K));
      a = scratch.a_pad_bf16.data();
    } else if (bf16) {
      a = const_cast<uint16_t*>(xb + r0 * K);
    } else if (full_rows || bf16_mode) {
      a = const_cast<float*>(x + r0 * K);
    } else {
      scratch.a_pad.assign((size_t)(kTileRows * K), 0.0f);
      std::memcpy(scratch.a_pad.data(), x + r0 * K, sizeof(float) * (size_t)((r1 - r0) * K));
      a = scratch.a_pad.data();
    }
    // C operand: y itself for full fp32 tiles, else a scratch tile copied out afterwards.
    const bool in_place = !bf16 && full_rows;
    const int64_t ldc = bf16 ? nc : N;
    float* c = y + r0 * N + c0;
    if (!in_place) {
      // Rows past r1 are computed from zero inputs and dropped, so the scratch needs no zeroing.
      if (scratch.c_tile.size() < (size_t)(kTileRows * ldc)) scratch.c_tile.resize((size_t)(kTileRows * ldc));
      if (accumulate && !bf16)  // the sum post-op adds what the tile holds
        for (int64_t r = r0; r < r1; ++r)
          std::memcpy(scratch.c_tile.data() + (r - r0) * ldc, y + r * N + c0, sizeof(float) * (size_t)nc);
      c = scratch.c_tile.data();
    }
    if (scratch.dnnl_scratch.size() < kernel.scratchpad.get_size())
      scratch.dnnl_scratch.resize(kernel.scratchpad.get_size());
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, dnnl::memory(kernel.a, cpu_engine(), a)},
        {DNNL_ARG_WEIGHTS, weights[(size_t)ct]},
        {DNNL_ARG_DST, dnnl::memory(kernel.c, cpu_engine(), c)},
        {DNNL_ARG_SCRATCHPAD, dnnl::memory(kernel.scratchpad, cpu_engine(), scratch.dnnl_scratch.data())}};
    if (has_bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(kernel.bias, cpu_engine(), const_cast<float*>(bias + c0)));
    kernel.matmul.execute(stream, args);
    if (in_place) return;
    if (epilogue) {
      (*epilogue)(scratch.c_tile.data(), ldc, r0, r1, c0, nc);
    } else if (bf16 && accumulate) {  // (x W + b) + residual: the one rounding the sum post-op makes
      add_tile_rows(scratch.c_tile.data(), r1 - r0, nc, ldc, y + r0 * N + c0, N);
    } else {
      for (int64_t r = r0; r < r1; ++r)
        std::memcpy(y + r * N + c0, scratch.c_tile.data() + (r - r0) * ldc, sizeof(float) * (size_t)nc);
    }
  });
}

}  // namespace

void linear(const Context& ctx, const LinearWeights& w, const float* x, float* y, int64_t rows, bool accumulate) {
  linear_tiles(ctx, w, x, nullptr, y, rows, accumulate);
}

void linear(const Context& ctx, const LinearWeights& w, const uint16_t* x_bf16, float* y, int64_t rows,
            bool accumulate) {
  if (ctx.compute == ComputeType::BF16 && native_bf16_matmul())
    return linear_tiles(ctx, w, nullptr, x_bf16, y, rows, accumulate);
  const std::vector<float> widened = bf16_widened(x_bf16, rows * w.in);
  linear_tiles(ctx, w, widened.data(), nullptr, y, rows, accumulate);
}

int64_t paired_column(int64_t out, int64_t tile_cols, int64_t p) {
  const int64_t ct = p / tile_cols, u = p % tile_cols;
  const int64_t nc = std::min(out, (ct + 1) * tile_cols) - ct * tile_cols, first = ct * tile_cols / 2;
  return u < nc / 2 ? first + u : out / 2 + first + (u - nc / 2);
}

void paired_weight_rows(const LinearWeights& w, int64_t tile_cols, int64_t p0, int64_t n, float* rows, float* bias) {
  for (int64_t u = 0; u < n; ++u) {
    const int64_t from = paired_column(w.out, tile_cols, p0 + u);
    if (rows) std::memcpy(rows + u * w.in, w.weight + from * w.in, sizeof(float) * (size_t)w.in);
    if (bias) bias[u] = w.bias[from];
  }
}

bool linear_tiles_available(const Context& ctx) {
  return ctx.compute == ComputeType::INT8 || (ctx.compute == ComputeType::BF16 && native_bf16_matmul());
}

void linear_tiles(const Context& ctx, const LinearWeights& w, const LinearInput& x, int64_t rows, bool paired,
                  const TileEpilogue& epilogue) {
  if (!linear_tiles_available(ctx)) throw Error("linear_tiles: not in bf16 with a native bf16 matmul, nor in int8");
  if (paired && w.out % 2 != 0) throw Error("linear_tiles: paired halves need an even number of outputs");
  // Other input forms as ops::linear takes them: int8 rows in bf16 mode as their values, bf16 rows in
  // int8 mode widened.
  if (ctx.compute == ComputeType::INT8) {
    if (x.q) return linear_int8_tiles(w, nullptr, x.q, x.scales, rows, paired, epilogue);
    const std::vector<float> widened = x.bf16 ? bf16_widened(x.bf16, rows * w.in) : std::vector<float>();
    return linear_int8_tiles(w, x.bf16 ? widened.data() : x.f32, nullptr, nullptr, rows, paired, epilogue);
  }
  if (x.q) {
    const std::vector<float> values = int8_values(x.q, x.scales, rows, w.in);
    return linear_tiles(ctx, w, values.data(), nullptr, nullptr, rows, false, &epilogue, paired);
  }
  linear_tiles(ctx, w, x.bf16 ? nullptr : x.f32, x.bf16, nullptr, rows, false, &epilogue, paired);
}

std::vector<float> bf16_widened(const uint16_t* x, int64_t n) {
  std::vector<float> out((size_t)n);
  for (int64_t i = 0; i < n; ++i) out[(size_t)i] = bf16::to_f32(x[i]);
  return out;
}

}  // namespace medenc::ops::cpu
