// The attention kernel: right against dense double-precision attention computed per sequence (every
// score, explicit |i - j| <= w mask, plain softmax), on lengths that leave partial query blocks, key
// chunks and padded panels, several chunks with online rescaling, windows wider than the sequence;
// bit-identical for a sequence whatever its batch neighbours and the thread count; bf16 mode close.
// Each test runs on every available device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <omp.h>
#include <string>
#include <vector>

#include "ops/cpu/attention_bf16.h"
#include "medenc/safetensors.h"
#include "ops/cpu/isa_dispatch.h"
#include "ops/ops.h"
#include "device_test.h"
#include "util/bf16.h"
#include "util/random.h"

using namespace medenc;

namespace {

float bf16_rounded(float x) { return bf16::rounded(x); }

struct Batch {
  std::vector<int64_t> cu{0};
  std::vector<float> qkv;  // [rows, 3 * heads * d]
};

// Sequences of the given lengths with random Q, K, V; `spread` scales Q so that softmaxes are peaked.
Batch make_batch(const std::vector<int64_t>& lengths, int heads, int d, uint64_t seed, float spread = 1.0f) {
  Batch b;
  for (int64_t len : lengths) b.cu.push_back(b.cu.back() + len);
  const int64_t hidden = (int64_t)heads * d;
  b.qkv.resize((size_t)(b.cu.back() * 3 * hidden));
  Rng rng(seed);
  for (int64_t r = 0; r < b.cu.back(); ++r)
    for (int64_t c = 0; c < 3 * hidden; ++c)
      b.qkv[(size_t)(r * 3 * hidden + c)] = (float)(rng.uniform() * 2.0 - 1.0) * (c < hidden ? spread : 1.0f);
  return b;
}

// RoPE inputs of a packed batch: each token's position in its sequence, and the inverse frequencies
// theta^(-2j/d) of the d/2 rotated pairs.
struct RopeTables {
  std::vector<int32_t> positions;
  std::vector<float> inv_freq;
};
RopeTables rope_tables(const std::vector<int64_t>& lengths, int d, double theta) {
  RopeTables t;
  for (int64_t len : lengths)
    for (int64_t i = 0; i < len; ++i) t.positions.push_back((int32_t)i);
  t.inv_freq.resize((size_t)d / 2);
  for (int j = 0; j < d / 2; ++j) t.inv_freq[(size_t)j] = (float)std::pow(theta, -2.0 * j / d);
  return t;
}

std::vector<double> dense_reference(const Batch& b, int heads, int d, int64_t window, double scale) {
  const int64_t hidden = (int64_t)heads * d, stride = 3 * hidden;
  std::vector<double> out((size_t)(b.cu.back() * hidden), 0.0);
  for (size_t s = 0; s + 1 < b.cu.size(); ++s) {
    const int64_t s0 = b.cu[s], len = b.cu[s + 1] - s0;
    std::vector<double> scores((size_t)len);
    for (int h = 0; h < heads; ++h)
      for (int64_t i = 0; i < len; ++i) {
        const float* q = b.qkv.data() + (s0 + i) * stride + h * d;
        double mx = -INFINITY;
        for (int64_t j = 0; j < len; ++j) {
          if (window >= 0 && std::llabs(i - j) > window) {
            scores[(size_t)j] = -INFINITY;
            continue;
          }
          const float* k = b.qkv.data() + (s0 + j) * stride + hidden + h * d;
          double dot = 0.0;
          for (int t = 0; t < d; ++t) dot += (double)q[t] * k[t];
          scores[(size_t)j] = dot * scale;
          mx = std::max(mx, scores[(size_t)j]);
        }
        double sum = 0.0;
        for (auto& x : scores) sum += (x = std::exp(x - mx));
        double* o = out.data() + (s0 + i) * hidden + h * d;
        for (int64_t j = 0; j < len; ++j) {
          if (scores[(size_t)j] == 0.0) continue;
          const float* v = b.qkv.data() + (s0 + j) * stride + 2 * hidden + h * d;
          for (int t = 0; t < d; ++t) o[t] += scores[(size_t)j] / sum * v[t];
        }
      }
  }
  return out;
}

double max_abs_diff(const std::vector<float>& got, const std::vector<double>& want) {
  double m = 0.0;
  for (size_t i = 0; i < got.size(); ++i) m = std::max(m, std::fabs((double)got[i] - want[i]));
  return m;
}

}  // namespace

