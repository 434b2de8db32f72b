// Attention over unpadded sequences on CPU, with no rows x rows buffer at any length.
//
// One sequential pass first splits the packed qkv rows into contiguous zero-padded per-(sequence,
// head) panels (split_heads, which also applies RoPE to Q and K when asked); work items are then
// (sequence, head) pairs, each run single-threaded by one thread, and a last pass merges the output
// panels back into rows (merge_heads). Queries are processed in blocks of query_block_of() rows. A
// block visits the panel rows it may need (all keys on global layers and for short sequences; else
// the band [i0 - w, i0 + block + w) on local layers, which the panel's w leading zero rows make a
// fixed-size window) in chunks of at most kKeyChunk keys: S = scale * Q K^T is one oneDNN matmul,
// each row gets a max-subtracted fp32 softmax carried across chunks (online rescaling), and
// O += P V is a second matmul. Keys outside |i - j| <= w and padding keys get exactly zero weight.
// Rows are divided by their sums at the end.
//
// bf16 with head size 64 on a CPU with AVX-512-BF16 runs the fused kernel of attention_bf16.cpp
// instead of the two oneDNN GEMMs per chunk (the same bands; K and V written by split_heads_fused
// straight into the layouts its dot products read, see attention_bf16.h; work items of at most ~2,048 queries; each output row
// written straight into `out`, with no merge pass).
//
// The padding keeps the number of distinct GEMM shapes small (global chunks are multiples of
// kKeyAlign keys; every local block has the same shape), so each shape is one matmul primitive
// created once and reused. Every shape depends only on the sequence's own length, so a document's
// attention output never depends on its batch neighbours or on the thread count.
//
// ComputeType::BF16: Q, K, V and the probabilities P enter both products as bf16 (fp32
// accumulation), natively where the CPU multiplies bf16, else as bf16-rounded fp32 values. The
// scale, the max-subtraction, exp and the row sums stay fp32: a score's absolute error becomes a
// relative error of its weight after exp, so what is rounded is only the inputs of the dot products
// (relative error 2^-9 each), never the scores themselves.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <type_traits>
#include <utility>
#include <unordered_map>
#include <vector>

#include "medenc/error.h"
#include "ops/cpu/attention_bf16.h"
#include "ops/cpu/bf16.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/dnnl_engine.h"
#include "ops/cpu/parallel.h"
#include "ops/cpu/vec_math.h"

namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS {

namespace {

// Global layers: larger query blocks amortise the GEMM packing over long key runs (256 rows: ~5%
// faster than 128 at 8,192 tokens, but up to 255 padding rows, so only for long sequences); local
// layers: smaller ones waste fewer keys outside the band (64: no slower than 32 or 128, and 16 was
// slower).
constexpr int64_t kGlobalQueryBlock = 128, kLongGlobalQueryBlock = 256, kLongSequence = 4096;
constexpr int64_t kLocalQueryBlock = 64;
constexpr int64_t kKeyChunk = 1024;  // keys per score tile: up to 256 x 1024 fp32 (1 MB) stays in L2
constexpr int64_t kKeyAlign = 64;    // global key panels are padded to a multiple of this

// One GEMM shape of the attention: S = scale * Q K^T (qk) or O += P V.
struct AttentionGemmKey {
  bool qk;
  int64_t rows, keys, head_dim;
  bool bf16;
  float scale;
  auto operator<=>(const AttentionGemmKey&) const = default;
};

struct AttentionGemm {
  dnnl::matmul matmul;
  dnnl::memory::desc a, b, c;
  size_t scratchpad_bytes = 0;
};

const AttentionGemm& attention_gemm(const AttentionGemmKey& key) {
  static std::mutex mu;
  static std::map<AttentionGemmKey, std::unique_ptr<AttentionGemm>> gemms;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = gemms[key];
  if (!slot) {
    using dt = dnnl::memory::data_type;
    using dims = dnnl::memory::dims;
    const dt in = key.bf16 ? dt::bf16 : dt::f32;
    const int64_t m = key.rows, n = key.keys, d = key.head_dim;
    auto g = std::make_unique<AttentionGemm>();
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (key.qk) {
      g->a = dnnl::memory::desc({m, d}, in, dims{d, 1});        // Q block
      g->b = dnnl::memory::desc({d, n}, in, dims{1, d});        // K panel rows, read transposed
      g->c = dnnl::memory::desc({m, n}, dt::f32, dims{n, 1});   // scores
      attr.set_output_scales(0, {key.scale});
    } else {
      g->a = dnnl::memory::desc({m, n}, in, dims{n, 1});        // probabilities
      g->b = dnnl::memory::desc({n, d}, in, dims{d, 1});        // V panel rows
      g->c = dnnl::memory::desc({m, d}, dt::f32, dims{d, 1});   // output block, accumulated
      dnnl::post_ops po;
      po.append_sum(1.0f);
      attr.set_post_ops(po);
    }
    try {
      const dnnl::matmul::primitive_desc pd = single_thread_matmul(dnnl::matmul::desc(g->a, g->b, g->c), attr);
      g->scratchpad_bytes = pd.scratchpad_desc().get_size();
      g->matmul = dnnl::matmul(pd);
    } catch (const dnnl::error& e) {
      throw Error(std::string("oneDNN matmul for attention failed: ") + e.what());
    }
    slot = std::move(g);
  }
  return *slot;
}

// A value as the P V operand type: bf16 (always rounded), or fp32 rounded only in emulated bf16 mode.
template <typename Elem>
inline Elem convert(float x, bool round) {
  if constexpr (std::is_same_v<Elem, uint16_t>) {
    return bf16_as<uint16_t>(x);
  } else {
    return round ? bf16_as<float>(x) : x;
  }
}

// The sequence that packed row `row` belongs to.
inline int64_t sequence_of(const int64_t* cu_seqlens, int64_t batch, int64_t row) {
  return std::upper_bound(cu_seqlens, cu_seqlens + batch + 1, row) - cu_seqlens - 1;
}

// Q, K and V of every (sequence, head) as contiguous zero-padded panels. Reading them straight from
// the packed qkv rows strides 3 x hidden floats between rows (a new page almost every row), and those
// misses cost more than the local layers' arithmetic; one sequential pass over qkv writes them here.
// A sequence's panels have `front[b]` zero rows (the half-window w when its local layer runs per-block
// bands, so that query block i0's band starts at panel row i0; else none), its own rows, and zero
// rows up to `rows[b]`. Q, K and V have the element type of the products (P V's and Q K^T's).
template <typename Elem>
struct Panels {
  int64_t d = 0;
  int heads = 0;
  std::vector<int64_t> rows;   // per sequence
  std::vector<int64_t> front;  // per sequence
  std::vector<int64_t> start;  // per sequence: offset of its head-0 panel, in rows of d
  std::vector<Elem> q, k, v;  // (fused: k and v unused)
  std::vector<float> o;  // the attention output, merged back into rows at the end (not fused)
  std::vector<uint16_t> k_packed, v_packed;  // the fused kernel's K and V (attention_bf16.h), with q
  int64_t panel(int64_t b, int64_t h) const { return (start[b] + h * rows[b]) * d; }
};

int64_t round_up(int64_t x, int64_t multiple) { return (x + multiple - 1) / multiple * multiple; }

// The fused kernel's global query block (a multiple of its 6-row strips: 16 strips).
constexpr int64_t kFusedGlobalQueryBlock = 96;

// Query rows per block for a sequence of `len` tokens on a layer with half-window `window` (< 0:
// global).
int64_t query_block_of(int64_t len, int64_t window, bool fused = false) {
  if (window >= 0) return kLocalQueryBlock;
  if (fused) return kFusedGlobalQueryBlock;
  return len >= kLongSequence ? kLongGlobalQueryBlock : kGlobalQueryBlock;
}

// Whether a sequence of `len` tokens on a layer with half-window `window` (< 0: global) visits
// per-block bands of block + 2w keys; short ones are cheaper as one masked range of all their keys.
bool uses_bands(int64_t len, int64_t window) {
  return window >= 0 && kLocalQueryBlock + 2 * window < round_up(len, kKeyAlign);
}

// Key rows one query block visits in the fused kernel: its band or all keys, a multiple of 64.
int64_t fused_keys_per_block(int64_t len, int64_t window) {
  return uses_bands(len, window) ? round_up(kLocalQueryBlock + 2 * window, 64) : round_up(len, 64);
}

// cos and sin of position * inv_freq[j] for positions [0, positions), exactly what rope_angles gives:
// made once per inverse-frequency table (one per RoPE theta) and reused by every layer and call.
// Computing them per token on every layer (cos and sin in double) cost ~8% of the attention's time.
struct RopeTable {
  std::vector<float> inv_freq;  // [half]: the key
  int64_t positions = 0;
  std::vector<float> cos, sin;  // [positions][half]
  const float* cos_at(int32_t position) const { return cos.data() + (size_t)position * inv_freq.size(); }
  const float* sin_at(int32_t position) const { return sin.data() + (size_t)position * inv_freq.size(); }
};

// Positions beyond this (or negative ones) are computed per token instead: a table bounds its memory
// (here 16 MB at head size 64).
constexpr int64_t kMaxTabledPositions = int64_t{1} << 16;

// The table for this inv_freq covering positions [0, positions) (positions <= kMaxTabledPositions),
// from a small process-wide cache; tables are immutable once shared, a longer one replaces a shorter.
std::shared_ptr<const RopeTable> rope_table(const float* inv_freq, int half, int64_t positions) {
  static std::mutex mu;
  static std::vector<std::shared_ptr<const RopeTable>> tables;  // most recently made last
  constexpr size_t kMaxTables = 8;
  std::lock_guard<std::mutex> lock(mu);
  auto same_key = [&](const RopeTable& t) {
    return t.inv_freq.size() == (size_t)half && std::equal(t.inv_freq.begin(), t.inv_freq.end(), inv_freq);
  };
  auto it = std::find_if(tables.begin(), tables.end(), [&](const auto& t) { return same_key(*t); });
  if (it != tables.end() && (*it)->positions >= positions) return *it;
  auto t = std::make_shared<RopeTable>();
  t->inv_freq.assign(inv_freq, inv_freq + half);
  t->positions = std::min(kMaxTabledPositions, round_up(positions, 1024));  // room for a little growth
  t->cos.resize((size_t)(t->positions * half));
  t->sin.resize((size_t)(t->positions * half));
  for (int64_t pos = 0; pos < t->positions; ++pos)
    rope_angles((int32_t)pos, inv_freq, half, t->cos.data() + pos * half, t->sin.data() + pos * half);
  if (it != tables.end()) tables.erase(it);
  if (tables.size() == kMaxTables) tables.erase(tables.begin());
  tables.push_back(t);
  return t;
}

// The cached table for `rows` tokens' positions, or null where a position is out of its range.
std::shared_ptr<const RopeTable> rope_table_for(const Rotary& rotary, int64_t rows, int half) {
  int32_t lo = 0, hi = -1;
  for (int64_t r = 0; r < rows; ++r) {
    lo = std::min(lo, rotary.positions[r]);
    hi = std::max(hi, rotary.positions[r]);
  }
  if (lo < 0 || hi < 0 || hi >= kMaxTabledPositions) return nullptr;
  return rope_table(rotary.inv_freq, half, (int64_t)hi + 1);
}

// The cos and sin of the token's position (rotary set): the table's rows, or (table null) computed
// into cos_buf and sin_buf.
std::pair<const float*, const float*> rope_row(const RopeTable* table, const Rotary& rotary, int64_t token, int half,
                                               float* cos_buf, float* sin_buf) {
  const int32_t position = rotary.positions[token];
  if (table) return {table->cos_at(position), table->sin_at(position)};
  rope_angles(position, rotary.inv_freq, half, cos_buf, sin_buf);
  return {cos_buf, sin_buf};
}

// Sets the panels' sizes and offsets (the layout above); returns their total rows over all heads.
template <typename Elem>
int64_t lay_out_panels(const int64_t* cu_seqlens, int64_t batch, int heads, int64_t d, int64_t window, bool fused,
                       Panels<Elem>& p) {
  p.d = d;
  p.heads = heads;
  p.rows.resize((size_t)batch);
  p.front.resize((size_t)batch);
  p.start.resize((size_t)batch);
  int64_t total = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t len = cu_seqlens[b + 1] - cu_seqlens[b];
    p.front[b] = uses_bands(len, window) ? window : 0;
    p.rows[b] = 2 * p.front[b] + round_up(len, std::max(query_block_of(len, window, fused), kKeyAlign));
    // Fused: a multiple of 64 rows, and 64 more zero rows, which a band's last chunk (rounded up to
    // 64 keys) may read; every row it reads is then its own sequence's, and finite.
    if (fused) p.rows[b] = round_up(p.rows[b], 64) + 64;
    p.start[b] = total;
    total += heads * p.rows[b];
  }
  return total;
}

template <typename Elem>
void split_heads(const float* qkv, const int64_t* cu_seqlens, int64_t batch, int heads, int64_t d, int64_t window,
                 bool round, const Rotary* rotary, Panels<Elem>& p) {
  const int64_t hidden = heads * d, stride = 3 * hidden;
  const int64_t total = lay_out_panels(cu_seqlens, batch, heads, d, window, false, p);
  p.q.resize((size_t)(total * d));
  p.k.resize((size_t)(total * d));
  p.v.resize((size_t)(total * d));
  p.o.resize((size_t)(total * d));
  #pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < batch; ++b) {  // zero rows: front and tail of every panel
    const int64_t len = cu_seqlens[b + 1] - cu_seqlens[b], front = p.front[b];
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t at = p.panel(b, h);
      const size_t head_rows = (size_t)(front * d), tail_rows = (size_t)((p.rows[b] - front - len) * d);
      const int64_t tail = at + (front + len) * d;
      std::memset(p.q.data() + at, 0, sizeof(Elem) * head_rows);
      std::memset(p.k.data() + at, 0, sizeof(Elem) * head_rows);
      std::memset(p.v.data() + at, 0, sizeof(Elem) * head_rows);
      std::memset(p.q.data() + tail, 0, sizeof(Elem) * tail_rows);
      std::memset(p.k.data() + tail, 0, sizeof(Elem) * tail_rows);
      std::memset(p.v.data() + tail, 0, sizeof(Elem) * tail_rows);
    }
  }
  const int half = (int)(d / 2);
  const std::shared_ptr<const RopeTable> table = rotary ? rope_table_for(*rotary, cu_seqlens[batch], half) : nullptr;
  #pragma omp parallel
  {
    std::vector<float> cos_row(rotary ? (size_t)half : 0), sin_row(rotary ? (size_t)half : 0);
    std::vector<float> rotated((size_t)d);
    #pragma omp for schedule(static)
    for (int64_t b_row = 0; b_row < cu_seqlens[batch]; ++b_row) {
      const int64_t b = sequence_of(cu_seqlens, batch, b_row);
      const int64_t i = b_row - cu_seqlens[b];
      const float* row = qkv + b_row * stride;
      const auto [cos_v, sin_v] = rotary ? rope_row(table.get(), *rotary, b_row, half, cos_row.data(), sin_row.data())
                                         : std::pair<const float*, const float*>{nullptr, nullptr};
      // One head's Q or K row (RoPE here instead of a pass over the qkv rows beforehand) as Elem.
      auto put_qk = [&](const float* src, Elem* dst) {
        if constexpr (std::is_same_v<Elem, float>) {
          if (!round) {  // fp32: copied or rotated straight into the panel
            if (rotary) rope_rotate(src, dst, half, cos_v, sin_v);
            else std::memcpy(dst, src, sizeof(float) * (size_t)d);
            return;
          }
        }
        if (rotary) {
          rope_rotate(src, rotated.data(), half, cos_v, sin_v);
          src = rotated.data();
        }
        #pragma omp simd
        for (int64_t t = 0; t < d; ++t) dst[t] = convert<Elem>(src[t], round);
      };
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t at = p.panel(b, h) + (p.front[b] + i) * d;
        put_qk(row + h * d, p.q.data() + at);
        put_qk(row + hidden + h * d, p.k.data() + at);
        const float* v = row + 2 * hidden + h * d;
        Elem* out = p.v.data() + at;
        #pragma omp simd
        for (int64_t t = 0; t < d; ++t) out[t] = convert<Elem>(v[t], round);
      }
    }
  }
}

