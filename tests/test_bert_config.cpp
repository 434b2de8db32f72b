// BertConfig: Hugging Face defaults per family (BertConfig vs MegatronBertConfig), validation with
// messages naming the field, presets, and a config.json round trip.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "medenc/bert.h"
#include "medenc/error.h"

using namespace medenc;

namespace {

std::string config_error(const std::string& text) {
  try {
    BertConfig::from_json_text(text, "cfg/config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(BertConfig, BertDefaults) {
  const BertConfig c = BertConfig::from_json_text(R"({"model_type": "bert"})", "config.json");
  EXPECT_EQ(c.family, Family::Bert);
  EXPECT_FALSE(c.pre_norm());
  EXPECT_EQ(c.vocab_size, 30522);
  EXPECT_EQ(c.hidden_size, 768);
  EXPECT_EQ(c.num_hidden_layers, 12);
  EXPECT_EQ(c.num_attention_heads, 12);
  EXPECT_EQ(c.intermediate_size, 3072);
  EXPECT_EQ(c.hidden_act, "gelu");
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_EQ(c.type_vocab_size, 2);
  EXPECT_DOUBLE_EQ(c.layer_norm_eps, 1e-12);
  EXPECT_DOUBLE_EQ(c.initializer_range, 0.02);
  EXPECT_DOUBLE_EQ(c.hidden_dropout_prob, 0.1);
  EXPECT_EQ(c.pad_token_id, 0);
  EXPECT_FALSE(c.classifier_dropout.has_value());
  EXPECT_DOUBLE_EQ(c.classifier_dropout_prob(), 0.1);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.head.architecture, "BertModel");
  EXPECT_EQ(c.head.kind, HeadKind::Base);
  EXPECT_TRUE(c.default_pooler());
}

TEST(BertConfig, MegatronDefaults) {
  const BertConfig c = BertConfig::from_json_text(
      R"({"model_type": "megatron-bert", "classifier_dropout": 0.4,
          "architectures": ["MegatronBertForTokenClassification"], "num_labels": 43})",
      "config.json");
  EXPECT_EQ(c.family, Family::MegatronBert);
  EXPECT_TRUE(c.pre_norm());
  EXPECT_EQ(c.vocab_size, 29056);
  EXPECT_EQ(c.hidden_size, 1024);
  EXPECT_EQ(c.num_hidden_layers, 24);
  EXPECT_EQ(c.num_attention_heads, 16);
  EXPECT_EQ(c.intermediate_size, 4096);
  EXPECT_DOUBLE_EQ(c.layer_norm_eps, 1e-12);
  // Megatron heads use hidden_dropout_prob whatever the config says.
  EXPECT_DOUBLE_EQ(c.classifier_dropout_prob(), 0.1);
  EXPECT_EQ(c.head.kind, HeadKind::TokenClassification);
  EXPECT_EQ(c.head.num_labels, 43);
  EXPECT_FALSE(c.default_pooler());
}

TEST(BertConfig, ExplicitValues) {
  const BertConfig c = BertConfig::from_json_text(
      R"({"model_type": "bert", "vocab_size": 28996, "hidden_act": "gelu_new", "classifier_dropout": 0.25,
          "pad_token_id": null, "architectures": ["BertForSequenceClassification"],
          "id2label": {"0": "neg", "1": "neu", "2": "pos"}, "tie_word_embeddings": false})",
      "config.json");
  EXPECT_EQ(c.vocab_size, 28996);
  EXPECT_EQ(c.hidden_act, "gelu_new");
  EXPECT_DOUBLE_EQ(c.classifier_dropout_prob(), 0.25);
  EXPECT_EQ(c.pad_token_id, -1);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.head.num_labels, 3);
  EXPECT_EQ(c.head.id2label[2], "pos");
  EXPECT_TRUE(c.default_pooler());
}

TEST(BertConfig, BertForPreTrainingRunsAsMaskedLM) {
  const BertConfig c =
      BertConfig::from_json_text(R"({"model_type": "bert", "architectures": ["BertForPreTraining"]})", "config.json");
  EXPECT_EQ(c.head.kind, HeadKind::MaskedLM);
}