// Every test runs on every available device (tests/support/device_test.h).
class Attention : public test::DeviceTest {
 protected:
  // ops::attention on this device: the batch uploaded, the output downloaded.
  std::vector<float> run(const Batch& b, int heads, int d, int64_t window, float scale,
                         ops::ComputeType compute = ops::ComputeType::F32) const {
    ops::Context c = ctx();
    c.compute = compute;
    const auto qkv = put(b.qkv);
    const auto cu = put(b.cu);
    auto out = filled<float>(b.cu.back() * heads * d, NAN);
    ops::attention(c, qkv.data(), out.data(), cu.data(), (int64_t)b.cu.size() - 1, heads, d, window, scale);
    return get(out);
  }
};
MEDENC_TEST_ON_ALL_DEVICES(Attention);

TEST_P(Attention, MatchesDenseReferenceGlobalAndBanded) {
  // 1 and 5: tiny; 63/64/65 and 130: around the local query block and key alignment; 1100: one
  // global query block past 1,024 keys (two chunks); 2100: three chunks.
  const std::vector<int64_t> lengths{5, 1, 63, 64, 65, 130, 1100, 2100};
  const int heads = 2, d = 64;
  const float scale = 0.125f;
  const Batch b = make_batch(lengths, heads, d, 7, 4.0f);
  for (int64_t window : {-1, 0, 3, 64, 5000}) {
    SCOPED_TRACE("window " + std::to_string(window));
    const std::vector<float> got = run(b, heads, d, window, scale);
    EXPECT_LT(max_abs_diff(got, dense_reference(b, heads, d, window, scale)), 2e-5);
  }
}

TEST_P(Attention, OtherHeadSizes) {
  for (int d : {16, 32, 96}) {
    SCOPED_TRACE("head_dim " + std::to_string(d));
    const Batch b = make_batch({3, 70, 300}, 3, d, 11 + d);
    for (int64_t window : {-1, 8})
      EXPECT_LT(max_abs_diff(run(b, 3, d, window, 0.2f), dense_reference(b, 3, d, window, 0.2f)), 2e-5);
  }
}

TEST_P(Attention, SequenceOutputIgnoresNeighboursAndThreads) {
  const int heads = 2, d = 64;
  const Batch alone = make_batch({1100}, heads, d, 21);
  const Batch others = make_batch({77, 1500, 3}, heads, d, 22);
  // The same sequence second in a batch of four.
  Batch mixed;
  const int64_t hidden = 3 * heads * d;
  auto append = [&](const Batch& src, size_t s) {
    const int64_t s0 = src.cu[s], s1 = src.cu[s + 1];
    mixed.qkv.insert(mixed.qkv.end(), src.qkv.begin() + s0 * hidden, src.qkv.begin() + s1 * hidden);
    mixed.cu.push_back(mixed.cu.back() + (s1 - s0));
  };
  append(others, 0);
  append(alone, 0);
  append(others, 1);
  append(others, 2);
  const int saved = omp_get_max_threads();
  for (int64_t window : {-1, 64}) {
    for (auto compute : {ops::ComputeType::F32, ops::ComputeType::BF16}) {
      const std::vector<float> single = run(alone, heads, d, window, 0.125f, compute);
      const std::vector<float> in_batch = run(mixed, heads, d, window, 0.125f, compute);
      omp_set_num_threads(1);
      const std::vector<float> one_thread = run(mixed, heads, d, window, 0.125f, compute);
      omp_set_num_threads(saved);
      const size_t at = (size_t)(mixed.cu[1] * heads * d);
      for (size_t i = 0; i < single.size(); ++i) {
        ASSERT_EQ(single[i], in_batch[at + i]) << "window " << window << " element " << i;
      }
      ASSERT_EQ(in_batch, one_thread) << "window " << window;
    }
  }
}

