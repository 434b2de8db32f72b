// BERT / Megatron-BERT configurations the HF fixtures do not cover — a cased-size vocabulary (28996),
// more layers, head sizes other than 16, text pairs with token types, a sequence at the position limit,
// 43-label IOB token heads, sequence heads on the pooler, an MLM head with another activation —
// against an independent naive double-precision implementation written from the architecture notes
// (one sequence at a time, dense attention with explicit loops, no fusion). Checkpoints come from
// `medenc init` with every tensor then perturbed, so biases and LayerNorm parameters are not trivial.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include <nlohmann/json.hpp>

#include "medenc/model.h"
#include "medenc/safetensors.h"
#include "test_support.h"
#include "util/random.h"

using namespace medenc;

namespace {

using Vec = std::vector<double>;

// The forward pass of Hugging Face's BertModel / MegatronBertModel and their heads, in double.
struct NaiveBert {
  nlohmann::json cfg;
  std::map<std::string, Vec> p;  // by stored name
  bool megatron = false;
  std::string pre;  // "bert." for task models
  int64_t H = 0, I = 0, L = 0, heads = 0;
  double eps = 0;
  std::string act_name;

  const Vec& at(const std::string& n) const {
    auto it = p.find(n);
    if (it == p.end()) throw std::runtime_error("reference: no tensor " + n);
    return it->second;
  }

  double act(double x) const {
    if (act_name == "gelu") return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    if (act_name == "gelu_new") return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    if (act_name == "relu") return x > 0 ? x : 0;
    throw std::runtime_error("reference lacks activation " + act_name);
  }

  // y[n, out] = x[n, in] W^T + b, W stored [out, in].
  Vec linear(const Vec& x, int64_t n, const std::string& name, int64_t in, int64_t out) const {
    return affine(x, n, at(name + ".weight"), at(name + ".bias"), in, out);
  }
  static Vec affine(const Vec& x, int64_t n, const Vec& w, const Vec& b, int64_t in, int64_t out) {
    Vec y((size_t)(n * out));
    for (int64_t r = 0; r < n; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double s = b[o];
        for (int64_t i = 0; i < in; ++i) s += x[r * in + i] * w[o * in + i];
        y[r * out + o] = s;
      }
    return y;
  }

  Vec layer_norm(const Vec& x, int64_t n, const std::string& name) const {
    const Vec& g = at(name + ".weight");
    const Vec& b = at(name + ".bias");
    Vec y(x.size());
    for (int64_t r = 0; r < n; ++r) {
      double mean = 0, var = 0;
      for (int64_t i = 0; i < H; ++i) mean += x[r * H + i];
      mean /= (double)H;
      for (int64_t i = 0; i < H; ++i) var += (x[r * H + i] - mean) * (x[r * H + i] - mean);
      var /= (double)H;
      for (int64_t i = 0; i < H; ++i) y[r * H + i] = (x[r * H + i] - mean) / std::sqrt(var + eps) * g[i] + b[i];
    }
    return y;
  }

  static Vec add(const Vec& a, const Vec& b) {
    Vec y(a.size());
    for (size_t i = 0; i < a.size(); ++i) y[i] = a[i] + b[i];
    return y;
  }

