// --dtype int8: the linear layers' int8 GEMM against an integer product computed here from the
// quantization's definition; its independence of threads and batch neighbours; both int8 kernels
// giving the same bits; the accuracy of int8 models against fp32 on every Hugging Face fixture and on
// the shipped relevance model (scores and ROC-AUC, both sides computed now, whatever its weights).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <vector>

#include "fixture_check.h"
#include "medenc/metrics.h"
#include "medenc/session.h"
#include "ops/cpu/int8.h"
#include "ops/ops.h"
#include "test_support.h"
#include "util/random.h"

using namespace medenc;

namespace {

// Fixture bounds, as fractions of the largest |value| of the expected tensor (at least 1).
constexpr double kLogitsBound = 0.05;  // measured: at most 0.01 of the range (tokcls9: 0.043 of 4.5)
constexpr double kHiddenBound = 0.1;   // measured: at most 0.065 (Megatron, hidden states up to ~4)

std::vector<float> random_floats(size_t n, uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = (float)((rng.uniform() * 2.0 - 1.0) * scale);
  return v;
}

// Symmetric per-row quantization by its definition: scale = max|row| / 127, q = round-half-even(v *
// 127 / max|row|).
void quantize_rows(const std::vector<float>& m, int64_t rows, int64_t cols, std::vector<int8_t>& q,
                   std::vector<float>& scale) {
  q.resize((size_t)(rows * cols));
  scale.resize((size_t)rows);
  for (int64_t r = 0; r < rows; ++r) {
    float amax = 0.0f;
    for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(m[r * cols + c]));
    scale[r] = amax / 127.0f;
    const float inv = amax > 0 ? 127.0f / amax : 0.0f;
    for (int64_t c = 0; c < cols; ++c) q[r * cols + c] = (int8_t)std::nearbyint(m[r * cols + c] * inv);
  }
}

struct Layer {
  int64_t in, out;
  std::vector<float> weight, bias;
  ops::LinearWeights weights() const {
    ops::LinearWeights w;
    w.weight = weight.data();
    w.bias = bias.data();
    w.in = in;
    w.out = out;
    return w;
  }
};

std::vector<float> run_int8(const Layer& layer, const std::vector<float>& x, int64_t rows,
                            const std::vector<float>* residual = nullptr) {
  ops::Context ctx;
  ctx.compute = ops::ComputeType::INT8;
  std::vector<float> y = residual ? *residual : std::vector<float>((size_t)(rows * layer.out), 0.0f);
  const ops::LinearWeights w = layer.weights();
  ops::linear(ctx, w, x.data(), y.data(), rows, residual != nullptr);
  return y;
}

// 1,100 inputs cross the fallback's 1,024-product blocks; 600 outputs and 300 rows leave partial tiles.
// Inputs with a wide range (one large value per row) stress the per-row scale.
Layer make_layer() {
  return {1100, 600, random_floats(1100 * 600, 21, 0.05), random_floats(600, 22)};
}

std::vector<float> make_inputs(int64_t rows, int64_t in) {
  std::vector<float> x = random_floats((size_t)(rows * in), 23, 2.0);
  for (int64_t r = 0; r < rows; ++r) x[r * in + (r * 7) % in] = (float)(10 + r % 5);
  for (int64_t c = 0; c < in; ++c) x[5 * in + c] = 0.0f;  // an all-zero row: scale 0
  return x;
}

class Int8Kernels : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { ops::cpu::force_int8_fallback(GetParam()); }
  void TearDown() override { ops::cpu::force_int8_fallback(false); }
};

}  // namespace

