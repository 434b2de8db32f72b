// ModernBERT (Hugging Face ModernBert*): config, parameter layout, forward pass on unpadded batches.
// Layer l: pre-norm residual blocks (layer 0 has no attention norm), fused Wqkv with rotate-half
// RoPE (theta per layer type), global or banded local attention, GeGLU MLP; final norm; heads.
#include "medenc/modernbert.h"

#include <cmath>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "medenc/error.h"
#include "medenc/safetensors.h"
#include "medenc/train.h"
#include "models/common.h"
#include "models/encoder_common.h"
#include "models/family.h"
#include "weights/load_parameters.h"
#include "train/train_common.h"
#include "ops/ops.h"
#include "ops/ops_backward.h"
#include "util/fs.h"
#include "models/config_json.h"
#include "util/json_fields.h"
#include "util/random.h"

namespace medenc {

using nlohmann::json;
using namespace json_fields;

// ---------------------------------------------------------------------------------------------
// Config

// The plain keys of config.json, read and written by the same table (special keys: see from_json_text).
static const std::vector<ConfigKey<ModernBertConfig>>& config_keys() {
  using C = ModernBertConfig;
  static const std::vector<ConfigKey<C>> keys = {
      {"vocab_size", &C::vocab_size, true},
      {"hidden_size", &C::hidden_size, true},
      {"intermediate_size", &C::intermediate_size, true},
      {"num_hidden_layers", &C::num_hidden_layers, true},
      {"num_attention_heads", &C::num_attention_heads, true},
      {"hidden_activation", &C::hidden_activation},
      {"max_position_embeddings", &C::max_position_embeddings, true},
      {"initializer_range", &C::initializer_range},
      {"initializer_cutoff_factor", &C::initializer_cutoff_factor},
      {"norm_eps", &C::norm_eps},
      {"norm_bias", &C::norm_bias},
      {"pad_token_id", &C::pad_token_id},
      {"eos_token_id", &C::eos_token_id},
      {"bos_token_id", &C::bos_token_id},
      {"cls_token_id", &C::cls_token_id},
      {"sep_token_id", &C::sep_token_id},
      {"global_rope_theta", &C::global_rope_theta},
      {"local_rope_theta", &C::local_rope_theta},
      {"attention_bias", &C::attention_bias},
      {"attention_dropout", &C::attention_dropout},
      {"global_attn_every_n_layers", &C::global_attn_every_n_layers, true},
      {"local_attention", &C::local_attention, true},
      {"embedding_dropout", &C::embedding_dropout},
      {"mlp_bias", &C::mlp_bias},
      {"mlp_dropout", &C::mlp_dropout},
      {"decoder_bias", &C::decoder_bias},
      {"classifier_pooling", &C::classifier_pooling},
      {"classifier_dropout", &C::classifier_dropout},
      {"classifier_bias", &C::classifier_bias},
      {"classifier_activation", &C::classifier_activation},
      {"sparse_prediction", &C::sparse_prediction},
      {"sparse_pred_ignore_index", &C::sparse_pred_ignore_index},
      {"tie_word_embeddings", &C::tie_word_embeddings},
  };
  return keys;
}

ModernBertConfig ModernBertConfig::from_json_text(const std::string& text, const std::string& path) {
  json j = parse_config(text, path);
  const std::string model_type = get_string(j, "model_type", "modernbert", path);
  if (model_type != "modernbert")
    throw Error(fmt::format("{}: model_type is '{}', expected 'modernbert'", path, model_type));
  ModernBertConfig c;
  c.source_json = text;
  read_config_keys(j, config_keys(), c, path);
  // HF: an explicit null initializer_cutoff_factor means 3 (absent: 2, the default).
  if (j.contains("initializer_cutoff_factor") && j["initializer_cutoff_factor"].is_null())
    c.initializer_cutoff_factor = 3.0;
  // 4.48: an explicit null local_rope_theta means "use the global theta".
  if (j.contains("local_rope_theta") && j["local_rope_theta"].is_null()) c.local_rope_theta = c.global_rope_theta;

  // Newer configs: rope_parameters per layer type (only the default rope type is supported).
  if (auto rp = j.find("rope_parameters"); rp != j.end() && !rp->is_null()) {
    if (!rp->is_object()) throw Error(path + ": \"rope_parameters\" must be an object");
    auto read_theta = [&](const char* type, double* theta) {
      auto it = rp->find(type);
      if (it == rp->end() || it->is_null()) return;
      if (!it->is_object()) throw Error(fmt::format("{}: rope_parameters.{} must be an object", path, type));
      const std::string rope_type = get_string(*it, "rope_type", "default", path);
      if (rope_type != "default")
        throw Error(fmt::format("{}: rope_parameters.{}.rope_type '{}' is not supported (only 'default')", path, type,
                                rope_type));
      *theta = get_double(*it, "rope_theta", *theta, path);
    };
    read_theta("full_attention", &c.global_rope_theta);
    read_theta("sliding_attention", &c.local_rope_theta);
  }
  if (auto rs = j.find("rope_scaling"); rs != j.end() && !rs->is_null()) {
    std::string t = rs->is_object() ? get_string(*rs, "rope_type", get_string(*rs, "type", "default", path), path) : "?";
    if (t != "default") throw Error(fmt::format("{}: rope_scaling type '{}' is not supported", path, t));
  }

  if (c.hidden_size % c.num_attention_heads != 0)
    throw Error(fmt::format("{}: hidden_size {} is not divisible by num_attention_heads {}", path, c.hidden_size,
                            c.num_attention_heads));
  if (c.head_dim() % 2 != 0)
    throw Error(fmt::format("{}: head dimension {} must be even for rotary embeddings", path, c.head_dim()));
  if (!(c.norm_eps > 0.0)) throw Error(fmt::format("{}: norm_eps must be positive, got {}", path, c.norm_eps));
  if (!(c.global_rope_theta > 0.0) || !(c.local_rope_theta > 0.0))
    throw Error(path + ": rope theta values must be positive");
  for (auto [name, p] : {std::pair{"attention_dropout", c.attention_dropout}, {"embedding_dropout", c.embedding_dropout},
                         {"mlp_dropout", c.mlp_dropout}, {"classifier_dropout", c.classifier_dropout}})
    if (p < 0.0 || p >= 1.0) throw Error(fmt::format("{}: \"{}\" must be in [0, 1), got {}", path, name, p));
  parse_activation(c.hidden_activation, path + ": hidden_activation");
  parse_activation(c.classifier_activation, path + ": classifier_activation");
  if (c.classifier_pooling != "cls" && c.classifier_pooling != "mean")
    throw Error(fmt::format("{}: classifier_pooling must be \"cls\" or \"mean\", got \"{}\"", path,
                            c.classifier_pooling));
  if (c.pad_token_id < 0 || c.pad_token_id >= c.vocab_size)
    throw Error(fmt::format("{}: pad_token_id {} is outside the vocabulary (size {})", path, c.pad_token_id,
                            c.vocab_size));

  c.layer_is_global.assign((size_t)c.num_hidden_layers, false);
  if (auto lt = j.find("layer_types"); lt != j.end() && !lt->is_null()) {
    if (!lt->is_array() || (int64_t)lt->size() != c.num_hidden_layers)
      throw Error(fmt::format("{}: \"layer_types\" must list {} layer types", path, c.num_hidden_layers));
    for (size_t l = 0; l < lt->size(); ++l) {
      const json& t = (*lt)[l];
      if (t == "full_attention") c.layer_is_global[l] = true;
      else if (t == "sliding_attention") c.layer_is_global[l] = false;
      else throw Error(fmt::format("{}: layer_types[{}] must be \"full_attention\" or \"sliding_attention\"", path, l));
    }
  } else {
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) c.layer_is_global[l] = (l % c.global_attn_every_n_layers) == 0;
  }
  c.head = parse_head(j, path, "ModernBert");
  return c;
}

