// ModernBERT configurations the HF fixtures do not cover (biases, other activations, windows,
// global periods, explicit layer types, untied decoder, F16/BF16-stored weights, several-hundred-
// token sequences mixed with short ones) against an independent, naive double-precision
// implementation written from the architecture notes: dense per-sequence attention with an explicit
// mask, no unpadding, no fusion.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include <omp.h>

#include "medenc/modernbert.h"
#include "medenc/safetensors.h"
#include "test_support.h"
#include "util/fs.h"
#include "util/random.h"

using namespace medenc;

namespace {

using Vec = std::vector<double>;

struct RefModernBert {
  const ModernBertConfig& c;
  std::map<std::string, Vec> p;  // by HF name

  const Vec* find(const std::string& n) const {
    auto it = p.find(n);
    return it == p.end() ? nullptr : &it->second;
  }
  const Vec& at(const std::string& n) const { return p.at(n); }

  static double act(double x, const std::string& name) {
    if (name == "gelu") return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    if (name == "gelu_pytorch_tanh" || name == "gelu_new")
      return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    if (name == "silu") return x / (1.0 + std::exp(-x));
    if (name == "relu") return x > 0 ? x : 0;
    ADD_FAILURE() << "reference lacks activation " << name;
    return 0;
  }

  // y[n, out] = x[n, in] W^T + b
  static Vec linear(const Vec& x, int64_t n, int64_t in, const Vec& w, const Vec* b, int64_t out) {
    Vec y((size_t)(n * out));
    for (int64_t r = 0; r < n; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double s = b ? (*b)[o] : 0.0;
        for (int64_t i = 0; i < in; ++i) s += x[r * in + i] * w[o * in + i];
        y[r * out + o] = s;
      }
    return y;
  }

  Vec norm(const Vec& x, int64_t n, const std::string& name) const {
    const int64_t H = c.hidden_size;
    const Vec& g = at(name + ".weight");
    const Vec* b = find(name + ".bias");
    Vec y(x.size());
    for (int64_t r = 0; r < n; ++r) {
      double m = 0, v = 0;
      for (int64_t i = 0; i < H; ++i) m += x[r * H + i];
      m /= H;
      for (int64_t i = 0; i < H; ++i) v += (x[r * H + i] - m) * (x[r * H + i] - m);
      v /= H;
      for (int64_t i = 0; i < H; ++i)
        y[r * H + i] = (x[r * H + i] - m) / std::sqrt(v + c.norm_eps) * g[i] + (b ? (*b)[i] : 0.0);
    }
    return y;
  }