// One head's 64 values of a qkv row as bf16 bits, rotated first where cos_v is set (rope_rotate's
// arithmetic, rounded as it goes). Written out rather than calling rope_rotate: header code stays
// baseline ISA (isa.h), so a call would not inline into the loops below; through one, the split of a
// local layer took twice as long.
__attribute__((always_inline)) inline void head_row_bf16(const float* x, const float* cos_v, const float* sin_v,
                                                         uint16_t* out) {
  constexpr int64_t d = kFusedHeadDim, half = d / 2;
  if (cos_v) {
    #pragma omp simd
    for (int64_t j = 0; j < half; ++j) {
      out[j] = bf16_bits(x[j] * cos_v[j] - x[j + half] * sin_v[j]);
      out[j + half] = bf16_bits(x[j + half] * cos_v[j] + x[j] * sin_v[j]);
    }
  } else {
    #pragma omp simd
    for (int64_t t = 0; t < d; ++t) out[t] = bf16_bits(x[t]);
  }
}

// The fused kernel's operands straight from the qkv rows in one pass (the same values as split_heads
// followed by pack_kv_bf16_d64, which wrote every K and V row and read it back once more): for each
// 16 panel rows of a sequence (one K group), each token's qkv row is read once from start to end
// (head by head, the 48 strided streams of 16 rows were slower), its Q heads rotated and rounded
// into the row-major Q panels, its K and V heads into 16-row buffers per head (48 KB at 12 heads,
// in L1/L2) that are then packed into the layouts the kernel reads.
void split_heads_fused(const float* qkv, const int64_t* cu_seqlens, int64_t batch, int heads, int64_t window,
                       const Rotary* rotary, Panels<uint16_t>& p) {
  constexpr int64_t d = kFusedHeadDim, half = d / 2, kGroup = 16;
  const int64_t hidden = heads * d, stride = 3 * hidden;
  const int64_t total = lay_out_panels(cu_seqlens, batch, heads, d, window, true, p);
  p.q.resize((size_t)(total * d));
  p.k_packed.resize((size_t)(total * d));
  p.v_packed.resize((size_t)(total * d));
  std::vector<int64_t> first_group((size_t)batch + 1, 0);  // work items: (sequence, 16 panel rows)
  for (int64_t b = 0; b < batch; ++b) first_group[b + 1] = first_group[b] + p.rows[b] / kGroup;
  const std::shared_ptr<const RopeTable> table = rotary ? rope_table_for(*rotary, cu_seqlens[batch], (int)half) : nullptr;
  #pragma omp parallel
  {
    static thread_local std::vector<uint16_t> k_rows, v_rows;  // [heads][16 rows][d]
    k_rows.resize((size_t)(heads * kGroup * d));
    v_rows.resize((size_t)(heads * kGroup * d));
    alignas(64) float cos_row[half], sin_row[half];  // without a table
    #pragma omp for schedule(static)
    for (int64_t item = 0; item < first_group[batch]; ++item) {
      const int64_t b = std::upper_bound(first_group.begin(), first_group.end(), item) - first_group.begin() - 1;
      const int64_t len = cu_seqlens[b + 1] - cu_seqlens[b], row0 = (item - first_group[b]) * kGroup;
      const int64_t first = std::clamp<int64_t>(p.front[b] - row0, 0, kGroup);       // rows [first, end)
      const int64_t end = std::clamp<int64_t>(p.front[b] + len - row0, 0, kGroup);  // are tokens
      if (end <= first) {  // padding only: zero in every layout
        for (int64_t h = 0; h < heads; ++h) {
          const int64_t at = p.panel(b, h) + row0 * d;
          std::memset(p.q.data() + at, 0, sizeof(uint16_t) * kGroup * d);
          std::memset(p.k_packed.data() + at, 0, sizeof(uint16_t) * kGroup * d);
          std::memset(p.v_packed.data() + at, 0, sizeof(uint16_t) * kGroup * d);
        }
        continue;
      }
      for (int64_t r = 0; r < kGroup; ++r) {
        if (r < first || r >= end) {
          for (int64_t h = 0; h < heads; ++h) {
            std::memset(p.q.data() + p.panel(b, h) + (row0 + r) * d, 0, sizeof(uint16_t) * d);
            std::memset(k_rows.data() + (h * kGroup + r) * d, 0, sizeof(uint16_t) * d);
            std::memset(v_rows.data() + (h * kGroup + r) * d, 0, sizeof(uint16_t) * d);
          }
          continue;
        }
        const int64_t token = cu_seqlens[b] + row0 + r - p.front[b];
        const float* src = qkv + token * stride;
        const auto [c, sn] = rotary ? rope_row(table.get(), *rotary, token, (int)half, cos_row, sin_row)
                                    : std::pair<const float*, const float*>{nullptr, nullptr};
        // Q and K heads rotated and rounded, then V heads rounded.
        for (int64_t part = 0; part < 2; ++part)
          for (int64_t h = 0; h < heads; ++h)
            head_row_bf16(src + part * hidden + h * d, c, sn,
                          part == 0 ? p.q.data() + p.panel(b, h) + (row0 + r) * d
                                    : k_rows.data() + (h * kGroup + r) * d);
        for (int64_t h = 0; h < heads; ++h)
          head_row_bf16(src + 2 * hidden + h * d, nullptr, nullptr, v_rows.data() + (h * kGroup + r) * d);
      }
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t at = p.panel(b, h) + row0 * d;
        pack_kv_bf16_d64(k_rows.data() + h * kGroup * d, v_rows.data() + h * kGroup * d, kGroup,
                         p.k_packed.data() + at, p.v_packed.data() + at);
      }
    }
  }
}