ModernBertConfig ModernBertConfig::from_file(const std::string& path) {
  return from_json_text(read_text_file(path), path);
}

std::string ModernBertConfig::to_json() const {
  json j = source_json.empty() ? json::object() : json::parse(source_json);
  j.erase("layer_types");  // re-derived below only when it cannot be expressed by the period
  j["model_type"] = "modernbert";
  write_config_keys(j, config_keys(), *this);
  j["deterministic_flash_attn"] = false;
  j["torch_dtype"] = "float32";
  bool periodic = true;
  for (int64_t l = 0; l < num_hidden_layers; ++l)
    periodic &= layer_is_global[l] == ((l % global_attn_every_n_layers) == 0);
  if (!periodic) {
    json types = json::array();
    for (bool g : layer_is_global) types.push_back(g ? "full_attention" : "sliding_attention");
    j["layer_types"] = types;
  }
  j.erase("rope_parameters");
  write_head(j, head);
  return j.dump(2) + "\n";
}

ModernBertConfig modernbert_preset(const std::string& name) {
  ModernBertConfig c;
  if (name == "base") {
    // ModernBERT-base shapes: the defaults, with the Hub config's mean pooling.
    c.classifier_pooling = "mean";
  } else if (name == "large") {
    c.hidden_size = 1024;
    c.intermediate_size = 2624;
    c.num_hidden_layers = 28;
    c.num_attention_heads = 16;
    c.classifier_pooling = "mean";
  } else if (name == "tiny") {
    c.hidden_size = 64;
    c.intermediate_size = 96;
    c.num_hidden_layers = 6;
    c.num_attention_heads = 4;
    c.local_attention = 32;
  } else {
    throw Error(fmt::format("unknown ModernBERT preset '{}' (tiny, base, large)", name));
  }
  c.layer_is_global.assign((size_t)c.num_hidden_layers, false);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) c.layer_is_global[l] = (l % c.global_attn_every_n_layers) == 0;
  c.head.architecture = "ModernBertModel";
  c.head.kind = HeadKind::Base;
  c.head.num_labels = 2;
  c.head.id2label = {"LABEL_0", "LABEL_1"};
  return c;
}

// ---------------------------------------------------------------------------------------------
// Parameters and runtime state

namespace modernbert {

struct State {
  struct Layer {
    NormWeights attn_norm;
    size_t wqkv = npos, bqkv = npos, wo = npos, bo = npos;
    NormWeights mlp_norm;
    size_t wi = npos, bi = npos, wo2 = npos, bo2 = npos;
    ops::LinearWeights qkv, attn_out, mlp_in, mlp_out;
  };
  static constexpr size_t npos = kNoParam;

  size_t tok_emb = npos;
  NormWeights emb_norm;
  std::vector<Layer> layers;
  NormWeights final_norm;
  size_t head_dense_w = npos, head_dense_b = npos;
  NormWeights head_norm;
  size_t decoder_w = npos, decoder_b = npos;
  size_t classifier_w = npos, classifier_b = npos;
  ops::LinearWeights head_dense, decoder, classifier;

  Activation hidden_act = Activation::GeluErf;
  Activation classifier_act = Activation::GeluErf;
  std::vector<float> inv_freq_global, inv_freq_local;
  ops::Context ctx;