  // Softmax(Q K^T / sqrt(d)) V per head, every token seeing every token of its sequence.
  Vec self_attention(const Vec& y, int64_t n, const std::string& lp) const {
    const int64_t d = H / heads;
    const Vec q = linear(y, n, lp + "attention.self.query", H, H);
    const Vec k = linear(y, n, lp + "attention.self.key", H, H);
    const Vec v = linear(y, n, lp + "attention.self.value", H, H);
    Vec ctx((size_t)(n * H), 0.0);
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < n; ++i) {
        Vec s((size_t)n);
        double mx = -1e300;
        for (int64_t j = 0; j < n; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < d; ++e) dot += q[i * H + h * d + e] * k[j * H + h * d + e];
          s[j] = dot / std::sqrt((double)d);
          mx = std::max(mx, s[j]);
        }
        double z = 0;
        for (int64_t j = 0; j < n; ++j) z += (s[j] = std::exp(s[j] - mx));
        for (int64_t j = 0; j < n; ++j)
          for (int64_t e = 0; e < d; ++e) ctx[i * H + h * d + e] += s[j] / z * v[j * H + h * d + e];
      }
    return linear(ctx, n, lp + "attention.output.dense", H, H);
  }

  Vec feed_forward(const Vec& z, int64_t n, const std::string& lp) const {
    Vec f = linear(z, n, lp + "intermediate.dense", H, I);
    for (double& e : f) e = act(e);
    return linear(f, n, lp + "output.dense", I, H);
  }

  // last_hidden_state [n, H] of one sequence.
  Vec hidden(const std::vector<int32_t>& ids, const std::vector<int32_t>& types) const {
    const int64_t n = (int64_t)ids.size();
    const Vec& word = at(pre + "embeddings.word_embeddings.weight");
    const Vec& type = at(pre + "embeddings.token_type_embeddings.weight");
    const Vec& pos = at(pre + "embeddings.position_embeddings.weight");
    Vec x((size_t)(n * H));
    for (int64_t t = 0; t < n; ++t)
      for (int64_t i = 0; i < H; ++i) x[t * H + i] = word[ids[t] * H + i] + type[types[t] * H + i] + pos[t * H + i];
    if (!megatron) x = layer_norm(x, n, pre + "embeddings.LayerNorm");
    for (int64_t l = 0; l < L; ++l) {
      const std::string lp = pre + "encoder.layer." + std::to_string(l) + ".";
      if (megatron) {
        const Vec a = add(x, self_attention(layer_norm(x, n, lp + "attention.ln"), n, lp));
        x = add(a, feed_forward(layer_norm(a, n, lp + "ln"), n, lp));
      } else {
        const Vec a = layer_norm(add(x, self_attention(x, n, lp)), n, lp + "attention.output.LayerNorm");
        x = layer_norm(add(a, feed_forward(a, n, lp)), n, lp + "output.LayerNorm");
      }
    }
    if (megatron) x = layer_norm(x, n, pre + "encoder.ln");
    return x;
  }

  Vec pooler(const Vec& hidden_rows) const {
    Vec first(hidden_rows.begin(), hidden_rows.begin() + H);
    Vec y = linear(first, 1, pre + "pooler.dense", H, H);
    for (double& e : y) e = std::tanh(e);
    return y;
  }

  Vec mlm_logits(const Vec& hidden_rows, int64_t n) const {
    Vec t = linear(hidden_rows, n, "cls.predictions.transform.dense", H, H);
    for (double& e : t) e = act(e);
    t = layer_norm(t, n, "cls.predictions.transform.LayerNorm");
    const int64_t V = cfg["vocab_size"].get<int64_t>();
    // Tied decoder: the word embeddings, with cls.predictions.bias.
    return affine(t, n, at(pre + "embeddings.word_embeddings.weight"), at("cls.predictions.bias"), H, V);
  }
};

double max_diff(const std::vector<float>& got, size_t offset, const Vec& want) {
  double m = 0;
  for (size_t i = 0; i < want.size(); ++i) m = std::max(m, std::fabs((double)got[offset + i] - want[i]));
  return m;
}

struct Case {
  std::string arch;
  nlohmann::json config;
  int num_labels = 0;  // --num-labels
};