// out rows [tokens, heads * d] from the output panels, one sequential pass like split_heads.
template <typename Elem>
void merge_heads(const Panels<Elem>& p, const int64_t* cu_seqlens, int64_t batch, float* out) {
  const int64_t d = p.d, hidden = p.heads * d;
  #pragma omp parallel for schedule(static)
  for (int64_t b_row = 0; b_row < cu_seqlens[batch]; ++b_row) {
    const int64_t b = sequence_of(cu_seqlens, batch, b_row);
    const int64_t i = b_row - cu_seqlens[b];
    for (int64_t h = 0; h < p.heads; ++h)
      std::memcpy(out + b_row * hidden + h * d, p.o.data() + p.panel(b, h) + (p.front[b] + i) * d,
                  sizeof(float) * (size_t)d);
  }
}

// Per-thread buffers of one (sequence, head) item.
template <typename Elem>
struct Scratch {
  std::vector<Elem> probs;  // bf16 P (fp32 P stays in `scores`)
  std::vector<float> scores, o_block, row_max, row_sum;
  std::vector<uint8_t> dnnl_scratchpad;
};

// Runs one attention GEMM. The memory objects and argument map are made once per thread and shape
// and re-pointed on each call: local layers run thousands of small GEMMs, where creating them
// every time cost as much as the multiplication.
void run_gemm(const AttentionGemm& g, const void* a, const void* b, float* c, std::vector<uint8_t>& scratchpad) {
  struct Bound {
    dnnl::memory a, b, c, scratch;
    std::unordered_map<int, dnnl::memory> args;
  };
  static thread_local dnnl::stream stream(cpu_engine());
  static thread_local std::map<const AttentionGemm*, Bound> bound;
  const size_t scratch_bytes = std::max<size_t>(g.scratchpad_bytes, 1);  // a valid pointer even when unused
  if (scratchpad.size() < scratch_bytes) scratchpad.resize(scratch_bytes);
  auto it = bound.find(&g);
  if (it == bound.end()) {
    dnnl::engine& eng = cpu_engine();
    Bound m;
    m.a = dnnl::memory(g.a, eng, DNNL_MEMORY_NONE);
    m.b = dnnl::memory(g.b, eng, DNNL_MEMORY_NONE);
    m.c = dnnl::memory(g.c, eng, DNNL_MEMORY_NONE);
    m.scratch = dnnl::memory(dnnl::memory::desc({(int64_t)g.scratchpad_bytes}, dnnl::memory::data_type::u8, {1}), eng,
                             DNNL_MEMORY_NONE);
    m.args = {{DNNL_ARG_SRC, m.a}, {DNNL_ARG_WEIGHTS, m.b}, {DNNL_ARG_DST, m.c}, {DNNL_ARG_SCRATCHPAD, m.scratch}};
    it = bound.emplace(&g, std::move(m)).first;
  }
  Bound& m = it->second;
  m.a.set_data_handle(const_cast<void*>(a));
  m.b.set_data_handle(const_cast<void*>(b));
  m.c.set_data_handle(c);
  m.scratch.set_data_handle(scratchpad.data());
  g.matmul.execute(stream, m.args);
}

