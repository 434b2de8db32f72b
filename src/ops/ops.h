#pragma once
// The op interface every model calls. Each op is declared once here and dispatches on the context's
// device; src/ops/cpu/ holds the CPU kernels (a CUDA backend adds src/ops/cuda/ behind the same
// calls). Pointers are device pointers of the context's device. Shapes are row-major.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "medenc/config.h"

namespace medenc::ops {

enum class Device { CPU };
enum class ComputeType { F32, BF16, INT8 };  // INT8: int8 linear layers (ops/cpu/int8.h), bf16 attention

// The devices this build and machine can run ops on (CPU first). Device-parameterised tests run
// every op on each of them against double-precision references, so a new backend is tested op by
// op as soon as it appears here.
std::vector<Device> available_devices();
const char* device_name(Device device);  // "cpu"

// Memory of one device. Every buffer an op reads or writes comes from the allocator of the op's
// context, so a CUDA backend's buffers live in device memory without the callers changing.
class Allocator {
 public:
  virtual ~Allocator() = default;
  // At least `bytes` bytes aligned to 64; throws Error(ResourceExhausted) when out of memory.
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* p) noexcept = 0;
};
// The process-wide allocator of a device (CPU: 64-byte aligned host memory). Thread-safe.
Allocator& default_allocator(Device device);

struct Context {
  Device device = Device::CPU;
  ComputeType compute = ComputeType::F32;  // GEMM input precision; accumulation is always fp32
  bool deterministic = false;              // bit-identical results whatever the threads and batch
  Allocator* allocator = nullptr;          // where buffers for this context live; null: the device's default
};
Allocator& allocator(const Context& ctx);

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
  // counts_call false: time added to the op's without counting another call (an op timed in parts).
  explicit OpTimer(const char* op, bool counts_call = true);
  ~OpTimer();

 private:
  const char* op_;
  bool counts_call_;
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

// The same with the input rows as bf16 bits (made by layernorm_bf16 or geglu_bf16): in bf16 mode the
// GEMMs take them as they are, which saves the conversion pass linear() makes of fp32 rows (the same
// bits: those ops round as it does). Other modes widen them to fp32 (exact).
void linear(const Context& ctx, const LinearWeights& w, const uint16_t* x_bf16, float* y, int64_t rows,
            bool accumulate = false);

// The same with the input rows quantized (made by layernorm_int8 or geglu_int8): row r is q[r, :] *
// scales[r]. In int8 mode the GEMMs take them as they are (linear() would have quantized fp32 rows to
// these very values); other modes compute on those values in fp32.
void linear(const Context& ctx, const LinearWeights& w, const int8_t* q, const float* scales, float* y, int64_t rows,
            bool accumulate = false);

// The rows a linear layer multiplies, in one of the three forms above: fp32, bf16 bits, or int8 with
// a scale per row.
struct LinearInput {
  const float* f32 = nullptr;
  const uint16_t* bf16 = nullptr;
  const int8_t* q = nullptr;
  const float* scales = nullptr;  // with q
};
// linear() on whichever form x holds.
void linear(const Context& ctx, const LinearWeights& w, const LinearInput& x, float* y, int64_t rows,
            bool accumulate = false);