TEST_P(Attention, Bf16StaysCloseToTheFp32Result) {
  const int heads = 2, d = 64;
  const Batch b = make_batch({40, 700}, heads, d, 31, 4.0f);
  for (int64_t window : {-1, 64}) {
    const std::vector<double> want = dense_reference(b, heads, d, window, 0.125);
    const double bf16_error = max_abs_diff(run(b, heads, d, window, 0.125f, ops::ComputeType::BF16), want);
    // P and V rounded to 8 significant bits: error of the order of 2^-9 of |v| <= 1, and not zero
    // (the bf16 path must really be taken).
    EXPECT_LT(bf16_error, 1e-2) << "window " << window;
    EXPECT_GT(bf16_error, 1e-5) << "window " << window;
  }
}

// bf16 mode rounds Q, K, V and the probabilities to bf16 and keeps the scale, max-subtraction, exp
// and sums in fp32: against dense double attention on the bf16-rounded Q, K and V, only the
// probabilities' rounding (relative 2^-9 of each weight, |v| <= 1) is left, at every thread count and
// on global, banded and short-sequence paths. The fp32-input reference is further away than that on
// these sharply peaked softmaxes (scores of a few units, where Q and K's rounding moves each weight
// by about 1%), so the test also fails if Q K^T were still fp32.
TEST_P(Attention, Bf16MatchesDenseReferenceOnRoundedInputs) {
  const int heads = 2, d = 64;
  const Batch b = make_batch({5, 65, 300, 1100}, heads, d, 41, 16.0f);
  Batch rounded = b;
  for (float& x : rounded.qkv) x = bf16_rounded(x);
  const int saved = omp_get_max_threads();
  for (int64_t window : {-1, 3, 64}) {
    SCOPED_TRACE("window " + std::to_string(window));
    const std::vector<double> want = dense_reference(rounded, heads, d, window, 0.125);
    const double fp32_inputs_error =
        max_abs_diff(run(b, heads, d, window, 0.125f, ops::ComputeType::F32), want);
    std::vector<float> first;
    for (int threads : {1, 2}) {
      omp_set_num_threads(threads);
      const std::vector<float> got = run(b, heads, d, window, 0.125f, ops::ComputeType::BF16);
      omp_set_num_threads(saved);
      const double error = max_abs_diff(got, want);
      EXPECT_LT(error, 4e-3) << threads << " threads";
      EXPECT_LT(2 * error, fp32_inputs_error) << threads << " threads";
      if (first.empty()) first = got;
      else EXPECT_EQ(got, first) << "thread count changed the result";
    }
  }
}

// RoPE applied by attention as it splits the qkv rows gives exactly what rope_qkv followed by plain
// attention gives (the inference path uses the first, training the second), and leaves qkv alone.
TEST_P(Attention, FusedRotaryMatchesRopeThenAttention) {
  const std::vector<int64_t> lengths{3, 70, 300};
  const int heads = 3, d = 32;
  const float scale = 0.17f;
  Batch b = make_batch(lengths, heads, d, 11, 2.0f);
  const RopeTables rope = rope_tables(lengths, d, 10000.0);
  const auto positions_d = put(rope.positions);
  const auto inv_freq_d = put(rope.inv_freq);
  for (int64_t window : {-1, 8}) {
    SCOPED_TRACE("window " + std::to_string(window));
    const ops::Rotary rotary{positions_d.data(), inv_freq_d.data()};
    auto qkv = put(b.qkv);
    const auto cu = put(b.cu);
    auto fused_d = filled<float>(b.cu.back() * heads * d, NAN);
    ops::attention(ctx(), qkv.data(), fused_d.data(), cu.data(), (int64_t)lengths.size(), heads, d, window, scale,
                   &rotary);
    const std::vector<float> fused = get(fused_d);
    EXPECT_EQ(get(qkv), b.qkv);
    ops::rope_qkv(ctx(), qkv.data(), positions_d.data(), b.cu.back(), heads, d, inv_freq_d.data());
    Batch rotated = b;
    rotated.qkv = get(qkv);
    ASSERT_NE(rotated.qkv, b.qkv);
    EXPECT_EQ(fused, run(rotated, heads, d, window, scale));
  }
}