// One (sequence, head): query blocks against their keys, chunk by chunk (see the top of the file).
template <typename Elem>
void attend(Panels<Elem>& p, int64_t b, int64_t h, int64_t len, int64_t window, float scale, bool round,
            Scratch<Elem>& s) {
  const bool bf16 = std::is_same_v<Elem, uint16_t>;
  const bool local = window >= 0;
  const int64_t d = p.d, w = local ? window : 0, front = p.front[b];
  const Elem* q_panel = p.q.data() + p.panel(b, h);
  const Elem* k_panel = p.k.data() + p.panel(b, h);
  const Elem* v_panel = p.v.data() + p.panel(b, h);
  float* o_panel = p.o.data() + p.panel(b, h);
  const int64_t query_block = query_block_of(len, window);
  const bool band = uses_bands(len, window);
  const int64_t keys_per_block = band ? query_block + 2 * w : round_up(len, kKeyAlign);
  const int64_t max_chunk = std::min(kKeyChunk, keys_per_block);
  s.scores.resize((size_t)(query_block * max_chunk));
  if constexpr (bf16) s.probs.resize((size_t)(query_block * max_chunk));
  s.o_block.resize((size_t)(query_block * d));
  s.row_max.resize((size_t)query_block);
  s.row_sum.resize((size_t)query_block);

  for (int64_t i0 = 0; i0 < len; i0 += query_block) {
    const int64_t rows = std::min(len, i0 + query_block) - i0;
    const Elem* q_block = q_panel + (front + i0) * d;  // padding rows past len are zero
    std::fill(s.o_block.begin(), s.o_block.end(), 0.0f);
    std::fill(s.row_max.begin(), s.row_max.end(), -INFINITY);
    std::fill(s.row_sum.begin(), s.row_sum.end(), 0.0f);
    const int64_t p_begin = band ? i0 : 0;  // panel rows [p_begin, p_begin + keys_per_block)
    for (int64_t c0 = 0; c0 < keys_per_block; c0 += kKeyChunk) {
      const int64_t nk = std::min(keys_per_block - c0, kKeyChunk);
      const int64_t k0 = p_begin + c0;  // first panel row of the chunk
      const AttentionGemm& qk = attention_gemm({true, query_block, nk, d, bf16, scale});
      run_gemm(qk, q_block, k_panel + k0 * d, s.scores.data(), s.dnnl_scratchpad);
      for (int64_t r = 0; r < query_block; ++r) {
        float* sc = s.scores.data() + r * nk;
        Elem* pr = bf16 ? (Elem*)(s.probs.data() + r * nk) : (Elem*)sc;
        // Keys the query may see, as chunk columns (none for padding rows).
        int64_t lo = 0, hi = 0;
        if (r < rows) {
          const int64_t i = i0 + r;
          const int64_t first_key = local ? std::max<int64_t>(0, i - w) : 0;
          const int64_t end_key = local ? std::min<int64_t>(len, i + w + 1) : len;
          lo = std::clamp<int64_t>(first_key + front - k0, 0, nk);
          hi = std::clamp<int64_t>(end_key + front - k0, 0, nk);
        }
        if (hi <= lo) {
          std::memset(pr, 0, sizeof(Elem) * (size_t)nk);
          continue;
        }
        const float chunk_max = vec::max_of(sc + lo, hi - lo);
        const float new_max = std::max(s.row_max[r], chunk_max);
        if (new_max > s.row_max[r] && s.row_sum[r] > 0.0f) {
          // Rescale what earlier chunks accumulated to the new maximum.
          const float alpha = std::exp(s.row_max[r] - new_max);
          s.row_sum[r] *= alpha;
          float* o = s.o_block.data() + r * d;
          for (int64_t t = 0; t < d; ++t) o[t] *= alpha;
        }
        s.row_max[r] = new_max;
        if constexpr (bf16) {
          s.row_sum[r] += vec::exp_shifted_sum_bf16(sc + lo, pr + lo, hi - lo, new_max);
        } else {
          s.row_sum[r] += vec::exp_shifted_sum(sc + lo, sc + lo, hi - lo, new_max);
          if (round)
            for (int64_t j = lo; j < hi; ++j) pr[j] = convert<Elem>(sc[j], round);
        }
        std::memset(pr, 0, sizeof(Elem) * (size_t)lo);
        std::memset(pr + hi, 0, sizeof(Elem) * (size_t)(nk - hi));
      }
      const AttentionGemm& pv = attention_gemm({false, query_block, nk, d, bf16, 1.0f});
      const void* probs = bf16 ? (const void*)s.probs.data() : (const void*)s.scores.data();
      run_gemm(pv, probs, v_panel + k0 * d, s.o_block.data(), s.dnnl_scratchpad);
    }
    for (int64_t r = 0; r < rows; ++r) {
      const float inv = 1.0f / s.row_sum[r];
      const float* o = s.o_block.data() + r * d;
      float* dst = o_panel + (front + i0 + r) * d;
      for (int64_t t = 0; t < d; ++t) dst[t] = o[t] * inv;
    }
  }
}