  // Where one layer reads and writes. Inference points the three residual-stream fields at one
  // buffer (updated in place) and the rest at shared scratch; training points them at the layer's
  // saved slices.
  struct LayerIO {
    float* x_in;    // [N, H] residual stream entering the layer
    float* x_mid;   // [N, H] after the attention block (may alias x_in)
    float* x_out;   // [N, H] after the MLP block (may alias x_mid)
    float* normed;  // [N, H] scratch
    float* qkv;     // [N, 3H] after RoPE
    float* attn;    // [N, H] attention output
    float* stats;   // [N, heads, 2] softmax statistics; null: inference attention
    float* mlp_z;   // [N, 2I] Wi output
    float* mlp_g;   // [N, I] scratch
    float* tmp;     // [N, H] scratch, used when the attention output dropout is active
    float* row_scales = nullptr;  // [N] int8 inference: the scales of the int8 rows in normed or mlp_g
  };
  // Dropout of one layer (training only).
  struct LayerDropout {
    ops::Dropout probs, attn_out, mlp;
  };
};

// A training session's activations: what forward_train saves and backward's scratch, as tensors cut
// from one arena by the size table below (llm.c's ActivationTensors), the head's tensors included.
struct Activations : EncoderActivations {
  float* emb = nullptr;                                        // [N, H] embedding rows (input of the embedding norm)
  float *x_in = nullptr, *x_mid = nullptr, *qkv = nullptr;     // per layer, [L, N, H | H | 3H]
  float *attn = nullptr, *stats = nullptr, *mlp_z = nullptr;   // per layer, [L, N, H | heads * 2 | 2I]
  float *x_out = nullptr, *hidden = nullptr;                   // [N, H] before / after the final norm
  float *normed = nullptr, *dnormed = nullptr, *g = nullptr;   // scratch [N, H | H | I]
  float *dx = nullptr, *dqkv = nullptr, *dattn = nullptr, *dz = nullptr, *dg = nullptr;  // backward scratch
};

}  // namespace modernbert

namespace {
using Impl = modernbert::State;
using Activations = modernbert::Activations;
}  // namespace

namespace {

// inv_freq[j] = 1 / theta^(2j/d) with every step in float32, as torch computes it.
std::vector<float> rope_inv_freq(double theta, int64_t head_dim) {
  std::vector<float> f((size_t)head_dim / 2);
  const float base = (float)theta;
  for (int64_t j = 0; j < head_dim / 2; ++j) {
    const float exponent = (float)(2 * j) / (float)head_dim;
    f[j] = 1.0f / std::pow(base, exponent);
  }
  return f;
}

}  // namespace

ModernBertModel::ModernBertModel(ModernBertConfig config, const LoadOptions& options)
    : config_(std::move(config)), impl_(std::make_shared<Impl>()) {
  const ModernBertConfig& c = config_;
  Impl& m = *impl_;
  m.ctx = context_from(options);
  m.hidden_act = parse_activation(c.hidden_activation, "hidden_activation");
  m.classifier_act = parse_activation(c.classifier_activation, "classifier_activation");
  m.inv_freq_global = rope_inv_freq(c.global_rope_theta, c.head_dim());
  m.inv_freq_local = rope_inv_freq(c.local_rope_theta, c.head_dim());

  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const HeadKind kind = c.head.kind;
  const std::string pre = kind == HeadKind::Base ? "" : "model.";
  auto norm = [&](const std::string& name, NormWeights& n) {
    n.w = params_.declare(name + ".weight", {H}, true);
    if (c.norm_bias) n.b = params_.declare(name + ".bias", {H}, true);
  };
  m.tok_emb = params_.declare(pre + "embeddings.tok_embeddings.weight", {V, H});
  norm(pre + "embeddings.norm", m.emb_norm);
  m.layers.resize((size_t)c.num_hidden_layers);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    Impl::Layer& L = m.layers[l];
    const std::string lp = fmt::format("{}layers.{}.", pre, l);
    if (l != 0) norm(lp + "attn_norm", L.attn_norm);
    L.wqkv = params_.declare(lp + "attn.Wqkv.weight", {3 * H, H});
    if (c.attention_bias) L.bqkv = params_.declare(lp + "attn.Wqkv.bias", {3 * H}, true);
    L.wo = params_.declare(lp + "attn.Wo.weight", {H, H});
    if (c.attention_bias) L.bo = params_.declare(lp + "attn.Wo.bias", {H}, true);
    norm(lp + "mlp_norm", L.mlp_norm);
    L.wi = params_.declare(lp + "mlp.Wi.weight", {2 * I, H});
    if (c.mlp_bias) L.bi = params_.declare(lp + "mlp.Wi.bias", {2 * I}, true);
    L.wo2 = params_.declare(lp + "mlp.Wo.weight", {H, I});
    if (c.mlp_bias) L.bo2 = params_.declare(lp + "mlp.Wo.bias", {H}, true);
  }
  norm(pre + "final_norm", m.final_norm);
  if (kind != HeadKind::Base) {
    m.head_dense_w = params_.declare("head.dense.weight", {H, H});
    if (c.classifier_bias) m.head_dense_b = params_.declare("head.dense.bias", {H}, true);
    norm("head.norm", m.head_norm);
  }
  if (kind == HeadKind::MaskedLM) {
    if (!c.tie_word_embeddings) m.decoder_w = params_.declare("decoder.weight", {V, H});
    if (c.decoder_bias) m.decoder_b = params_.declare("decoder.bias", {V}, true);
  }
  if (kind == HeadKind::SequenceClassification || kind == HeadKind::TokenClassification) {
    m.classifier_w = params_.declare("classifier.weight", {c.head.num_labels, H});
    m.classifier_b = params_.declare("classifier.bias", {c.head.num_labels}, true);
  }
  params_.allocate();
  parameters_changed();

  info_.family = Family::ModernBert;
  info_.head = c.head;
  info_.hidden_size = H;
  info_.vocab_size = V;
  info_.max_positions = c.max_position_embeddings;
  info_.num_layers = c.num_hidden_layers;
  info_.type_vocab_size = 0;
  info_.has_pooler = false;
  info_.classifier_pooling = c.classifier_pooling;
  info_.pad_token_id = c.pad_token_id;
}