  // One sequence: returns last_hidden_state [n, H].
  Vec hidden(const std::vector<int32_t>& ids, const std::string& pre) const {
    const int64_t n = (int64_t)ids.size(), H = c.hidden_size, I = c.intermediate_size;
    const int64_t heads = c.num_attention_heads, d = H / heads;
    Vec x((size_t)(n * H));
    const Vec& emb = at(pre + "embeddings.tok_embeddings.weight");
    for (int64_t t = 0; t < n; ++t)
      for (int64_t i = 0; i < H; ++i) x[t * H + i] = emb[ids[t] * H + i];
    x = norm(x, n, pre + "embeddings.norm");
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
      const std::string lp = pre + "layers." + std::to_string(l) + ".";
      const bool global = c.layer_is_global[l];
      Vec a = l == 0 ? x : norm(x, n, lp + "attn_norm");
      Vec qkv = linear(a, n, H, at(lp + "attn.Wqkv.weight"), find(lp + "attn.Wqkv.bias"), 3 * H);
      // RoPE, rotate-half; inv_freq and the angle in float32 as the model definition states.
      const float theta = (float)(global ? c.global_rope_theta : c.local_rope_theta);
      for (int64_t t = 0; t < n; ++t)
        for (int part = 0; part < 2; ++part)
          for (int64_t h = 0; h < heads; ++h) {
            double* v = &qkv[t * 3 * H + part * H + h * d];
            for (int64_t j = 0; j < d / 2; ++j) {
              float inv = 1.0f / std::pow(theta, (float)(2 * j) / (float)d);
              double ang = (double)((float)t * inv);
              double a0 = v[j], a1 = v[j + d / 2];
              v[j] = a0 * std::cos(ang) - a1 * std::sin(ang);
              v[j + d / 2] = a1 * std::cos(ang) + a0 * std::sin(ang);
            }
          }
      Vec ctx((size_t)(n * H), 0.0);
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < n; ++i) {
          Vec s((size_t)n);
          double mx = -1e300;
          // Keys outside a local layer's window keep the -1e300 score (weight 0): only the
          // window's are computed, which keeps sequences of thousands of tokens cheap.
          const int64_t half = c.local_attention / 2;
          const int64_t lo = global ? 0 : std::max<int64_t>(0, i - half), hi = global ? n - 1 : std::min(n - 1, i + half);
          for (int64_t j = 0; j < n; ++j) s[j] = -1e300;
          for (int64_t j = lo; j <= hi; ++j) {
            bool allowed = global || std::llabs(i - j) <= half;
            double dot = 0;
            for (int64_t k = 0; k < d; ++k) dot += qkv[i * 3 * H + h * d + k] * qkv[j * 3 * H + H + h * d + k];
            s[j] = allowed ? dot / std::sqrt((double)d) : -1e300;
          }
          for (int64_t j = 0; j < n; ++j) mx = std::max(mx, s[j]);
          double sum = 0;
          for (int64_t j = 0; j < n; ++j) sum += (s[j] = s[j] <= -1e299 ? 0.0 : std::exp(s[j] - mx));
          for (int64_t j = lo; j <= hi; ++j)
            for (int64_t k = 0; k < d; ++k) ctx[i * H + h * d + k] += s[j] / sum * qkv[j * 3 * H + 2 * H + h * d + k];
        }
      Vec o = linear(ctx, n, H, at(lp + "attn.Wo.weight"), find(lp + "attn.Wo.bias"), H);
      for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
      Vec m = norm(x, n, lp + "mlp_norm");
      Vec z = linear(m, n, H, at(lp + "mlp.Wi.weight"), find(lp + "mlp.Wi.bias"), 2 * I);
      Vec g((size_t)(n * I));
      for (int64_t t = 0; t < n; ++t)
        for (int64_t i = 0; i < I; ++i) g[t * I + i] = act(z[t * 2 * I + i], c.hidden_activation) * z[t * 2 * I + I + i];
      Vec o2 = linear(g, n, I, at(lp + "mlp.Wo.weight"), find(lp + "mlp.Wo.bias"), H);
      for (size_t i = 0; i < x.size(); ++i) x[i] += o2[i];
    }
    return norm(x, n, pre + "final_norm");
  }

  Vec head(const Vec& rows, int64_t n) const {
    Vec t = linear(rows, n, c.hidden_size, at("head.dense.weight"), find("head.dense.bias"), c.hidden_size);
    for (double& v : t) v = act(v, c.classifier_activation);
    return norm(t, n, "head.norm");
  }
};