TEST_P(Int8Kernels, LinearIsTheExactIntegerProductScaledBack) {
  const Layer layer = make_layer();
  const int64_t rows = 300;
  const std::vector<float> x = make_inputs(rows, layer.in);
  const std::vector<float> residual = random_floats((size_t)(rows * layer.out), 24);
  const std::vector<float> y = run_int8(layer, x, rows), z = run_int8(layer, x, rows, &residual);
  std::vector<int8_t> qx, qw;
  std::vector<float> sx, sw;
  quantize_rows(x, rows, layer.in, qx, sx);
  quantize_rows(layer.weight, layer.out, layer.in, qw, sw);
  double worst = 0.0, worst_vs_float = 0.0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < layer.out; ++c) {
      int64_t acc = 0;
      double exact = layer.bias[c];
      for (int64_t k = 0; k < layer.in; ++k) {
        acc += (int64_t)qx[r * layer.in + k] * qw[c * layer.in + k];
        exact += (double)x[r * layer.in + k] * layer.weight[c * layer.in + k];
      }
      const double product = (double)acc * ((double)sx[r] * sw[c]);
      const double want = product + layer.bias[c];
      const float got = y[r * layer.out + c];
      // Only fp32 rounding (of the sum to float, the scale product and the bias add) separates the two.
      worst = std::max(worst, std::fabs(got - want) / (1e-6 + std::fabs(product) + std::fabs(layer.bias[c])));
      ASSERT_NEAR(z[r * layer.out + c], got + residual[r * layer.out + c], 1e-5 * (1 + std::fabs(got)));
      worst_vs_float = std::max(worst_vs_float, std::fabs(got - exact));
    }
  EXPECT_LT(worst, 1e-6);
  // And it is a product at all: close to the unquantized one (8-bit inputs, sums over 1,100 terms).
  EXPECT_LT(worst_vs_float, 0.25);
  EXPECT_GT(worst_vs_float, 1e-4);
}

TEST_P(Int8Kernels, RowsDoNotDependOnTheirNeighboursOrThreads) {
  const Layer layer = make_layer();
  const int64_t rows = 200;
  const std::vector<float> x = make_inputs(rows, layer.in);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(2);
  const std::vector<float> all = run_int8(layer, x, rows);
  omp_set_num_threads(1);
  const std::vector<float> one_thread = run_int8(layer, x, rows);
  // Rows 37..136 alone, starting a batch (other tile boundaries).
  const std::vector<float> part(x.begin() + 37 * layer.in, x.begin() + 137 * layer.in);
  omp_set_num_threads(2);
  const std::vector<float> shifted = run_int8(layer, part, 100);
  omp_set_num_threads(saved);
  EXPECT_EQ(all, one_thread);
  EXPECT_TRUE(std::equal(shifted.begin(), shifted.end(), all.begin() + 37 * layer.out));
}

INSTANTIATE_TEST_SUITE_P(Int8, Int8Kernels, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "ExactFp32Fallback" : "Default"; });

TEST(Int8, BothKernelsGiveTheSameBits) {
  const Layer layer = make_layer();
  const std::vector<float> x = make_inputs(130, layer.in);
  const std::vector<float> a = run_int8(layer, x, 130);
  ops::cpu::force_int8_fallback(true);
  const std::vector<float> b = run_int8(layer, x, 130);
  ops::cpu::force_int8_fallback(false);
  EXPECT_EQ(a, b) << "kernel in use: " << ops::cpu::int8_gemm_kernel();
}

// Every Hugging Face fixture (fp32 outputs of transformers) run in int8. The bound is relative to
// the size of the fixture's logits: 8-bit inputs and weights through every layer of a random-weight
// model move logits by a few percent of their range; the measured errors are printed.
TEST(Int8, EveryFixtureCloseToHuggingFaceFp32) {
  const char* fixtures[] = {"modernbert_base_smallvocab", "modernbert_mlm", "modernbert_seqcls_regression_mean",
                            "modernbert_seqcls_multilabel_cls", "modernbert_seqcls_single3_smallvocab",
                            "modernbert_tokcls9_smallvocab", "bert_base_smallvocab", "bert_mlm_smallvocab",
                            "bert_seqcls_smallvocab", "bert_tokcls9_smallvocab", "megatron_base_smallvocab",
                            "megatron_seqcls3_smallvocab", "megatron_tokcls43_smallvocab"};
  for (const char* name : fixtures) {
    SCOPED_TRACE(name);
    const std::string dir = test::fixture_dir(name);
    test::ExpectedTensors exp{SafetensorsFile::open(dir + "/expected.safetensors")};
    const PaddedInputs in = test::fixture_inputs(dir, exp);
    LoadOptions o;
    o.int8 = true;
    auto model = load_encoder(dir, o);
    const auto outs = run_padded_forward(*model, in);
    const std::string key = exp.has("logits") ? "logits" : exp.has("mlm_logits_at_positions") ? "mlm_logits_at_positions" : "";
    const NamedTensor& hidden = test::output(outs, "last_hidden_state");
    const std::vector<float> want_hidden = exp.get("last_hidden_state");
    double hidden_range = 0.0;
    for (float v : want_hidden) hidden_range = std::max(hidden_range, (double)std::fabs(v));
    const double hidden_err = test::max_abs_diff(hidden.data, want_hidden, test::token_mask(in, hidden.shape[2]));
    double logits_err = 0.0, logits_range = 0.0;
    if (!key.empty()) {
      const NamedTensor& logits = test::output(outs, "logits");
      const std::vector<float> want = exp.get(key);
      ASSERT_EQ(logits.data.size(), want.size());
      std::vector<bool> mask;
      if (key == "logits" && logits.shape.size() == 3) mask = test::token_mask(in, logits.shape[2]);
      logits_err = test::max_abs_diff(logits.data, want, mask);
      for (float v : want) logits_range = std::max(logits_range, (double)std::fabs(v));
      EXPECT_LT(logits_err, kLogitsBound * std::max(1.0, logits_range));
    }
    EXPECT_LT(hidden_err, kHiddenBound * std::max(1.0, hidden_range));
    std::printf("[ int8     ] %-36s logits max|int8 - HF fp32| %.4f (logits up to %.2f), hidden %.4f (up to %.2f)\n",
                name, logits_err, logits_range, hidden_err, hidden_range);
  }
}

