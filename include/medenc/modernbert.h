#pragma once
// ModernBERT: config, parameters, the forward pass over unpadded batches, and training (backward).
#include <memory>
#include <string>
#include <vector>

#include "medenc/config.h"
#include "medenc/model.h"
#include "medenc/parameters.h"
#include "medenc/train.h"

namespace medenc {

namespace modernbert {
struct State;  // defined in src/models/modernbert.cpp
}

struct ModernBertConfig {
  int64_t vocab_size = 50368;
  int64_t hidden_size = 768;
  int64_t intermediate_size = 1152;
  int64_t num_hidden_layers = 22;
  int64_t num_attention_heads = 12;
  std::string hidden_activation = "gelu";
  int64_t max_position_embeddings = 8192;
  double initializer_range = 0.02;
  double initializer_cutoff_factor = 2.0;
  double norm_eps = 1e-5;
  bool norm_bias = false;
  int64_t pad_token_id = 50283;
  int64_t eos_token_id = 50282;
  int64_t bos_token_id = 50281;
  int64_t cls_token_id = 50281;
  int64_t sep_token_id = 50282;
  double global_rope_theta = 160000.0;
  double local_rope_theta = 10000.0;
  bool attention_bias = false;
  double attention_dropout = 0.0;
  int64_t global_attn_every_n_layers = 3;
  int64_t local_attention = 128;
  double embedding_dropout = 0.0;
  bool mlp_bias = false;
  double mlp_dropout = 0.0;
  bool decoder_bias = true;
  std::string classifier_pooling = "cls";
  double classifier_dropout = 0.0;
  bool classifier_bias = false;
  std::string classifier_activation = "gelu";
  bool sparse_prediction = false;
  int64_t sparse_pred_ignore_index = -100;
  bool tie_word_embeddings = true;
  std::vector<bool> layer_is_global;  // resolved from layer_types or global_attn_every_n_layers
  HeadConfig head;
  std::string source_json;  // the original text, so unknown keys survive a save

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t half_window() const { return local_attention / 2; }

  static ModernBertConfig from_json_text(const std::string& text, const std::string& path);
  static ModernBertConfig from_file(const std::string& path);
  // config.json as save_pretrained writes it (unknown keys of the source kept).
  std::string to_json() const;
};

// Named presets for `medenc init`: "tiny", "base" (ModernBERT-base shapes), "large".
ModernBertConfig modernbert_preset(const std::string& name);

class ModernBertModel : public TrainableEncoder {
 public:
  ModernBertModel(ModernBertConfig config, const LoadOptions& options);
  static std::unique_ptr<ModernBertModel> load(const std::string& dir, const LoadOptions& options);

  const ModelInfo& info() const override { return info_; }
  using Encoder::forward;
  std::unique_ptr<EncoderWorkspace> make_workspace() const override;
  ForwardOutput forward(const Batch& batch, const ForwardOptions& options, EncoderWorkspace& ws) const override;
  double forward_flops(const Batch& batch) const override;

  const ModernBertConfig& config() const { return config_; }
  ParameterSet& parameters() override { return params_; }
  const ParameterSet& parameters() const override { return params_; }
  // Hugging Face's _init_weights (truncated normal), seeded; used by `medenc init`.
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
  ModernBertConfig config_;
  ModelInfo info_;
  ParameterSet params_;
  std::shared_ptr<modernbert::State> impl_;  // layer layout, derived weights
};

}  // namespace medenc
