// Device dispatch for every op. Only the CPU backend exists today; a CUDA backend adds a case here.
#include "ops/ops.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
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

OpTimer::OpTimer(const char* op) : op_(profiling.load(std::memory_order_relaxed) ? op : nullptr) {
  if (op_) start_ = std::chrono::steady_clock::now();
}

OpTimer::~OpTimer() {
  if (!op_) return;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::lock_guard<std::mutex> lock(profile_mu);
  OpTime& t = profile_sums()[op_];
  t.op = op_;
  t.seconds += s;
  t.calls += 1;
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

void geglu(const Context& ctx, const float* z, float* out, int64_t rows, int64_t inter, Activation act) {
  const OpTimer timer("geglu");
  switch (ctx.device) {
    case Device::CPU: return cpu::geglu(z, out, rows, inter, act);
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

}  // namespace medenc::ops
