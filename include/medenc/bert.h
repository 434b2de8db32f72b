#pragma once
// BERT (post-LayerNorm) and Megatron-BERT / GatorTron (pre-LayerNorm): config, parameters, and the
// forward pass over unpadded batches, and training (backward). One class serves Bert{Model, ForMaskedLM,
// ForSequenceClassification, ForTokenClassification} and the same four MegatronBert* classes.
#include <memory>
#include <optional>
#include <string>

#include "medenc/config.h"
#include "medenc/model.h"
#include "medenc/parameters.h"
#include "medenc/train.h"

namespace medenc {

namespace bert {
struct State;  // defined in src/models/bert.cpp
}

struct BertConfig {
  Family family = Family::Bert;  // Bert ("bert") or MegatronBert ("megatron-bert")
  // Defaults are BertConfig's; for_family(MegatronBert) switches to MegatronBertConfig's.
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double initializer_range = 0.02;
  double layer_norm_eps = 1e-12;
  int64_t pad_token_id = 0;  // -1: null in config.json (no padding row)
  std::string position_embedding_type = "absolute";
  bool use_cache = true;
  bool is_decoder = false;
  bool add_cross_attention = false;
  std::optional<double> classifier_dropout;  // BERT only; unset: hidden_dropout_prob
  bool tie_word_embeddings = true;
  HeadConfig head;
  std::string source_json;  // the original text, so unknown keys survive a save

  static BertConfig for_family(Family family);  // that family's Hugging Face defaults

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  bool pre_norm() const { return family == Family::MegatronBert; }
  // BertModel / MegatronBertModel and sequence classifiers carry the tanh pooler.
  bool default_pooler() const {
    return head.kind == HeadKind::Base || head.kind == HeadKind::SequenceClassification;
  }
  // Dropout before a classifier (training only).
  double classifier_dropout_prob() const { return classifier_dropout.value_or(hidden_dropout_prob); }
  const char* model_type() const { return family_name(family); }
  const char* class_prefix() const { return family == Family::MegatronBert ? "MegatronBert" : "Bert"; }

  // model_type must be "bert" or "megatron-bert"; everything is validated, errors name path and key.
  static BertConfig from_json_text(const std::string& text, const std::string& path);
  static BertConfig from_file(const std::string& path);
  // config.json as save_pretrained writes it (unknown keys of the source kept).
  std::string to_json() const;
};

// Named presets for `medenc init`: "tiny" (h64, 2 layers, 4 heads, inter 128), "base" (BERT-base
// shapes), "large" (BERT-large = GatorTron-base shapes); vocabulary 30522 (BERT) or 50176 (GatorTron).
BertConfig bert_preset(Family family, const std::string& name);

class BertModel : public TrainableEncoder {
 public:
  // with_pooler: declare pooler.dense (default: config.default_pooler()).
  BertModel(BertConfig config, const LoadOptions& options, std::optional<bool> with_pooler = std::nullopt);
  static std::unique_ptr<BertModel> load(const std::string& dir, const LoadOptions& options);

  const ModelInfo& info() const override { return info_; }
  using Encoder::forward;
  std::unique_ptr<EncoderWorkspace> make_workspace() const override;
  ForwardOutput forward(const Batch& batch, const ForwardOptions& options, EncoderWorkspace& ws) const override;
  double forward_flops(const Batch& batch) const override;

  const BertConfig& config() const { return config_; }
  ParameterSet& parameters() override { return params_; }
  const ParameterSet& parameters() const override { return params_; }
  bool has_pooler() const { return info_.has_pooler; }
  // Hugging Face's _init_weights (normal, std initializer_range), seeded; used by `medenc init`.
  void init_weights(uint64_t seed);
  // Call after changing parameter values in place (drops derived weight copies).
  void parameters_changed() override;

  // Training (see medenc/train.h): the state lives in the TrainingSession's activations.
  using TrainableEncoder::backward;
  using TrainableEncoder::forward_train;
  std::unique_ptr<TrainingActivations> make_activations() const override;
  TrainOutput forward_train(const Batch& batch, const TrainLabels& labels, const TrainOptions& options,
                            TrainingActivations& saved) const override;
  void backward(TrainingActivations& saved, std::span<float> gradients, float loss_scale) const override;
  size_t activation_bytes(const Batch& batch) const override;

 private:
  BertConfig config_;
  ModelInfo info_;
  ParameterSet params_;
  std::shared_ptr<bert::State> impl_;  // layer layout, derived weights
};

}  // namespace medenc