// The fused bf16 kernel for head size 64 (ops/cpu/attention_bf16.cpp, taken where the CPU has
// AVX-512-BF16; elsewhere these tests check the oneDNN bf16 path with the same budget). Against dense
// double attention on the bf16-rounded inputs: lengths around its 6-row strips, 96-row global query
// blocks, 128-key chunks and 64-row panel padding; windows from 0 to wider than the sequence, and
// one (100) whose band spans three chunks, some of them empty for a row. The fp32-input reference is
// further away (the test fails if Q K^T were not bf16).
class AttentionBf16Fused : public Attention {
 protected:
  void SetUp() override { ops::cpu::force_unfused_bf16_attention(false); }
  void TearDown() override { ops::cpu::force_unfused_bf16_attention(false); }
  // Where the fused kernel runs: AVX-512-BF16, and the avx512 (or a native AVX-512) level of kernels.
  static bool fused_here() {
#if defined(__x86_64__)
    const std::string level = ops::cpu::active_isa_level();
    return ops::native_bf16(ops::Context{}) && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bf16") && (level == "avx512" || level == "native");
#else
    return false;
#endif
  }
};
MEDENC_TEST_ON_ALL_DEVICES(AttentionBf16Fused);

TEST_P(AttentionBf16Fused, MatchesDenseReferenceOnRoundedInputs) {
  const int heads = 2, d = 64;
  const Batch b = make_batch({1, 5, 6, 7, 63, 65, 97, 193, 300, 1100}, heads, d, 51, 16.0f);
  Batch rounded = b;
  for (float& x : rounded.qkv) x = bf16_rounded(x);
  for (int64_t window : {-1, 0, 3, 64, 100, 5000}) {
    SCOPED_TRACE("window " + std::to_string(window));
    const std::vector<double> want = dense_reference(rounded, heads, d, window, 0.125);
    const int64_t calls = ops::cpu::fused_bf16_attention_calls();
    const double error = max_abs_diff(run(b, heads, d, window, 0.125f, ops::ComputeType::BF16), want);
    if (fused_here()) {
      EXPECT_EQ(ops::cpu::fused_bf16_attention_calls(), calls + 1) << "the fused kernel did not run";
    }
    EXPECT_LT(error, 4e-3);
    EXPECT_LT(2 * error, max_abs_diff(run(b, heads, d, window, 0.125f, ops::ComputeType::F32), want));
  }
}

// Scores that grow along the keys: every 128-key chunk raises each row's maximum, so the output and
// sums accumulated so far are rescaled at every chunk (with a fixed maximum they never would be).
TEST_P(AttentionBf16Fused, RescalesWhenLaterChunksHoldLargerScores) {
  const int heads = 1, d = 64;
  const int64_t len = 700;
  Batch b = make_batch({len}, heads, d, 61);
  const int64_t stride = 3 * d;
  for (int64_t j = 0; j < len; ++j)
    for (int t = 0; t < d; ++t) {
      b.qkv[(size_t)(j * stride + t)] = bf16_rounded(0.5f);                                      // Q
      b.qkv[(size_t)(j * stride + d + t)] = bf16_rounded((float)j / (float)len * (t % 2 ? 1.0f : 0.5f));  // K
    }
  for (float& x : b.qkv) x = bf16_rounded(x);
  const std::vector<double> want = dense_reference(b, heads, d, -1, 0.125);
  EXPECT_LT(max_abs_diff(run(b, heads, d, -1, 0.125f, ops::ComputeType::BF16), want), 4e-3);
}

