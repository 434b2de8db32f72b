// The ops that write a linear layer's input in the form it takes (layernorm_bf16 / geglu_bf16: bf16;
// layernorm_int8 / geglu_int8: int8 rows with a scale each) and linear() taking such rows: the fp32
// ops right against double precision; their bf16 forms exactly those results rounded to nearest
// even, their int8 forms exactly those results quantized by the symmetric per-row rule (computed
// here: q = round-half-even(y * 127 / max|y|), scale = max|y| / 127); and a linear layer on such rows
// exactly what it computes from the fp32 rows that become them (in that mode it would convert them to
// these very values). Together: the bf16 and int8 model paths that use them give the same bits as
// the ones that do not.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "device_test.h"
#include "medenc/safetensors.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/ops.h"
#include "util/random.h"

using namespace medenc;

namespace {

std::vector<float> random_floats(size_t n, uint64_t seed, double scale = 1.0, double shift = 0.0) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = (float)(shift + scale * rng.normal());
  return v;
}

std::vector<uint16_t> rounded_bits(const std::vector<float>& x) {
  std::vector<uint16_t> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = f32_to_bf16(x[i]);
  return out;
}

// Rows of width k quantized by the int8 linear layers' rule.
struct Int8Rows {
  std::vector<int8_t> q;
  std::vector<float> scales;
};
Int8Rows quantized(const std::vector<float>& x, int64_t k) {
  Int8Rows out;
  const int64_t rows = (int64_t)x.size() / k;
  for (int64_t r = 0; r < rows; ++r) {
    float amax = 0.0f;
    for (int64_t i = 0; i < k; ++i) amax = std::max(amax, std::fabs(x[(size_t)(r * k + i)]));
    out.scales.push_back(amax / 127.0f);
    for (int64_t i = 0; i < k; ++i)
      out.q.push_back(amax > 0.0f ? (int8_t)std::nearbyint(x[(size_t)(r * k + i)] * (127.0f / amax)) : 0);
  }
  return out;
}

}  // namespace

class LinearInputs : public test::DeviceTest {
 protected:
  // 300 rows leave a partial row tile, 700 outputs a partial column tile.
  static constexpr int64_t kRows = 300, kIn = 96, kOut = 700;
  // A random layer on the device, and residual rows for its accumulating calls.
  struct Layer {
    ops::Buffer<float> weight, bias;
    ops::LinearWeights w;
    std::vector<float> residual;
  };
  Layer layer(uint64_t seed) const {
    Layer l{put(random_floats((size_t)(kIn * kOut), seed, 0.1)), put(random_floats((size_t)kOut, seed + 1)), {},
            random_floats((size_t)(kRows * kOut), seed + 2)};
    l.w.weight = l.weight.data();
    l.w.bias = l.bias.data();
    l.w.in = kIn;
    l.w.out = kOut;
    return l;
  }
  // A call's output buffer: the residual when the call accumulates, else NaN.
  ops::Buffer<float> output(const Layer& l, bool accumulate) const {
    return put(accumulate ? l.residual : std::vector<float>((size_t)(kRows * kOut), NAN));
  }
};
MEDENC_TEST_ON_ALL_DEVICES(LinearInputs);

