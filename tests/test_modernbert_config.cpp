// ModernBERT config.json parsing: Hugging Face defaults, resolution rules, and a clear error for
// each impossible value.
#include <gtest/gtest.h>

#include "medenc/error.h"
#include "medenc/modernbert.h"

using namespace medenc;

namespace {

ModernBertConfig parse(const std::string& text) { return ModernBertConfig::from_json_text(text, "cfg/config.json"); }

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ModernBertConfig, DefaultsAreHuggingFaces) {
  ModernBertConfig c = parse(R"({"model_type": "modernbert", "some_future_key": [1, 2]})");
  EXPECT_EQ(c.vocab_size, 50368);
  EXPECT_EQ(c.hidden_size, 768);
  EXPECT_EQ(c.intermediate_size, 1152);
  EXPECT_EQ(c.num_hidden_layers, 22);
  EXPECT_EQ(c.num_attention_heads, 12);
  EXPECT_EQ(c.hidden_activation, "gelu");
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-5);
  EXPECT_FALSE(c.norm_bias);
  EXPECT_EQ(c.pad_token_id, 50283);
  EXPECT_DOUBLE_EQ(c.global_rope_theta, 160000.0);
  EXPECT_DOUBLE_EQ(c.local_rope_theta, 10000.0);
  EXPECT_EQ(c.local_attention, 128);
  EXPECT_EQ(c.half_window(), 64);
  EXPECT_EQ(c.classifier_pooling, "cls");
  EXPECT_TRUE(c.decoder_bias);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.head.kind, HeadKind::Base);
  EXPECT_EQ(c.head.num_labels, 2);
  // Globals at l % 3 == 0: 0, 3, ..., 21.
  ASSERT_EQ(c.layer_is_global.size(), 22u);
  for (int l = 0; l < 22; ++l) EXPECT_EQ(c.layer_is_global[l], l % 3 == 0) << l;
}

TEST(ModernBertConfig, HeadLabelsAndProblemType) {
  ModernBertConfig c = parse(R"({"architectures": ["ModernBertForSequenceClassification"],
    "id2label": {"1": "unsafe", "0": "safe"}, "problem_type": "single_label_classification"})");
  EXPECT_EQ(c.head.kind, HeadKind::SequenceClassification);
  EXPECT_EQ(c.head.num_labels, 2);
  EXPECT_EQ(c.head.id2label, (std::vector<std::string>{"safe", "unsafe"}));
  EXPECT_EQ(c.head.problem_type, ProblemType::SingleLabel);
  ModernBertConfig r = parse(R"({"architectures": ["ModernBertForSequenceClassification"], "num_labels": 1})");
  EXPECT_EQ(r.head.resolved_problem_type(), ProblemType::Regression);
}

TEST(ModernBertConfig, LayerTypesAndRopeParameters) {
  ModernBertConfig c = parse(R"({"num_hidden_layers": 3,
    "layer_types": ["sliding_attention", "full_attention", "sliding_attention"],
    "rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 5000.0},
                        "sliding_attention": {"rope_type": "default", "rope_theta": 700.0}}})");
  EXPECT_EQ(c.layer_is_global, (std::vector<bool>{false, true, false}));
  EXPECT_DOUBLE_EQ(c.global_rope_theta, 5000.0);
  EXPECT_DOUBLE_EQ(c.local_rope_theta, 700.0);
  ModernBertConfig n = parse(R"({"global_rope_theta": 1234.0, "local_rope_theta": null})");
  EXPECT_DOUBLE_EQ(n.local_rope_theta, 1234.0);  // 4.48: null local theta means the global one
  ModernBertConfig p = parse(R"({"num_hidden_layers": 5, "global_attn_every_n_layers": 2})");
  EXPECT_EQ(p.layer_is_global, (std::vector<bool>{true, false, true, false, true}));
}

TEST(ModernBertConfig, RejectsImpossibleValues) {
  struct Case {
    const char* json;
    const char* fragment;
  } cases[] = {
      {R"({"hidden_size": 100, "num_attention_heads": 12})", "not divisible by num_attention_heads"},
      {R"({"hidden_activation": "gelu_magic"})", "unknown activation 'gelu_magic'"},
      {R"({"classifier_activation": "nope"})", "unknown activation 'nope'"},
      {R"({"hidden_size": 0})", "\"hidden_size\" must be positive"},
      {R"({"num_hidden_layers": -2})", "\"num_hidden_layers\" must be positive"},
      {R"({"intermediate_size": 0})", "\"intermediate_size\" must be positive"},
      {R"({"vocab_size": -1})", "\"vocab_size\" must be positive"},
      {R"({"local_attention": 0})", "\"local_attention\" must be positive"},
      {R"({"global_attn_every_n_layers": 0})", "\"global_attn_every_n_layers\" must be positive"},
      {R"({"norm_eps": 0})", "norm_eps must be positive"},
      {R"({"hidden_size": "768"})", "\"hidden_size\" must be an integer"},
      {R"({"classifier_pooling": "max"})", "classifier_pooling"},
      {R"({"model_type": "bert"})", "expected 'modernbert'"},
      {R"({"pad_token_id": 999999})", "pad_token_id"},
      {R"({"mlp_dropout": 1.5})", "mlp_dropout"},
      {R"({"num_hidden_layers": 2, "layer_types": ["full_attention"]})", "layer_types"},
      {R"({"rope_parameters": {"full_attention": {"rope_type": "yarn"}}})", "rope_type 'yarn'"},
      {R"({"architectures": ["ModernBertForQuestionAnswering"]})", "not supported"},
      {R"({"problem_type": "ranking"})", "unknown problem_type"},
      {R"({"hidden_size": 66, "num_attention_heads": 2, "intermediate_size": 8})", "must be even"},
      {R"({"id2label": {"x": "a"}})", "not an integer"},
      {R"({"vocab_size": 12)", "not valid JSON"},
      {R"([1, 2])", "must be a JSON object"},
  };
  for (auto& c : cases) {
    std::string msg = error_of(c.json);
    EXPECT_NE(msg.find("cfg/config.json"), std::string::npos) << c.json << " -> " << msg;
    EXPECT_NE(msg.find(c.fragment), std::string::npos) << c.json << " -> " << msg;
  }
}

TEST(ModernBertConfig, SaveRoundTrip) {
  ModernBertConfig c = modernbert_preset("base");
  c.head.architecture = "ModernBertForSequenceClassification";
  c.head.kind = HeadKind::SequenceClassification;
  c.head.num_labels = 1;
  c.head.id2label = {"LABEL_0"};
  c.head.problem_type = ProblemType::Regression;
  ModernBertConfig d = parse(c.to_json());
  EXPECT_EQ(d.hidden_size, 768);
  EXPECT_EQ(d.num_hidden_layers, 22);
  EXPECT_EQ(d.classifier_pooling, "mean");
  EXPECT_EQ(d.head.kind, HeadKind::SequenceClassification);
  EXPECT_EQ(d.head.problem_type, ProblemType::Regression);
  EXPECT_EQ(d.layer_is_global, c.layer_is_global);
}
