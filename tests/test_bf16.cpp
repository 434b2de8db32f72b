// --dtype bf16 (bf16 weights and GEMM inputs, fp32 accumulation, fp32 norms and softmax): every
// shared fixture stays within 2e-2 of Hugging Face's fp32 outputs, and the mode really rounds.
#include <gtest/gtest.h>

#include "fixture_check.h"

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
  for (const char* name : kFixtures) test::check_fixture(name, o, 2e-2);
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