TEST_P(LinearInputs, LayerNormIntoBf16OrInt8IsTheFp32NormConverted) {
  const int64_t rows = 37, dim = 200;  // dim not a multiple of the vector width: a tail in every row
  const std::vector<float> x = random_floats((size_t)(rows * dim), 1, 3.0, 0.5);
  const std::vector<float> gamma = random_floats((size_t)dim, 2), beta = random_floats((size_t)dim, 3);
  const float eps = 1e-5f;
  for (bool with_beta : {true, false}) {
    const auto xd = put(x), gd = put(gamma), bd = put(beta);
    auto y = filled<float>(rows * dim, NAN);
    auto y16 = filled<uint16_t>(rows * dim, 0xffff);
    const float* b = with_beta ? bd.data() : nullptr;
    ops::layernorm(ctx(), xd.data(), gd.data(), b, y.data(), rows, dim, eps);
    ops::layernorm_bf16(ctx(), xd.data(), gd.data(), b, y16.data(), rows, dim, eps);
    const std::vector<float> fp32 = get(y);
    for (int64_t r = 0; r < rows; ++r) {  // the fp32 norm against its definition in double
      double mean = 0, var = 0;
      for (int64_t i = 0; i < dim; ++i) mean += x[(size_t)(r * dim + i)];
      mean /= (double)dim;
      for (int64_t i = 0; i < dim; ++i) var += std::pow(x[(size_t)(r * dim + i)] - mean, 2);
      var /= (double)dim;
      for (int64_t i = 0; i < dim; ++i) {
        const double want = (x[(size_t)(r * dim + i)] - mean) / std::sqrt(var + eps) * gamma[(size_t)i] +
                            (with_beta ? beta[(size_t)i] : 0.0);
        ASSERT_NEAR(fp32[(size_t)(r * dim + i)], want, 1e-5 * std::max(1.0, std::fabs(want)));
      }
    }
    const std::vector<uint16_t> want16 = rounded_bits(fp32);
    EXPECT_EQ(get(y16), want16) << (with_beta ? "with beta" : "without beta");
    auto q = filled<int8_t>(rows * dim, 99);
    auto scales = filled<float>(rows, NAN);
    ops::layernorm_int8(ctx(), xd.data(), gd.data(), b, q.data(), scales.data(), rows, dim, eps);
    const Int8Rows want = quantized(fp32, dim);
    EXPECT_EQ(get(q), want.q);
    EXPECT_EQ(get(scales), want.scales);
    // A row's result does not depend on the rows normalized beside it (the kernels take rows in
    // groups): each row alone gives the same bits, and so does add_layernorm of its two halves.
    std::vector<float> halves(x.size());
    for (size_t i = 0; i < x.size(); ++i) halves[i] = x[i] * 0.5f;  // exact: x = halves + halves
    const auto hd = put(halves);
    auto summed = filled<float>(rows * dim, NAN);
    ops::add_layernorm(ctx(), hd.data(), hd.data(), gd.data(), b, summed.data(), rows, dim, eps);
    EXPECT_EQ(get(summed), fp32);
    for (int64_t r = 0; r < rows; r += 5) {
      const auto row = put(std::vector<float>(x.begin() + r * dim, x.begin() + (r + 1) * dim));
      auto one = filled<float>(dim, NAN);
      auto one16 = filled<uint16_t>(dim, 0xffff);
      auto one_q = filled<int8_t>(dim, 99);
      auto one_scale = filled<float>(1, NAN);
      ops::layernorm(ctx(), row.data(), gd.data(), b, one.data(), 1, dim, eps);
      ops::layernorm_bf16(ctx(), row.data(), gd.data(), b, one16.data(), 1, dim, eps);
      ops::layernorm_int8(ctx(), row.data(), gd.data(), b, one_q.data(), one_scale.data(), 1, dim, eps);
      ASSERT_EQ(get(one), std::vector<float>(fp32.begin() + r * dim, fp32.begin() + (r + 1) * dim)) << "row " << r;
      ASSERT_EQ(get(one16), std::vector<uint16_t>(want16.begin() + r * dim, want16.begin() + (r + 1) * dim));
      ASSERT_EQ(get(one_q), std::vector<int8_t>(want.q.begin() + r * dim, want.q.begin() + (r + 1) * dim));
      ASSERT_EQ(get(one_scale)[0], want.scales[(size_t)r]);
    }
  }
}

TEST_P(LinearInputs, GegluIntoBf16OrInt8IsTheFp32GegluConverted) {
  const int64_t rows = 23, inter = 150;
  const std::vector<float> z = random_floats((size_t)(rows * 2 * inter), 4, 2.0);
  for (Activation act : {Activation::GeluErf, Activation::GeluTanh}) {
    const auto zd = put(z);
    auto out = filled<float>(rows * inter, NAN);
    auto out16 = filled<uint16_t>(rows * inter, 0xffff);
    ops::geglu(ctx(), zd.data(), out.data(), rows, inter, act);
    ops::geglu_bf16(ctx(), zd.data(), out16.data(), rows, inter, act);
    const std::vector<float> fp32 = get(out);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < inter; ++i) {
        const double u = z[(size_t)(r * 2 * inter + i)], g = z[(size_t)(r * 2 * inter + inter + i)];
        const double gelu = act == Activation::GeluErf
                                ? 0.5 * u * (1.0 + std::erf(u / std::sqrt(2.0)))
                                : 0.5 * u * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (u + 0.044715 * u * u * u)));
        ASSERT_NEAR(fp32[(size_t)(r * inter + i)], gelu * g, 1e-5 * std::max(1.0, std::fabs(gelu * g)));
      }
    EXPECT_EQ(get(out16), rounded_bits(fp32));
    auto q = filled<int8_t>(rows * inter, 99);
    auto scales = filled<float>(rows, NAN);
    ops::geglu_int8(ctx(), zd.data(), q.data(), scales.data(), rows, inter, act);
    const Int8Rows want = quantized(fp32, inter);
    EXPECT_EQ(get(q), want.q);
    EXPECT_EQ(get(scales), want.scales);
  }
}