// The fused kernel's path (after split_heads_fused): work items of at most kFusedItemQueries
// queries of one (sequence, head): a long sequence's few heads would otherwise be too few items to
// keep the threads busy to the end. An item's queries are whole query blocks, and every block's
// arithmetic is the same whichever item runs it.
constexpr int64_t kFusedItemQueries = 2048;

void attention_fused(Panels<uint16_t>& p, const int64_t* cu_seqlens, int64_t batch, int64_t window, float scale,
                     float* out) {
  const int64_t heads = p.heads, d = p.d, hidden = heads * d;
  struct Item {
    int64_t b, h, begin, end;
  };
  std::vector<Item> items;
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t len = cu_seqlens[b + 1] - cu_seqlens[b];
    const int64_t block = query_block_of(len, window, true);
    const int64_t span = std::max<int64_t>(1, kFusedItemQueries / block) * block;
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i0 = 0; i0 < len; i0 += span) items.push_back({b, h, i0, std::min(len, i0 + span)});
  }
  parallel_items((int64_t)items.size(), [&](int64_t n) {
    static thread_local FusedScratch scratch;
    const Item& it = items[(size_t)n];
    const int64_t len = cu_seqlens[it.b + 1] - cu_seqlens[it.b], at = p.panel(it.b, it.h);
    float* o = out + cu_seqlens[it.b] * hidden + it.h * d;  // no merge pass: rows written in place
    attend_bf16_d64(p.q.data() + at, p.k_packed.data() + at, p.v_packed.data() + at, o, hidden, len, it.begin, it.end,
                    window, p.front[it.b], uses_bands(len, window), query_block_of(len, window, true),
                    fused_keys_per_block(len, window), scale, scratch);
  });
}