// Writes config.json, runs `medenc init`, adds N(0, 0.05^2) noise to every tensor so that biases and
// LayerNorm parameters matter, and returns the checkpoint folder.
std::string make_checkpoint(const Case& c, uint64_t seed) {
  const std::string dir = test::temp_dir("bert_ref");
  test::write_file(dir + "/in_config.json", c.config.dump(2));
  const std::string ckpt = dir + "/model";
  std::string err;
  std::string args = "init --arch " + c.arch + " --config " + dir + "/in_config.json --out " + ckpt + " --seed " +
                     std::to_string(seed);
  if (c.num_labels) args += " --num-labels " + std::to_string(c.num_labels);
  EXPECT_EQ(test::run_cli(args, nullptr, &err), 0) << err;

  auto file = SafetensorsFile::open(ckpt + "/model.safetensors");
  Rng rng(seed + 1);
  SafetensorsWriter w;
  for (const TensorInfo& t : file->tensors()) {
    std::vector<float> v = file->read_f32(t);
    for (float& e : v) e += (float)(0.05 * rng.normal());
    w.add_f32(t.name, t.shape, v.data());
  }
  file.reset();
  w.write(ckpt + "/model.safetensors");
  return ckpt;
}

NaiveBert load_reference(const std::string& dir) {
  NaiveBert r;
  r.cfg = nlohmann::json::parse(test::read_file(dir + "/config.json"));
  auto file = SafetensorsFile::open(dir + "/model.safetensors");
  for (const TensorInfo& t : file->tensors()) {
    std::vector<float> v = file->read_f32(t);
    r.p[t.name] = Vec(v.begin(), v.end());
  }
  r.megatron = r.cfg["model_type"] == "megatron-bert";
  const std::string arch = r.cfg["architectures"][0];
  r.pre = arch.ends_with("Model") ? "" : "bert.";
  r.H = r.cfg["hidden_size"];
  r.I = r.cfg["intermediate_size"];
  r.L = r.cfg["num_hidden_layers"];
  r.heads = r.cfg["num_attention_heads"];
  r.eps = r.cfg["layer_norm_eps"];
  r.act_name = r.cfg["hidden_act"];
  return r;
}

// Text pairs "[CLS] a [SEP] b [SEP]" with token types 0 then 1; the first sequence fills the
// position table exactly.
struct Pair {
  std::vector<int32_t> ids, types;
};
std::vector<Pair> make_pairs(int64_t vocab, int64_t max_positions, uint64_t seed) {
  Rng rng(seed);
  std::vector<Pair> out;
  for (auto [a, b] : {std::pair<int64_t, int64_t>{max_positions / 2 - 2, max_positions - max_positions / 2 - 1},
                      {9, 11}, {2, 0}, {1, 1}}) {
    Pair p;
    auto push = [&](int32_t id, int32_t type) {
      p.ids.push_back(id);
      p.types.push_back(type);
    };
    push(101, 0);
    for (int64_t i = 0; i < a; ++i) push((int32_t)rng.below((uint64_t)vocab), 0);
    push(102, 0);
    if (b > 0) {
      for (int64_t i = 0; i < b; ++i) push((int32_t)rng.below((uint64_t)vocab), 1);
      push(102, 1);
    }
    out.push_back(std::move(p));
  }
  return out;
}