TEST_P(LinearInputs, LinearOnBf16RowsIsLinearOnTheirValues) {
  Layer l = layer(5);
  const std::vector<float> x = random_floats((size_t)(kRows * kIn), 8);
  const std::vector<uint16_t> bits = rounded_bits(x);
  std::vector<float> values(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) values[i] = bf16_to_f32(bits[i]);
  const auto xd = put(x), vd = put(values);
  const auto bits_d = put(bits);
  for (auto compute : {ops::ComputeType::BF16, ops::ComputeType::F32, ops::ComputeType::INT8}) {
    ops::Context c = ctx();
    c.compute = compute;
    for (bool accumulate : {false, true}) {
      auto from_bits = output(l, accumulate), from_values = output(l, accumulate);
      ops::linear(c, l.w, bits_d.data(), from_bits.data(), kRows, accumulate);
      ops::linear(c, l.w, vd.data(), from_values.data(), kRows, accumulate);
      const std::vector<float> got = get(from_bits);
      ASSERT_EQ(got, get(from_values)) << "compute " << (int)compute << ", accumulate " << accumulate;
      if (compute == ops::ComputeType::BF16) {  // and what the fp32 rows give: bf16 mode rounds them to these bits
        auto from_fp32 = output(l, accumulate);
        ops::linear(c, l.w, xd.data(), from_fp32.data(), kRows, accumulate);
        EXPECT_EQ(got, get(from_fp32)) << "accumulate " << accumulate;
      }
    }
    l.w.invalidate();
  }
}

TEST_P(LinearInputs, LinearOnInt8RowsIsLinearOnTheRowsTheyCameFrom) {
  // In int8 mode: the same bits as from the fp32 rows (which it quantizes to these rows); a row of
  // zeros included (scale 0). In the other modes: the product of the rows' values q * scale.
  Layer l = layer(9);
  std::vector<float> x = random_floats((size_t)(kRows * kIn), 12);
  std::fill(x.begin() + 7 * kIn, x.begin() + 8 * kIn, 0.0f);
  const Int8Rows rows_q = quantized(x, kIn);
  std::vector<float> values(x.size());
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t i = 0; i < kIn; ++i)
      values[(size_t)(r * kIn + i)] = (float)rows_q.q[(size_t)(r * kIn + i)] * rows_q.scales[(size_t)r];
  const auto xd = put(x), vd = put(values);
  const auto qd = put(rows_q.q);
  const auto sd = put(rows_q.scales);
  for (auto compute : {ops::ComputeType::INT8, ops::ComputeType::F32, ops::ComputeType::BF16}) {
    ops::Context c = ctx();
    c.compute = compute;
    for (bool accumulate : {false, true}) {
      auto from_q = output(l, accumulate), want = output(l, accumulate);
      ops::linear(c, l.w, qd.data(), sd.data(), from_q.data(), kRows, accumulate);
      ops::linear(c, l.w, compute == ops::ComputeType::INT8 ? xd.data() : vd.data(), want.data(), kRows, accumulate);
      EXPECT_EQ(get(from_q), get(want)) << "compute " << (int)compute << ", accumulate " << accumulate;
    }
    l.w.invalidate();
  }
}

// The GeGLU run on each GEMM tile (the weight's halves packed pairwise into the tiles) gives the bits
// of linear() followed by geglu_bf16, with a partial row tile and a partial pair tile; and the same
// weight then serves plain linear() again (each column order packed once, kept apart).
TEST_P(LinearInputs, LinearGegluIsLinearThenGeglu) {
  const Layer l = layer(9);
  const int64_t inter = kOut / 2;
  const std::vector<uint16_t> bits = rounded_bits(random_floats((size_t)(kRows * kIn), 10));
  const auto xd = put(bits);
  for (auto compute : {ops::ComputeType::BF16, ops::ComputeType::F32}) {
    ops::Context c = ctx();
    c.compute = compute;
    for (Activation act : {Activation::GeluErf, Activation::GeluTanh}) {
      auto z = output(l, false), z_again = output(l, false), scratch = output(l, false);
      auto want = filled<uint16_t>(kRows * inter, 0xffff), got = filled<uint16_t>(kRows * inter, 0xffff);
      ops::linear(c, l.w, xd.data(), z.data(), kRows);
      ops::geglu_bf16(c, z.data(), want.data(), kRows, inter, act);
      ops::linear_geglu_bf16(c, l.w, xd.data(), kRows, act, scratch.data(), got.data());
      EXPECT_EQ(get(got), get(want)) << "compute " << (int)compute << ", act " << (int)act;
      ops::linear(c, l.w, xd.data(), z_again.data(), kRows);
      EXPECT_EQ(get(z_again), get(z));
    }
  }
}

