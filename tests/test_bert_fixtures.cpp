// BERT and Megatron-BERT forward against Hugging Face outputs (tests/data/fixtures, made by
// transformers eager fp32): every output within 5e-5 over real tokens, through the library and
// through `medenc forward`.
#include <gtest/gtest.h>

#include "ops/ops.h"
#include "fixture_check.h"

using namespace medenc;
using test::check_fixture;

TEST(BertFixtures, BareBertModelWithPooler) { check_fixture("bert_base_smallvocab"); }
TEST(BertFixtures, MaskedLMTiedDecoderAllTokens) { check_fixture("bert_mlm_smallvocab"); }
TEST(BertFixtures, SequenceClassificationOnPooler) { check_fixture("bert_seqcls_smallvocab"); }
TEST(BertFixtures, TokenClassificationNineLabels) { check_fixture("bert_tokcls9_smallvocab"); }
TEST(BertFixtures, BareMegatronModelPreLN) { check_fixture("megatron_base_smallvocab"); }
TEST(BertFixtures, MegatronSequenceClassificationThreeLabels) { check_fixture("megatron_seqcls3_smallvocab"); }
TEST(BertFixtures, MegatronTokenClassification43Labels) { check_fixture("megatron_tokcls43_smallvocab"); }

TEST(BertFixtures, SingleThreadMatchesToo) {
  const ops::ThreadScope one_thread(1);
  check_fixture("bert_seqcls_smallvocab");
  check_fixture("megatron_tokcls43_smallvocab");
}

TEST(BertFixtures, ModelInfo) {
  auto bert = load_encoder(test::fixture_dir("bert_seqcls_smallvocab"));
  EXPECT_EQ(bert->info().family, Family::Bert);
  EXPECT_EQ(bert->info().head.kind, HeadKind::SequenceClassification);
  EXPECT_TRUE(bert->info().has_pooler);
  EXPECT_EQ(bert->info().type_vocab_size, 2);
  EXPECT_EQ(bert->info().max_positions, 512);
  EXPECT_EQ(bert->info().pad_token_id, 0);
  EXPECT_EQ(bert->info().vocab_size, 128);

  auto ner = load_encoder(test::fixture_dir("megatron_tokcls43_smallvocab"));
  EXPECT_EQ(ner->info().family, Family::MegatronBert);
  EXPECT_EQ(ner->info().head.kind, HeadKind::TokenClassification);
  EXPECT_FALSE(ner->info().has_pooler);
  ASSERT_EQ(ner->info().head.id2label.size(), 43u);
  EXPECT_EQ(ner->info().head.id2label[42], "I-T204");
}

// The CLI reads token_type_ids from inputs.json and writes every output the fixture has.
TEST(BertFixtures, ForwardCommandWritesMatchingSafetensors) {
  for (const char* name : {"bert_seqcls_smallvocab", "megatron_tokcls43_smallvocab", "bert_mlm_smallvocab"}) {
    SCOPED_TRACE(name);
    const std::string dir = test::fixture_dir(name);
    const std::string out = test::temp_dir("bert_cli") + "/out.safetensors";
    std::string err;
    ASSERT_EQ(test::run_cli("forward --model " + dir + " --inputs " + dir + "/inputs.json --out " + out, nullptr, &err),
              0)
        << err;
    test::ExpectedTensors exp{SafetensorsFile::open(dir + "/expected.safetensors")};
    const PaddedInputs in = test::fixture_inputs(dir, exp);
    ASSERT_FALSE(in.token_type_ids.empty());
    auto written = SafetensorsFile::open(out);
    std::vector<NamedTensor> outs;
    for (const TensorInfo& t : written->tensors()) outs.push_back({t.name, t.shape, written->read_f32(t)});
    test::expect_matches_fixture(outs, in, exp, 128, 5e-5);
    EXPECT_EQ(written->find("pooler_output") != nullptr, exp.has("pooler_output"));
  }
}