void ModernBertModel::parameters_changed() {
  const ModernBertConfig& c = config_;
  Impl& m = *impl_;
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  auto lw = [&](size_t w, size_t b, int64_t in, int64_t out) { return linear_weights(params_, w, b, in, out); };
  m.emb_norm.resolve(params_);
  m.final_norm.resolve(params_);
  m.head_norm.resolve(params_);
  for (auto& L : m.layers) {
    L.attn_norm.resolve(params_);
    L.mlp_norm.resolve(params_);
    L.qkv = lw(L.wqkv, L.bqkv, H, 3 * H);
    L.attn_out = lw(L.wo, L.bo, H, H);
    L.mlp_in = lw(L.wi, L.bi, H, 2 * I);
    L.mlp_out = lw(L.wo2, L.bo2, I, H);
  }
  if (m.head_dense_w != Impl::npos) m.head_dense = lw(m.head_dense_w, m.head_dense_b, H, H);
  if (c.head.kind == HeadKind::MaskedLM)
    m.decoder = lw(m.decoder_w != Impl::npos ? m.decoder_w : m.tok_emb, m.decoder_b, H, c.vocab_size);
  if (m.classifier_w != Impl::npos) m.classifier = lw(m.classifier_w, m.classifier_b, H, c.head.num_labels);
}

// Stored names: the backbone under "model." in task models; tied decoder copies and RoPE buffers
// are not parameters.
static NameRules modernbert_name_rules(const ModernBertConfig& c) {
  NameRules rules;
  rules.backbone_prefix = "model.";
  rules.is_backbone = [](const std::string& n) {
    return n.rfind("head.", 0) != 0 && n.rfind("decoder.", 0) != 0 && n.rfind("classifier.", 0) != 0;
  };
  const bool tied = c.tie_word_embeddings;
  rules.ignorable = [tied](const std::string& n) {
    return (tied && n == "decoder.weight") || n.ends_with("inv_freq");
  };
  rules.not_a_parameter = [](const std::string& n) { return n == "decoder.weight" || n.ends_with("inv_freq"); };
  return rules;
}

std::unique_ptr<ModernBertModel> ModernBertModel::load(const std::string& dir, const LoadOptions& options) {
  ModernBertConfig config = ModernBertConfig::from_file(join_path(dir, "config.json"));
  auto model = std::make_unique<ModernBertModel>(std::move(config), options);
  const Checkpoint ckpt = Checkpoint::open_dir(dir);
  load_parameters(ckpt, model->params_, modernbert_name_rules(model->config_), model->config_.head.architecture);
  model->parameters_changed();
  model->info_.dir = dir;
  return model;
}

// The family's row in the family table (models/family.h).
ModelFamily modernbert_family() {
  ModelFamily f;
  f.family = Family::ModernBert;
  f.model_type = "modernbert";
  f.class_prefix = "ModernBert";
  f.preset_json = [](const std::string& name) { return modernbert_preset(name).to_json(); };
  f.read_head = [](const std::string& text, const std::string& path) {
    return ModernBertConfig::from_json_text(text, path).head;
  };
  f.create = [](const std::string& text, const std::string& path, const std::function<void(HeadConfig&)>& set_head,
                const LoadOptions& options, uint64_t seed) {
    ModernBertConfig c = ModernBertConfig::from_json_text(text, path);
    set_head(c.head);
    auto model = std::make_unique<ModernBertModel>(c, options);
    model->init_weights(seed);
    return BuiltModel{std::move(model), c.to_json()};
  };
  f.load = [](const std::string& dir, const LoadOptions& options) -> std::unique_ptr<TrainableEncoder> {
    return ModernBertModel::load(dir, options);
  };
  f.name_rules = [](const TrainableEncoder& model, const Checkpoint&) {
    return modernbert_name_rules(dynamic_cast<const ModernBertModel&>(model).config());
  };
  return f;
}

// ---------------------------------------------------------------------------------------------
// Forward

