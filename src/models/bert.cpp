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
#include "util/fs.h"
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

  // Workspace reused across layers and calls.
  std::vector<float> normed, qkv, attn, ffn;
  std::vector<int32_t> positions, zero_types;

  const float* p(const ParameterSet& ps, size_t i) const { return i == npos ? nullptr : ps.at(i); }
};

BertModel::BertModel(BertConfig config, const LoadOptions& options, std::optional<bool> with_pooler)
    : config_(std::move(config)), impl_(std::make_shared<Impl>()) {
  const BertConfig& c = config_;
  Impl& m = *impl_;
  if (options.bf16) throw Error("--dtype bf16 is not available yet for BERT-family models");
  m.ctx.threads = options.threads;
  m.ctx.deterministic = options.deterministic;
  ops::configure_threads(m.ctx);
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

ForwardOutput BertModel::forward(const Batch& batch, const ForwardOptions& options) {
  const BertConfig& c = config_;
  Impl& m = *impl_;
  const ParameterSet& ps = params_;
  const ops::Context& ctx = m.ctx;
  const int64_t N = batch.tokens(), B = batch.size();
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const int heads = (int)c.num_attention_heads, hd = (int)c.head_dim();
  const float eps = (float)c.layer_norm_eps;
  const float scale = 1.0f / std::sqrt((float)hd);

  validate_batch(batch, c.vocab_size, c.max_position_embeddings, c.type_vocab_size);
  sequence_positions(batch, m.positions);
  const int32_t* type_ids = batch.type_ids.data();
  if (batch.type_ids.empty()) {
    m.zero_types.assign((size_t)N, 0);
    type_ids = m.zero_types.data();
  }

  ForwardOutput out;
  out.hidden_size = H;
  out.last_hidden_state.resize((size_t)(N * H));
  m.normed.resize((size_t)(N * H));
  m.qkv.resize((size_t)(N * 3 * H));
  m.attn.resize((size_t)(N * H));
  m.ffn.resize((size_t)(N * I));
  float* x = out.last_hidden_state.data();  // the residual stream, [N, H]
  float* t = m.normed.data();               // LayerNorm output (pre-LN) or sub-layer output (post-LN)

  // Embeddings, summed in Hugging Face's order: word + token type, then position.
  ops::embedding(ctx, m.p(ps, m.word_emb), H, batch.ids.data(), N, x);
  ops::embedding(ctx, m.p(ps, m.type_emb), H, type_ids, N, x, /*accumulate=*/true);
  ops::embedding(ctx, m.p(ps, m.pos_emb), H, m.positions.data(), N, x, /*accumulate=*/true);
  if (!c.pre_norm()) ops::layernorm(ctx, x, m.p(ps, m.emb_norm_w), m.p(ps, m.emb_norm_b), x, N, H, eps);

  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const Impl::Layer& L = m.layers[l];
    if (c.pre_norm()) {
      // Megatron: x += Wo . attn(LN(x)); x += W2 . act(W1 . LN(x)).
      ops::layernorm(ctx, x, m.p(ps, L.attn_norm_w), m.p(ps, L.attn_norm_b), t, N, H, eps);
      ops::linear(ctx, L.qkv, t, m.qkv.data(), N);
      ops::attention(ctx, m.qkv.data(), m.attn.data(), batch.offsets.data(), B, heads, hd, -1, scale);
      ops::linear(ctx, L.attn_out, m.attn.data(), x, N, /*accumulate=*/true);
      ops::layernorm(ctx, x, m.p(ps, L.ffn_norm_w), m.p(ps, L.ffn_norm_b), t, N, H, eps);
      ops::linear(ctx, L.ffn_in, t, m.ffn.data(), N);
      ops::activation(ctx, m.ffn.data(), N * I, m.hidden_act);
      ops::linear(ctx, L.ffn_out, m.ffn.data(), x, N, /*accumulate=*/true);
    } else {
      // BERT: x = LN(x + Wo . attn(x)); x = LN(x + W2 . act(W1 . x)).
      ops::linear(ctx, L.qkv, x, m.qkv.data(), N);
      ops::attention(ctx, m.qkv.data(), m.attn.data(), batch.offsets.data(), B, heads, hd, -1, scale);
      ops::linear(ctx, L.attn_out, m.attn.data(), t, N);
      ops::add_layernorm(ctx, x, t, m.p(ps, L.attn_out_norm_w), m.p(ps, L.attn_out_norm_b), x, N, H, eps);
      ops::linear(ctx, L.ffn_in, x, m.ffn.data(), N);
      ops::activation(ctx, m.ffn.data(), N * I, m.hidden_act);
      ops::linear(ctx, L.ffn_out, m.ffn.data(), t, N);
      ops::add_layernorm(ctx, x, t, m.p(ps, L.out_norm_w), m.p(ps, L.out_norm_b), x, N, H, eps);
    }
  }
  if (c.pre_norm()) ops::layernorm(ctx, x, m.p(ps, m.final_norm_w), m.p(ps, m.final_norm_b), x, N, H, eps);
  const float* hidden = x;

  if (info_.has_pooler) {
    // pooled = tanh(W . hidden[CLS] + b), the first token of every sequence.
    const std::vector<float> first = pool_sequences(batch, hidden, H, /*mean=*/false);
    out.pooler_output.resize((size_t)(B * H));
    ops::linear(ctx, m.pooler, first.data(), out.pooler_output.data(), B);
    ops::activation(ctx, out.pooler_output.data(), B * H, Activation::Tanh);
  }

  const HeadKind kind = c.head.kind;
  if (options.want_logits && kind == HeadKind::SequenceClassification) {
    out.logits_rows = B;
    out.logits_cols = c.head.num_labels;
    out.logits.resize((size_t)(B * c.head.num_labels));
    ops::linear(ctx, m.classifier, out.pooler_output.data(), out.logits.data(), B);
  } else if (options.want_logits && kind == HeadKind::TokenClassification) {
    out.logits_rows = N;
    out.logits_cols = c.head.num_labels;
    out.logits.resize((size_t)(N * c.head.num_labels));
    ops::linear(ctx, m.classifier, hidden, out.logits.data(), N);
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
    ops::linear(ctx, m.mlm_dense, rows.data(), tr.data(), R);
    ops::activation(ctx, tr.data(), R * H, m.hidden_act);
    ops::layernorm(ctx, tr.data(), m.p(ps, m.mlm_norm_w), m.p(ps, m.mlm_norm_b), tr.data(), R, H, eps);
    out.logits_rows = R;
    out.logits_cols = c.vocab_size;
    out.logits.resize((size_t)(R * c.vocab_size));
    ops::linear(ctx, m.decoder, tr.data(), out.logits.data(), R);
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
