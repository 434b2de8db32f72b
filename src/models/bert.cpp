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

BertConfig BertConfig::from_json_text(const std::string& text, const std::string& path) {
  json j = parse_config(text, path);
  const std::string model_type = get_string(j, "model_type", "", path);
  Family family;
  if (model_type == "bert") family = Family::Bert;
  else if (model_type == "megatron-bert") family = Family::MegatronBert;
  else throw Error(fmt::format("{}: model_type is '{}', expected 'bert' or 'megatron-bert'", path, model_type));

  BertConfig c = for_family(family);
  c.source_json = text;
  c.vocab_size = get_positive(j, "vocab_size", c.vocab_size, path);
  c.hidden_size = get_positive(j, "hidden_size", c.hidden_size, path);
  c.num_hidden_layers = get_positive(j, "num_hidden_layers", c.num_hidden_layers, path);
  c.num_attention_heads = get_positive(j, "num_attention_heads", c.num_attention_heads, path);
  c.intermediate_size = get_positive(j, "intermediate_size", c.intermediate_size, path);
  c.hidden_act = get_string(j, "hidden_act", c.hidden_act, path);
  c.hidden_dropout_prob = get_double(j, "hidden_dropout_prob", c.hidden_dropout_prob, path);
  c.attention_probs_dropout_prob =
      get_double(j, "attention_probs_dropout_prob", c.attention_probs_dropout_prob, path);
  c.max_position_embeddings = get_positive(j, "max_position_embeddings", c.max_position_embeddings, path);
  c.type_vocab_size = get_positive(j, "type_vocab_size", c.type_vocab_size, path);
  c.initializer_range = get_double(j, "initializer_range", c.initializer_range, path);
  c.layer_norm_eps = get_double(j, "layer_norm_eps", c.layer_norm_eps, path);
  if (j.contains("pad_token_id") && j["pad_token_id"].is_null()) c.pad_token_id = -1;
  else c.pad_token_id = get_int(j, "pad_token_id", c.pad_token_id, path);
  c.position_embedding_type = get_string(j, "position_embedding_type", c.position_embedding_type, path);
  c.use_cache = get_bool(j, "use_cache", c.use_cache, path);
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
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["intermediate_size"] = intermediate_size;
  j["hidden_act"] = hidden_act;
  j["hidden_dropout_prob"] = hidden_dropout_prob;
  j["attention_probs_dropout_prob"] = attention_probs_dropout_prob;
  j["max_position_embeddings"] = max_position_embeddings;
  j["type_vocab_size"] = type_vocab_size;
  j["initializer_range"] = initializer_range;
  j["layer_norm_eps"] = layer_norm_eps;
  j["pad_token_id"] = pad_token_id >= 0 ? json(pad_token_id) : json(nullptr);
  j["position_embedding_type"] = position_embedding_type;
  j["use_cache"] = use_cache;
  if (is_decoder) j["is_decoder"] = true;
  if (add_cross_attention) j["add_cross_attention"] = true;
  if (family == Family::Bert) j["classifier_dropout"] = classifier_dropout ? json(*classifier_dropout) : json(nullptr);
  else j.erase("classifier_dropout");
  if (!tie_word_embeddings) j["tie_word_embeddings"] = false;
  else j.erase("tie_word_embeddings");
  j["torch_dtype"] = "float32";
  write_head(j, head);
  if (head.kind == HeadKind::Base || head.kind == HeadKind::MaskedLM) {
    if (!j.contains("id2label") || head.id2label.size() == 2) {
      j.erase("id2label");
      j.erase("label2id");
    }
  }
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

struct BertModel::Impl {
  static constexpr size_t npos = (size_t)-1;
  // Parameter indices of one encoder layer. Post-LN (BERT) uses attn_out_norm and out_norm; pre-LN
  // (Megatron) uses attn_norm and ffn_norm. wq, wk, wv are declared back to back, and so are bq, bk,
  // bv, so [wq; wk; wv] is one [3H, H] matrix and [bq; bk; bv] one [3H] bias.
  struct Layer {
    size_t attn_norm_w = npos, attn_norm_b = npos;  // attention.ln (Megatron)
    size_t wq = npos, wk = npos, wv = npos, bq = npos, bk = npos, bv = npos;
    size_t wo = npos, bo = npos;                            // attention.output.dense
    size_t attn_out_norm_w = npos, attn_out_norm_b = npos;  // attention.output.LayerNorm (BERT)
    size_t ffn_norm_w = npos, ffn_norm_b = npos;            // ln (Megatron)
    size_t wi = npos, bi = npos;                            // intermediate.dense
    size_t wo2 = npos, bo2 = npos;                          // output.dense
    size_t out_norm_w = npos, out_norm_b = npos;            // output.LayerNorm (BERT)
    ops::LinearWeights qkv, attn_out, ffn_in, ffn_out;
  };

  size_t word_emb = npos, pos_emb = npos, type_emb = npos;
  size_t emb_norm_w = npos, emb_norm_b = npos;  // embeddings.LayerNorm (BERT)
  std::vector<Layer> layers;
  size_t final_norm_w = npos, final_norm_b = npos;  // encoder.ln (Megatron)
  size_t pooler_w = npos, pooler_b = npos;
  size_t mlm_dense_w = npos, mlm_dense_b = npos, mlm_norm_w = npos, mlm_norm_b = npos;
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
  };
  // Dropout of one layer (training only).
  struct LayerDropout {
    ops::Dropout probs, attn_out, ffn_out;
  };
  // Saved activations of the last forward_train, and backward scratch.
  struct Saved {
    Batch batch;
    std::vector<int32_t> positions, type_ids;
    uint64_t seed = 0;
    bool dropout = false;
    std::vector<float> emb;                                       // [N, H] summed embeddings
    std::vector<float> x_in, a_pre, x_mid, f, y_pre, qkv, attn, stats;  // per layer, [L, ...]
    std::vector<float> x_out, hidden;                             // [N, H] last layer output; final LN output
    std::vector<int64_t> head_rows;                               // masked LM: rows through the head
    std::vector<float> head_in, head_pre, head_act, head_out;     // [R, H]
    std::vector<float> dlogits;                                   // [R, C]
    int64_t head_row_count = 0;
    // Backward scratch.
    std::vector<float> dx, t, dt, dqkv, dattn, act, dact;
  };
  std::unique_ptr<Saved> saved;

  const float* p(const ParameterSet& ps, size_t i) const { return i == npos ? nullptr : ps.at(i); }
};