// Layer l: a = (l == 0 ? x : LN(x)); x += Wo(attention(RoPE(Wqkv a))); x += Wo2(GeGLU(Wi LN(x))).
static void layer_forward(const ModernBertConfig& c, const Impl& m, const ParameterSet& ps,
                          int64_t l, const Batch& batch, const int32_t* positions,
                          const Impl::LayerIO& io, const Impl::LayerDropout* drop) {
  const ops::Context& ctx = m.ctx;
  const Impl::Layer& L = m.layers[l];
  const int64_t N = batch.tokens(), H = c.hidden_size, I = c.intermediate_size;
  const int heads = (int)c.num_attention_heads, hd = (int)c.head_dim();
  const float eps = (float)c.norm_eps;
  const bool global = c.layer_is_global[l];
  // bf16 and int8 inference: the norms and GeGLU write the linear layers' inputs in the form the
  // layers take (bf16 bits; int8 rows with their scales in io.row_scales), the very values the layers
  // would make of fp32 rows, saving each layer its conversion pass (and the scratch buffers half or a
  // quarter of their traffic). Training keeps fp32 rows: the backward pass reads them.
  const bool inference = !io.stats && !drop;
  const bool bf16_inputs = inference && ctx.compute == ops::ComputeType::BF16;
  const bool int8_inputs = inference && ctx.compute == ops::ComputeType::INT8 && io.row_scales;
  // LN(x) in io.normed as the rows the next GEMM takes (bf16 and int8 inference).
  auto normed_input = [&](const float* x, const NormWeights& norm) {
    if (bf16_inputs) {
      uint16_t* t = reinterpret_cast<uint16_t*>(io.normed);
      ops::layernorm_bf16(ctx, x, norm.weight, norm.bias, t, N, H, eps);
      return ops::LinearInput{.bf16 = t};
    }
    int8_t* t = reinterpret_cast<int8_t*>(io.normed);
    ops::layernorm_int8(ctx, x, norm.weight, norm.bias, t, io.row_scales, N, H, eps);
    return ops::LinearInput{.q = t, .scales = io.row_scales};
  };
  const float* inv_freq = global ? m.inv_freq_global.data() : m.inv_freq_local.data();
  const int64_t window = global ? -1 : c.half_window();
  const float scale = 1.0f / std::sqrt((float)hd);
  const ops::Rotary rotary{positions, inv_freq};
  if (bf16_inputs || int8_inputs) {  // the QKV GEMM's tiles straight into attention's panels where the kernels allow
    const ops::LinearInput in = l == 0 ? ops::LinearInput{.f32 = io.x_in} : normed_input(io.x_in, L.attn_norm);
    ops::qkv_attention(ctx, L.qkv, in, io.qkv, io.attn, batch.offsets.data(), batch.size(), heads, hd, window, scale,
                       &rotary);
  } else {
    if (l == 0) {
      ops::linear(ctx, L.qkv, io.x_in, io.qkv, N);
    } else {
      ops::layernorm(ctx, io.x_in, L.attn_norm.weight, L.attn_norm.bias, io.normed, N, H, eps);
      ops::linear(ctx, L.qkv, io.normed, io.qkv, N);
    }
    if (io.stats) {  // training: the backward pass reads the rotated Q and K from io.qkv
      ops::rope_qkv(ctx, io.qkv, positions, N, heads, hd, inv_freq);
      ops::attention_forward_train(ctx, io.qkv, io.attn, io.stats, batch.offsets.data(), batch.size(), heads, hd,
                                   window, scale, drop ? drop->probs : ops::Dropout{});
    } else {  // inference: RoPE fused into attention's split of the qkv rows
      ops::attention(ctx, io.qkv, io.attn, batch.offsets.data(), batch.size(), heads, hd, window, scale, &rotary);
    }
  }
  ops::copy(ctx, io.x_in, io.x_mid, N * H);  // a no-op when they alias
  if (drop && drop->attn_out.active()) {
    ops::linear(ctx, L.attn_out, io.attn, io.tmp, N);
    ops::dropout(ctx, io.tmp, N * H, drop->attn_out);
    ops::add(ctx, io.x_mid, io.tmp, io.x_mid, N * H);
  } else {
    ops::linear(ctx, L.attn_out, io.attn, io.x_mid, N, /*accumulate=*/true);
  }

  if (bf16_inputs) {  // the GeGLU on the GEMM's tiles where the kernels allow
    uint16_t* g = reinterpret_cast<uint16_t*>(io.mlp_g);
    ops::linear_geglu_bf16(ctx, L.mlp_in, normed_input(io.x_mid, L.mlp_norm).bf16, N, m.hidden_act, io.mlp_z, g);
    ops::copy(ctx, io.x_mid, io.x_out, N * H);
    ops::linear(ctx, L.mlp_out, g, io.x_out, N, /*accumulate=*/true);
    return;
  }
  if (int8_inputs) {  // the GeGLU on the GEMM's tiles, then its rows quantized
    int8_t* g = reinterpret_cast<int8_t*>(io.mlp_g);
    ops::linear_geglu_int8(ctx, L.mlp_in, normed_input(io.x_mid, L.mlp_norm), N, m.hidden_act, io.mlp_z, g,
                           io.row_scales);
    ops::copy(ctx, io.x_mid, io.x_out, N * H);
    ops::linear(ctx, L.mlp_out, g, io.row_scales, io.x_out, N, /*accumulate=*/true);
    return;
  }
  ops::layernorm(ctx, io.x_mid, L.mlp_norm.weight, L.mlp_norm.bias, io.normed, N, H, eps);
  ops::linear(ctx, L.mlp_in, io.normed, io.mlp_z, N);
  ops::geglu(ctx, io.mlp_z, io.mlp_g, N, I, m.hidden_act);
  if (drop) ops::dropout(ctx, io.mlp_g, N * I, drop->mlp);
  ops::copy(ctx, io.x_mid, io.x_out, N * H);
  ops::linear(ctx, L.mlp_out, io.mlp_g, io.x_out, N, /*accumulate=*/true);
}

// Prediction head and final layer on R rows: logits = final(dropout(LN(act(dense(in))))). Inference
// lets pre, act and out alias; training keeps them apart for the backward pass. Under bf16 the head's
// GEMMs still take fp32 inputs (its weights are bf16 values): it is under 1% of the FLOPs, and with
// bf16 inputs the token-classifier fixture's logits ended 0.019-0.021 from HF's fp32 ones depending on
// the CPU's kernels (budget 2e-2; 0.018 this way).
static void head_forward(const ModernBertConfig& c, const Impl& m, const ParameterSet& ps,
                         const float* in, int64_t R, float* pre, float* act, float* out, float* logits,
                         const ops::Dropout& drop) {
  ops::Context ctx = m.ctx;
  ctx.compute = ops::ComputeType::F32;
  const int64_t H = c.hidden_size;
  ops::linear(ctx, m.head_dense, in, pre, R);
  ops::copy(ctx, pre, act, R * H);
  ops::activation(ctx, act, R * H, m.classifier_act);
  ops::layernorm(ctx, act, m.head_norm.weight, m.head_norm.bias, out, R, H, (float)c.norm_eps);
  ops::dropout(ctx, out, R * H, drop);
  ops::linear(ctx, c.head.kind == HeadKind::MaskedLM ? m.decoder : m.classifier, out, logits, R);
}

namespace {

// One caller's inference buffers, reused across layers and calls: tensors cut from one arena by the
// size table in forward().
struct ModernBertWorkspace : EncoderWorkspace {
  ops::Arena arena;
  float *x = nullptr, *normed = nullptr;                    // [N, H] residual stream, norm output
  float *qkv_or_mlp_z = nullptr, *attn_or_mlp_g = nullptr;  // [N, max(3H, 2I) | max(H, I)]
  float *head_rows = nullptr, *head_scratch = nullptr;      // [R, H] the head's input, inside
  float* row_scales = nullptr;                              // [N] int8 rows' scales (LayerIO::row_scales)
  std::vector<int32_t> positions;
};

}  // namespace

std::unique_ptr<EncoderWorkspace> ModernBertModel::make_workspace() const {
  return std::make_unique<ModernBertWorkspace>();
}