void check_against_reference(const Case& c, uint64_t seed) {
  SCOPED_TRACE(c.arch);
  const std::string dir = make_checkpoint(c, seed);
  const NaiveBert ref = load_reference(dir);
  auto model = load_encoder(dir);
  const ModelInfo& info = model->info();
  const int64_t H = info.hidden_size;
  const auto pairs = make_pairs(info.vocab_size, info.max_positions, seed + 2);
  ASSERT_EQ((int64_t)pairs[0].ids.size(), info.max_positions);
  Batch batch;
  for (const Pair& p : pairs) batch.add(p.ids, p.types);
  const ForwardOutput out = model->forward(batch, {});

  const double tol = 5e-5;
  double worst_hidden = 0, worst_pool = 0, worst_logits = 0;
  for (size_t b = 0; b < pairs.size(); ++b) {
    const int64_t n = (int64_t)pairs[b].ids.size(), first = batch.offsets[b];
    const Vec hidden = ref.hidden(pairs[b].ids, pairs[b].types);
    worst_hidden = std::max(worst_hidden, max_diff(out.last_hidden_state, (size_t)(first * H), hidden));
    if (info.has_pooler) worst_pool = std::max(worst_pool, max_diff(out.pooler_output, b * H, ref.pooler(hidden)));
    switch (info.head.kind) {
      case HeadKind::TokenClassification: {
        ASSERT_EQ(out.logits_cols, info.head.num_labels);
        const Vec logits = ref.linear(hidden, n, "classifier", H, info.head.num_labels);
        worst_logits = std::max(worst_logits, max_diff(out.logits, (size_t)(first * out.logits_cols), logits));
        break;
      }
      case HeadKind::SequenceClassification: {
        const Vec logits = ref.linear(ref.pooler(hidden), 1, "classifier", H, info.head.num_labels);
        worst_logits = std::max(worst_logits, max_diff(out.logits, b * out.logits_cols, logits));
        break;
      }
      case HeadKind::MaskedLM:
        worst_logits = std::max(worst_logits, max_diff(out.logits, (size_t)(first * out.logits_cols),
                                                       ref.mlm_logits(hidden, n)));
        break;
      case HeadKind::Base:
        EXPECT_TRUE(out.logits.empty());
        break;
    }
  }
  EXPECT_LT(worst_hidden, tol);
  EXPECT_LT(worst_pool, tol);
  EXPECT_LT(worst_logits, tol);
  EXPECT_EQ(out.pooler_output.empty(), !info.has_pooler);
  EXPECT_EQ(out.logits.empty(), info.head.kind == HeadKind::Base);
}

nlohmann::json cased_config(const char* model_type, int layers, const char* act = "gelu") {
  // A cased vocabulary (bert-base-cased has 28996 entries), head size 16, a short position table so
  // one sequence can fill it.
  return {{"model_type", model_type}, {"vocab_size", 28996},      {"hidden_size", 96},
          {"num_hidden_layers", layers}, {"num_attention_heads", 6}, {"intermediate_size", 192},
          {"hidden_act", act},           {"max_position_embeddings", 64}, {"type_vocab_size", 2},
          {"initializer_range", 0.05},   {"layer_norm_eps", 1e-12},   {"pad_token_id", 0}};
}

}  // namespace

TEST(BertReference, CasedBertTokenClassification43LabelsOnPairs) {
  check_against_reference({"BertForTokenClassification", cased_config("bert", 5), 43}, 11);
}

TEST(BertReference, CasedMegatronTokenClassification43LabelsOnPairs) {
  check_against_reference({"MegatronBertForTokenClassification", cased_config("megatron-bert", 6), 43}, 12);
}

TEST(BertReference, BertSequenceClassificationOnPairs) {
  check_against_reference({"BertForSequenceClassification", cased_config("bert", 3), 3}, 13);
}

TEST(BertReference, MegatronSequenceClassificationThreeTokenTypes) {
  nlohmann::json c = cased_config("megatron-bert", 3);
  c["type_vocab_size"] = 3;
  check_against_reference({"MegatronBertForSequenceClassification", c, 5}, 14);
}

TEST(BertReference, BareModelsWithPooler) {
  check_against_reference({"BertModel", cased_config("bert", 4), 0}, 15);
  check_against_reference({"MegatronBertModel", cased_config("megatron-bert", 4), 0}, 16);
}

TEST(BertReference, MaskedLMWithTanhGelu) {
  nlohmann::json c = cased_config("bert", 2, "gelu_new");
  c["vocab_size"] = 4000;  // keeps the double-precision decoder quick
  check_against_reference({"BertForMaskedLM", c, 0}, 17);
  nlohmann::json m = cased_config("megatron-bert", 2);
  m["vocab_size"] = 3000;
  check_against_reference({"MegatronBertForMaskedLM", m, 0}, 18);
}
