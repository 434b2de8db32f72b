// --dtype bf16 (bf16 weights and GEMM inputs, fp32 accumulation, fp32 norms and softmax): the shared
// fixtures stay within 2e-2 of Hugging Face's fp32 outputs, and the mode really rounds.
//
// One known exception: Megatron-BERT's final LayerNorm output (last_hidden_state of the two Megatron
// fixtures) ends up to 0.021 from fp32 (0.026 with other GEMM kernels). Its inputs carry every
// layer's rounding of 8-bit-mantissa activations and the norm rescales them to values up to 4, where 2e-2 is 0.5% — the resolution of
// bf16 itself. Those hidden states are held to 3e-2; their logits still to 2e-2.
#include <gtest/gtest.h>

#include "fixture_check.h"
#include "medenc/parameters.h"
#include "medenc/safetensors.h"
#include "medenc/train.h"

using namespace medenc;

namespace {

const char* kFixtures[] = {"modernbert_base_smallvocab", "modernbert_mlm", "modernbert_seqcls_regression_mean",
                           "modernbert_seqcls_multilabel_cls", "modernbert_seqcls_single3_smallvocab",
                           "modernbert_tokcls9_smallvocab", "bert_base_smallvocab", "bert_mlm_smallvocab",
                           "bert_seqcls_smallvocab", "bert_tokcls9_smallvocab", "megatron_base_smallvocab",
                           "megatron_seqcls3_smallvocab", "megatron_tokcls43_smallvocab"};

}  // namespace

TEST(Bf16, EveryFixtureWithinTwoHundredths) {
  LoadOptions o;
  o.bf16 = true;
  for (const char* name : kFixtures) {
    const bool megatron = std::string(name).rfind("megatron", 0) == 0;
    test::check_fixture(name, o, 2e-2, "", megatron ? 3e-2 : 0.0);
  }
}

TEST(Bf16, GemmInputsAreRoundedNotJustWeights) {
  const std::string dir = test::fixture_dir("modernbert_seqcls_single3_smallvocab");
  PaddedInputs in = read_padded_inputs(dir + "/inputs.json");
  LoadOptions o;
  o.bf16 = true;
  auto model = load_encoder(dir, o);
  auto a = run_padded_forward(*model, in);
  // Rounding the stored weights to bf16 and running in fp32 gives different numbers from bf16 GEMMs.
  o.bf16 = false;
  auto f32 = load_trainable(dir, o);
  round_matrices_to_bf16(f32->parameters());
  f32->parameters_changed();
  auto b = run_padded_forward(*f32, in);
  EXPECT_GT(test::max_abs_diff(test::output(a, "logits").data, test::output(b, "logits").data), 1e-6);
}

TEST(Bf16, DiffersFromFp32ButOnlySlightly) {
  const std::string dir = test::fixture_dir("modernbert_seqcls_single3_smallvocab");
  PaddedInputs in = read_padded_inputs(dir + "/inputs.json");
  LoadOptions o;
  auto f32 = run_padded_forward(*load_encoder(dir, o), in);
  o.bf16 = true;
  auto bf16 = run_padded_forward(*load_encoder(dir, o), in);
  const double d = test::max_abs_diff(test::output(f32, "logits").data, test::output(bf16, "logits").data);
  EXPECT_GT(d, 1e-6);  // inputs were rounded to 8-bit mantissas
  EXPECT_LT(d, 2e-2);
}

TEST(Bf16, RoundingMatricesMatchesTheScalarConversion) {
  LoadOptions o;
  auto model = load_trainable(test::fixture_dir("modernbert_seqcls_single3_smallvocab"), o);
  ParameterSet& ps = model->parameters();
  std::vector<std::vector<float>> before;
  for (size_t i = 0; i < ps.specs().size(); ++i) before.emplace_back(ps.at(i), ps.at(i) + ps.specs()[i].numel);
  round_matrices_to_bf16(ps);
  size_t matrices = 0;
  for (size_t i = 0; i < ps.specs().size(); ++i) {
    const bool matrix = ps.specs()[i].shape.size() == 2;
    matrices += matrix;
    for (size_t k = 0; k < ps.specs()[i].numel; ++k) {
      const float want = matrix ? bf16_to_f32(f32_to_bf16(before[i][k])) : before[i][k];
      ASSERT_EQ(ps.at(i)[k], want) << ps.specs()[i].name << "[" << k << "]";
    }
  }
  EXPECT_GT(matrices, 10u);
}