// General fp32 GEMM, row-major: C = alpha * op(A) . op(B) + beta * C, op = transpose when trans.
void gemm(const Context& ctx, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// y = LayerNorm(x) over the last dim (biased variance); beta may be null (no bias).
void layernorm(const Context& ctx, const float* x, const float* gamma, const float* beta, float* y, int64_t rows,
               int64_t dim, float eps);
// layernorm with the output rounded to bf16 (the input of a bf16 linear layer).
void layernorm_bf16(const Context& ctx, const float* x, const float* gamma, const float* beta, uint16_t* y,
                    int64_t rows, int64_t dim, float eps);
// layernorm with the output quantized per row as an int8 linear layer quantizes its input (symmetric,
// q = round(y * 127 / max|y_row|), scales[r] = max|y_row| / 127).
void layernorm_int8(const Context& ctx, const float* x, const float* gamma, const float* beta, int8_t* q,
                    float* scales, int64_t rows, int64_t dim, float eps);
// y = LayerNorm(x + r); x and y may alias.
void add_layernorm(const Context& ctx, const float* x, const float* r, const float* gamma, const float* beta, float* y,
                   int64_t rows, int64_t dim, float eps);

// x = act(x), elementwise.
void activation(const Context& ctx, float* x, int64_t n, Activation act);
float activation_scalar(float x, Activation act);
// act(linear(x)) as the bf16 rows of the next bf16 linear layer: out [rows, w.out] bf16 bits. With
// a native bf16 matmul the activation runs on each GEMM tile as it is finished and the fp32 product
// is never written; otherwise it goes through y ([rows, w.out] scratch, not aliasing out). The same
// bits either way. GELU (erf) is computed by the vectorized erf GeGLU uses (vec::gelu_erf_gate),
// not std::erf as activation() does: these outputs are rounded to bf16 anyway.
void linear_activation_bf16(const Context& ctx, const LinearWeights& w, const LinearInput& x, int64_t rows,
                            Activation act, float* y, uint16_t* out);
// act(x) quantized per row as layernorm_int8 quantizes (the input of the next int8 linear layer);
// GELU (erf) as in linear_activation_bf16.
void activation_int8(const Context& ctx, const float* x, int8_t* q, float* scales, int64_t rows, int64_t cols,
                     Activation act);
// out[r, i] = act(z[r, i]) * z[r, inter + i]  (z is [rows, 2*inter]: activated half first).
void geglu(const Context& ctx, const float* z, float* out, int64_t rows, int64_t inter, Activation act);
// geglu with the output rounded to bf16 (the input of a bf16 linear layer).
void geglu_bf16(const Context& ctx, const float* z, uint16_t* out, int64_t rows, int64_t inter, Activation act);
// geglu_bf16(linear(x_bf16)) as one op: out [rows, w.out / 2] as bf16 bits. With a native bf16
// matmul the GeGLU runs on each GEMM tile as it is finished and the [rows, w.out] fp32 product is
// never written; otherwise it goes through z ([rows, w.out] scratch). The same bits either way.
void linear_geglu_bf16(const Context& ctx, const LinearWeights& w, const uint16_t* x_bf16, int64_t rows,
                       Activation act, float* z, uint16_t* out);
// geglu_int8(linear(x)) as one op: out [rows, w.out / 2] quantized per row, scales [rows]. In int8
// mode the GeGLU runs on each GEMM tile as it is finished, into the first rows * w.out / 2 floats of
// z, which are then quantized: the [rows, w.out] fp32 product is never written. Otherwise through z
// ([rows, w.out] scratch). The same bits either way.
void linear_geglu_int8(const Context& ctx, const LinearWeights& w, const LinearInput& x, int64_t rows,
                       Activation act, float* z, int8_t* out, float* scales);
// geglu with the output quantized per row as layernorm_int8 quantizes.
void geglu_int8(const Context& ctx, const float* z, int8_t* q, float* scales, int64_t rows, int64_t inter,
                Activation act);

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

// attention(linear(x)) as one op: the QKV projection of rows x then attention as above. In bf16 and
// int8 modes with the fused bf16 attention kernel (AVX-512-BF16, head size 64), each tile of the
// projection is written straight into the kernel's Q/K/V panels as it is finished and the
// [rows, 3 * heads * head_dim] fp32 rows are never written; otherwise they go through qkv (that
// size, scratch). The same bits either way.
void qkv_attention(const Context& ctx, const LinearWeights& w_qkv, const LinearInput& x, float* qkv, float* out,
                   const int64_t* cu_seqlens, int64_t batch, int heads, int head_dim, int64_t window, float scale,
                   const Rotary* rotary);

// Row-wise numerically stable softmax, in place.
void softmax_rows(float* x, int64_t rows, int64_t cols);

// ---------------------------------------------------------------------------------------------
// Memory: buffers, transfers between host and device, and the data movement the models need.

// n elements of T in the memory of a context's device (uninitialised), freed with the buffer.
// Move-only.
template <class T>
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Context& ctx, int64_t n) : alloc_(&allocator(ctx)), size_(n) {
    if (n > 0) data_ = static_cast<T*>(alloc_->allocate((size_t)n * sizeof(T)));
  }
  ~Buffer() { release(); }
  Buffer(Buffer&& o) noexcept : alloc_(o.alloc_), data_(o.data_), size_(o.size_) {
    o.data_ = nullptr;
    o.size_ = 0;
  }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      release();
      alloc_ = o.alloc_;
      data_ = o.data_;
      size_ = o.size_;
      o.data_ = nullptr;
      o.size_ = 0;
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  T* data() { return data_; }
  const T* data() const { return data_; }
  int64_t size() const { return size_; }

 private:
  void release() {
    if (data_) alloc_->deallocate(data_);
    data_ = nullptr;
  }
  Allocator* alloc_ = nullptr;
  T* data_ = nullptr;
  int64_t size_ = 0;
};