// The fused kernel and the oneDNN bf16 path compute the same thing in other orders: close, not equal.
TEST_P(AttentionBf16Fused, AgreesWithTheUnfusedBf16Path) {
  if (!fused_here()) GTEST_SKIP() << "no AVX-512-BF16: the fused kernel is not used here";
  const int heads = 2, d = 64;
  const Batch b = make_batch({77, 640}, heads, d, 71, 4.0f);
  for (int64_t window : {-1, 64}) {
    const std::vector<float> fused = run(b, heads, d, window, 0.125f, ops::ComputeType::BF16);
    ops::cpu::force_unfused_bf16_attention(true);
    const std::vector<float> unfused = run(b, heads, d, window, 0.125f, ops::ComputeType::BF16);
    ops::cpu::force_unfused_bf16_attention(false);
    double diff = 0.0;
    for (size_t i = 0; i < fused.size(); ++i) diff = std::max(diff, std::fabs((double)fused[i] - unfused[i]));
    EXPECT_LT(diff, 4e-3) << "window " << window;
    EXPECT_GT(diff, 0.0) << "window " << window;
  }
}

// RoPE applied by the split gives the same bits as rope_qkv first on the fused path too: from the
// cached cos/sin table, and with positions past the table's range (computed per token), on a band
// whose half-window (100) is no multiple of the kernel's 16-key groups.
TEST_P(AttentionBf16Fused, RotaryInTheSplitMatchesRopeThenAttention) {
  const std::vector<int64_t> lengths{9, 200, 333};
  const int heads = 2, d = 64;
  const Batch b = make_batch(lengths, heads, d, 81, 2.0f);
  const RopeTables rope = rope_tables(lengths, d, 160000.0);
  RopeTables far = rope;
  for (int32_t& position : far.positions) position += 70000;
  ops::Context c = ctx();
  c.compute = ops::ComputeType::BF16;
  for (const auto& [window, positions] : {std::pair<int64_t, const RopeTables*>{-1, &rope}, {64, &rope},
                                          {100, &rope}, {64, &far}}) {
    SCOPED_TRACE("window " + std::to_string(window) + (positions == &far ? ", far positions" : ""));
    const auto positions_d = put(positions->positions);
    const auto inv_freq_d = put(positions->inv_freq);
    const ops::Rotary rotary{positions_d.data(), inv_freq_d.data()};
    auto qkv = put(b.qkv);
    const auto cu = put(b.cu);
    auto out = filled<float>(b.cu.back() * heads * d, NAN);
    ops::attention(c, qkv.data(), out.data(), cu.data(), (int64_t)lengths.size(), heads, d, window, 0.125f, &rotary);
    ops::rope_qkv(ctx(), qkv.data(), positions_d.data(), b.cu.back(), heads, d, inv_freq_d.data());
    Batch rotated = b;
    rotated.qkv = get(qkv);
    EXPECT_EQ(get(out), run(rotated, heads, d, window, 0.125f, ops::ComputeType::BF16));
  }
}