// Whether bf16 attention (bf16 panels) of this head size and scale runs the fused kernel.
bool fused_kernel_runs(int head_dim, float scale) {
  return head_dim == kFusedHeadDim && scale > 0.0f && fused_bf16_attention_available();
}

// The fused kernel's panels for these sequences, laid out, with every row that is not a token's
// zeroed (whole 16-row groups around each sequence's tokens: the token rows among them are written
// afterwards, by qkv_tile_to_panels).
void panels_for_tiles(const int64_t* cu_seqlens, int64_t batch, int heads, int64_t window, Panels<uint16_t>& p) {
  constexpr int64_t d = kFusedHeadDim, kGroup = 16;
  const int64_t total = lay_out_panels(cu_seqlens, batch, heads, d, window, true, p);
  p.q.resize((size_t)(total * d));
  p.k_packed.resize((size_t)(total * d));
  p.v_packed.resize((size_t)(total * d));
  #pragma omp parallel for schedule(static) collapse(2)
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t len = cu_seqlens[b + 1] - cu_seqlens[b], at = p.panel(b, h);
      const int64_t head_end = round_up(p.front[b], kGroup), tail_begin = (p.front[b] + len) / kGroup * kGroup;
      for (std::vector<uint16_t>* panel : {&p.q, &p.k_packed, &p.v_packed}) {
        std::memset(panel->data() + at, 0, sizeof(uint16_t) * (size_t)(head_end * d));
        std::memset(panel->data() + at + tail_begin * d, 0, sizeof(uint16_t) * (size_t)((p.rows[b] - tail_begin) * d));
      }
    }
}

// Rows [r0, r1) (tokens) and columns [c0, c0 + cols) (whole heads) of the QKV projection, fp32 at
// tile + (r - r0) * ld, into the fused kernel's panels: Q heads rotated and rounded into the Q
// panels, K heads rotated, rounded and stored word by word into the packed K groups, V heads rounded
// into the packed key pairs (attention_bf16.h): the values split_heads_fused makes of the same rows.
void qkv_tile_to_panels(const float* tile, int64_t ld, int64_t r0, int64_t r1, int64_t c0, int64_t cols,
                        const int64_t* cu_seqlens, int64_t batch, const Rotary* rotary, const RopeTable* table,
                        Panels<uint16_t>& p) {
  constexpr int64_t d = kFusedHeadDim, half = d / 2;
  const int64_t hidden = p.heads * d;
  alignas(64) float cos_buf[half], sin_buf[half];  // without a table
  alignas(64) uint16_t row[d];
  const bool rotates = rotary && c0 < 2 * hidden;  // the tile holds Q or K heads
  int64_t b = sequence_of(cu_seqlens, batch, r0);
  for (int64_t r = r0; r < r1; ++r) {
    while (r >= cu_seqlens[b + 1]) ++b;
    const int64_t panel_row = p.front[b] + r - cu_seqlens[b];
    const auto [c, sn] = rotates ? rope_row(table, *rotary, r, (int)half, cos_buf, sin_buf)
                                 : std::pair<const float*, const float*>{nullptr, nullptr};
    for (int64_t j = 0; j < cols; j += d) {
      const int64_t col = c0 + j, part = col / hidden, h = (col % hidden) / d;
      const float* x = tile + (r - r0) * ld + j;
      const int64_t at = p.panel(b, h);
      if (part == 0) {
        head_row_bf16(x, c, sn, p.q.data() + at + panel_row * d);
      } else if (part == 1) {
        head_row_bf16(x, c, sn, row);
        put_k_row_bf16_d64(row, panel_row, p.k_packed.data() + at);
      } else {
        head_row_bf16(x, nullptr, nullptr, row);
        put_v_row_bf16_d64(row, panel_row, p.v_packed.data() + at);
      }
    }
  }
}