ForwardOutput ModernBertModel::forward(const Batch& batch, const ForwardOptions& options,
                                       EncoderWorkspace& workspace) const {
  const ModernBertConfig& c = config_;
  const Impl& m = *impl_;
  ModernBertWorkspace& w = dynamic_cast<ModernBertWorkspace&>(workspace);
  const ParameterSet& ps = params_;
  const ops::Context& ctx = m.ctx;
  const int64_t N = batch.tokens();
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const float eps = (float)c.norm_eps;

  validate_batch(batch, c.vocab_size, /*max_positions=*/0, /*type_vocab=*/0);
  sequence_positions(batch, w.positions);

  // Rows through the prediction head: pooled sequences, MLM rows, or every token.
  const HeadKind kind = c.head.kind;
  const bool logits = options.want_logits && kind != HeadKind::Base;
  const HeadRows rows = logits ? inference_head_rows(kind, batch, options.mlm_rows) : HeadRows{};
  const int64_t R = rows.count;
  // qkv is dead once attention has read it, and the attention output once Wo has: the MLP's two
  // buffers reuse theirs (a session's workspace is ~40% smaller for ModernBERT-base).
  w.arena.layout(ctx, {{&w.x, N * H},
                       {&w.normed, N * H},
                       {&w.qkv_or_mlp_z, N * std::max(3 * H, 2 * I)},
                       {&w.attn_or_mlp_g, N * std::max(H, I)},
                       {&w.head_rows, R * H},
                       {&w.head_scratch, R * H},
                       {&w.row_scales, N}});
  float* x = w.x;

  ops::embedding(ctx, param_or_null(ps, m.tok_emb), H, batch.ids.data(), N, w.normed);
  ops::layernorm(ctx, w.normed, m.emb_norm.weight, m.emb_norm.bias, x, N, H, eps);

  const Impl::LayerIO io{x,       x,       x, w.normed, w.qkv_or_mlp_z, w.attn_or_mlp_g, nullptr,
                         w.qkv_or_mlp_z, w.attn_or_mlp_g, nullptr, w.row_scales};
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    check_stop(options);
    layer_forward(c, m, ps, l, batch, w.positions.data(), io, nullptr);
  }

  ForwardOutput out;
  out.hidden_size = H;
  out.last_hidden_state.resize((size_t)(N * H));
  float* hidden = out.last_hidden_state.data();
  ops::layernorm(ctx, x, m.final_norm.weight, m.final_norm.bias, hidden, N, H, eps);

  if (logits) {
    const float* in = head_input(ctx, kind, batch, rows, hidden, H, c.classifier_pooling == "mean", w.head_rows);
    const ops::LinearWeights& final_layer = kind == HeadKind::MaskedLM ? m.decoder : m.classifier;
    out.logits_rows = R;
    out.logits_cols = final_layer.out;
    out.logits.resize((size_t)(R * final_layer.out));
    head_forward(c, m, ps, in, R, w.head_scratch, w.head_scratch, w.head_scratch, out.logits.data(), {});
  }
  if (!options.want_hidden) {
    out.last_hidden_state.clear();
    out.last_hidden_state.shrink_to_fit();
  }
  return out;
}

double ModernBertModel::forward_flops(const Batch& batch) const {
  const ModernBertConfig& c = config_;
  const double H = (double)c.hidden_size, I = (double)c.intermediate_size;
  const double per_token_layer = 2.0 * (H * 3 * H + H * H + H * 2 * I + I * H);
  double flops = 0.0;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    flops += per_token_layer * (double)batch.tokens();
    const bool global = c.layer_is_global[l];
    for (int64_t b = 0; b < batch.size(); ++b) {
      const int64_t len = batch.length(b);
      double keys = 0.0;  // sum over queries of attended keys
      if (global) keys = (double)len * (double)len;
      else
        for (int64_t i = 0; i < len; ++i)
          keys += (double)(std::min(len, i + c.half_window() + 1) - std::max<int64_t>(0, i - c.half_window()));
      flops += 4.0 * H * keys;  // QK^T and PV
    }
  }
  return flops;
}

// ---------------------------------------------------------------------------------------------
// Training: forward with saved activations, loss, backward (each step mirrors the forward above)

static Impl::LayerDropout layer_dropout(const ModernBertConfig& c, bool enabled, uint64_t seed,
                                                         int64_t l) {
  return {dropout_site(c.attention_dropout, enabled, seed, layer_site(l, 0)),
          dropout_site(c.attention_dropout, enabled, seed, layer_site(l, 1)),
          dropout_site(c.mlp_dropout, enabled, seed, layer_site(l, 2))};
}

// The size table of the activations of an N-token batch, the head's rows included (activation_bytes
// counts the same).
static SizeTable activation_table(const ModernBertConfig& c, Activations& s, int64_t N) {
  const int64_t n = N, H = c.hidden_size, I = c.intermediate_size;
  const int64_t L = c.num_hidden_layers, heads = c.num_attention_heads;
  SizeTable table = {{&s.emb, n * H},       {&s.x_in, L * n * H},  {&s.x_mid, L * n * H},
                     {&s.qkv, L * n * 3 * H}, {&s.attn, L * n * H}, {&s.stats, L * n * heads * 2},
                     {&s.mlp_z, L * n * 2 * I}, {&s.x_out, n * H},  {&s.hidden, n * H},
                     {&s.normed, n * H},    {&s.dnormed, n * H},   {&s.g, n * I},
                     {&s.dx, n * H},        {&s.dqkv, n * 3 * H},  {&s.dattn, n * H},
                     {&s.dz, n * 2 * I},    {&s.dg, n * I}};
  s.add_head_slots(table, H, c.head.kind == HeadKind::MaskedLM ? c.vocab_size : c.head.num_labels);
  return table;
}

// The I/O of layer l inside the saved activations (the output of layer l is the input of layer l + 1).
static Impl::LayerIO saved_layer_io(const ModernBertConfig& c, Activations& s,
                                                     int64_t l) {
  const int64_t N = s.batch.tokens(), H = c.hidden_size, I = c.intermediate_size, L = c.num_hidden_layers;
  const int64_t heads = c.num_attention_heads;
  Impl::LayerIO io;
  io.x_in = s.x_in + l * N * H;
  io.x_mid = s.x_mid + l * N * H;
  io.x_out = l + 1 < L ? s.x_in + (l + 1) * N * H : s.x_out;
  io.normed = s.normed;
  io.qkv = s.qkv + l * N * 3 * H;
  io.attn = s.attn + l * N * H;
  io.stats = s.stats + l * N * heads * 2;
  io.mlp_z = s.mlp_z + l * N * 2 * I;
  io.mlp_g = s.g;
  io.tmp = s.dnormed;
  return io;
}