// ops::qkv_attention, whose QKV GEMM writes its tiles straight into the fused kernel's panels, gives
// the bits of linear() then attention() (whose split makes the panels from the fp32 rows), in bf16
// and int8 modes, on rows given as fp32, bf16 and int8 with scales; sequences that start and end
// inside the GEMM's 96-row tiles and the kernel's 16-row groups (a half-window of 100 puts them off
// the groups too); with RoPE from the table, from positions past it, and without; 3 heads, so that a
// 512-column tile ends inside K.
TEST_P(AttentionBf16Fused, QkvAttentionIsLinearThenAttention) {
  const std::vector<int64_t> lengths{1, 17, 100, 200, 333};
  const int heads = 3, d = 64;
  const int64_t hidden = heads * d, rows = 651;
  Rng rng(91);
  std::vector<float> weight((size_t)(3 * hidden * hidden)), bias((size_t)(3 * hidden)), x((size_t)(rows * hidden));
  for (float& v : weight) v = (float)(rng.normal() * 0.1);
  for (float& v : bias) v = (float)rng.normal();
  for (float& v : x) v = (float)rng.normal();
  std::vector<uint16_t> x_bits(x.size());
  for (size_t i = 0; i < x.size(); ++i) x_bits[i] = f32_to_bf16(x[i]);
  std::vector<int8_t> x_q(x.size());  // any int8 rows with any scales
  std::vector<float> x_scales((size_t)rows);
  for (size_t i = 0; i < x.size(); ++i) x_q[i] = (int8_t)(rng.uniform() * 255.0 - 127.0);
  for (float& v : x_scales) v = (float)(rng.uniform() * 0.02);
  const auto weight_d = put(weight), bias_d = put(bias), x_d = put(x), x_scales_d = put(x_scales);
  const auto x_bits_d = put(x_bits);
  const auto x_q_d = put(x_q);
  ops::LinearWeights w;
  w.weight = weight_d.data();
  w.bias = bias_d.data();
  w.in = hidden;
  w.out = 3 * hidden;
  const RopeTables rope = rope_tables(lengths, d, 10000.0);
  RopeTables far = rope;
  for (int32_t& position : far.positions) position += 70000;
  const auto positions_d = put(rope.positions), far_d = put(far.positions);
  const auto inv_freq_d = put(rope.inv_freq);
  const ops::Rotary near_rotary{positions_d.data(), inv_freq_d.data()}, far_rotary{far_d.data(), inv_freq_d.data()};
  const auto cu = put(std::vector<int64_t>{0, 1, 18, 118, 318, 651});
  const std::vector<std::pair<const char*, ops::LinearInput>> inputs{
      {"fp32 rows", {.f32 = x_d.data()}},
      {"bf16 rows", {.bf16 = x_bits_d.data()}},
      {"int8 rows", {.q = x_q_d.data(), .scales = x_scales_d.data()}}};
  for (auto compute : {ops::ComputeType::BF16, ops::ComputeType::INT8}) {
    ops::Context c = ctx();
    c.compute = compute;
    for (const ops::Rotary* rotary : {&near_rotary, &far_rotary, (const ops::Rotary*)nullptr})
      for (int64_t window : {-1, 64, 100})
        for (const auto& [form, in] : inputs) {
          SCOPED_TRACE(std::string(compute == ops::ComputeType::BF16 ? "bf16" : "int8") + ", window " +
                       std::to_string(window) + ", " + form +
                       (rotary == &far_rotary ? ", far positions" : rotary ? "" : ", no RoPE"));
          auto qkv = filled<float>(rows * 3 * hidden, NAN), want = filled<float>(rows * hidden, NAN);
          ops::linear(c, w, in, qkv.data(), rows);
          ops::attention(c, qkv.data(), want.data(), cu.data(), 5, heads, d, window, 0.125f, rotary);
          auto scratch = filled<float>(rows * 3 * hidden, NAN), got = filled<float>(rows * hidden, NAN);
          const int64_t calls = ops::cpu::fused_bf16_attention_calls();
          ops::qkv_attention(c, w, in, scratch.data(), got.data(), cu.data(), 5, heads, d, window, 0.125f, rotary);
          if (fused_here()) {
            EXPECT_EQ(ops::cpu::fused_bf16_attention_calls(), calls + 1) << "the fused kernel did not run";
          }
          EXPECT_EQ(get(got), get(want));
        }
  }
}
