// The ops that write a linear layer's input as bf16 (layernorm_bf16, geglu_bf16) and linear() taking
// bf16 rows: the fp32 ops right against double precision, their bf16 forms exactly those results
// rounded to nearest even, and a linear layer on bf16 rows exactly what it computes from the same
// values given as fp32 (in bf16 mode it would round them to these very bits). Together: the bf16
// model path that uses them gives the same bits as the one that does not.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "device_test.h"
#include "medenc/safetensors.h"
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

}  // namespace

class Bf16Activations : public test::DeviceTest {};
MEDENC_TEST_ON_ALL_DEVICES(Bf16Activations);

TEST_P(Bf16Activations, LayerNormBf16IsTheFp32NormRounded) {
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
    EXPECT_EQ(get(y16), rounded_bits(fp32)) << (with_beta ? "with beta" : "without beta");
  }
}

TEST_P(Bf16Activations, GegluBf16IsTheFp32GegluRounded) {
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
  }
}

TEST_P(Bf16Activations, LinearOnBf16RowsIsLinearOnTheirValues) {
  // 300 rows: a partial row tile; 700 outputs: a partial column tile.
  const int64_t rows = 300, in = 96, out = 700;
  const std::vector<float> weight = random_floats((size_t)(in * out), 5, 0.1), bias = random_floats((size_t)out, 6);
  const std::vector<float> residual = random_floats((size_t)(rows * out), 7);
  const std::vector<float> x = random_floats((size_t)(rows * in), 8);
  const std::vector<uint16_t> bits = rounded_bits(x);
  std::vector<float> values(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) values[i] = bf16_to_f32(bits[i]);
  const auto wd = put(weight), bd = put(bias), xd = put(x), vd = put(values);
  const auto bits_d = put(bits);
  ops::LinearWeights w;
  w.weight = wd.data();
  w.bias = bd.data();
  w.in = in;
  w.out = out;
  for (auto compute : {ops::ComputeType::BF16, ops::ComputeType::F32, ops::ComputeType::INT8}) {
    ops::Context c = ctx();
    c.compute = compute;
    for (bool accumulate : {false, true}) {
      auto from_bits = put(accumulate ? residual : std::vector<float>((size_t)(rows * out), NAN));
      auto from_values = put(accumulate ? residual : std::vector<float>((size_t)(rows * out), NAN));
      ops::linear(c, w, bits_d.data(), from_bits.data(), rows, accumulate);
      ops::linear(c, w, vd.data(), from_values.data(), rows, accumulate);
      const std::vector<float> got = get(from_bits);
      ASSERT_EQ(got, get(from_values)) << "compute " << (int)compute << ", accumulate " << accumulate;
      if (compute == ops::ComputeType::BF16) {  // and what the fp32 rows give: bf16 mode rounds them to these bits
        auto from_fp32 = put(accumulate ? residual : std::vector<float>((size_t)(rows * out), NAN));
        ops::linear(c, w, xd.data(), from_fp32.data(), rows, accumulate);
        EXPECT_EQ(got, get(from_fp32)) << "accumulate " << accumulate;
      }
    }
    w.invalidate();
  }
}