// Builds a model of the given config with every parameter random (biases and norm weights too, and
// attention weights large enough that the softmax is far from uniform), saved with `dtype`.
std::string make_random_checkpoint(ModernBertConfig config, DType dtype, uint64_t seed, const std::string& tag) {
  ModernBertModel model(config, LoadOptions{});
  Rng rng(seed);
  ParameterSet& ps = model.parameters();
  for (size_t i = 0; i < ps.specs().size(); ++i) {
    const ParamSpec& s = ps.specs()[i];
    float* p = ps.at(i);
    const bool norm_weight = s.is_bias_or_norm && s.name.ends_with(".weight");
    const double stdv = s.name.find("Wqkv") != std::string::npos ? 0.25 : s.name.ends_with("bias") ? 0.1 : 0.08;
    for (size_t k = 0; k < s.numel; ++k) p[k] = (float)((norm_weight ? 1.0 : 0.0) + rng.normal() * stdv);
  }
  const std::string dir = test::temp_dir(tag);
  SafetensorsWriter w;
  for (size_t i = 0; i < ps.specs().size(); ++i) {
    const ParamSpec& s = ps.specs()[i];
    if (dtype == DType::F32) {
      w.add_f32(s.name, s.shape, ps.at(i));
    } else {
      std::vector<uint16_t> half(s.numel);
      for (size_t k = 0; k < s.numel; ++k) half[k] = dtype == DType::F16 ? f32_to_f16(ps.at(i)[k]) : f32_to_bf16(ps.at(i)[k]);
      w.add(s.name, dtype, s.shape, half.data(), half.size() * 2);
    }
  }
  w.write(dir + "/model.safetensors");
  write_file_atomic(dir + "/config.json", model.config().to_json());
  return dir;
}

RefModernBert reference_from(const std::string& dir, const ModernBertConfig& c) {
  RefModernBert ref{c, {}};
  auto f = SafetensorsFile::open(dir + "/model.safetensors");
  for (auto& t : f->tensors()) {
    auto v = f->read_f32(t);  // exact widening of F16/BF16
    ref.p[t.name] = Vec(v.begin(), v.end());
  }
  if (c.head.kind == HeadKind::MaskedLM && c.tie_word_embeddings)
    ref.p["decoder.weight"] = ref.p.at("model.embeddings.tok_embeddings.weight");
  return ref;
}

std::vector<std::vector<int32_t>> random_sequences(const std::vector<int64_t>& lengths, int64_t vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<int32_t>> out;
  for (int64_t len : lengths) {
    std::vector<int32_t> s;
    for (int64_t i = 0; i < len; ++i) s.push_back((int32_t)rng.below((uint64_t)vocab));
    out.push_back(s);
  }
  return out;
}

double max_diff(const float* a, const double* b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs((double)a[i] - b[i]));
  return m;
}

ModernBertConfig small_config(const std::string& arch, HeadKind kind, int labels) {
  ModernBertConfig c = modernbert_preset("tiny");
  c.vocab_size = 97;
  c.pad_token_id = 3;
  c.hidden_size = 32;
  c.num_attention_heads = 2;
  c.intermediate_size = 40;
  c.num_hidden_layers = 4;
  c.head.architecture = arch;
  c.head.kind = kind;
  c.head.num_labels = labels;
  c.head.id2label.clear();
  for (int i = 0; i < labels; ++i) c.head.id2label.push_back("L" + std::to_string(i));
  return c;
}

// One way of loading the checkpoint and how far its outputs may be from the double reference.
struct Variant {
  const char* name;
  LoadOptions load;
  double tolerance;
};
const std::vector<Variant> kFp32Only{{"fp32", LoadOptions{}, 5e-5}};

