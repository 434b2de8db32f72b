// BERT and Megatron-BERT / GatorTron (Hugging Face Bert*, MegatronBert*): config, parameter layout,
// forward pass on unpadded batches.
//   BERT (post-LN):      x = LN(word + type + pos); per layer x = LN(x + attn(x)), x = LN(x + ffn(x)).
//   Megatron (pre-LN):   x = word + type + pos;     per layer x += attn(LN(x)),   x += ffn(LN(x));
//                        final encoder.ln.
// Attention is dense (every token of a sequence), Q/K/V fused into one GEMM, scale 1/sqrt(head_dim).
// Heads: tanh pooler over [CLS]; sequence classifier on the pooled row; token classifier on every
// row; MLM transform (dense, hidden_act, LN) and a decoder tied to the word embeddings.
#include "medenc/bert.h"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "medenc/error.h"
#include "medenc/safetensors.h"
#include "models/common.h"
#include "models/encoder_common.h"
#include "models/family.h"
#include "weights/load_parameters.h"
#include "ops/ops.h"
#include "ops/ops_backward.h"
#include "train/train_common.h"
#include "util/fs.h"
#include "models/config_json.h"
#include "util/json_fields.h"
#include "util/random.h"

namespace medenc {

using nlohmann::json;
using namespace json_fields;

// ---------------------------------------------------------------------------------------------
// Config

BertConfig BertConfig::for_family(Family family) {
  BertConfig c;
  c.family = family;
  if (family == Family::MegatronBert) {
    c.vocab_size = 29056;
    c.hidden_size = 1024;
    c.num_hidden_layers = 24;
    c.num_attention_heads = 16;
    c.intermediate_size = 4096;
  } else if (family != Family::Bert) {
    throw Error(fmt::format("internal: BertConfig for family '{}'", family_name(family)));
  }
  c.head.architecture = std::string(c.class_prefix()) + "Model";
  c.head.id2label = {"LABEL_0", "LABEL_1"};
  return c;
}

// The plain keys of config.json, read and written by the same table (special keys: see from_json_text).
static const std::vector<ConfigKey<BertConfig>>& config_keys() {
  using C = BertConfig;
  static const std::vector<ConfigKey<C>> keys = {
      {"vocab_size", &C::vocab_size, true},
      {"hidden_size", &C::hidden_size, true},
      {"num_hidden_layers", &C::num_hidden_layers, true},
      {"num_attention_heads", &C::num_attention_heads, true},
      {"intermediate_size", &C::intermediate_size, true},
      {"hidden_act", &C::hidden_act},
      {"hidden_dropout_prob", &C::hidden_dropout_prob},
      {"attention_probs_dropout_prob", &C::attention_probs_dropout_prob},
      {"max_position_embeddings", &C::max_position_embeddings, true},
      {"type_vocab_size", &C::type_vocab_size, true},
      {"initializer_range", &C::initializer_range},
      {"layer_norm_eps", &C::layer_norm_eps},
      {"position_embedding_type", &C::position_embedding_type},
      {"use_cache", &C::use_cache},
  };
  return keys;
}

BertConfig BertConfig::from_json_text(const std::string& text, const std::string& path) {
  json j = parse_config(text, path);
  const std::string model_type = get_string(j, "model_type", "", path);
  Family family;
  if (model_type == "bert") family = Family::Bert;
  else if (model_type == "megatron-bert") family = Family::MegatronBert;
  else throw Error(fmt::format("{}: model_type is '{}', expected 'bert' or 'megatron-bert'", path, model_type));

  BertConfig c = for_family(family);
  c.source_json = text;
  read_config_keys(j, config_keys(), c, path);
  if (j.contains("pad_token_id") && j["pad_token_id"].is_null()) c.pad_token_id = -1;
  else c.pad_token_id = get_int(j, "pad_token_id", c.pad_token_id, path);
  c.is_decoder = get_bool(j, "is_decoder", c.is_decoder, path);
  c.add_cross_attention = get_bool(j, "add_cross_attention", c.add_cross_attention, path);
  // MegatronBert has no classifier_dropout: its heads always use hidden_dropout_prob.
  if (family == Family::Bert && j.contains("classifier_dropout") && !j["classifier_dropout"].is_null())
    c.classifier_dropout = get_double(j, "classifier_dropout", 0.0, path);
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", c.tie_word_embeddings, path);

  if (c.position_embedding_type != "absolute")
    throw Error(fmt::format("{}: position_embedding_type '{}' is not supported (only 'absolute')", path,
                            c.position_embedding_type));
  if (c.is_decoder) throw Error(path + ": \"is_decoder\": true is not supported (medenc runs encoders only)");
  if (c.add_cross_attention)
    throw Error(path + ": \"add_cross_attention\": true is not supported (medenc runs encoders only)");
  if (c.hidden_size % c.num_attention_heads != 0)
    throw Error(fmt::format("{}: hidden_size {} is not divisible by num_attention_heads {}", path, c.hidden_size,
                            c.num_attention_heads));
  if (!(c.layer_norm_eps > 0.0))
    throw Error(fmt::format("{}: \"layer_norm_eps\" must be positive, got {}", path, c.layer_norm_eps));
  if (!(c.initializer_range >= 0.0))
    throw Error(fmt::format("{}: \"initializer_range\" must not be negative, got {}", path, c.initializer_range));
  for (auto [name, p] : {std::pair{"hidden_dropout_prob", c.hidden_dropout_prob},
                         {"attention_probs_dropout_prob", c.attention_probs_dropout_prob},
                         {"classifier_dropout", c.classifier_dropout.value_or(0.0)}})
    if (!(p >= 0.0 && p < 1.0)) throw Error(fmt::format("{}: \"{}\" must be in [0, 1), got {}", path, name, p));
  parse_activation(c.hidden_act, path + ": hidden_act");
  if (c.pad_token_id < -1 || c.pad_token_id >= c.vocab_size)
    throw Error(fmt::format("{}: pad_token_id {} is outside the vocabulary (size {})", path, c.pad_token_id,
                            c.vocab_size));
  c.head = parse_head(j, path, c.class_prefix());
  return c;
}

BertConfig BertConfig::from_file(const std::string& path) { return from_json_text(read_text_file(path), path); }

std::string BertConfig::to_json() const {
  json j = source_json.empty() ? json::object() : json::parse(source_json);
  j["model_type"] = model_type();
  write_config_keys(j, config_keys(), *this);
  j["pad_token_id"] = pad_token_id >= 0 ? json(pad_token_id) : json(nullptr);
  if (is_decoder) j["is_decoder"] = true;
  if (add_cross_attention) j["add_cross_attention"] = true;
  if (family == Family::Bert) j["classifier_dropout"] = classifier_dropout ? json(*classifier_dropout) : json(nullptr);
  else j.erase("classifier_dropout");
  if (!tie_word_embeddings) j["tie_word_embeddings"] = false;
  else j.erase("tie_word_embeddings");
  j["torch_dtype"] = "float32";
  write_head(j, head);
  return j.dump(2) + "\n";
}

BertConfig bert_preset(Family family, const std::string& name) {
  BertConfig c = BertConfig::for_family(family);
  c.vocab_size = family == Family::MegatronBert ? 50176 : 30522;
  if (name == "tiny") {
    c.hidden_size = 64;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.intermediate_size = 128;
  } else if (name == "base") {
    c.hidden_size = 768;
    c.num_hidden_layers = 12;
    c.num_attention_heads = 12;
    c.intermediate_size = 3072;
  } else if (name == "large") {
    c.hidden_size = 1024;
    c.num_hidden_layers = 24;
    c.num_attention_heads = 16;
    c.intermediate_size = 4096;
  } else {
    throw Error(fmt::format("unknown {} preset '{}' (tiny, base, large)", c.class_prefix(), name));
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Parameters and runtime state

namespace bert {

struct State {
  static constexpr size_t npos = kNoParam;
  // Parameter indices of one encoder layer. Post-LN (BERT) uses attn_out_norm and out_norm; pre-LN
  // (Megatron) uses attn_norm and ffn_norm. wq, wk, wv are declared back to back, and so are bq, bk,
  // bv, so [wq; wk; wv] is one [3H, H] matrix and [bq; bk; bv] one [3H] bias.
  struct Layer {
    NormWeights attn_norm;                                  // attention.ln (Megatron)
    size_t wq = npos, wk = npos, wv = npos, bq = npos, bk = npos, bv = npos;
    size_t wo = npos, bo = npos;                            // attention.output.dense
    NormWeights attn_out_norm;                              // attention.output.LayerNorm (BERT)
    NormWeights ffn_norm;                                   // ln (Megatron)
    size_t wi = npos, bi = npos;                            // intermediate.dense
    size_t wo2 = npos, bo2 = npos;                          // output.dense
    NormWeights out_norm;                                   // output.LayerNorm (BERT)
    ops::LinearWeights qkv, attn_out, ffn_in, ffn_out;
  };

  size_t word_emb = npos, pos_emb = npos, type_emb = npos;
  NormWeights emb_norm;  // embeddings.LayerNorm (BERT)
  std::vector<Layer> layers;
  NormWeights final_norm;  // encoder.ln (Megatron)
  size_t pooler_w = npos, pooler_b = npos;
  size_t mlm_dense_w = npos, mlm_dense_b = npos;
  NormWeights mlm_norm;
  size_t mlm_bias = npos, mlm_decoder_w = npos;  // decoder weight only when untied
  size_t classifier_w = npos, classifier_b = npos;
  ops::LinearWeights pooler, mlm_dense, decoder, classifier;

  Activation hidden_act = Activation::GeluErf;
  ops::Context ctx;


  // Where one layer reads and writes. Inference points the residual-stream fields at one buffer
  // (updated in place, LayerNorms fused with their residual add) and the rest at shared scratch;
  // training points them at the layer's saved slices.
  struct LayerIO {
    float* x_in;   // [N, H] residual stream entering the layer
    float* a_pre;  // [N, H] BERT training: x_in + attention output, before its LayerNorm (null: fused)
    float* x_mid;  // [N, H] after the attention block (may alias x_in)
    float* f;      // [N, I] intermediate dense output, before the activation
    float* act;    // [N, I] activation output (may alias f)
    float* y_pre;  // [N, H] BERT training: x_mid + FFN output, before its LayerNorm (null: fused)
    float* x_out;  // [N, H] after the FFN block (may alias x_mid)
    float* t;      // [N, H] scratch: LayerNorm output (pre-LN) or sub-layer output (post-LN)
    float* qkv;    // [N, 3H]
    float* attn;   // [N, H] attention output
    float* stats;  // [N, heads, 2] softmax statistics; null: inference attention
    float* row_scales = nullptr;  // [N] inference: int8 rows' scales (the activation's output, in qkv)
  };
  // Dropout of one layer (training only).
  struct LayerDropout {
    ops::Dropout probs, attn_out, ffn_out;
  };
};

// A training session's activations: what forward_train saves and backward's scratch, as tensors cut
// from one arena by the size table below (llm.c's ActivationTensors), the head's tensors included.
struct Activations : EncoderActivations {
  std::vector<int32_t> type_ids;
  float* emb = nullptr;  // [N, H] summed embeddings
  // Per layer, [L, N, ...]; a_pre and y_pre (BERT's pre-LayerNorm sums) are empty for Megatron.
  float *x_in = nullptr, *a_pre = nullptr, *x_mid = nullptr, *f = nullptr, *y_pre = nullptr;
  float *qkv = nullptr, *attn = nullptr, *stats = nullptr;
  float *x_out = nullptr, *hidden = nullptr;  // [N, H] last layer output; final LN output
  // Scratch, [N, H | H | H | 3H | H | I | I].
  float *dx = nullptr, *t = nullptr, *dt = nullptr, *dqkv = nullptr, *dattn = nullptr, *act = nullptr, *dact = nullptr;
};

}  // namespace bert

namespace {
using Impl = bert::State;
using Activations = bert::Activations;
}  // namespace

BertModel::BertModel(BertConfig config, const LoadOptions& options, std::optional<bool> with_pooler)
    : config_(std::move(config)), impl_(std::make_shared<Impl>()) {
  const BertConfig& c = config_;
  Impl& m = *impl_;
  m.ctx = context_from(options);
  m.hidden_act = parse_activation(c.hidden_act, "hidden_act");

  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const HeadKind kind = c.head.kind;
  const bool pre_norm = c.pre_norm();
  const bool pooler = with_pooler.value_or(c.default_pooler());
  const std::string pre = kind == HeadKind::Base ? "" : "bert.";
  auto norm = [&](const std::string& name, NormWeights& n) {
    n.w = params_.declare(name + ".weight", {H}, true);
    n.b = params_.declare(name + ".bias", {H}, true);
  };
  auto dense = [&](const std::string& name, int64_t out, int64_t in, size_t* w, size_t* b) {
    *w = params_.declare(name + ".weight", {out, in});
    *b = params_.declare(name + ".bias", {out}, true);
  };

  m.word_emb = params_.declare(pre + "embeddings.word_embeddings.weight", {V, H});
  m.pos_emb = params_.declare(pre + "embeddings.position_embeddings.weight", {c.max_position_embeddings, H});
  m.type_emb = params_.declare(pre + "embeddings.token_type_embeddings.weight", {c.type_vocab_size, H});
  if (!pre_norm) norm(pre + "embeddings.LayerNorm", m.emb_norm);
  m.layers.resize((size_t)c.num_hidden_layers);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    Impl::Layer& L = m.layers[l];
    const std::string lp = fmt::format("{}encoder.layer.{}.", pre, l);
    if (pre_norm) norm(lp + "attention.ln", L.attn_norm);
    L.wq = params_.declare(lp + "attention.self.query.weight", {H, H});
    L.wk = params_.declare(lp + "attention.self.key.weight", {H, H});
    L.wv = params_.declare(lp + "attention.self.value.weight", {H, H});
    L.bq = params_.declare(lp + "attention.self.query.bias", {H}, true);
    L.bk = params_.declare(lp + "attention.self.key.bias", {H}, true);
    L.bv = params_.declare(lp + "attention.self.value.bias", {H}, true);
    dense(lp + "attention.output.dense", H, H, &L.wo, &L.bo);
    if (pre_norm) norm(lp + "ln", L.ffn_norm);
    else norm(lp + "attention.output.LayerNorm", L.attn_out_norm);
    dense(lp + "intermediate.dense", I, H, &L.wi, &L.bi);
    dense(lp + "output.dense", H, I, &L.wo2, &L.bo2);
    if (!pre_norm) norm(lp + "output.LayerNorm", L.out_norm);
  }
  if (pre_norm) norm(pre + "encoder.ln", m.final_norm);
  if (pooler) dense(pre + "pooler.dense", H, H, &m.pooler_w, &m.pooler_b);
  if (kind == HeadKind::MaskedLM) {
    dense("cls.predictions.transform.dense", H, H, &m.mlm_dense_w, &m.mlm_dense_b);
    norm("cls.predictions.transform.LayerNorm", m.mlm_norm);
    m.mlm_bias = params_.declare("cls.predictions.bias", {V}, true);
    if (!c.tie_word_embeddings) m.mlm_decoder_w = params_.declare("cls.predictions.decoder.weight", {V, H});
  }
  if (kind == HeadKind::SequenceClassification || kind == HeadKind::TokenClassification)
    dense("classifier", c.head.num_labels, H, &m.classifier_w, &m.classifier_b);
  params_.allocate();
  parameters_changed();

  info_.family = c.family;
  info_.head = c.head;
  info_.hidden_size = H;
  info_.vocab_size = V;
  info_.max_positions = c.max_position_embeddings;
  info_.num_layers = c.num_hidden_layers;
  info_.type_vocab_size = c.type_vocab_size;
  info_.has_pooler = pooler;
  info_.pad_token_id = std::max<int64_t>(c.pad_token_id, 0);
}

void BertModel::parameters_changed() {
  const BertConfig& c = config_;
  Impl& m = *impl_;
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  auto lw = [&](size_t w, size_t b, int64_t in, int64_t out) { return linear_weights(params_, w, b, in, out); };
  for (NormWeights* n : {&m.emb_norm, &m.final_norm, &m.mlm_norm}) n->resolve(params_);
  for (auto& L : m.layers) {
    for (NormWeights* n : {&L.attn_norm, &L.attn_out_norm, &L.ffn_norm, &L.out_norm}) n->resolve(params_);
    // The fused [3H, H] GEMM relies on the declaration order; check it rather than assume it.
    const auto& s = params_.specs();
    if (s[L.wk].offset != s[L.wq].offset + s[L.wq].numel || s[L.wv].offset != s[L.wk].offset + s[L.wk].numel ||
        s[L.bk].offset != s[L.bq].offset + s[L.bq].numel || s[L.bv].offset != s[L.bk].offset + s[L.bk].numel)
      throw Error("internal: query/key/value parameters are not contiguous");
    L.qkv = lw(L.wq, L.bq, H, 3 * H);
    L.attn_out = lw(L.wo, L.bo, H, H);
    L.ffn_in = lw(L.wi, L.bi, H, I);
    L.ffn_out = lw(L.wo2, L.bo2, I, H);
  }
  if (m.pooler_w != Impl::npos) m.pooler = lw(m.pooler_w, m.pooler_b, H, H);
  if (c.head.kind == HeadKind::MaskedLM) {
    m.mlm_dense = lw(m.mlm_dense_w, m.mlm_dense_b, H, H);
    m.decoder = lw(m.mlm_decoder_w != Impl::npos ? m.mlm_decoder_w : m.word_emb, m.mlm_bias, H, c.vocab_size);
  }
  if (m.classifier_w != Impl::npos) m.classifier = lw(m.classifier_w, m.classifier_b, H, c.head.num_labels);
}

namespace {

std::string without_backbone_prefix(const std::string& name) {
  return name.rfind("bert.", 0) == 0 ? name.substr(5) : name;
}

// Stored names: the backbone under "bert." in task models, LayerNorm's legacy gamma/beta, the decoder
// bias stored only as its copy; what a model of this head may leave unused (buffers, tied copies,
// the pooler it lacks, other heads).
NameRules bert_name_rules(const BertModel& model, const Checkpoint& ckpt) {
  const HeadKind kind = model.config().head.kind;
  const bool pooler = model.has_pooler();
  const bool tied = model.config().tie_word_embeddings;
  NameRules rules;
  rules.backbone_prefix = "bert.";
  rules.is_backbone = [](const std::string& n) { return n.rfind("cls.", 0) != 0 && n.rfind("classifier.", 0) != 0; };
  rules.legacy_aliases = [&ckpt](const std::string& n) {
    std::vector<std::string> out;
    // transformers 4.48 renames stored "gamma" to "weight" and "beta" to "bias".
    if (n.ends_with(".weight")) out.push_back(n.substr(0, n.size() - 6) + "gamma");
    if (n.ends_with(".bias")) out.push_back(n.substr(0, n.size() - 4) + "beta");
    // The decoder bias is the same tensor as cls.predictions.bias; some files store only that copy.
    if (n == "cls.predictions.bias" && !ckpt.find(n) && !ckpt.find("cls.predictions.beta"))
      out.push_back("cls.predictions.decoder.bias");
    return out;
  };
  rules.ignorable = [kind, pooler, tied](const std::string& stored) {
    const std::string n = without_backbone_prefix(stored);
    if (n == "embeddings.position_ids") return true;                // old non-persistent buffer
    if (n.rfind("cls.seq_relationship.", 0) == 0) return true;      // next-sentence head
    if (n == "cls.predictions.decoder.bias") return true;           // copy of cls.predictions.bias
    if (tied && n == "cls.predictions.decoder.weight") return true;  // copy of the word embeddings
    if (!pooler && n.rfind("pooler.", 0) == 0) return true;
    if (kind != HeadKind::MaskedLM && n.rfind("cls.", 0) == 0) return true;  // pretraining heads
    if (kind == HeadKind::Base && (n.rfind("classifier.", 0) == 0 || n.rfind("qa_outputs.", 0) == 0)) return true;
    return false;
  };
  rules.not_a_parameter = [](const std::string& stored) {
    const std::string n = without_backbone_prefix(stored);
    return n == "embeddings.position_ids" || n == "cls.predictions.decoder.weight" ||
           n == "cls.predictions.decoder.bias";
  };
  return rules;
}

// A model of `family` from config.json text (the config's model_type must be that family's).
BuiltModel create_bert(Family family, const std::string& text, const std::string& path,
                       const std::function<void(HeadConfig&)>& set_head, const LoadOptions& options, uint64_t seed) {
  BertConfig c = BertConfig::from_json_text(text, path);
  if (c.family != family) {
    HeadConfig wanted = c.head;
    set_head(wanted);
    throw Error(fmt::format("{}: model_type '{}' does not match --arch {}", path, c.model_type(), wanted.architecture));
  }
  set_head(c.head);
  auto model = std::make_unique<BertModel>(c, options);
  model->init_weights(seed);
  return BuiltModel{std::move(model), c.to_json()};
}

}  // namespace

std::unique_ptr<BertModel> BertModel::load(const std::string& dir, const LoadOptions& options) {
  BertConfig config = BertConfig::from_file(join_path(dir, "config.json"));
  const Checkpoint ckpt = Checkpoint::open_dir(dir);
  // A bare backbone saved without its pooler (add_pooling_layer=False) simply has none.
  std::optional<bool> with_pooler;
  if (config.head.kind == HeadKind::Base && !ckpt.find("pooler.dense.weight") &&
      !ckpt.find("bert.pooler.dense.weight"))
    with_pooler = false;
  auto model = std::make_unique<BertModel>(std::move(config), options, with_pooler);
  load_parameters(ckpt, model->params_, bert_name_rules(*model, ckpt), model->config_.head.architecture);
  model->parameters_changed();
  model->info_.dir = dir;
  return model;
}

// The two rows of the family table (models/family.h): BERT and Megatron-BERT share this file.
static ModelFamily bert_row(Family family) {
  ModelFamily f;
  f.family = family;
  f.model_type = family == Family::MegatronBert ? "megatron-bert" : "bert";
  f.class_prefix = family == Family::MegatronBert ? "MegatronBert" : "Bert";
  f.read_head = [](const std::string& text, const std::string& path) {
    return BertConfig::from_json_text(text, path).head;
  };
  f.load = [](const std::string& dir, const LoadOptions& options) -> std::unique_ptr<TrainableEncoder> {
    return BertModel::load(dir, options);
  };
  f.name_rules = [](const TrainableEncoder& model, const Checkpoint& ckpt) {
    return bert_name_rules(dynamic_cast<const BertModel&>(model), ckpt);
  };
  return f;
}

ModelFamily bert_family() {
  ModelFamily f = bert_row(Family::Bert);
  f.preset_json = [](const std::string& name) { return bert_preset(Family::Bert, name).to_json(); };
  f.create = [](const std::string& text, const std::string& path, const std::function<void(HeadConfig&)>& set_head,
                const LoadOptions& options, uint64_t seed) {
    return create_bert(Family::Bert, text, path, set_head, options, seed);
  };
  return f;
}

ModelFamily megatron_bert_family() {
  ModelFamily f = bert_row(Family::MegatronBert);
  f.preset_json = [](const std::string& name) { return bert_preset(Family::MegatronBert, name).to_json(); };
  f.create = [](const std::string& text, const std::string& path, const std::function<void(HeadConfig&)>& set_head,
                const LoadOptions& options, uint64_t seed) {
    return create_bert(Family::MegatronBert, text, path, set_head, options, seed);
  };
  return f;
}

// ---------------------------------------------------------------------------------------------
// Forward

// out = word[ids] + type[type_ids] + pos[positions], in Hugging Face's order.
static void embed(const Impl& m, const ParameterSet& ps, int64_t H, const int32_t* ids,
                  const int32_t* type_ids, const int32_t* positions, int64_t N, float* out) {
  ops::embedding(m.ctx, param_or_null(ps, m.word_emb), H, ids, N, out);
  ops::embedding(m.ctx, param_or_null(ps, m.type_emb), H, type_ids, N, out, /*accumulate=*/true);
  ops::embedding(m.ctx, param_or_null(ps, m.pos_emb), H, positions, N, out, /*accumulate=*/true);
}

// A sub-layer's output W a joined to the residual stream x: x_out = x + dropout(W a) (pre-norm), or
// x_out = LN(x + dropout(W a)) (post-norm; training keeps the sum in `sum` for the backward pass).
// x_out may alias x; t is [N, H] scratch.
static void add_sublayer(const ops::Context& ctx, const ops::LinearWeights& w, const ops::LinearInput& a,
                         const float* x, float* x_out, float* t, float* sum, const NormWeights& norm,
                         const ops::Dropout* drop, bool pre_norm, int64_t N, int64_t H, float eps) {
  if (pre_norm) {
    ops::copy(ctx, x, x_out, N * H);  // a no-op when they alias
    if (drop && drop->active()) {
      ops::linear(ctx, w, a, t, N);
      ops::dropout(ctx, t, N * H, *drop);
      ops::add(ctx, x_out, t, x_out, N * H);
    } else {
      ops::linear(ctx, w, a, x_out, N, /*accumulate=*/true);
    }
    return;
  }
  ops::linear(ctx, w, a, t, N);
  if (drop) ops::dropout(ctx, t, N * H, *drop);
  if (sum) {
    ops::add(ctx, x, t, sum, N * H);
    ops::layernorm(ctx, sum, norm.weight, norm.bias, x_out, N, H, eps);
  } else {
    ops::add_layernorm(ctx, x, t, norm.weight, norm.bias, x_out, N, H, eps);
  }
}

// Layer l.  BERT: x = LN(x + attn(x)); x = LN(x + W2 act(W1 x)).
//           Megatron: x += attn(LN(x)); x += W2 act(W1 LN(x)).
// Dropout (training) sits on the attention probabilities and on each sub-layer's output.
static void layer_forward(const BertConfig& c, const Impl& m, const ParameterSet& ps, int64_t l,
                          const Batch& batch, const Impl::LayerIO& io,
                          const Impl::LayerDropout* drop) {
  const ops::Context& ctx = m.ctx;
  const Impl::Layer& L = m.layers[l];
  const int64_t N = batch.tokens(), H = c.hidden_size, I = c.intermediate_size;
  const int heads = (int)c.num_attention_heads, hd = (int)c.head_dim();
  const float eps = (float)c.layer_norm_eps;
  const float scale = 1.0f / std::sqrt((float)hd);
  const bool pre_norm = c.pre_norm();

  const float* attn_in = io.x_in;
  if (pre_norm) {
    ops::layernorm(ctx, io.x_in, L.attn_norm.weight, L.attn_norm.bias, io.t, N, H, eps);
    attn_in = io.t;
  }
  if (io.stats) {  // training: the backward pass reads io.qkv
    ops::linear(ctx, L.qkv, attn_in, io.qkv, N);
    ops::attention_forward_train(ctx, io.qkv, io.attn, io.stats, batch.offsets.data(), batch.size(), heads, hd, -1,
                                 scale, drop ? drop->probs : ops::Dropout{});
  } else {  // bf16 and int8: the QKV GEMM's tiles straight into attention's panels where the kernels allow
    ops::qkv_attention(ctx, L.qkv, ops::LinearInput{.f32 = attn_in}, io.qkv, io.attn, batch.offsets.data(),
                       batch.size(), heads, hd, -1, scale, nullptr);
  }
  add_sublayer(ctx, L.attn_out, ops::LinearInput{.f32 = io.attn}, io.x_in, io.x_mid, io.t, io.a_pre,
               L.attn_out_norm, drop ? &drop->attn_out : nullptr, pre_norm, N, H, eps);

  const float* ffn_in = io.x_mid;
  if (pre_norm) {
    ops::layernorm(ctx, io.x_mid, L.ffn_norm.weight, L.ffn_norm.bias, io.t, N, H, eps);
    ffn_in = io.t;
  }
  // bf16 and int8 inference: the activation writes the second GEMM's input in the form it takes (bf16
  // rows; int8 rows with their scales), into io.qkv, free once attention is done (sized for it).
  const bool inference = !io.stats && !drop;
  if (inference && (ctx.compute == ops::ComputeType::BF16 || (ctx.compute == ops::ComputeType::INT8 && io.row_scales))) {
    ops::LinearInput act_rows;
    if (ctx.compute == ops::ComputeType::BF16) {
      uint16_t* a = reinterpret_cast<uint16_t*>(io.qkv);
      ops::linear_activation_bf16(ctx, L.ffn_in, ops::LinearInput{.f32 = ffn_in}, N, m.hidden_act, io.f, a);
      act_rows = {.bf16 = a};
    } else {
      int8_t* q = reinterpret_cast<int8_t*>(io.qkv);
      ops::linear(ctx, L.ffn_in, ffn_in, io.f, N);
      ops::activation_int8(ctx, io.f, q, io.row_scales, N, I, m.hidden_act);
      act_rows = {.q = q, .scales = io.row_scales};
    }
    add_sublayer(ctx, L.ffn_out, act_rows, io.x_mid, io.x_out, io.t, nullptr, L.out_norm, nullptr, pre_norm, N, H,
                 eps);
    return;
  }
  ops::linear(ctx, L.ffn_in, ffn_in, io.f, N);
  ops::copy(ctx, io.f, io.act, N * I);
  ops::activation(ctx, io.act, N * I, m.hidden_act);
  add_sublayer(ctx, L.ffn_out, ops::LinearInput{.f32 = io.act}, io.x_mid, io.x_out, io.t, io.y_pre, L.out_norm,
               drop ? &drop->ffn_out : nullptr, pre_norm, N, H, eps);
}

// The tanh pooler over rows (each sequence's [CLS] row): out = tanh(pre), pre = W in + b (out may
// alias pre).
static void pooler_forward(const Impl& m, const float* in, int64_t R, int64_t H, float* pre, float* out) {
  ops::linear(head_context(m.ctx), m.pooler, in, pre, R);
  ops::copy(m.ctx, pre, out, R * H);
  ops::activation(m.ctx, out, R * H, Activation::Tanh);
}

// The task head on R rows, for inference and training alike. Inference lets pre, act and out alias;
// training keeps them apart for the backward pass.
//   sequence:  logits = classifier(dropout(tanh(pooler(in))))   (pre = pooler(in), out = tanh(pre))
//   token:     logits = classifier(dropout(in))                 (out = in)
//   masked LM: logits = decoder(LN(act(dense(in))))             (pre = dense(in), act, out = LN(act))
static void head_forward(const BertConfig& c, const Impl& m, const float* in, int64_t R, float* pre, float* act,
                         float* out, float* logits, const ops::Dropout& drop) {
  const ops::Context ctx = head_context(m.ctx);
  const int64_t H = c.hidden_size;
  switch (c.head.kind) {
    case HeadKind::SequenceClassification:
      pooler_forward(m, in, R, H, pre, out);
      ops::dropout(ctx, out, R * H, drop);
      ops::linear(ctx, m.classifier, out, logits, R);
      break;
    case HeadKind::TokenClassification:
      ops::copy(ctx, in, out, R * H);
      ops::dropout(ctx, out, R * H, drop);
      ops::linear(ctx, m.classifier, out, logits, R);
      break;
    case HeadKind::MaskedLM:
      ops::linear(ctx, m.mlm_dense, in, pre, R);
      ops::copy(ctx, pre, act, R * H);
      ops::activation(ctx, act, R * H, m.hidden_act);
      ops::layernorm(ctx, act, m.mlm_norm.weight, m.mlm_norm.bias, out, R, H, (float)c.layer_norm_eps);
      ops::linear(ctx, m.decoder, out, logits, R);
      break;
    case HeadKind::Base: break;
  }
}

namespace {

// One caller's inference buffers, reused across layers and calls: tensors cut from one arena by the
// size table in forward().
struct BertWorkspace : EncoderWorkspace {
  ops::Arena arena;
  float *normed = nullptr, *qkv = nullptr, *attn = nullptr, *ffn = nullptr;  // [N, H | 3H | H | I]
  float* row_scales = nullptr;                                                 // [N] (LayerIO::row_scales)
  float *head_rows = nullptr, *head_scratch = nullptr;                         // [R, H] the head's input, inside
  std::vector<int32_t> positions, zero_types;
};

}  // namespace

std::unique_ptr<EncoderWorkspace> BertModel::make_workspace() const { return std::make_unique<BertWorkspace>(); }

ForwardOutput BertModel::forward(const Batch& batch, const ForwardOptions& options, EncoderWorkspace& workspace) const {
  const BertConfig& c = config_;
  const Impl& m = *impl_;
  BertWorkspace& w = dynamic_cast<BertWorkspace&>(workspace);
  const ParameterSet& ps = params_;
  const ops::Context& ctx = m.ctx;
  const int64_t N = batch.tokens(), B = batch.size();
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const float eps = (float)c.layer_norm_eps;

  validate_batch(batch, c.vocab_size, c.max_position_embeddings, c.type_vocab_size);
  sequence_positions(batch, w.positions);
  const int32_t* type_ids = batch.type_ids.data();
  if (batch.type_ids.empty()) {
    w.zero_types.assign((size_t)N, 0);
    type_ids = w.zero_types.data();
  }

  // Rows through the head: [CLS] rows (their pooler output is the model's), the requested masked-LM
  // rows, or every token.
  const HeadKind kind = c.head.kind;
  const bool logits = options.want_logits && kind != HeadKind::Base;
  const HeadRows rows = logits ? inference_head_rows(kind, batch, options.mlm_rows) : HeadRows{};
  const int64_t R = rows.count;
  w.arena.layout(ctx, {{&w.normed, N * H},
                       {&w.qkv, N * std::max(3 * H, (I + 1) / 2)},  // also the activation's bf16/int8 rows
                       {&w.row_scales, N},
                       {&w.attn, N * H},
                       {&w.ffn, N * I},
                       {&w.head_rows, std::max(R, B) * H},
                       {&w.head_scratch, R * H}});

  ForwardOutput out;
  out.hidden_size = H;
  out.last_hidden_state.resize((size_t)(N * H));
  float* x = out.last_hidden_state.data();  // the residual stream, [N, H]

  embed(m, ps, H, batch.ids.data(), type_ids, w.positions.data(), N, x);
  if (!c.pre_norm()) ops::layernorm(ctx, x, m.emb_norm.weight, m.emb_norm.bias, x, N, H, eps);
  const Impl::LayerIO io{x, nullptr, x, w.ffn, w.ffn, nullptr, x, w.normed, w.qkv, w.attn, nullptr, w.row_scales};
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    check_stop(options);
    layer_forward(c, m, ps, l, batch, io, nullptr);
  }
  if (c.pre_norm()) ops::layernorm(ctx, x, m.final_norm.weight, m.final_norm.bias, x, N, H, eps);
  const float* hidden = x;

  if (info_.has_pooler) out.pooler_output.resize((size_t)(B * H));
  if (info_.has_pooler && !(logits && kind == HeadKind::SequenceClassification)) {
    // pooled = tanh(W . hidden[CLS] + b), the first token of every sequence.
    ops::pool(ctx, hidden, batch.offsets.data(), B, H, ops::Pool::Cls, w.head_rows);
    pooler_forward(m, w.head_rows, B, H, out.pooler_output.data(), out.pooler_output.data());
  }
  if (logits) {
    const float* in = head_input(ctx, kind, batch, rows, hidden, H, /*mean_pool=*/false, w.head_rows);
    float* scratch = kind == HeadKind::SequenceClassification ? out.pooler_output.data() : w.head_scratch;
    out.logits_rows = R;
    out.logits_cols = kind == HeadKind::MaskedLM ? c.vocab_size : c.head.num_labels;
    out.logits.resize((size_t)(R * out.logits_cols));
    head_forward(c, m, in, R, scratch, scratch, scratch, out.logits.data(), {});
  }
  if (!options.want_hidden) {
    out.last_hidden_state.clear();
    out.last_hidden_state.shrink_to_fit();
  }
  return out;
}

double BertModel::forward_flops(const Batch& batch) const {
  // Encoder layers only (matmuls and dense attention), as for ModernBERT.
  const BertConfig& c = config_;
  const double H = (double)c.hidden_size, I = (double)c.intermediate_size;
  const double per_token_layer = 2.0 * (H * 3 * H + H * H + H * I + I * H);
  double keys = 0.0;  // sum over sequences of queries x keys
  for (int64_t b = 0; b < batch.size(); ++b) keys += (double)batch.length(b) * (double)batch.length(b);
  return (double)c.num_hidden_layers * (per_token_layer * (double)batch.tokens() + 4.0 * H * keys);
}

// ---------------------------------------------------------------------------------------------
// Training: forward with saved activations, loss, backward (each step mirrors the forward above)

static Impl::LayerDropout layer_dropout(const BertConfig& c, bool enabled, uint64_t seed, int64_t l) {
  return {dropout_site(c.attention_probs_dropout_prob, enabled, seed, layer_site(l, 0)),
          dropout_site(c.hidden_dropout_prob, enabled, seed, layer_site(l, 1)),
          dropout_site(c.hidden_dropout_prob, enabled, seed, layer_site(l, 2))};
}

// Megatron's classifier dropout is hidden_dropout_prob; BERT's is classifier_dropout when set.
static ops::Dropout classifier_dropout(const BertConfig& c, bool enabled, uint64_t seed) {
  const double p = c.family == Family::MegatronBert ? c.hidden_dropout_prob : c.classifier_dropout_prob();
  return dropout_site(p, enabled, seed, kClassifierDrop);
}

// The size table of the activations of an N-token batch, the head's rows included (activation_bytes
// counts the same).
static SizeTable activation_table(const BertConfig& c, Activations& s, int64_t N) {
  const int64_t n = N, H = c.hidden_size, I = c.intermediate_size;
  const int64_t L = c.num_hidden_layers, heads = c.num_attention_heads;
  const int64_t post = c.pre_norm() ? 0 : 1;
  SizeTable table = {{&s.emb, n * H},        {&s.x_in, L * n * H},         {&s.a_pre, post * L * n * H},
                     {&s.x_mid, L * n * H},  {&s.f, L * n * I},            {&s.y_pre, post * L * n * H},
                     {&s.qkv, L * n * 3 * H}, {&s.attn, L * n * H},        {&s.stats, L * n * heads * 2},
                     {&s.x_out, n * H},      {&s.hidden, n * H},           {&s.dx, n * H},
                     {&s.t, n * H},          {&s.dt, n * H},               {&s.dqkv, n * 3 * H},
                     {&s.dattn, n * H},      {&s.act, n * I},              {&s.dact, n * I}};
  s.add_head_slots(table, H, c.head.kind == HeadKind::MaskedLM ? c.vocab_size : c.head.num_labels);
  return table;
}

// The I/O of layer l inside the saved activations (the output of layer l is the input of layer l + 1).
static Impl::LayerIO saved_layer_io(const BertConfig& c, Activations& s, int64_t l) {
  const int64_t N = s.batch.tokens(), H = c.hidden_size, I = c.intermediate_size, L = c.num_hidden_layers;
  const int64_t heads = c.num_attention_heads;
  const bool post_norm = !c.pre_norm();
  Impl::LayerIO io;
  io.x_in = s.x_in + l * N * H;
  io.a_pre = post_norm ? s.a_pre + l * N * H : nullptr;
  io.x_mid = s.x_mid + l * N * H;
  io.f = s.f + l * N * I;
  io.act = s.act;
  io.y_pre = post_norm ? s.y_pre + l * N * H : nullptr;
  io.x_out = l + 1 < L ? s.x_in + (l + 1) * N * H : s.x_out;
  io.t = s.t;
  io.qkv = s.qkv + l * N * 3 * H;
  io.attn = s.attn + l * N * H;
  io.stats = s.stats + l * N * heads * 2;
  return io;
}

std::unique_ptr<TrainingActivations> BertModel::make_activations() const { return std::make_unique<Activations>(); }

TrainOutput BertModel::forward_train(const Batch& batch, const TrainLabels& labels, const TrainOptions& options,
                                     TrainingActivations& saved) const {
  const BertConfig& c = config_;
  const Impl& m = *impl_;
  const ParameterSet& ps = params_;
  const ops::Context& ctx = m.ctx;
  const HeadKind kind = c.head.kind;
  if (kind == HeadKind::Base)
    throw Error(fmt::format("{} has no task head, so there is no loss to train on", c.head.architecture));
  validate_batch(batch, c.vocab_size, c.max_position_embeddings, c.type_vocab_size);
  const int64_t N = batch.tokens(), L = c.num_hidden_layers;
  const int64_t H = c.hidden_size;
  const float eps = (float)c.layer_norm_eps;
  const bool post_norm = !c.pre_norm();
  if (kind != HeadKind::SequenceClassification) check_token_labels(kind, labels, N);

  Activations& s = dynamic_cast<Activations&>(saved);
  s.begin(batch, options, training_head_rows(kind, batch, labels));
  s.type_ids = batch.type_ids.empty() ? std::vector<int32_t>((size_t)N, 0) : batch.type_ids;
  s.arena.layout(ctx, activation_table(c, s, N));

  embed(m, ps, H, batch.ids.data(), s.type_ids.data(), s.positions.data(), N, s.emb);
  float* x0 = s.x_in;
  if (post_norm) ops::layernorm(ctx, s.emb, m.emb_norm.weight, m.emb_norm.bias, x0, N, H, eps);
  else ops::copy(ctx, s.emb, x0, N * H);
  ops::dropout(ctx, x0, N * H, dropout_site(c.hidden_dropout_prob, options.dropout, options.seed, kEmbeddingDrop));
  for (int64_t l = 0; l < L; ++l) {
    const Impl::LayerDropout drop = layer_dropout(c, options.dropout, options.seed, l);
    layer_forward(c, m, ps, l, batch, saved_layer_io(c, s, l), &drop);
  }
  if (post_norm) {
    ops::copy(ctx, s.x_out, s.hidden, N * H);
  } else {
    ops::layernorm(ctx, s.x_out, m.final_norm.weight, m.final_norm.bias, s.hidden, N, H, eps);
  }

  // Heads on their rows: [CLS] rows, every token, or (masked LM) the labelled tokens.
  s.head_in = head_input(ctx, kind, batch, s.head, s.hidden, H, /*mean_pool=*/false, s.head_rows);
  const int64_t R = s.head.count;
  const int64_t C = kind == HeadKind::MaskedLM ? m.decoder.out : m.classifier.out;
  const ops::Dropout head_drop =
      kind == HeadKind::MaskedLM ? ops::Dropout{} : classifier_dropout(c, options.dropout, options.seed);
  head_forward(c, m, s.head_in, R, s.head_pre, s.head_act, s.head_out, s.logits, head_drop);

  return s.finish(c.head, labels, C, options.keep_logits);
}

void BertModel::backward(TrainingActivations& saved, std::span<float> gradients, float loss_scale) const {
  const BertConfig& c = config_;
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
  const float eps = (float)c.layer_norm_eps;
  const float scale = 1.0f / std::sqrt((float)hd);
  const bool post_norm = !c.pre_norm();

  // Heads, back to d loss / d (head input rows), then onto the token rows: d loss / d hidden (in s.dt).
  const float* dlogits = s.start_backward(ctx, kind == HeadKind::MaskedLM ? m.decoder.out : m.classifier.out,
                                          loss_scale);
  float* dhidden = s.dt;
  float *d_out = s.d_head_out, *d_pre = s.d_head_pre;
  const float* d_in = dhidden;
  if (kind == HeadKind::TokenClassification) {
    ops::linear_backward(ctx, m.classifier, s.head_out, dlogits, R, dhidden, grad(m.classifier_w),
                         grad(m.classifier_b));
    ops::dropout(ctx, dhidden, R * H, classifier_dropout(c, s.dropout, s.seed));
  } else {
    if (kind == HeadKind::SequenceClassification) {
      ops::linear_backward(ctx, m.classifier, s.head_out, dlogits, R, d_pre, grad(m.classifier_w),
                           grad(m.classifier_b));
      ops::dropout(ctx, d_pre, R * H, classifier_dropout(c, s.dropout, s.seed));
      ops::activation_backward(ctx, s.head_pre, d_pre, d_pre, R * H, Activation::Tanh);
      ops::linear_backward(ctx, m.pooler, s.head_in, d_pre, R, d_out, grad(m.pooler_w), grad(m.pooler_b));
    } else {
      const size_t decoder_w = m.mlm_decoder_w != Impl::npos ? m.mlm_decoder_w : m.word_emb;
      ops::linear_backward(ctx, m.decoder, s.head_out, dlogits, R, d_out, grad(decoder_w), grad(m.mlm_bias));
      ops::layernorm_backward(ctx, s.head_act, m.mlm_norm.weight, d_out, d_pre, grad(m.mlm_norm.w),
                              grad(m.mlm_norm.b), R, H, eps);
      ops::activation_backward(ctx, s.head_pre, d_pre, d_pre, R * H, m.hidden_act);
      ops::linear_backward(ctx, m.mlm_dense, s.head_in, d_pre, R, d_out, grad(m.mlm_dense_w), grad(m.mlm_dense_b));
    }
    d_in = d_out;
  }
  route_head_gradient(ctx, kind, batch, s.head, d_in, dhidden, H, /*mean_pool=*/false);
  float* dx = s.dx;  // d loss / d (residual stream at the current point)
  if (post_norm)
    ops::copy(ctx, dhidden, dx, N * H);
  else
    ops::layernorm_backward(ctx, s.x_out, m.final_norm.weight, dhidden, dx, grad(m.final_norm.w),
                            grad(m.final_norm.b), N, H, eps);

  float* t = s.t;
  float* dt = s.dt;
  for (int64_t l = L - 1; l >= 0; --l) {
    const Impl::Layer& Ly = m.layers[l];
    const Impl::LayerIO io = saved_layer_io(c, s, l);
    const Impl::LayerDropout drop = layer_dropout(c, s.dropout, s.seed, l);
    ops::copy(ctx, io.f, s.act, N * I);  // recompute act(f), the input of W2
    ops::activation(ctx, s.act, N * I, m.hidden_act);

    if (post_norm) {
      // x_out = LN2(y_pre), y_pre = x_mid + dropout(W2 act(W1 x_mid))
      ops::layernorm_backward(ctx, io.y_pre, Ly.out_norm.weight, dx, dt, grad(Ly.out_norm.w),
                              grad(Ly.out_norm.b), N, H, eps);
      const float* d_ffn = dt;
      if (drop.ffn_out.active()) {
        ops::copy(ctx, dt, dx, N * H);
        ops::dropout(ctx, dx, N * H, drop.ffn_out);
        d_ffn = dx;
      }
      ops::linear_backward(ctx, Ly.ffn_out, s.act, d_ffn, N, s.dact, grad(Ly.wo2),
                           grad(Ly.bo2));
      ops::activation_backward(ctx, io.f, s.dact, s.dact, N * I, m.hidden_act);
      ops::linear_backward(ctx, Ly.ffn_in, io.x_mid, s.dact, N, dt, grad(Ly.wi), grad(Ly.bi),
                           /*accumulate=*/true);
      // x_mid = LN1(a_pre), a_pre = x_in + dropout(Wo attention(Wqkv x_in))
      ops::layernorm_backward(ctx, io.a_pre, Ly.attn_out_norm.weight, dt, dx, grad(Ly.attn_out_norm.w),
                              grad(Ly.attn_out_norm.b), N, H, eps);
    } else {
      // x_out = x_mid + dropout(W2 act(W1 LN(x_mid)))
      const float* d_ffn = dx;
      if (drop.ffn_out.active()) {
        ops::copy(ctx, dx, dt, N * H);
        ops::dropout(ctx, dt, N * H, drop.ffn_out);
        d_ffn = dt;
      }
      ops::linear_backward(ctx, Ly.ffn_out, s.act, d_ffn, N, s.dact, grad(Ly.wo2),
                           grad(Ly.bo2));
      ops::activation_backward(ctx, io.f, s.dact, s.dact, N * I, m.hidden_act);
      ops::layernorm(ctx, io.x_mid, Ly.ffn_norm.weight, Ly.ffn_norm.bias, t, N, H, eps);
      ops::linear_backward(ctx, Ly.ffn_in, t, s.dact, N, dt, grad(Ly.wi), grad(Ly.bi));
      ops::layernorm_backward(ctx, io.x_mid, Ly.ffn_norm.weight, dt, dx, grad(Ly.ffn_norm.w),
                              grad(Ly.ffn_norm.b), N, H, eps, /*accumulate=*/true);
      // x_mid = x_in + dropout(Wo attention(Wqkv LN(x_in)))
    }
    // Here dx = d loss / d (x_in + dropout(Wo attention)).
    const float* d_attn_out = dx;
    if (drop.attn_out.active()) {
      ops::copy(ctx, dx, dt, N * H);
      ops::dropout(ctx, dt, N * H, drop.attn_out);
      d_attn_out = dt;
    }
    ops::linear_backward(ctx, Ly.attn_out, io.attn, d_attn_out, N, s.dattn, grad(Ly.wo),
                         grad(Ly.bo));
    ops::attention_backward(ctx, io.qkv, io.attn, s.dattn, io.stats, s.dqkv, batch.offsets.data(), B,
                            heads, hd, -1, scale, drop.probs);
    if (post_norm) {
      ops::linear_backward(ctx, Ly.qkv, io.x_in, s.dqkv, N, dx, grad(Ly.wq), grad(Ly.bq),
                           /*accumulate=*/true);
    } else {
      ops::layernorm(ctx, io.x_in, Ly.attn_norm.weight, Ly.attn_norm.bias, t, N, H, eps);
      ops::linear_backward(ctx, Ly.qkv, t, s.dqkv, N, dt, grad(Ly.wq), grad(Ly.bq));
      ops::layernorm_backward(ctx, io.x_in, Ly.attn_norm.weight, dt, dx, grad(Ly.attn_norm.w),
                              grad(Ly.attn_norm.b), N, H, eps, /*accumulate=*/true);
    }
  }

  // Embeddings: x_in[0] = dropout(LN(e)) (BERT) or dropout(e) (Megatron), e = word + type + position.
  ops::dropout(ctx, dx, N * H, dropout_site(c.hidden_dropout_prob, s.dropout, s.seed, kEmbeddingDrop));
  const float* de = dx;
  if (post_norm) {
    ops::layernorm_backward(ctx, s.emb, m.emb_norm.weight, dx, dt, grad(m.emb_norm.w),
                            grad(m.emb_norm.b), N, H, eps);
    de = dt;
  }
  ops::embedding_backward(ctx, batch.ids.data(), N, de, grad(m.word_emb), H, c.pad_token_id);
  ops::embedding_backward(ctx, s.type_ids.data(), N, de, grad(m.type_emb), H, -1);
  ops::embedding_backward(ctx, s.positions.data(), N, de, grad(m.pos_emb), H, -1);
}

size_t BertModel::activation_bytes(const Batch& batch) const {
  // The arena's size table with the most head rows there can be (one per token).
  Activations s;
  s.head.count = batch.tokens();
  return (size_t)table_floats(activation_table(config_, s, batch.tokens())) * sizeof(float);
}

// ---------------------------------------------------------------------------------------------
// Initialisation (Hugging Face _init_weights)

void BertModel::init_weights(uint64_t seed) {
  // Linear and embedding weights ~ N(0, initializer_range^2), biases 0, LayerNorm 1/0. BERT zeroes the
  // padding row of the word embeddings; Megatron's generic init overwrites it with noise.
  const BertConfig& c = config_;
  Impl& m = *impl_;
  Rng rng(seed);
  const double stdv = c.initializer_range;
  for (size_t i = 0; i < params_.specs().size(); ++i) {
    const ParamSpec& s = params_.specs()[i];
    float* p = params_.at(i);
    if (s.is_bias_or_norm) {
      const bool norm_weight = s.shape.size() == 1 && s.name.ends_with(".weight");
      ops::fill(m.ctx, p, (int64_t)s.numel, norm_weight ? 1.0f : 0.0f);
    } else {
      draw_parameter(params_, i, [&] { return rng.normal() * stdv; });
    }
  }
  if (c.family == Family::Bert && c.pad_token_id >= 0)
    ops::fill(m.ctx, params_.at(m.word_emb) + c.pad_token_id * c.hidden_size, c.hidden_size, 0.0f);
  parameters_changed();
}

}  // namespace medenc