// One device allocation carved into the tensors of a size table (llm.c's ActivationTensors): each
// slot names a pointer and its element count; layout() points every slot at its slice (64-byte
// aligned), reallocating only when the total grows, so a session's activations cost one allocation
// that is reused across calls. Previous contents are not kept when it reallocates.
class Arena {
 public:
  struct Slot {
    float** target;
    int64_t numel;
  };
  void layout(const Context& ctx, std::span<const Slot> slots);
  void layout(const Context& ctx, std::initializer_list<Slot> slots) {
    layout(ctx, std::span<const Slot>(slots.begin(), slots.size()));
  }
  int64_t capacity() const { return block_.size(); }  // floats held

 private:
  Buffer<float> block_;
};

// Host <-> device transfers of `bytes` bytes (CPU: memcpy). Ranges must not overlap.
void to_device(const Context& ctx, const void* host, void* device, size_t bytes);
void to_host(const Context& ctx, const void* device, void* host, size_t bytes);

// A device copy of host values, and a host copy of device values.
template <class T>
Buffer<T> upload(const Context& ctx, std::span<const T> host) {
  Buffer<T> b(ctx, (int64_t)host.size());
  to_device(ctx, host.data(), b.data(), host.size() * sizeof(T));
  return b;
}
template <class T>
std::vector<T> download(const Context& ctx, const T* device, int64_t n) {
  std::vector<T> host((size_t)n);
  to_host(ctx, device, host.data(), (size_t)n * sizeof(T));
  return host;
}
template <class T>
std::vector<T> download(const Context& ctx, const Buffer<T>& b) {
  return download(ctx, b.data(), b.size());
}

// dst[i] = src[i] for i < n, device to device; the ranges must not overlap (dst == src is a no-op).
void copy(const Context& ctx, const float* src, float* dst, int64_t n);
// x[i] = value for i < n.
void fill(const Context& ctx, float* x, int64_t n, float value);
// y[i] = a[i] + b[i] for i < n; y may alias a or b (y == a is the in-place residual add).
void add(const Context& ctx, const float* a, const float* b, float* y, int64_t n);
// x[i] *= s for i < n.
void scale(const Context& ctx, float* x, int64_t n, float s);

// out[r] = src[index[r]] for r < n, rows of `dim` floats. Indices are validated by the caller.
void gather_rows(const Context& ctx, const float* src, int64_t dim, const int64_t* index, int64_t n, float* out);
// dst[index[r]] = src[r] (+= with accumulate) for r < n, rows of `dim` floats; other rows of dst are
// left as they are. The indices must be distinct (rows are written in parallel).
void scatter_rows(const Context& ctx, const float* src, int64_t dim, const int64_t* index, int64_t n, float* dst,
                  bool accumulate = false);

// Sequence pooling over packed rows: pooled[b] summarises rows [offsets[b], offsets[b + 1]) of
// `rows` ([*, dim]); batch + 1 offsets, every sequence non-empty. Cls: its first row. Mean: the mean
// of its rows, summed in row order in double and rounded once (independent of threads). MeanF32: the
// same mean summed in fp32 in row order, then divided by the row count in fp32 (the task heads'
// mean pooling, whose numbers the fixtures pin). Max: the elementwise maximum (NaN propagates).
// pool_backward (ops_backward.h) is the backward of Cls and of either mean.
enum class Pool { Cls, Mean, MeanF32, Max };
void pool(const Context& ctx, const float* rows, const int64_t* offsets, int64_t batch, int64_t dim, Pool kind,
          float* pooled);

}  // namespace medenc::ops
