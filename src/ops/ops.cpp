// Device dispatch for every op. Only the CPU backend exists today; a CUDA backend adds a case here.
#include "ops/ops.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>

#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/int8.h"

namespace medenc::ops {

namespace {

std::atomic<bool> profiling{false};
std::mutex profile_mu;
std::map<std::string, OpTime>& profile_sums() {
  static std::map<std::string, OpTime> sums;
  return sums;
}

}  // namespace

void set_op_profiling(bool on) { profiling.store(on, std::memory_order_relaxed); }

std::vector<OpTime> take_op_profile() {
  std::lock_guard<std::mutex> lock(profile_mu);
  std::vector<OpTime> out;
  for (auto& [name, t] : profile_sums()) out.push_back(t);
  profile_sums().clear();
  std::sort(out.begin(), out.end(), [](const OpTime& a, const OpTime& b) { return a.seconds > b.seconds; });
  return out;
}

OpTimer::OpTimer(const char* op, bool counts_call)
    : op_(profiling.load(std::memory_order_relaxed) ? op : nullptr), counts_call_(counts_call) {
  if (op_) start_ = std::chrono::steady_clock::now();
}

OpTimer::~OpTimer() {
  if (!op_) return;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::lock_guard<std::mutex> lock(profile_mu);
  OpTime& t = profile_sums()[op_];
  t.op = op_;
  t.seconds += s;
  t.calls += counts_call_ ? 1 : 0;
}

ThreadScope::ThreadScope(int threads) {
  if (threads <= 0) return;
  saved_ = omp_get_max_threads();
  omp_set_num_threads(threads);
}

ThreadScope::~ThreadScope() {
  if (saved_ > 0) omp_set_num_threads(saved_);
}

int max_threads() { return omp_get_max_threads(); }

bool native_bf16(const Context& ctx) {
  switch (ctx.device) {
    case Device::CPU: return cpu::native_bf16_matmul();
  }
  return false;
}

void linear(const Context& ctx, const LinearWeights& w, const float* x, float* y, int64_t rows, bool accumulate) {
  const OpTimer timer("linear");
  switch (ctx.device) {
    case Device::CPU:
      if (ctx.compute == ComputeType::INT8) return cpu::linear_int8(ctx, w, x, y, rows, accumulate);
      return cpu::linear(ctx, w, x, y, rows, accumulate);
  }
}

void linear(const Context& ctx, const LinearWeights& w, const int8_t* q, const float* scales, float* y, int64_t rows,
            bool accumulate) {
  const OpTimer timer("linear");
  switch (ctx.device) {
    case Device::CPU: {
      if (ctx.compute == ComputeType::INT8) return cpu::linear_int8(ctx, w, q, scales, y, rows, accumulate);
      const std::vector<float> values = cpu::int8_values(q, scales, rows, w.in);
      return cpu::linear(ctx, w, values.data(), y, rows, accumulate);
    }
  }
}

void linear(const Context& ctx, const LinearWeights& w, const uint16_t* x_bf16, float* y, int64_t rows,
            bool accumulate) {
  const OpTimer timer("linear");
  switch (ctx.device) {
    case Device::CPU: {
      if (ctx.compute != ComputeType::INT8) return cpu::linear(ctx, w, x_bf16, y, rows, accumulate);
      const std::vector<float> widened = cpu::bf16_widened(x_bf16, rows * w.in);
      return cpu::linear_int8(ctx, w, widened.data(), y, rows, accumulate);
    }
  }
}

void linear(const Context& ctx, const LinearWeights& w, const LinearInput& x, float* y, int64_t rows,
            bool accumulate) {
  if (x.q) return linear(ctx, w, x.q, x.scales, y, rows, accumulate);
  if (x.bf16) return linear(ctx, w, x.bf16, y, rows, accumulate);
  linear(ctx, w, x.f32, y, rows, accumulate);
}

void gemm(const Context& ctx, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const OpTimer timer("gemm");
  switch (ctx.device) {
    case Device::CPU: return cpu::gemm(ctx, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

void layernorm(const Context& ctx, const float* x, const float* gamma, const float* beta, float* y, int64_t rows,
               int64_t dim, float eps) {
  const OpTimer timer("layernorm");
  switch (ctx.device) {
    case Device::CPU: return cpu::layernorm(x, gamma, beta, y, rows, dim, eps);
  }
}

void layernorm_bf16(const Context& ctx, const float* x, const float* gamma, const float* beta, uint16_t* y,
                    int64_t rows, int64_t dim, float eps) {
  const OpTimer timer("layernorm");
  switch (ctx.device) {
    case Device::CPU: return cpu::layernorm_bf16(x, gamma, beta, y, rows, dim, eps);
  }
}

void layernorm_int8(const Context& ctx, const float* x, const float* gamma, const float* beta, int8_t* q,
                    float* scales, int64_t rows, int64_t dim, float eps) {
  const OpTimer timer("layernorm");
  switch (ctx.device) {
    case Device::CPU: return cpu::layernorm_int8(x, gamma, beta, q, scales, rows, dim, eps);
  }
}

void add_layernorm(const Context& ctx, const float* x, const float* r, const float* gamma, const float* beta, float* y,
                   int64_t rows, int64_t dim, float eps) {
  const OpTimer timer("add_layernorm");
  switch (ctx.device) {
    case Device::CPU: return cpu::add_layernorm(x, r, gamma, beta, y, rows, dim, eps);
  }
}

void activation(const Context& ctx, float* x, int64_t n, Activation act) {
  const OpTimer timer("activation");
  switch (ctx.device) {
    case Device::CPU: return cpu::activation(x, n, act);
  }
}

void linear_activation_bf16(const Context& ctx, const LinearWeights& w, const LinearInput& x, int64_t rows,
                            Activation act, float* y, uint16_t* out) {
  switch (ctx.device) {
    case Device::CPU:
      if (ctx.compute == ComputeType::BF16 && cpu::linear_tiles_available(ctx)) {
        const OpTimer timer("linear");  // the GEMM, with the activation as its tiles' epilogue
        return cpu::linear_tiles(ctx, w, x, rows, /*paired=*/false,
                                 [&](const float* tile, int64_t ld, int64_t r0, int64_t r1, int64_t c0, int64_t cols) {
                                   cpu::activation_bf16_rows(tile, ld, r1 - r0, cols, out + r0 * w.out + c0, w.out,
                                                             act);
                                 });
      }
      linear(ctx, w, x, y, rows);
      const OpTimer timer("activation");
      return cpu::activation_bf16(y, out, rows, w.out, act);
  }
}

void activation_int8(const Context& ctx, const float* x, int8_t* q, float* scales, int64_t rows, int64_t cols,
                     Activation act) {
  const OpTimer timer("activation");
  switch (ctx.device) {
    case Device::CPU: return cpu::activation_int8(x, q, scales, rows, cols, act);
  }
}

void geglu(const Context& ctx, const float* z, float* out, int64_t rows, int64_t inter, Activation act) {
  const OpTimer timer("geglu");
  switch (ctx.device) {
    case Device::CPU: return cpu::geglu(z, out, rows, inter, act);
  }
}

void geglu_bf16(const Context& ctx, const float* z, uint16_t* out, int64_t rows, int64_t inter, Activation act) {
  const OpTimer timer("geglu");
  switch (ctx.device) {
    case Device::CPU: return cpu::geglu_bf16(z, out, rows, inter, act);
  }
}

void linear_geglu_bf16(const Context& ctx, const LinearWeights& w, const uint16_t* x_bf16, int64_t rows,
                       Activation act, float* z, uint16_t* out) {
  switch (ctx.device) {
    case Device::CPU:
      if (ctx.compute == ComputeType::BF16 && cpu::linear_tiles_available(ctx)) {
        const OpTimer timer("linear");  // the GEMM, with the GeGLU as its tiles' epilogue
        const int64_t inter = w.out / 2;
        return cpu::linear_tiles(ctx, w, LinearInput{.bf16 = x_bf16}, rows, /*paired=*/true,
                                 [&](const float* tile, int64_t ld, int64_t r0, int64_t r1, int64_t c0, int64_t cols) {
                                   cpu::geglu_pairs_bf16(tile, ld, r1 - r0, cols / 2, out + r0 * inter + c0 / 2,
                                                         inter, act);
                                 });
      }
      linear(ctx, w, x_bf16, z, rows);
      return geglu_bf16(ctx, z, out, rows, w.out / 2, act);
  }
}

void linear_geglu_int8(const Context& ctx, const LinearWeights& w, const LinearInput& x, int64_t rows,
                       Activation act, float* z, int8_t* out, float* scales) {
  const int64_t inter = w.out / 2;
  switch (ctx.device) {
    case Device::CPU:
      if (ctx.compute == ComputeType::INT8 && cpu::linear_tiles_available(ctx)) {
        {
          const OpTimer timer("linear");  // the GEMM, with the GeGLU as its tiles' epilogue
          cpu::linear_tiles(ctx, w, x, rows, /*paired=*/true,
                            [&](const float* tile, int64_t ld, int64_t r0, int64_t r1, int64_t c0, int64_t cols) {
                              cpu::geglu_pairs(tile, ld, r1 - r0, cols / 2, z + r0 * inter + c0 / 2, inter, act);
                            });
        }
        const OpTimer timer("geglu");  // its rows quantized
        return cpu::int8_rows(z, rows, rows, inter, out, scales);
      }
      linear(ctx, w, x, z, rows);
      return geglu_int8(ctx, z, out, scales, rows, inter, act);
  }
}

void geglu_int8(const Context& ctx, const float* z, int8_t* q, float* scales, int64_t rows, int64_t inter,
                Activation act) {
  const OpTimer timer("geglu");
  switch (ctx.device) {
    case Device::CPU: return cpu::geglu_int8(z, q, scales, rows, inter, act);
  }
}

void embedding(const Context& ctx, const float* table, int64_t dim, const int32_t* ids, int64_t n, float* out,
               bool accumulate) {
  const OpTimer timer("embedding");
  switch (ctx.device) {
    case Device::CPU: return cpu::embedding(table, dim, ids, n, out, accumulate);
  }
}

void rope_qkv(const Context& ctx, float* qkv, const int32_t* positions, int64_t rows, int heads, int head_dim,
              const float* inv_freq) {
  const OpTimer timer("rope");
  switch (ctx.device) {
    case Device::CPU: return cpu::rope_qkv(qkv, positions, rows, heads, head_dim, inv_freq);
  }
}

void attention(const Context& ctx, const float* qkv, float* out, const int64_t* cu_seqlens, int64_t batch, int heads,
               int head_dim, int64_t window, float scale, const Rotary* rotary) {
  const OpTimer timer(window < 0 ? "attention (global)" : "attention (local)");
  // int8 models quantize the linear layers only; their attention runs as in bf16.
  Context actx = ctx;
  if (actx.compute == ComputeType::INT8) actx.compute = ComputeType::BF16;
  switch (ctx.device) {
    case Device::CPU: return cpu::attention(actx, qkv, out, cu_seqlens, batch, heads, head_dim, window, scale, rotary);
  }
}

void qkv_attention(const Context& ctx, const LinearWeights& w_qkv, const LinearInput& x, float* qkv, float* out,
                   const int64_t* cu_seqlens, int64_t batch, int heads, int head_dim, int64_t window, float scale,
                   const Rotary* rotary) {
  switch (ctx.device) {
    case Device::CPU: {
      bool done = false;
      cpu::qkv_attention(ctx, w_qkv, x, out, cu_seqlens, batch, heads, head_dim, window, scale, rotary, &done);
      if (done) return;
      break;
    }
  }
  linear(ctx, w_qkv, x, qkv, cu_seqlens[batch]);
  attention(ctx, qkv, out, cu_seqlens, batch, heads, head_dim, window, scale, rotary);
}

}  // namespace medenc::ops

// ---- devices and memory ----

namespace medenc::ops {

std::vector<Device> available_devices() { return {Device::CPU}; }

const char* device_name(Device device) {
  switch (device) {
    case Device::CPU: return "cpu";
  }
  return "unknown";
}

Allocator& default_allocator(Device device) {
  switch (device) {
    case Device::CPU: return cpu::host_allocator();
  }
  return cpu::host_allocator();
}

Allocator& allocator(const Context& ctx) { return ctx.allocator ? *ctx.allocator : default_allocator(ctx.device); }

void Arena::layout(const Context& ctx, std::span<const Slot> slots) {
  constexpr int64_t kAlign = 16;  // floats: 64 bytes
  int64_t total = 0;
  for (const Slot& s : slots) total += (std::max<int64_t>(s.numel, 0) + kAlign - 1) / kAlign * kAlign;
  if (total > block_.size()) block_ = Buffer<float>(ctx, total);
  int64_t at = 0;
  for (const Slot& s : slots) {
    *s.target = block_.data() + at;
    at += (std::max<int64_t>(s.numel, 0) + kAlign - 1) / kAlign * kAlign;
  }
}

void to_device(const Context& ctx, const void* host, void* device, size_t bytes) {
  switch (ctx.device) {
    case Device::CPU:
      if (bytes) std::memcpy(device, host, bytes);
      return;
  }
}

void to_host(const Context& ctx, const void* device, void* host, size_t bytes) {
  switch (ctx.device) {
    case Device::CPU:
      if (bytes) std::memcpy(host, device, bytes);
      return;
  }
}

void copy(const Context& ctx, const float* src, float* dst, int64_t n) {
  const OpTimer timer("copy");
  switch (ctx.device) {
    case Device::CPU: return cpu::copy(src, dst, n);
  }
}

void fill(const Context& ctx, float* x, int64_t n, float value) {
  const OpTimer timer("fill");
  switch (ctx.device) {
    case Device::CPU: return cpu::fill(x, n, value);
  }
}

void add(const Context& ctx, const float* a, const float* b, float* y, int64_t n) {
  const OpTimer timer("add");
  switch (ctx.device) {
    case Device::CPU: return cpu::add(a, b, y, n);
  }
}

void scale(const Context& ctx, float* x, int64_t n, float s) {
  const OpTimer timer("scale");
  switch (ctx.device) {
    case Device::CPU: return cpu::scale(x, n, s);
  }
}

void gather_rows(const Context& ctx, const float* src, int64_t dim, const int64_t* index, int64_t n, float* out) {
  const OpTimer timer("gather rows");
  switch (ctx.device) {
    case Device::CPU: return cpu::gather_rows(src, dim, index, n, out);
  }
}

void scatter_rows(const Context& ctx, const float* src, int64_t dim, const int64_t* index, int64_t n, float* dst,
                  bool accumulate) {
  const OpTimer timer("scatter rows");
  switch (ctx.device) {
    case Device::CPU: return cpu::scatter_rows(src, dim, index, n, dst, accumulate);
  }
}

void pool(const Context& ctx, const float* rows, const int64_t* offsets, int64_t batch, int64_t dim, Pool kind,
          float* pooled) {
  const OpTimer timer("pool");
  switch (ctx.device) {
    case Device::CPU: return cpu::pool(rows, offsets, batch, dim, kind, pooled);
  }
}

}  // namespace medenc::ops