void check_against_reference(const ModernBertConfig& config, DType dtype, const std::vector<int64_t>& lengths,
                             const std::string& tag, const std::vector<Variant>& variants = kFp32Only) {
  SCOPED_TRACE(tag);
  const std::string dir = make_random_checkpoint(config, dtype, 77, tag);
  const ModernBertConfig c = ModernBertModel::load(dir, LoadOptions{})->config();
  RefModernBert ref = reference_from(dir, c);
  auto seqs = random_sequences(lengths, c.vocab_size, 5);
  std::vector<Vec> hidden;  // the reference's, once for every variant
  for (auto& s : seqs) hidden.push_back(ref.hidden(s, c.head.kind == HeadKind::Base ? "" : "model."));
  Batch batch;
  for (auto& s : seqs) batch.add(s);
  std::vector<int64_t> mlm_rows;
  if (c.head.kind == HeadKind::MaskedLM)
    for (int64_t b = 0; b < batch.size(); ++b) mlm_rows.push_back(batch.offsets[b] + batch.length(b) / 2);
  ForwardOptions opts;
  opts.mlm_rows = mlm_rows;
  const int64_t H = c.hidden_size;
  for (const Variant& v : variants) {
    SCOPED_TRACE(v.name);
    const double tol = v.tolerance;
    ForwardOutput out = ModernBertModel::load(dir, v.load)->forward(batch, opts);
    for (int64_t b = 0; b < batch.size(); ++b) {
      const Vec& h = hidden[b];
      const int64_t n = (int64_t)seqs[b].size();
      EXPECT_LT(max_diff(out.last_hidden_state.data() + batch.offsets[b] * H, h.data(), (size_t)(n * H)), tol)
          << "sequence " << b << " (length " << n << ")";
      if (c.head.kind == HeadKind::SequenceClassification) {
        Vec pooled((size_t)H, 0.0);
        for (int64_t t = 0; t < n; ++t)
          for (int64_t i = 0; i < H; ++i)
            pooled[i] += c.classifier_pooling == "mean" ? h[t * H + i] / n : (t == 0 ? h[i] : 0);
        Vec logits = RefModernBert::linear(ref.head(pooled, 1), 1, H, ref.at("classifier.weight"),
                                           &ref.at("classifier.bias"), c.head.num_labels);
        EXPECT_LT(max_diff(out.logits.data() + b * c.head.num_labels, logits.data(), logits.size()), tol);
      } else if (c.head.kind == HeadKind::TokenClassification) {
        Vec logits = RefModernBert::linear(ref.head(h, n), n, H, ref.at("classifier.weight"),
                                           &ref.at("classifier.bias"), c.head.num_labels);
        EXPECT_LT(max_diff(out.logits.data() + batch.offsets[b] * c.head.num_labels, logits.data(), logits.size()),
                  tol);
      } else if (c.head.kind == HeadKind::MaskedLM) {
        const int64_t t = n / 2;
        Vec row(h.begin() + t * H, h.begin() + (t + 1) * H);
        Vec logits = RefModernBert::linear(ref.head(row, 1), 1, H, ref.at("decoder.weight"),
                                           ref.find("decoder.bias"), c.vocab_size);
        EXPECT_LT(max_diff(out.logits.data() + b * c.vocab_size, logits.data(), logits.size()), tol);
      }
    }
  }
}

}  // namespace

TEST(ModernBertReference, BiasesTanhGeluWindow16MeanPooling) {
  ModernBertConfig c = small_config("ModernBertForSequenceClassification", HeadKind::SequenceClassification, 3);
  c.attention_bias = c.mlp_bias = c.norm_bias = c.classifier_bias = true;
  c.hidden_activation = "gelu_pytorch_tanh";
  c.classifier_activation = "silu";
  c.local_attention = 16;
  c.global_attn_every_n_layers = 2;
  c.classifier_pooling = "mean";
  c.layer_is_global = {true, false, true, false};
  check_against_reference(c, DType::F32, {300, 7, 129, 1, 40}, "biases");
}

TEST(ModernBertReference, ExplicitLayerTypesReluTokenHead) {
  ModernBertConfig c = small_config("ModernBertForTokenClassification", HeadKind::TokenClassification, 5);
  c.hidden_activation = "relu";
  c.local_attention = 10;  // half-window 5: tests the inclusive |i-j| <= 5 edge
  c.global_rope_theta = 20000.0;
  c.local_rope_theta = 500.0;
  c.layer_is_global = {false, true, false, false};
  check_against_reference(c, DType::F32, {64, 3, 257}, "layer_types");
}

TEST(ModernBertReference, UntiedDecoderWithoutBias) {
  ModernBertConfig c = small_config("ModernBertForMaskedLM", HeadKind::MaskedLM, 2);
  c.tie_word_embeddings = false;
  c.decoder_bias = false;
  check_against_reference(c, DType::F32, {33, 200}, "untied");
}