std::unique_ptr<TrainingActivations> ModernBertModel::make_activations() const {
  return std::make_unique<Activations>();
}

TrainOutput ModernBertModel::forward_train(const Batch& batch, const TrainLabels& labels, const TrainOptions& options,
                                           TrainingActivations& saved) const {
  const ModernBertConfig& c = config_;
  const Impl& m = *impl_;
  const ParameterSet& ps = params_;
  const ops::Context& ctx = m.ctx;
  const HeadKind kind = c.head.kind;
  if (kind == HeadKind::Base)
    throw Error(fmt::format("{} has no task head, so there is no loss to train on", c.head.architecture));
  validate_batch(batch, c.vocab_size, /*max_positions=*/0, /*type_vocab=*/0);
  const int64_t N = batch.tokens(), L = c.num_hidden_layers;
  const int64_t H = c.hidden_size;
  const float eps = (float)c.norm_eps;
  if (kind != HeadKind::SequenceClassification) check_token_labels(kind, labels, N);

  Activations& s = dynamic_cast<Activations&>(saved);
  s.begin(batch, options, training_head_rows(kind, batch, labels));
  s.arena.layout(ctx, activation_table(c, s, N));

  ops::embedding(ctx, param_or_null(ps, m.tok_emb), H, batch.ids.data(), N, s.emb);
  ops::layernorm(ctx, s.emb, m.emb_norm.weight, m.emb_norm.bias, s.x_in, N, H, eps);
  ops::dropout(ctx, s.x_in, N * H,
               dropout_site(c.embedding_dropout, options.dropout, options.seed, kEmbeddingDrop));
  for (int64_t l = 0; l < L; ++l) {
    const Impl::LayerDropout drop = layer_dropout(c, options.dropout, options.seed, l);
    layer_forward(c, m, ps, l, batch, s.positions.data(), saved_layer_io(c, s, l), &drop);
  }
  ops::layernorm(ctx, s.x_out, m.final_norm.weight, m.final_norm.bias, s.hidden, N, H, eps);

  // Rows through the head: pooled sequences, every token, or (masked LM) only the labelled tokens.
  s.head_in = head_input(ctx, kind, batch, s.head, s.hidden, H, c.classifier_pooling == "mean", s.head_rows);
  const int64_t R = s.head.count;
  const ops::LinearWeights& final_layer = kind == HeadKind::MaskedLM ? m.decoder : m.classifier;
  const int64_t C = final_layer.out;
  const ops::Dropout head_drop =
      kind == HeadKind::MaskedLM ? ops::Dropout{}
                                 : dropout_site(c.classifier_dropout, options.dropout, options.seed, kClassifierDrop);
  head_forward(c, m, ps, s.head_in, R, s.head_pre, s.head_act, s.head_out, s.logits, head_drop);

  return s.finish(c.head, labels, C, options.keep_logits);
}

