// ModernBERT forward against Hugging Face outputs (tests/data/fixtures, made by transformers eager
// fp32): every output within 5e-5 over real tokens.
#include <gtest/gtest.h>

#include "ops/ops.h"
#include "fixture_check.h"

using namespace medenc;

using test::check_fixture;

TEST(ModernBertFixtures, BareModelWithoutPrefix) { check_fixture("modernbert_base_smallvocab"); }
TEST(ModernBertFixtures, MaskedLMTiedDecoderAtPositions) { check_fixture("modernbert_mlm"); }
TEST(ModernBertFixtures, RegressionMeanPooling) { check_fixture("modernbert_seqcls_regression_mean"); }
TEST(ModernBertFixtures, MultiLabelClsPooling) { check_fixture("modernbert_seqcls_multilabel_cls"); }
TEST(ModernBertFixtures, SingleLabelThreeClasses) { check_fixture("modernbert_seqcls_single3_smallvocab"); }
TEST(ModernBertFixtures, TokenClassificationNineLabels) { check_fixture("modernbert_tokcls9_smallvocab"); }

TEST(ModernBertFixtures, SingleThreadMatchesToo) {
  const ops::ThreadScope one_thread(1);
  check_fixture("modernbert_seqcls_regression_mean");
}