TEST(ModernBertReference, Float16StoredWeights) {
  ModernBertConfig c = small_config("ModernBertForSequenceClassification", HeadKind::SequenceClassification, 2);
  c.classifier_pooling = "cls";
  check_against_reference(c, DType::F16, {150, 9}, "f16");
}

TEST(ModernBertReference, BFloat16StoredWeightsBareModel) {
  ModernBertConfig c = small_config("ModernBertModel", HeadKind::Base, 2);
  check_against_reference(c, DType::BF16, {400, 2, 65}, "bf16");
}

TEST(ModernBertReference, BatchNeighboursDoNotChangeResults) {
  // The same sequence alone and inside a mixed batch gives identical bits.
  ModernBertConfig c = small_config("ModernBertForSequenceClassification", HeadKind::SequenceClassification, 2);
  const std::string dir = make_random_checkpoint(c, DType::F32, 9, "neighbours");
  auto model = ModernBertModel::load(dir, LoadOptions{});
  auto seqs = random_sequences({120, 5, 300, 77}, c.vocab_size, 11);
  Batch alone;
  alone.add(seqs[0]);
  Batch mixed;
  for (auto& s : seqs) mixed.add(s);
  auto a = model->forward(alone, {});
  auto m = model->forward(mixed, {});
  std::vector<float> first(m.last_hidden_state.begin(), m.last_hidden_state.begin() + 120 * c.hidden_size);
  EXPECT_EQ(a.last_hidden_state, first);
  EXPECT_EQ(std::vector<float>(m.logits.begin(), m.logits.begin() + 2), a.logits);
}

TEST(ModernBertReference, ThreadCountDoesNotChangeResults) {
  ModernBertConfig c = small_config("ModernBertForTokenClassification", HeadKind::TokenClassification, 4);
  const std::string dir = make_random_checkpoint(c, DType::F32, 13, "threads");
  auto model = ModernBertModel::load(dir, LoadOptions{});
  auto seqs = random_sequences({200, 1, 67}, c.vocab_size, 17);
  Batch batch;
  for (auto& s : seqs) batch.add(s);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  auto one = model->forward(batch, {});
  omp_set_num_threads(3);
  auto three = model->forward(batch, {});
  omp_set_num_threads(saved);
  EXPECT_EQ(one.last_hidden_state, three.last_hidden_state);
  EXPECT_EQ(one.logits, three.logits);
}

// Every seed recipe runs at 4,096 tokens or more (the MLM one at 8,192): from 4,096 tokens global
// layers take 256-query blocks, keys come in several 1,024-key chunks, local layers visit bands,
// and RoPE runs at positions in the thousands with the long-context global theta (160,000).
// 4,200 tokens (not a multiple of the block) next to a short sequence, against the double reference.
ModernBertConfig long_config() {
  ModernBertConfig c = small_config("ModernBertForTokenClassification", HeadKind::TokenClassification, 3);
  c.num_hidden_layers = 2;
  c.layer_is_global = {true, false};
  c.global_attn_every_n_layers = 2;
  c.local_attention = 128;
  c.global_rope_theta = 160000.0;
  c.local_rope_theta = 10000.0;
  c.max_position_embeddings = 8192;
  return c;
}

// bf16 (weights and GEMM inputs rounded, fp32 accumulation) at that length is held to the 2e-2 of
// the bf16 fixture tests (test_bf16.cpp), against the same double reference.
TEST(ModernBertReference, LongSequenceOver4096TokensFp32AndBf16) {
  LoadOptions bf16;
  bf16.bf16 = true;
  check_against_reference(long_config(), DType::F32, {4200, 9}, "long4200",
                          {{"fp32", LoadOptions{}, 5e-5}, {"bf16", bf16, 2e-2}});
}