void ModernBertModel::backward(TrainingActivations& saved, std::span<float> gradients, float loss_scale) const {
  const ModernBertConfig& c = config_;
  const Impl& m = *impl_;
  const ParameterSet& ps = params_;
  const ops::Context& ctx = m.ctx;
  Activations& s = dynamic_cast<Activations&>(saved);
  const GradientSlices grad(s, gradients, ps);
  const Batch& batch = s.batch;
  const HeadKind kind = c.head.kind;
  const int64_t N = batch.tokens(), B = batch.size(), L = c.num_hidden_layers;
  const int64_t H = c.hidden_size, I = c.intermediate_size, R = s.head.count;
  const int heads = (int)c.num_attention_heads, hd = (int)c.head_dim();
  const float eps = (float)c.norm_eps;
  const float scale = 1.0f / std::sqrt((float)hd);
  ops::fill(ctx, s.dx, N * H, 0.0f);

  // Head: logits = final(dropout(LN(act(dense(in))))).
  const bool mlm = kind == HeadKind::MaskedLM;
  const ops::LinearWeights& final_layer = mlm ? m.decoder : m.classifier;
  const size_t final_w = mlm ? (m.decoder_w != Impl::npos ? m.decoder_w : m.tok_emb) : m.classifier_w;
  const size_t final_b = mlm ? m.decoder_b : m.classifier_b;
  const float* dlogits = s.start_backward(ctx, final_layer.out, loss_scale);
  float *d_out = s.d_head_out, *d_pre = s.d_head_pre;
  ops::linear_backward(ctx, final_layer, s.head_out, dlogits, R, d_out, grad(final_w), grad(final_b));
  if (!mlm) ops::dropout(ctx, d_out, R * H, dropout_site(c.classifier_dropout, s.dropout, s.seed, kClassifierDrop));
  ops::layernorm_backward(ctx, s.head_act, m.head_norm.weight, d_out, d_pre, grad(m.head_norm.w),
                          grad(m.head_norm.b), R, H, eps);
  ops::activation_backward(ctx, s.head_pre, d_pre, d_pre, R * H, m.classifier_act);
  // dhidden (in s.dnormed) = d(head input) routed back to the token rows.
  float* dhidden = s.dnormed;
  float* d_in = kind == HeadKind::TokenClassification ? dhidden : d_out;
  ops::linear_backward(ctx, m.head_dense, s.head_in, d_pre, R, d_in, grad(m.head_dense_w), grad(m.head_dense_b));
  route_head_gradient(ctx, kind, batch, s.head, d_in, dhidden, H, c.classifier_pooling == "mean");
  ops::layernorm_backward(ctx, s.x_out, m.final_norm.weight, dhidden, s.dx,
                          grad(m.final_norm.w), grad(m.final_norm.b), N, H, eps);

  // Layers, last to first; s.dx holds d loss / d (residual stream at the current point).
  float* dx = s.dx;
  for (int64_t l = L - 1; l >= 0; --l) {
    const Impl::Layer& Ly = m.layers[l];
    const Impl::LayerIO io = saved_layer_io(c, s, l);
    const Impl::LayerDropout drop = layer_dropout(c, s.dropout, s.seed, l);
    const bool global = c.layer_is_global[l];
    const float* inv_freq = global ? m.inv_freq_global.data() : m.inv_freq_local.data();

    // x_out = x_mid + Wo2(dropout(GeGLU(z))),  z = Wi LN(x_mid)
    ops::geglu(ctx, io.mlp_z, s.g, N, I, m.hidden_act);
    ops::dropout(ctx, s.g, N * I, drop.mlp);
    ops::linear_backward(ctx, Ly.mlp_out, s.g, dx, N, s.dg, grad(Ly.wo2), grad(Ly.bo2));
    ops::dropout(ctx, s.dg, N * I, drop.mlp);
    ops::geglu_backward(ctx, io.mlp_z, s.dg, s.dz, N, I, m.hidden_act);
    ops::layernorm(ctx, io.x_mid, Ly.mlp_norm.weight, Ly.mlp_norm.bias, s.normed, N, H, eps);
    ops::linear_backward(ctx, Ly.mlp_in, s.normed, s.dz, N, s.dnormed, grad(Ly.wi),
                         grad(Ly.bi));
    ops::layernorm_backward(ctx, io.x_mid, Ly.mlp_norm.weight, s.dnormed, dx, grad(Ly.mlp_norm.w),
                            grad(Ly.mlp_norm.b), N, H, eps, /*accumulate=*/true);

    // x_mid = x_in + dropout(Wo attention(RoPE(Wqkv a))),  a = (l == 0 ? x_in : LN(x_in))
    const float* d_attn_out = dx;
    if (drop.attn_out.active()) {
      ops::copy(ctx, dx, s.dnormed, N * H);
      ops::dropout(ctx, s.dnormed, N * H, drop.attn_out);
      d_attn_out = s.dnormed;
    }
    ops::linear_backward(ctx, Ly.attn_out, io.attn, d_attn_out, N, s.dattn, grad(Ly.wo),
                         grad(Ly.bo));
    ops::attention_backward(ctx, io.qkv, io.attn, s.dattn, io.stats, s.dqkv, batch.offsets.data(), B,
                            heads, hd, global ? -1 : c.half_window(), scale, drop.probs);
    ops::rope_qkv_backward(ctx, s.dqkv, s.positions.data(), N, heads, hd, inv_freq);
    if (l == 0) {
      ops::linear_backward(ctx, Ly.qkv, io.x_in, s.dqkv, N, dx, grad(Ly.wqkv), grad(Ly.bqkv),
                           /*accumulate=*/true);
    } else {
      ops::layernorm(ctx, io.x_in, Ly.attn_norm.weight, Ly.attn_norm.bias, s.normed, N, H, eps);
      ops::linear_backward(ctx, Ly.qkv, s.normed, s.dqkv, N, s.dnormed, grad(Ly.wqkv),
                           grad(Ly.bqkv));
      ops::layernorm_backward(ctx, io.x_in, Ly.attn_norm.weight, s.dnormed, dx,
                              grad(Ly.attn_norm.w), grad(Ly.attn_norm.b), N, H, eps, /*accumulate=*/true);
    }
  }

  // Embeddings: x_in[0] = dropout(LN(table[ids])); the padding row gets no gradient.
  ops::dropout(ctx, dx, N * H, dropout_site(c.embedding_dropout, s.dropout, s.seed, kEmbeddingDrop));
  ops::layernorm_backward(ctx, s.emb, m.emb_norm.weight, dx, s.dnormed, grad(m.emb_norm.w),
                          grad(m.emb_norm.b), N, H, eps);
  ops::embedding_backward(ctx, batch.ids.data(), N, s.dnormed, grad(m.tok_emb), H, c.pad_token_id);
}

size_t ModernBertModel::activation_bytes(const Batch& batch) const {
  // The arena's size table with the most head rows there can be (one per token).
  Activations s;
  s.head.count = batch.tokens();
  return (size_t)table_floats(activation_table(config_, s, batch.tokens())) * sizeof(float);
}

// ---------------------------------------------------------------------------------------------
// Initialisation (Hugging Face _init_weights: truncated normal, cutoff in sigmas)

void ModernBertModel::init_weights(uint64_t seed) {
  const ModernBertConfig& c = config_;
  Impl& m = *impl_;
  Rng rng(seed);
  const double std_in = c.initializer_range;
  const double std_out = c.initializer_range / std::sqrt(2.0 * (double)c.num_hidden_layers);
  const double std_final = 1.0 / std::sqrt((double)c.hidden_size);
  const double cutoff = c.initializer_cutoff_factor;
  auto fill = [&](size_t idx, double stdv) {
    draw_parameter(params_, idx, [&] { return rng.truncated_normal(stdv, cutoff * stdv); });
  };
  for (size_t i = 0; i < params_.specs().size(); ++i) {
    const ParamSpec& s = params_.specs()[i];
    const bool is_norm_weight = s.is_bias_or_norm && s.name.ends_with(".weight");
    ops::fill(m.ctx, params_.at(i), (int64_t)s.numel, is_norm_weight ? 1.0f : 0.0f);
  }
  fill(m.tok_emb, std_in);
  for (auto& L : m.layers) {
    fill(L.wqkv, std_in);
    fill(L.wi, std_in);
    fill(L.wo, std_out);
    fill(L.wo2, std_out);
  }
  fill(m.head_dense_w, std_out);
  fill(m.decoder_w, std_out);
  fill(m.classifier_w, std_final);
  parameters_changed();
}

}  // namespace medenc