namespace {

std::vector<double> relevance_scores(Precision precision, const std::vector<TextInput>& texts) {
  ModelOptions mo;
  mo.precision = precision;
  Session session(Model::load(test::data_path("../../models/medical-relevance"), mo), SessionOptions{2});
  const ClassifyResponse r = session.classify(texts);
  std::vector<double> scores;
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_TRUE(r.inputs[i].ok()) << r.inputs[i].error;
    scores.push_back(r.results[i].score);
  }
  return scores;
}

}  // namespace

// The gate on the shipped model and its evaluation texts (in the repository): int8 scores
// within 0.05 of fp32 on average and ROC-AUC within 0.002, both sides computed here.
TEST(Int8, RelevanceModelScoresAndAucStayWithinTheGate) {
  std::istringstream lines(test::read_file(test::data_path("../../bench/finetune/relevance_unseen.jsonl")));
  std::vector<TextInput> texts;
  std::vector<uint8_t> medical;
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    texts.emplace_back(j.at("text").get<std::string>());
    medical.push_back(j.at("score").get<double>() > 3.0);
  }
  ASSERT_GE(texts.size(), 100u);
  const std::vector<double> f32 = relevance_scores(Precision::F32, texts);
  const std::vector<double> int8 = relevance_scores(Precision::INT8, texts);
  double sum = 0.0, worst = 0.0;
  for (size_t i = 0; i < texts.size(); ++i) {
    sum += std::fabs(f32[i] - int8[i]);
    worst = std::max(worst, std::fabs(f32[i] - int8[i]));
  }
  const double mad = sum / (double)texts.size();
  const double auc_f32 = roc_auc(f32, medical), auc_int8 = roc_auc(int8, medical);
  std::printf("[ int8     ] relevance: mean |int8 - fp32| %.4f (max %.4f), ROC-AUC fp32 %.4f int8 %.4f\n", mad, worst,
              auc_f32, auc_int8);
  EXPECT_LE(mad, 0.05);
  EXPECT_LE(std::fabs(auc_int8 - auc_f32), 0.002);
  EXPECT_GT(worst, 0.0);  // int8 really ran: quantized scores differ somewhere
}

TEST(Int8, CliTakesDtypeInt8) {
  const std::string model = test::data_path("../../models/medical-relevance");
  const std::string input = "{\"text\": \"Chest X-ray shows a left lower lobe infiltrate.\"}\n";
  std::string f32_out, int8_out, err;
  ASSERT_EQ(test::run_cli("classify --model " + model + " --threads 2", &f32_out, &err, input), 0) << err;
  ASSERT_EQ(test::run_cli("classify --model " + model + " --threads 2 --dtype int8", &int8_out, &err, input), 0) << err;
  const double a = nlohmann::json::parse(f32_out)["score"], b = nlohmann::json::parse(int8_out)["score"];
  EXPECT_NE(a, b);
  EXPECT_NEAR(a, b, 0.2);
  EXPECT_NE(test::run_cli("classify --model " + model + " --dtype int4", nullptr, &err, input), 0);
}
