#pragma once
// The op interface every model calls. Each op is declared once here and dispatches on the context's
// device; src/ops/cpu/ holds the CPU kernels (a CUDA backend adds src/ops/cuda/ behind the same
// calls). Pointers are device pointers of the context's device. Shapes are row-major.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "medenc/config.h"

namespace medenc::ops {

enum class Device { CPU };
enum class ComputeType { F32, BF16, INT8 };  // INT8: int8 linear layers (ops/cpu/int8.h), bf16 attention

struct Context {
  Device device = Device::CPU;
  ComputeType compute = ComputeType::F32;  // GEMM input precision; accumulation is always fp32
  bool deterministic = false;              // bit-identical results whatever the threads and batch
};

// Wall time spent in each op, summed while profiling is on (medenc bench --profile). Off, an op
// pays one relaxed load. Ops are called from one host thread (they parallelise inside).
struct OpTime {
  std::string op;
  double seconds = 0.0;
  int64_t calls = 0;
};
void set_op_profiling(bool on);
// The sums since the last call (largest first), then reset.
std::vector<OpTime> take_op_profile();

class OpTimer {
 public:
  explicit OpTimer(const char* op);
  ~OpTimer();

 private:
  const char* op_;
  std::chrono::steady_clock::time_point start_;
};

// Sets the calling thread's OpenMP thread count for the scope's life (threads > 0; 0 leaves it),
// then restores it. OpenMP keeps this setting per thread, so concurrent callers do not disturb
// each other, and the GEMM primitives run single-threaded inside our own loops.
class ThreadScope {
 public:
  explicit ThreadScope(int threads);
  ~ThreadScope();
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int saved_ = 0;
};
int max_threads();
// Whether the device multiplies bf16 natively (CPU: AVX-512-BF16 or AMX); otherwise
// ComputeType::BF16 is emulated with fp32 kernels on bf16-rounded inputs.
bool native_bf16(const Context& ctx);

// Weights of one linear layer, [out, in] row-major as Hugging Face stores them, plus an optional
// bias [out]. `cache` holds whatever the backend derives from them (e.g. a bf16 copy); call
// invalidate() after the master weights change.
struct LinearWeights {
  const float* weight = nullptr;
  const float* bias = nullptr;
  int64_t in = 0;
  int64_t out = 0;
  mutable std::shared_ptr<void> cache;
  mutable std::shared_ptr<void> int8_cache;  // the int8 kernels' quantized copy (ComputeType::INT8)
  void invalidate() const {
    cache.reset();
    int8_cache.reset();
  }
};

// y[rows, out] = x[rows, in] . W^T + b.  With accumulate, the product is added to y (a fused
// residual connection).
void linear(const Context& ctx, const LinearWeights& w, const float* x, float* y, int64_t rows,
            bool accumulate = false);

// General fp32 GEMM, row-major: C = alpha * op(A) . op(B) + beta * C, op = transpose when trans.
void gemm(const Context& ctx, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// y = LayerNorm(x) over the last dim (biased variance); beta may be null (no bias).
void layernorm(const Context& ctx, const float* x, const float* gamma, const float* beta, float* y, int64_t rows,
               int64_t dim, float eps);
// y = LayerNorm(x + r); x and y may alias.
void add_layernorm(const Context& ctx, const float* x, const float* r, const float* gamma, const float* beta, float* y,
                   int64_t rows, int64_t dim, float eps);

// x = act(x), elementwise.
void activation(const Context& ctx, float* x, int64_t n, Activation act);
float activation_scalar(float x, Activation act);
// out[r, i] = act(z[r, i]) * z[r, inter + i]  (z is [rows, 2*inter]: activated half first).
void geglu(const Context& ctx, const float* z, float* out, int64_t rows, int64_t inter, Activation act);

// out[t] = table[ids[t]] (+= when accumulate). Ids are validated by the caller.
void embedding(const Context& ctx, const float* table, int64_t dim, const int32_t* ids, int64_t n, float* out,
               bool accumulate = false);

// Rotary embedding (rotate-half) applied in place to the Q and K parts of a packed qkv buffer
// [rows, 3 * heads * head_dim]; positions[t] is the token's position inside its sequence.
void rope_qkv(const Context& ctx, float* qkv, const int32_t* positions, int64_t rows, int heads, int head_dim,
              const float* inv_freq);

// Rotary embedding applied by attention() itself as it reads Q and K (the same numbers as rope_qkv
// first, without its pass over the qkv rows).
struct Rotary {
  const int32_t* positions = nullptr;  // [rows]: each token's position inside its sequence
  const float* inv_freq = nullptr;     // [head_dim / 2]
};

// Multi-head attention over unpadded sequences. qkv is [rows, 3 * heads * head_dim] packed as
// [Q heads | K heads | V heads]; cu_seqlens has batch + 1 entries. A query attends to keys of its own
// sequence with |i - j| <= window (window < 0: all). out is [rows, heads * head_dim].
// Softmax is exact (max-subtracted, fp32); no rows x rows buffer is ever built. With `rotary`, Q and
// K are rotated on the way in (qkv itself is left as it is).
void attention(const Context& ctx, const float* qkv, float* out, const int64_t* cu_seqlens, int64_t batch, int heads,
               int head_dim, int64_t window, float scale, const Rotary* rotary = nullptr);

// Row-wise numerically stable softmax, in place.
void softmax_rows(float* x, int64_t rows, int64_t cols);

}  // namespace medenc::ops