// act(linear(x)) as bf16 rows: the activation run on each GEMM tile gives the bits of the same
// activation on the whole rows (cpu::activation_bf16), and both are GELU within bf16's rounding of
// the double-precision value; activation_int8's rows are that GELU quantized (to half a step).
TEST_P(LinearInputs, LinearActivationIntoBf16OrInt8) {
  const Layer l = layer(11);
  const std::vector<uint16_t> bits = rounded_bits(random_floats((size_t)(kRows * kIn), 12));
  const auto xd = put(bits);
  ops::Context c = ctx();
  c.compute = ops::ComputeType::BF16;
  auto y = output(l, false), scratch = output(l, false);
  ops::linear(c, l.w, xd.data(), y.data(), kRows);
  const std::vector<float> yv = get(y);
  auto got = filled<uint16_t>(kRows * kOut, 0xffff);
  ops::linear_activation_bf16(c, l.w, ops::LinearInput{.bf16 = xd.data()}, kRows, Activation::GeluErf,
                              scratch.data(), got.data());
  std::vector<uint16_t> whole_rows(yv.size());
  ops::cpu::activation_bf16(yv.data(), whole_rows.data(), kRows, kOut, Activation::GeluErf);
  const std::vector<uint16_t> gv = get(got);
  EXPECT_EQ(gv, whole_rows);
  auto gelu = [](double u) { return 0.5 * u * (1.0 + std::erf(u / std::sqrt(2.0))); };
  for (size_t i = 0; i < yv.size(); ++i) {
    const double want = gelu(yv[i]);
    ASSERT_NEAR(bf16_to_f32(gv[i]), want, std::fabs(want) * 0x1p-8 + 1e-6) << "element " << i;
  }
  auto q = filled<int8_t>(kRows * kOut, 99);
  auto scales = filled<float>(kRows, NAN);
  ops::activation_int8(c, y.data(), q.data(), scales.data(), kRows, kOut, Activation::GeluErf);
  const std::vector<int8_t> qv = get(q);
  const std::vector<float> sv = get(scales);
  for (int64_t r = 0; r < kRows; ++r) {
    double amax = 0;
    for (int64_t j = 0; j < kOut; ++j) amax = std::max(amax, std::fabs(gelu(yv[(size_t)(r * kOut + j)])));
    ASSERT_NEAR(sv[(size_t)r], amax / 127.0, amax * 1e-5);
    for (int64_t j = 0; j < kOut; ++j)
      ASSERT_NEAR(qv[(size_t)(r * kOut + j)] * sv[(size_t)r], gelu(yv[(size_t)(r * kOut + j)]), sv[(size_t)r] * 0.51);
  }
}

// The same for int8 rows out: GeGLU on each int8 GEMM tile (the quantized channels rearranged into
// pairs), then the rows quantized, gives the bits of linear() then geglu_int8, from fp32 and from
// int8 input rows; in other modes the op is those two calls.
TEST_P(LinearInputs, LinearGegluInt8IsLinearThenGegluInt8) {
  const Layer l = layer(13);
  const int64_t inter = kOut / 2;
  const std::vector<float> x = random_floats((size_t)(kRows * kIn), 14);
  const Int8Rows xq = quantized(x, kIn);
  const auto xd = put(x), xs = put(xq.scales);
  const auto xqd = put(xq.q);
  for (auto compute : {ops::ComputeType::INT8, ops::ComputeType::BF16}) {
    ops::Context c = ctx();
    c.compute = compute;
    for (const ops::LinearInput& in : {ops::LinearInput{.f32 = xd.data()},
                                       ops::LinearInput{.q = xqd.data(), .scales = xs.data()}}) {
      auto z = output(l, false), scratch = output(l, false), z_again = output(l, false);
      auto want = filled<int8_t>(kRows * inter, 99), got = filled<int8_t>(kRows * inter, 99);
      auto want_scales = filled<float>(kRows, NAN), got_scales = filled<float>(kRows, NAN);
      ops::linear(c, l.w, in, z.data(), kRows);
      ops::geglu_int8(c, z.data(), want.data(), want_scales.data(), kRows, inter, Activation::GeluErf);
      ops::linear_geglu_int8(c, l.w, in, kRows, Activation::GeluErf, scratch.data(), got.data(), got_scales.data());
      EXPECT_EQ(get(got), get(want)) << "compute " << (int)compute << (in.q ? ", int8 rows" : ", fp32 rows");
      EXPECT_EQ(get(got_scales), get(want_scales));
      ops::linear(c, l.w, in, z_again.data(), kRows);
      EXPECT_EQ(get(z_again), get(z));
    }
  }
}