TEST(BertConfig, ErrorsNameTheField) {
  struct Bad {
    const char* json;
    std::vector<const char*> words;
  };
  const Bad cases[] = {
      {R"({"model_type": "bert", "hidden_size": 100, "num_attention_heads": 12})",
       {"hidden_size 100", "num_attention_heads 12"}},
      {R"({"model_type": "bert", "hidden_act": "gelu_fancy"})", {"hidden_act", "gelu_fancy"}},
      {R"({"model_type": "bert", "vocab_size": 0})", {"vocab_size"}},
      {R"({"model_type": "megatron-bert", "num_hidden_layers": -1})", {"num_hidden_layers"}},
      {R"({"model_type": "bert", "type_vocab_size": 0})", {"type_vocab_size"}},
      {R"({"model_type": "bert", "max_position_embeddings": "512"})", {"max_position_embeddings"}},
      {R"({"model_type": "bert", "position_embedding_type": "relative_key_query"})",
       {"position_embedding_type", "relative_key_query", "not supported"}},
      {R"({"model_type": "bert", "is_decoder": true})", {"is_decoder", "not supported"}},
      {R"({"model_type": "bert", "layer_norm_eps": 0})", {"layer_norm_eps"}},
      {R"({"model_type": "bert", "hidden_dropout_prob": 1.5})", {"hidden_dropout_prob"}},
      {R"({"model_type": "bert", "vocab_size": 128, "pad_token_id": 128})", {"pad_token_id 128"}},
      {R"({"model_type": "roberta"})", {"model_type", "roberta"}},
      {R"({"model_type": "bert", "architectures": ["BertForQuestionAnswering"]})",
       {"BertForQuestionAnswering", "not supported"}},
      {R"({"model_type": "bert", "architectures": ["MegatronBertModel"]})", {"MegatronBertModel"}},
      {R"({"model_type": "bert", "id2label": {"0": "O", "2": "B-X"}})", {"id2label"}},
  };
  for (const Bad& b : cases) {
    SCOPED_TRACE(b.json);
    const std::string err = config_error(b.json);
    ASSERT_FALSE(err.empty());
    EXPECT_NE(err.find("cfg/config.json"), std::string::npos) << err;
    for (const char* w : b.words) EXPECT_NE(err.find(w), std::string::npos) << err;
  }
}

TEST(BertConfig, RoundTripKeepsFieldsAndUnknownKeys) {
  BertConfig c = BertConfig::from_json_text(
      R"({"model_type": "megatron-bert", "vocab_size": 50176, "hidden_size": 64, "num_attention_heads": 4,
          "num_hidden_layers": 3, "intermediate_size": 128, "architectures": ["MegatronBertForTokenClassification"],
          "id2label": {"0": "O", "1": "B-T005", "2": "I-T005"}, "layer_norm_eps": 1e-5,
          "type_vocab_size": 3, "custom_field": "kept"})",
      "config.json");
  const std::string text = c.to_json();
  const BertConfig d = BertConfig::from_json_text(text, "again.json");
  EXPECT_EQ(d.family, Family::MegatronBert);
  EXPECT_EQ(d.vocab_size, 50176);
  EXPECT_EQ(d.hidden_size, 64);
  EXPECT_EQ(d.num_hidden_layers, 3);
  EXPECT_EQ(d.type_vocab_size, 3);
  EXPECT_DOUBLE_EQ(d.layer_norm_eps, 1e-5);
  EXPECT_EQ(d.head.architecture, "MegatronBertForTokenClassification");
  EXPECT_EQ(d.head.id2label, (std::vector<std::string>{"O", "B-T005", "I-T005"}));
  const auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["custom_field"], "kept");
  EXPECT_EQ(j["model_type"], "megatron-bert");
  EXPECT_FALSE(j.contains("classifier_dropout"));  // MegatronBertConfig has none
  EXPECT_EQ(j["label2id"]["I-T005"], 2);
}

TEST(BertConfig, Presets) {
  const BertConfig tiny = bert_preset(Family::Bert, "tiny");
  EXPECT_EQ(tiny.hidden_size, 64);
  EXPECT_EQ(tiny.num_hidden_layers, 2);
  EXPECT_EQ(tiny.num_attention_heads, 4);
  EXPECT_EQ(tiny.intermediate_size, 128);
  EXPECT_EQ(tiny.vocab_size, 30522);
  const BertConfig base = bert_preset(Family::Bert, "base");
  EXPECT_EQ(base.hidden_size, 768);
  EXPECT_EQ(base.num_hidden_layers, 12);
  const BertConfig large = bert_preset(Family::MegatronBert, "large");
  EXPECT_EQ(large.hidden_size, 1024);
  EXPECT_EQ(large.num_hidden_layers, 24);
  EXPECT_EQ(large.vocab_size, 50176);
  EXPECT_TRUE(large.pre_norm());
  EXPECT_THROW(bert_preset(Family::Bert, "huge"), Error);
}