BertModel::BertModel(BertConfig config, const LoadOptions& options, std::optional<bool> with_pooler)
    : config_(std::move(config)), impl_(std::make_shared<Impl>()) {
  const BertConfig& c = config_;
  Impl& m = *impl_;
  m.ctx.compute = options.int8   ? ops::ComputeType::INT8
                  : options.bf16 ? ops::ComputeType::BF16
                                 : ops::ComputeType::F32;
  m.ctx.deterministic = options.deterministic;
  m.hidden_act = parse_activation(c.hidden_act, "hidden_act");

  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const HeadKind kind = c.head.kind;
  const bool pre_norm = c.pre_norm();
  const bool pooler = with_pooler.value_or(c.default_pooler());
  const std::string pre = kind == HeadKind::Base ? "" : "bert.";
  auto norm = [&](const std::string& name, size_t* w, size_t* b) {
    *w = params_.declare(name + ".weight", {H}, true);
    *b = params_.declare(name + ".bias", {H}, true);
  };
  auto dense = [&](const std::string& name, int64_t out, int64_t in, size_t* w, size_t* b) {
    *w = params_.declare(name + ".weight", {out, in});
    *b = params_.declare(name + ".bias", {out}, true);
  };

  m.word_emb = params_.declare(pre + "embeddings.word_embeddings.weight", {V, H});
  m.pos_emb = params_.declare(pre + "embeddings.position_embeddings.weight", {c.max_position_embeddings, H});
  m.type_emb = params_.declare(pre + "embeddings.token_type_embeddings.weight", {c.type_vocab_size, H});
  if (!pre_norm) norm(pre + "embeddings.LayerNorm", &m.emb_norm_w, &m.emb_norm_b);
  m.layers.resize((size_t)c.num_hidden_layers);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    Impl::Layer& L = m.layers[l];
    const std::string lp = fmt::format("{}encoder.layer.{}.", pre, l);
    if (pre_norm) norm(lp + "attention.ln", &L.attn_norm_w, &L.attn_norm_b);
    L.wq = params_.declare(lp + "attention.self.query.weight", {H, H});
    L.wk = params_.declare(lp + "attention.self.key.weight", {H, H});
    L.wv = params_.declare(lp + "attention.self.value.weight", {H, H});
    L.bq = params_.declare(lp + "attention.self.query.bias", {H}, true);
    L.bk = params_.declare(lp + "attention.self.key.bias", {H}, true);
    L.bv = params_.declare(lp + "attention.self.value.bias", {H}, true);
    dense(lp + "attention.output.dense", H, H, &L.wo, &L.bo);
    if (pre_norm) norm(lp + "ln", &L.ffn_norm_w, &L.ffn_norm_b);
    else norm(lp + "attention.output.LayerNorm", &L.attn_out_norm_w, &L.attn_out_norm_b);
    dense(lp + "intermediate.dense", I, H, &L.wi, &L.bi);
    dense(lp + "output.dense", H, I, &L.wo2, &L.bo2);
    if (!pre_norm) norm(lp + "output.LayerNorm", &L.out_norm_w, &L.out_norm_b);
  }
  if (pre_norm) norm(pre + "encoder.ln", &m.final_norm_w, &m.final_norm_b);
  if (pooler) dense(pre + "pooler.dense", H, H, &m.pooler_w, &m.pooler_b);
  if (kind == HeadKind::MaskedLM) {
    dense("cls.predictions.transform.dense", H, H, &m.mlm_dense_w, &m.mlm_dense_b);
    norm("cls.predictions.transform.LayerNorm", &m.mlm_norm_w, &m.mlm_norm_b);
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
  auto lw = [&](size_t w, size_t b, int64_t in, int64_t out) {
    ops::LinearWeights x;
    x.weight = m.p(params_, w);
    x.bias = m.p(params_, b);
    x.in = in;
    x.out = out;
    return x;
  };
  for (auto& L : m.layers) {
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

}  // namespace

std::unique_ptr<BertModel> BertModel::load(const std::string& dir, const LoadOptions& options) {
  BertConfig config = BertConfig::from_file(join_path(dir, "config.json"));
  const Checkpoint ckpt = Checkpoint::open_dir(dir);
  const HeadKind kind = config.head.kind;
  // A bare backbone saved without its pooler (add_pooling_layer=False) simply has none.
  std::optional<bool> with_pooler;
  if (kind == HeadKind::Base && !ckpt.find("pooler.dense.weight") && !ckpt.find("bert.pooler.dense.weight"))
    with_pooler = false;
  auto model = std::make_unique<BertModel>(std::move(config), options, with_pooler);
  const bool pooler = model->has_pooler();
  const bool tied = model->config_.tie_word_embeddings;

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
  load_parameters(ckpt, model->params_, rules, model->config_.head.architecture);
  model->parameters_changed();
  model->info_.dir = dir;
  return model;
}

// ---------------------------------------------------------------------------------------------
// Forward

// out = word[ids] + type[type_ids] + pos[positions], in Hugging Face's order.
static void embed(const BertModel::Impl& m, const ParameterSet& ps, int64_t H, const int32_t* ids,
                  const int32_t* type_ids, const int32_t* positions, int64_t N, float* out) {
  ops::embedding(m.ctx, m.p(ps, m.word_emb), H, ids, N, out);
  ops::embedding(m.ctx, m.p(ps, m.type_emb), H, type_ids, N, out, /*accumulate=*/true);
  ops::embedding(m.ctx, m.p(ps, m.pos_emb), H, positions, N, out, /*accumulate=*/true);
}

// Layer l.  BERT: x = LN(x + attn(x)); x = LN(x + W2 act(W1 x)).
//           Megatron: x += attn(LN(x)); x += W2 act(W1 LN(x)).
// Dropout (training) sits on the attention probabilities and on each sub-layer's output.
static void layer_forward(const BertConfig& c, const BertModel::Impl& m, const ParameterSet& ps, int64_t l,
                          const Batch& batch, const BertModel::Impl::LayerIO& io,
                          const BertModel::Impl::LayerDropout* drop) {
  const ops::Context& ctx = m.ctx;
  const BertModel::Impl::Layer& L = m.layers[l];
  const int64_t N = batch.tokens(), H = c.hidden_size, I = c.intermediate_size;
  const int heads = (int)c.num_attention_heads, hd = (int)c.head_dim();
  const float eps = (float)c.layer_norm_eps;
  const float scale = 1.0f / std::sqrt((float)hd);
  const bool pre_norm = c.pre_norm();

  const float* attn_in = io.x_in;
  if (pre_norm) {
    ops::layernorm(ctx, io.x_in, m.p(ps, L.attn_norm_w), m.p(ps, L.attn_norm_b), io.t, N, H, eps);
    attn_in = io.t;
  }
  ops::linear(ctx, L.qkv, attn_in, io.qkv, N);
  if (io.stats)
    ops::attention_forward_train(ctx, io.qkv, io.attn, io.stats, batch.offsets.data(), batch.size(), heads, hd, -1,
                                 scale, drop ? drop->probs : ops::Dropout{});
  else
    ops::attention(ctx, io.qkv, io.attn, batch.offsets.data(), batch.size(), heads, hd, -1, scale);
  if (pre_norm) {
    if (io.x_mid != io.x_in) std::copy(io.x_in, io.x_in + N * H, io.x_mid);
    if (drop && drop->attn_out.active()) {
      ops::linear(ctx, L.attn_out, io.attn, io.t, N);
      ops::dropout(ctx, io.t, N * H, drop->attn_out);
      for (int64_t i = 0; i < N * H; ++i) io.x_mid[i] += io.t[i];
    } else {
      ops::linear(ctx, L.attn_out, io.attn, io.x_mid, N, /*accumulate=*/true);
    }
  } else {
    ops::linear(ctx, L.attn_out, io.attn, io.t, N);
    if (drop) ops::dropout(ctx, io.t, N * H, drop->attn_out);
    if (io.a_pre) {
      for (int64_t i = 0; i < N * H; ++i) io.a_pre[i] = io.x_in[i] + io.t[i];
      ops::layernorm(ctx, io.a_pre, m.p(ps, L.attn_out_norm_w), m.p(ps, L.attn_out_norm_b), io.x_mid, N, H, eps);
    } else {
      ops::add_layernorm(ctx, io.x_in, io.t, m.p(ps, L.attn_out_norm_w), m.p(ps, L.attn_out_norm_b), io.x_mid, N, H,
                         eps);
    }
  }

  const float* ffn_in = io.x_mid;
  if (pre_norm) {
    ops::layernorm(ctx, io.x_mid, m.p(ps, L.ffn_norm_w), m.p(ps, L.ffn_norm_b), io.t, N, H, eps);
    ffn_in = io.t;
  }
  ops::linear(ctx, L.ffn_in, ffn_in, io.f, N);
  if (io.act != io.f) std::copy(io.f, io.f + N * I, io.act);
  ops::activation(ctx, io.act, N * I, m.hidden_act);
  if (pre_norm) {
    if (io.x_out != io.x_mid) std::copy(io.x_mid, io.x_mid + N * H, io.x_out);
    if (drop && drop->ffn_out.active()) {
      ops::linear(ctx, L.ffn_out, io.act, io.t, N);
      ops::dropout(ctx, io.t, N * H, drop->ffn_out);
      for (int64_t i = 0; i < N * H; ++i) io.x_out[i] += io.t[i];
    } else {
      ops::linear(ctx, L.ffn_out, io.act, io.x_out, N, /*accumulate=*/true);
    }
  } else {
    ops::linear(ctx, L.ffn_out, io.act, io.t, N);
    if (drop) ops::dropout(ctx, io.t, N * H, drop->ffn_out);
    if (io.y_pre) {
      for (int64_t i = 0; i < N * H; ++i) io.y_pre[i] = io.x_mid[i] + io.t[i];
      ops::layernorm(ctx, io.y_pre, m.p(ps, L.out_norm_w), m.p(ps, L.out_norm_b), io.x_out, N, H, eps);
    } else {
      ops::add_layernorm(ctx, io.x_mid, io.t, m.p(ps, L.out_norm_w), m.p(ps, L.out_norm_b), io.x_out, N, H, eps);
    }
  }
}

namespace {

// One caller's inference buffers, reused across layers and calls.
struct BertWorkspace : EncoderWorkspace {
  std::vector<float> normed, qkv, attn, ffn;
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

  ForwardOutput out;
  out.hidden_size = H;
  out.last_hidden_state.resize((size_t)(N * H));
  w.normed.resize((size_t)(N * H));
  w.qkv.resize((size_t)(N * 3 * H));
  w.attn.resize((size_t)(N * H));
  w.ffn.resize((size_t)(N * I));
  float* x = out.last_hidden_state.data();  // the residual stream, [N, H]

  embed(m, ps, H, batch.ids.data(), type_ids, w.positions.data(), N, x);
  if (!c.pre_norm()) ops::layernorm(ctx, x, m.p(ps, m.emb_norm_w), m.p(ps, m.emb_norm_b), x, N, H, eps);
  const Impl::LayerIO io{x, nullptr, x, w.ffn.data(), w.ffn.data(), nullptr, x, w.normed.data(), w.qkv.data(),
                         w.attn.data(), nullptr};
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    check_stop(options);
    layer_forward(c, m, ps, l, batch, io, nullptr);
  }
  if (c.pre_norm()) ops::layernorm(ctx, x, m.p(ps, m.final_norm_w), m.p(ps, m.final_norm_b), x, N, H, eps);
  const float* hidden = x;
  // Under int8 the heads stay fp32 (under 1% of the FLOPs; quantizing them costs accuracy for nothing).
  ops::Context head_ctx = ctx;
  if (head_ctx.compute == ops::ComputeType::INT8) head_ctx.compute = ops::ComputeType::F32;

  if (info_.has_pooler) {
    // pooled = tanh(W . hidden[CLS] + b), the first token of every sequence.
    const std::vector<float> first = pool_sequences(batch, hidden, H, /*mean=*/false);
    out.pooler_output.resize((size_t)(B * H));
    ops::linear(head_ctx, m.pooler, first.data(), out.pooler_output.data(), B);
    ops::activation(ctx, out.pooler_output.data(), B * H, Activation::Tanh);
  }

  const HeadKind kind = c.head.kind;
  if (options.want_logits && kind == HeadKind::SequenceClassification) {
    out.logits_rows = B;
    out.logits_cols = c.head.num_labels;
    out.logits.resize((size_t)(B * c.head.num_labels));
    ops::linear(head_ctx, m.classifier, out.pooler_output.data(), out.logits.data(), B);
  } else if (options.want_logits && kind == HeadKind::TokenClassification) {
    out.logits_rows = N;
    out.logits_cols = c.head.num_labels;
    out.logits.resize((size_t)(N * c.head.num_labels));
    ops::linear(head_ctx, m.classifier, hidden, out.logits.data(), N);
  } else if (options.want_logits && kind == HeadKind::MaskedLM) {
    // Rows through the MLM head: the requested packed rows, or every token.
    const int64_t R = options.mlm_rows.empty() ? N : (int64_t)options.mlm_rows.size();
    std::vector<float> rows((size_t)(R * H));
    if (options.mlm_rows.empty()) {
      std::copy(hidden, hidden + N * H, rows.begin());
    } else {
      for (int64_t r = 0; r < R; ++r) {
        const int64_t tok = options.mlm_rows[r];
        if (tok < 0 || tok >= N) throw Error(fmt::format("masked-LM row {} is outside the batch ({} tokens)", tok, N));
        std::copy(hidden + tok * H, hidden + (tok + 1) * H, rows.begin() + r * H);
      }
    }
    std::vector<float> tr((size_t)(R * H));
    ops::linear(head_ctx, m.mlm_dense, rows.data(), tr.data(), R);
    ops::activation(ctx, tr.data(), R * H, m.hidden_act);
    ops::layernorm(ctx, tr.data(), m.p(ps, m.mlm_norm_w), m.p(ps, m.mlm_norm_b), tr.data(), R, H, eps);
    out.logits_rows = R;
    out.logits_cols = c.vocab_size;
    out.logits.resize((size_t)(R * c.vocab_size));
    ops::linear(head_ctx, m.decoder, tr.data(), out.logits.data(), R);
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

// Dropout sites of one step, each with its own mask: embeddings, classifier, then three per layer.
enum DropoutSite : uint64_t { kEmbeddingDrop = 0, kClassifierDrop = 1, kLayerSites = 2 };

static BertModel::Impl::LayerDropout layer_dropout(const BertConfig& c, bool enabled, uint64_t seed, int64_t l) {
  const uint64_t base = kLayerSites + 3 * (uint64_t)l;
  return {dropout_site(c.attention_probs_dropout_prob, enabled, seed, base),
          dropout_site(c.hidden_dropout_prob, enabled, seed, base + 1),
          dropout_site(c.hidden_dropout_prob, enabled, seed, base + 2)};
}

// Megatron's classifier dropout is hidden_dropout_prob; BERT's is classifier_dropout when set.
static ops::Dropout classifier_dropout(const BertConfig& c, bool enabled, uint64_t seed) {
  const double p = c.family == Family::MegatronBert ? c.hidden_dropout_prob : c.classifier_dropout_prob();
  return dropout_site(p, enabled, seed, kClassifierDrop);
}

// The I/O of layer l inside the saved activations (the output of layer l is the input of layer l + 1).
static BertModel::Impl::LayerIO saved_layer_io(const BertConfig& c, BertModel::Impl::Saved& s, int64_t l) {
  const int64_t N = s.batch.tokens(), H = c.hidden_size, I = c.intermediate_size, L = c.num_hidden_layers;
  const int64_t heads = c.num_attention_heads;
  const bool post_norm = !c.pre_norm();
  BertModel::Impl::LayerIO io;
  io.x_in = s.x_in.data() + l * N * H;
  io.a_pre = post_norm ? s.a_pre.data() + l * N * H : nullptr;
  io.x_mid = s.x_mid.data() + l * N * H;
  io.f = s.f.data() + l * N * I;
  io.act = s.act.data();
  io.y_pre = post_norm ? s.y_pre.data() + l * N * H : nullptr;
  io.x_out = l + 1 < L ? s.x_in.data() + (l + 1) * N * H : s.x_out.data();
  io.t = s.t.data();
  io.qkv = s.qkv.data() + l * N * 3 * H;
  io.attn = s.attn.data() + l * N * H;
  io.stats = s.stats.data() + l * N * heads * 2;
  return io;
}

TrainOutput BertModel::forward_train(const Batch& batch, const TrainLabels& labels, const TrainOptions& options) {
  const BertConfig& c = config_;
  Impl& m = *impl_;
  const ParameterSet& ps = params_;
  const ops::Context& ctx = m.ctx;
  const HeadKind kind = c.head.kind;
  if (kind == HeadKind::Base)
    throw Error(fmt::format("{} has no task head, so there is no loss to train on", c.head.architecture));
  validate_batch(batch, c.vocab_size, c.max_position_embeddings, c.type_vocab_size);
  const int64_t N = batch.tokens(), B = batch.size(), L = c.num_hidden_layers;
  const int64_t H = c.hidden_size, I = c.intermediate_size, heads = c.num_attention_heads;
  const float eps = (float)c.layer_norm_eps;
  const bool post_norm = !c.pre_norm();
  if (kind != HeadKind::SequenceClassification) check_token_labels(kind, labels, N);

  if (!m.saved) m.saved = std::make_unique<Impl::Saved>();
  Impl::Saved& s = *m.saved;
  s.batch = batch;
  sequence_positions(batch, s.positions);
  s.type_ids = batch.type_ids.empty() ? std::vector<int32_t>((size_t)N, 0) : batch.type_ids;
  s.seed = options.seed;
  s.dropout = options.dropout;
  s.emb.resize((size_t)(N * H));
  s.x_in.resize((size_t)(L * N * H));
  s.a_pre.resize(post_norm ? (size_t)(L * N * H) : 0);
  s.x_mid.resize((size_t)(L * N * H));
  s.f.resize((size_t)(L * N * I));
  s.y_pre.resize(post_norm ? (size_t)(L * N * H) : 0);
  s.qkv.resize((size_t)(L * N * 3 * H));
  s.attn.resize((size_t)(L * N * H));
  s.stats.resize((size_t)(L * N * heads * 2));
  s.x_out.resize((size_t)(N * H));
  s.t.resize((size_t)(N * H));
  s.act.resize((size_t)(N * I));

  embed(m, ps, H, batch.ids.data(), s.type_ids.data(), s.positions.data(), N, s.emb.data());
  float* x0 = s.x_in.data();
  if (post_norm) ops::layernorm(ctx, s.emb.data(), m.p(ps, m.emb_norm_w), m.p(ps, m.emb_norm_b), x0, N, H, eps);
  else std::copy(s.emb.begin(), s.emb.end(), x0);
  ops::dropout(ctx, x0, N * H, dropout_site(c.hidden_dropout_prob, options.dropout, options.seed, kEmbeddingDrop));
  for (int64_t l = 0; l < L; ++l) {
    const Impl::LayerDropout drop = layer_dropout(c, options.dropout, options.seed, l);
    layer_forward(c, m, ps, l, batch, saved_layer_io(c, s, l), &drop);
  }
  if (post_norm) {
    s.hidden = s.x_out;
  } else {
    s.hidden.resize((size_t)(N * H));
    ops::layernorm(ctx, s.x_out.data(), m.p(ps, m.final_norm_w), m.p(ps, m.final_norm_b), s.hidden.data(), N, H, eps);
  }

  // Heads. Sequence: logits = classifier(dropout(tanh(pooler(hidden[CLS])))). Token: logits =
  // classifier(dropout(hidden)). Masked LM (labelled rows only): decoder(LN(act(dense(hidden)))).
  std::vector<int32_t> row_labels;
  int64_t R = 0;
  const ops::LinearWeights* final_layer = &m.classifier;
  if (kind == HeadKind::SequenceClassification) {
    R = B;
    s.head_in = pool_sequences(batch, s.hidden.data(), H, /*mean=*/false);
    s.head_pre.resize((size_t)(R * H));
    ops::linear(ctx, m.pooler, s.head_in.data(), s.head_pre.data(), R);
    s.head_out = s.head_pre;
    ops::activation(ctx, s.head_out.data(), R * H, Activation::Tanh);
    ops::dropout(ctx, s.head_out.data(), R * H, classifier_dropout(c, options.dropout, options.seed));
  } else if (kind == HeadKind::TokenClassification) {
    R = N;
    row_labels = labels.classes;
    s.head_out = s.hidden;
    ops::dropout(ctx, s.head_out.data(), R * H, classifier_dropout(c, options.dropout, options.seed));
  } else {
    s.head_rows = labelled_rows(labels.classes);
    R = (int64_t)s.head_rows.size();
    s.head_in = gather_rows(s.hidden.data(), s.head_rows, H);
    row_labels = gather_labels(labels.classes, s.head_rows);
    s.head_pre.resize((size_t)(R * H));
    ops::linear(ctx, m.mlm_dense, s.head_in.data(), s.head_pre.data(), R);
    s.head_act = s.head_pre;
    ops::activation(ctx, s.head_act.data(), R * H, m.hidden_act);
    s.head_out.resize((size_t)(R * H));
    ops::layernorm(ctx, s.head_act.data(), m.p(ps, m.mlm_norm_w), m.p(ps, m.mlm_norm_b), s.head_out.data(), R, H,
                   eps);
    final_layer = &m.decoder;
  }
  s.head_row_count = R;
  const int64_t C = final_layer->out;
  std::vector<float> logits((size_t)(R * C));
  ops::linear(ctx, *final_layer, s.head_out.data(), logits.data(), R);

  return head_loss(c.head, batch, labels, row_labels, std::move(logits), R, C, options.keep_logits, s.dlogits);
}

void BertModel::backward(float loss_scale) {
  const BertConfig& c = config_;
  Impl& m = *impl_;
  const ParameterSet& ps = params_;
  const ops::Context& ctx = m.ctx;
  if (!m.saved || m.saved->x_in.empty()) throw Error("backward() needs a forward_train() first");
  Impl::Saved& s = *m.saved;
  float* const grads = gradients().data();
  auto grad = [&](size_t i) { return i == Impl::npos ? nullptr : grads + ps.specs()[i].offset; };
  const Batch& batch = s.batch;
  const HeadKind kind = c.head.kind;
  const int64_t N = batch.tokens(), B = batch.size(), L = c.num_hidden_layers;
  const int64_t H = c.hidden_size, I = c.intermediate_size, R = s.head_row_count;
  const int heads = (int)c.num_attention_heads, hd = (int)c.head_dim();
  const float eps = (float)c.layer_norm_eps;
  const float scale = 1.0f / std::sqrt((float)hd);
  const bool post_norm = !c.pre_norm();
  s.dx.resize((size_t)(N * H));
  s.t.resize((size_t)(N * H));
  s.dt.resize((size_t)(N * H));
  s.dqkv.resize((size_t)(N * 3 * H));
  s.dattn.resize((size_t)(N * H));
  s.act.resize((size_t)(N * I));
  s.dact.resize((size_t)(N * I));

  // Heads, back to d loss / d hidden (in s.dt).
  const std::vector<float> dlogits = scaled(s.dlogits, loss_scale);
  float* dhidden = s.dt.data();
  if (kind == HeadKind::TokenClassification) {
    ops::linear_backward(ctx, m.classifier, s.head_out.data(), dlogits.data(), R, dhidden,
                         grad(m.classifier_w), grad(m.classifier_b));
    ops::dropout(ctx, dhidden, R * H, classifier_dropout(c, s.dropout, s.seed));
  } else {
    std::vector<float> d_out((size_t)(R * H)), d_pre((size_t)(R * H));
    if (kind == HeadKind::SequenceClassification) {
      ops::linear_backward(ctx, m.classifier, s.head_out.data(), dlogits.data(), R, d_pre.data(),
                           grad(m.classifier_w), grad(m.classifier_b));
      ops::dropout(ctx, d_pre.data(), R * H, classifier_dropout(c, s.dropout, s.seed));
      ops::activation_backward(ctx, s.head_pre.data(), d_pre.data(), d_pre.data(), R * H, Activation::Tanh);
      ops::linear_backward(ctx, m.pooler, s.head_in.data(), d_pre.data(), R, d_out.data(), grad(m.pooler_w),
                           grad(m.pooler_b));
      std::fill(dhidden, dhidden + N * H, 0.0f);
      ops::pool_backward(ctx, batch.offsets.data(), B, d_out.data(), dhidden, H, /*mean=*/false);
    } else {
      const size_t decoder_w = m.mlm_decoder_w != Impl::npos ? m.mlm_decoder_w : m.word_emb;
      ops::linear_backward(ctx, m.decoder, s.head_out.data(), dlogits.data(), R, d_out.data(), grad(decoder_w),
                           grad(m.mlm_bias));
      ops::layernorm_backward(ctx, s.head_act.data(), m.p(ps, m.mlm_norm_w), d_out.data(), d_pre.data(),
                              grad(m.mlm_norm_w), grad(m.mlm_norm_b), R, H, eps);
      ops::activation_backward(ctx, s.head_pre.data(), d_pre.data(), d_pre.data(), R * H, m.hidden_act);
      ops::linear_backward(ctx, m.mlm_dense, s.head_in.data(), d_pre.data(), R, d_out.data(),
                           grad(m.mlm_dense_w), grad(m.mlm_dense_b));
      scatter_rows(d_out.data(), s.head_rows, H, dhidden, N);
    }
  }
  float* dx = s.dx.data();  // d loss / d (residual stream at the current point)
  if (post_norm)
    std::copy(dhidden, dhidden + N * H, dx);
  else
    ops::layernorm_backward(ctx, s.x_out.data(), m.p(ps, m.final_norm_w), dhidden, dx, grad(m.final_norm_w),
                            grad(m.final_norm_b), N, H, eps);

  float* t = s.t.data();
  float* dt = s.dt.data();
  for (int64_t l = L - 1; l >= 0; --l) {
    const Impl::Layer& Ly = m.layers[l];
    const Impl::LayerIO io = saved_layer_io(c, s, l);
    const Impl::LayerDropout drop = layer_dropout(c, s.dropout, s.seed, l);
    std::copy(io.f, io.f + N * I, s.act.data());  // recompute act(f), the input of W2
    ops::activation(ctx, s.act.data(), N * I, m.hidden_act);

    if (post_norm) {
      // x_out = LN2(y_pre), y_pre = x_mid + dropout(W2 act(W1 x_mid))
      ops::layernorm_backward(ctx, io.y_pre, m.p(ps, Ly.out_norm_w), dx, dt, grad(Ly.out_norm_w),
                              grad(Ly.out_norm_b), N, H, eps);
      const float* d_ffn = dt;
      if (drop.ffn_out.active()) {
        std::copy(dt, dt + N * H, dx);
        ops::dropout(ctx, dx, N * H, drop.ffn_out);
        d_ffn = dx;
      }
      ops::linear_backward(ctx, Ly.ffn_out, s.act.data(), d_ffn, N, s.dact.data(), grad(Ly.wo2),
                           grad(Ly.bo2));
      ops::activation_backward(ctx, io.f, s.dact.data(), s.dact.data(), N * I, m.hidden_act);
      ops::linear_backward(ctx, Ly.ffn_in, io.x_mid, s.dact.data(), N, dt, grad(Ly.wi), grad(Ly.bi),
                           /*accumulate=*/true);
      // x_mid = LN1(a_pre), a_pre = x_in + dropout(Wo attention(Wqkv x_in))
      ops::layernorm_backward(ctx, io.a_pre, m.p(ps, Ly.attn_out_norm_w), dt, dx, grad(Ly.attn_out_norm_w),
                              grad(Ly.attn_out_norm_b), N, H, eps);
    } else {
      // x_out = x_mid + dropout(W2 act(W1 LN(x_mid)))
      const float* d_ffn = dx;
      if (drop.ffn_out.active()) {
        std::copy(dx, dx + N * H, dt);
        ops::dropout(ctx, dt, N * H, drop.ffn_out);
        d_ffn = dt;
      }
      ops::linear_backward(ctx, Ly.ffn_out, s.act.data(), d_ffn, N, s.dact.data(), grad(Ly.wo2),
                           grad(Ly.bo2));
      ops::activation_backward(ctx, io.f, s.dact.data(), s.dact.data(), N * I, m.hidden_act);
      ops::layernorm(ctx, io.x_mid, m.p(ps, Ly.ffn_norm_w), m.p(ps, Ly.ffn_norm_b), t, N, H, eps);
      ops::linear_backward(ctx, Ly.ffn_in, t, s.dact.data(), N, dt, grad(Ly.wi), grad(Ly.bi));
      ops::layernorm_backward(ctx, io.x_mid, m.p(ps, Ly.ffn_norm_w), dt, dx, grad(Ly.ffn_norm_w),
                              grad(Ly.ffn_norm_b), N, H, eps, /*accumulate=*/true);
      // x_mid = x_in + dropout(Wo attention(Wqkv LN(x_in)))
    }
    // Here dx = d loss / d (x_in + dropout(Wo attention)).
    const float* d_attn_out = dx;
    if (drop.attn_out.active()) {
      std::copy(dx, dx + N * H, dt);
      ops::dropout(ctx, dt, N * H, drop.attn_out);
      d_attn_out = dt;
    }
    ops::linear_backward(ctx, Ly.attn_out, io.attn, d_attn_out, N, s.dattn.data(), grad(Ly.wo),
                         grad(Ly.bo));
    ops::attention_backward(ctx, io.qkv, io.attn, s.dattn.data(), io.stats, s.dqkv.data(), batch.offsets.data(), B,
                            heads, hd, -1, scale, drop.probs);
    if (post_norm) {
      ops::linear_backward(ctx, Ly.qkv, io.x_in, s.dqkv.data(), N, dx, grad(Ly.wq), grad(Ly.bq),
                           /*accumulate=*/true);
    } else {
      ops::layernorm(ctx, io.x_in, m.p(ps, Ly.attn_norm_w), m.p(ps, Ly.attn_norm_b), t, N, H, eps);
      ops::linear_backward(ctx, Ly.qkv, t, s.dqkv.data(), N, dt, grad(Ly.wq), grad(Ly.bq));
      ops::layernorm_backward(ctx, io.x_in, m.p(ps, Ly.attn_norm_w), dt, dx, grad(Ly.attn_norm_w),
                              grad(Ly.attn_norm_b), N, H, eps, /*accumulate=*/true);
    }
  }

  // Embeddings: x_in[0] = dropout(LN(e)) (BERT) or dropout(e) (Megatron), e = word + type + position.
  ops::dropout(ctx, dx, N * H, dropout_site(c.hidden_dropout_prob, s.dropout, s.seed, kEmbeddingDrop));
  const float* de = dx;
  if (post_norm) {
    ops::layernorm_backward(ctx, s.emb.data(), m.p(ps, m.emb_norm_w), dx, dt, grad(m.emb_norm_w),
                            grad(m.emb_norm_b), N, H, eps);
    de = dt;
  }
  ops::embedding_backward(ctx, batch.ids.data(), N, de, grad(m.word_emb), H, c.pad_token_id);
  ops::embedding_backward(ctx, s.type_ids.data(), N, de, grad(m.type_emb), H, -1);
  ops::embedding_backward(ctx, s.positions.data(), N, de, grad(m.pos_emb), H, -1);
}

void BertModel::release_activations() { impl_->saved.reset(); }

size_t BertModel::activation_bytes(const Batch& batch) const {
  const BertConfig& c = config_;
  const double N = (double)batch.tokens(), H = (double)c.hidden_size, I = (double)c.intermediate_size;
  const double L = (double)c.num_hidden_layers, heads = (double)c.num_attention_heads;
  const double post = c.pre_norm() ? 0.0 : 2.0;  // a_pre, y_pre
  const double per_layer = N * ((5 + post) * H /*x_in, x_mid, qkv, attn*/ + I /*f*/ + 2 * heads);
  const double whole = N * (H /*emb*/ + 2 * H /*x_out, hidden*/ + 4 * H /*head*/);
  const double scratch = N * (5 * H /*dx, t, dt, dattn*/ + 3 * H /*dqkv*/ + 2 * I /*act, dact*/);
  return (size_t)((L * per_layer + whole + scratch) * sizeof(float));
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
      std::fill(p, p + s.numel, norm_weight ? 1.0f : 0.0f);
    } else {
      for (size_t k = 0; k < s.numel; ++k) p[k] = (float)(rng.normal() * stdv);
    }
  }
  if (c.family == Family::Bert && c.pad_token_id >= 0) {
    float* row = params_.at(m.word_emb) + c.pad_token_id * c.hidden_size;
    std::fill(row, row + c.hidden_size, 0.0f);
  }
  parameters_changed();
}

}  // namespace medenc