// attention(linear(x)) through the QKV GEMM's tiles (see qkv_attention in cpu_kernels.h).
void qkv_attention_fused(const Context& ctx, const LinearWeights& w, const LinearInput& x, float* out,
                         const int64_t* cu_seqlens, int64_t batch, int heads, int64_t window, float scale,
                         const Rotary* rotary) {
  static thread_local Panels<uint16_t> panels;  // reused across layers and calls
  Panels<uint16_t>& p = panels;
  const int64_t rows = cu_seqlens[batch];
  const char* attention_op = window < 0 ? "attention (global)" : "attention (local)";
  std::shared_ptr<const RopeTable> table;
  {
    const OpTimer timer(attention_op, /*counts_call=*/false);  // counted below
    count_fused_bf16_attention_call();
    panels_for_tiles(cu_seqlens, batch, heads, window, p);
    if (rotary) table = rope_table_for(*rotary, rows, (int)(kFusedHeadDim / 2));
  }
  {
    const OpTimer timer("linear");  // the GEMM, its tiles written into the panels as its epilogue
    linear_tiles(ctx, w, x, rows, /*paired=*/false,
                 [&](const float* tile, int64_t ld, int64_t r0, int64_t r1, int64_t c0, int64_t cols) {
                   qkv_tile_to_panels(tile, ld, r0, r1, c0, cols, cu_seqlens, batch, rotary, table.get(), p);
                 });
  }
  const OpTimer timer(attention_op);
  attention_fused(p, cu_seqlens, batch, window, scale, out);
}

template <typename Elem>
void attention_impl(const float* qkv, float* out, const int64_t* cu_seqlens, int64_t batch, int heads, int head_dim,
                    int64_t window, float scale, bool round, const Rotary* rotary) {
  static thread_local Panels<Elem> panels;  // reused across layers and calls
  const bool fused = std::is_same_v<Elem, uint16_t> && fused_kernel_runs(head_dim, scale);
  Panels<Elem>& p = panels;
  if constexpr (std::is_same_v<Elem, uint16_t>) {
    if (fused) {
      count_fused_bf16_attention_call();
      split_heads_fused(qkv, cu_seqlens, batch, heads, window, rotary, p);
      return attention_fused(p, cu_seqlens, batch, window, scale, out);
    }
  }
  split_heads(qkv, cu_seqlens, batch, heads, head_dim, window, round, rotary, p);
  parallel_items(batch * heads, [&](int64_t item) {
    static thread_local Scratch<Elem> scratch;
    const int64_t b = item / heads, h = item % heads;
    const int64_t len = cu_seqlens[b + 1] - cu_seqlens[b];
    if (len > 0) attend(p, b, h, len, window, scale, round, scratch);
  });
  merge_heads(p, cu_seqlens, batch, out);
}

}  // namespace

void qkv_attention(const Context& ctx, const LinearWeights& w, const LinearInput& x, float* out,
                   const int64_t* cu_seqlens, int64_t batch, int heads, int head_dim, int64_t window, float scale,
                   const Rotary* rotary, bool* done) {
  *done = false;
  // Where attention() would run the fused kernel: bf16 panels (a native bf16 matmul; int8 models'
  // attention runs as bf16's) of head size 64.
  const bool fused = native_bf16_matmul() && fused_kernel_runs(head_dim, scale);
  if (!fused || !linear_tiles_available(ctx) || w.out != 3 * heads * head_dim) return;
  qkv_attention_fused(ctx, w, x, out, cu_seqlens, batch, heads, window, scale, rotary);
  *done = true;
}

void attention(const Context& ctx, const float* qkv, float* out, const int64_t* cu_seqlens, int64_t batch, int heads,
               int head_dim, int64_t window, float scale, const Rotary* rotary) {
  const bool bf16_mode = ctx.compute == ComputeType::BF16;
  if (bf16_mode && native_bf16_matmul())
    attention_impl<uint16_t>(qkv, out, cu_seqlens, batch, heads, head_dim, window, scale, false, rotary);
  else
    attention_impl<float>(qkv, out, cu_seqlens, batch, heads, head_dim, window, scale, bf16_mode, rotary);
}

}  // namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS
