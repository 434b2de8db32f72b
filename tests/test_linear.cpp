// The linear-layer kernel: right against a double-precision product, and bit-identical for a row
// whatever its position in the batch, the rows around it and the thread count (the property that
// keeps a document's score independent of its neighbours).
#include <gtest/gtest.h>

#include <cmath>
#include <omp.h>
#include <vector>

#include "medenc/safetensors.h"
#include "ops/ops.h"
#include "device_test.h"
#include "util/random.h"

using namespace medenc;

namespace {

std::vector<float> random_floats(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = (float)(rng.uniform() * 2.0 - 1.0);
  return v;
}

struct Layer {
  int64_t in, out;
  std::vector<float> weight, bias;
};

// in/out sizes that leave partial column tiles; 300 rows leave a partial row tile.
Layer make_layer(int64_t in, int64_t out, uint64_t seed) {
  return {in, out, random_floats((size_t)(in * out), seed), random_floats((size_t)out, seed + 1)};
}

// ops::linear on the context's device: weights and inputs uploaded, the output downloaded.
std::vector<float> run(const ops::Context& ctx, const Layer& layer, const std::vector<float>& x, int64_t rows,
                       const std::vector<float>* residual = nullptr) {
  const auto weight = ops::upload<float>(ctx, layer.weight), bias = ops::upload<float>(ctx, layer.bias);
  const auto xd = ops::upload<float>(ctx, x);
  auto y = ops::upload<float>(ctx, residual ? *residual : std::vector<float>((size_t)(rows * layer.out), 0.0f));
  ops::LinearWeights w;
  w.weight = weight.data();
  w.bias = bias.data();
  w.in = layer.in;
  w.out = layer.out;
  ops::linear(ctx, w, xd.data(), y.data(), rows, residual != nullptr);
  return ops::download(ctx, y);
}

float round_bf16(float v) { return bf16_to_f32(f32_to_bf16(v)); }

void check_against_double(ops::Device device, ops::ComputeType type) {
  const Layer layer = make_layer(96, 600, 11);
  const int64_t rows = 300;
  const std::vector<float> x = random_floats((size_t)(rows * layer.in), 5);
  const std::vector<float> residual = random_floats((size_t)(rows * layer.out), 6);
  ops::Context ctx;
  ctx.device = device;
  ctx.compute = type;
  const bool bf16 = type == ops::ComputeType::BF16;
  const std::vector<float> y = run(ctx, layer, x, rows), z = run(ctx, layer, x, rows, &residual);
  double worst = 0.0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < layer.out; ++o) {
      double want = layer.bias[(size_t)o];
      for (int64_t k = 0; k < layer.in; ++k) {
        float a = x[(size_t)(r * layer.in + k)], w = layer.weight[(size_t)(o * layer.in + k)];
        if (bf16) a = round_bf16(a), w = round_bf16(w);
        want += (double)a * w;
      }
      worst = std::max(worst, std::fabs(y[(size_t)(r * layer.out + o)] - want));
      worst = std::max(worst, std::fabs(z[(size_t)(r * layer.out + o)] - (want + residual[(size_t)(r * layer.out + o)])));
    }
  EXPECT_LT(worst, 2e-5);  // fp32 accumulation of 96 products of size <= 1 (bf16: of the rounded inputs)
}

void check_row_independence(ops::Device device, ops::ComputeType type) {
  const Layer layer = make_layer(80, 700, 21);
  const int64_t rows = 300;
  const std::vector<float> x = random_floats((size_t)(rows * layer.in), 7);
  ops::Context ctx;
  ctx.device = device;
  ctx.compute = type;
  const std::vector<float> all = run(ctx, layer, x, rows);
  // Every row alone, and the batch shifted by one to 129 rows of other data, on 1 and 2 threads.
  const int saved = omp_get_max_threads();
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    for (int64_t r = 0; r < rows; ++r) {
      const std::vector<float> one(x.begin() + r * layer.in, x.begin() + (r + 1) * layer.in);
      const std::vector<float> y = run(ctx, layer, one, 1);
      for (int64_t o = 0; o < layer.out; ++o)
        ASSERT_EQ(y[(size_t)o], all[(size_t)(r * layer.out + o)]) << "row " << r << " alone, threads " << threads;
    }
    for (int64_t shift : {1, 5, 64, 127, 129}) {
      std::vector<float> shifted = random_floats((size_t)(shift * layer.in), 100 + shift);
      shifted.insert(shifted.end(), x.begin(), x.end());
      const std::vector<float> y = run(ctx, layer, shifted, rows + shift);
      for (int64_t i = 0; i < rows * layer.out; ++i)
        ASSERT_EQ(y[(size_t)(shift * layer.out + i)], all[(size_t)i]) << "shift " << shift << ", threads " << threads;
    }
  }
  omp_set_num_threads(saved);
}

}  // namespace

// Every test runs on every available device (tests/support/device_test.h).
class Linear : public test::DeviceTest {};
MEDENC_TEST_ON_ALL_DEVICES(Linear);

TEST_P(Linear, Fp32MatchesDoublePrecisionProduct) { check_against_double(GetParam(), ops::ComputeType::F32); }
TEST_P(Linear, Bf16IsTheProductOfRoundedInputs) { check_against_double(GetParam(), ops::ComputeType::BF16); }
TEST_P(Linear, Fp32RowsDoNotDependOnTheirNeighboursOrThreads) {
  check_row_independence(GetParam(), ops::ComputeType::F32);
}
TEST_P(Linear, Bf16RowsDoNotDependOnTheirNeighboursOrThreads) {
  check_row_independence(GetParam(), ops::ComputeType::BF16);
}
