// End-to-end gradient checks of whole models on configurations the Hugging Face fixtures do not cover:
// both families (ModernBERT; BERT post-LN and Megatron pre-LN), every head and loss, biases on, other
// windows and activations, and training-mode dropout. Random tiny models (medenc's init, then every
// parameter perturbed so LayerNorm weights are not 1 and biases not 0); the backward's gradient of
// each parameter tensor is checked against central finite differences of the model's own loss along
// that gradient's direction, and the whole gradient along random directions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "medenc/bert.h"
#include "medenc/error.h"
#include "medenc/modernbert.h"
#include "medenc/train.h"
#include "util/random.h"

using namespace medenc;

namespace {

HeadConfig head(const std::string& arch, HeadKind kind, int labels, ProblemType pt = ProblemType::Unset) {
  HeadConfig h;
  h.architecture = arch;
  h.kind = kind;
  h.num_labels = labels;
  for (int i = 0; i < labels; ++i) h.id2label.push_back("LABEL_" + std::to_string(i));
  h.problem_type = pt;
  return h;
}

ModernBertConfig tiny_modernbert(HeadConfig h) {
  ModernBertConfig c = modernbert_preset("tiny");
  c.vocab_size = 40;
  c.pad_token_id = 0;
  c.cls_token_id = c.bos_token_id = 1;
  c.sep_token_id = c.eos_token_id = 2;
  c.hidden_size = 16;
  c.num_attention_heads = 2;
  c.intermediate_size = 12;
  c.num_hidden_layers = 3;
  c.global_attn_every_n_layers = 2;
  c.local_attention = 6;  // window |i - j| <= 3, shorter than the longer sequences
  c.layer_is_global = {true, false, true};
  c.head = std::move(h);
  return c;
}

BertConfig tiny_bert(Family family, HeadConfig h) {
  BertConfig c = bert_preset(family, "tiny");
  c.vocab_size = 40;
  c.hidden_size = 16;
  c.num_attention_heads = 2;
  c.intermediate_size = 24;
  c.num_hidden_layers = 2;
  c.max_position_embeddings = 32;
  c.type_vocab_size = 2;
  c.pad_token_id = 0;
  c.hidden_dropout_prob = 0.0;
  c.attention_probs_dropout_prob = 0.0;
  c.head = std::move(h);
  return c;
}

// medenc's init, then every parameter moved by N(0, 0.1^2).
void randomize(TrainableEncoder& model, uint64_t seed) {
  Rng rng(seed);
  ParameterSet& ps = model.parameters();
  for (size_t i = 0; i < ps.total(); ++i) ps.data()[i] += (float)(0.1 * rng.normal());
  model.parameters_changed();
}

Batch make_batch(const std::vector<int64_t>& lengths, int64_t vocab, bool with_types, uint64_t seed) {
  Rng rng(seed);
  Batch b;
  for (int64_t len : lengths) {
    std::vector<int32_t> ids((size_t)len), types((size_t)len, 0);
    for (int64_t t = 0; t < len; ++t) {
      ids[t] = 1 + (int32_t)rng.below((uint64_t)vocab - 1);  // never the padding id 0 ...
      types[t] = t >= len / 2 ? 1 : 0;
    }
    if (len > 3) ids[2] = 0;  // ... except once: the padding row must get no gradient from the lookup
    b.add(ids, with_types ? std::span<const int32_t>(types) : std::span<const int32_t>());
  }
  return b;
}

struct Case {
  TrainLabels labels;
  TrainOptions options;
};

double loss_at(TrainableEncoder& model, const Batch& batch, const Case& c) {
  return model.forward_train(batch, c.labels, c.options).loss;
}

// Moves the parameters by step * direction (same layout as the parameters).
void move(TrainableEncoder& model, const std::vector<double>& direction, double step) {
  ParameterSet& ps = model.parameters();
  for (size_t i = 0; i < ps.total(); ++i)
    if (direction[i] != 0.0) ps.data()[i] = (float)((double)ps.data()[i] + step * direction[i]);
  model.parameters_changed();
}

// Central difference of the loss along `direction`; the parameters are restored exactly afterwards.
// The padding row of the input embeddings (id 0) is left out: the loss does depend on it, but by
// nn.Embedding's padding_idx rule its lookup sends it no gradient.
double directional_fd(TrainableEncoder& model, const Batch& batch, const Case& c, std::vector<double> direction,
                      double h) {
  const ParamSpec& emb = model.parameters().specs()[0];
  std::fill(direction.begin() + (ptrdiff_t)emb.offset, direction.begin() + (ptrdiff_t)(emb.offset + emb.shape[1]), 0.0);
  const std::vector<float> saved(model.parameters().data(), model.parameters().data() + model.parameters().total());
  move(model, direction, h);
  const double up = loss_at(model, batch, c);
  std::copy(saved.begin(), saved.end(), model.parameters().data());
  move(model, direction, -h);
  const double down = loss_at(model, batch, c);
  std::copy(saved.begin(), saved.end(), model.parameters().data());
  model.parameters_changed();
  return (up - down) / (2 * h);
}

void check_model_gradients(TrainableEncoder& model, const Batch& batch, const Case& c) {
  model.zero_grad();
  model.forward_train(batch, c.labels, c.options);
  model.backward();
  const std::vector<float> grad = model.gradients();
  const ParameterSet& ps = model.parameters();
  const double h = 1e-2;

  // Each tensor along its own gradient: the derivative there must be |g_tensor|.
  int checked = 0;
  const size_t pad_row_end = ps.specs()[0].offset + (size_t)ps.specs()[0].shape[1];
  for (const ParamSpec& spec : ps.specs()) {
    double norm2 = 0;
    for (size_t i = 0; i < spec.numel; ++i)
      if (spec.offset + i >= pad_row_end) norm2 += (double)grad[spec.offset + i] * grad[spec.offset + i];
    const double norm = std::sqrt(norm2);
    if (norm < 1e-4) continue;  // e.g. BERT's key bias: zero by softmax shift invariance
    std::vector<double> dir(ps.total(), 0.0);
    for (size_t i = 0; i < spec.numel; ++i)
      if (spec.offset + i >= pad_row_end) dir[spec.offset + i] = grad[spec.offset + i] / norm;
    const double fd = directional_fd(model, batch, c, dir, h);
    EXPECT_NEAR(fd, norm, 1e-2 * norm + 2e-4) << spec.name;
    ++checked;
  }
  EXPECT_GT(checked, (int)ps.specs().size() / 2);

  // The whole gradient along random directions (catches wrong components orthogonal to the gradient).
  Rng rng(7);
  double gnorm2 = 0;
  for (float g : grad) gnorm2 += (double)g * g;
  for (int k = 0; k < 3; ++k) {
    std::vector<double> dir(ps.total());
    double n2 = 0;
    for (double& v : dir) {
      v = rng.normal();
      n2 += v * v;
    }
    double predicted = 0;
    for (size_t i = 0; i < dir.size(); ++i)
      if (i >= pad_row_end) predicted += grad[i] * (dir[i] /= std::sqrt(n2));
    const double fd = directional_fd(model, batch, c, dir, h);
    EXPECT_NEAR(fd, predicted, 1e-2 * std::fabs(predicted) + 1e-3 * std::sqrt(gnorm2) + 2e-4)
        << "random direction " << k;
  }

  // The padding row (id 0, present in the batch) of the input embeddings gets no gradient from the
  // lookup; a tied masked-LM decoder still sends it one.
  const ParamSpec& emb = ps.specs()[0];
  ASSERT_TRUE(emb.name.ends_with("word_embeddings.weight") || emb.name.ends_with("tok_embeddings.weight"));
  ASSERT_NE(std::find(batch.ids.begin(), batch.ids.end(), 0), batch.ids.end());
  const int64_t dim = emb.shape[1];
  const int64_t used = batch.ids[0];
  double pad_row = 0, used_row = 0;
  for (int64_t i = 0; i < dim; ++i) {
    pad_row += std::fabs(grad[emb.offset + i]);
    used_row += std::fabs(grad[emb.offset + used * dim + i]);
  }
  if (model.info().head.kind != HeadKind::MaskedLM) {
    EXPECT_EQ(pad_row, 0.0);
  }
  EXPECT_GT(used_row, 0.0);
}

Case sequence_values(const std::vector<float>& values) {
  Case c;
  c.labels.values = values;
  c.options.dropout = false;
  return c;
}

Case class_labels(std::vector<int32_t> classes) {
  Case c;
  c.labels.classes = std::move(classes);
  c.options.dropout = false;
  return c;
}

// Token labels for a batch: random classes with some -100.
std::vector<int32_t> token_labels(const Batch& b, int classes, uint64_t seed, bool mostly_ignored = false) {
  Rng rng(seed);
  std::vector<int32_t> out((size_t)b.tokens());
  for (auto& v : out) v = rng.uniform() < (mostly_ignored ? 0.7 : 0.2) ? -100 : (int32_t)rng.below((uint64_t)classes);
  out[1] = 1;
  return out;
}

const std::vector<int64_t> kLengths = {9, 3, 12};

}  // namespace

// ---------------------------------------------------------------------------------------------
// ModernBERT

TEST(GradcheckModels, ModernBertRegressionMeanPoolingWithBiases) {
  ModernBertConfig c = tiny_modernbert(head("ModernBertForSequenceClassification", HeadKind::SequenceClassification, 1,
                                            ProblemType::Regression));
  c.attention_bias = c.mlp_bias = c.norm_bias = c.classifier_bias = true;
  c.classifier_pooling = "mean";
  ModernBertModel model(c, {});
  model.init_weights(1);
  randomize(model, 2);
  check_model_gradients(model, make_batch(kLengths, c.vocab_size, false, 3), sequence_values({0.5f, -1.0f, 2.0f}));
}

TEST(GradcheckModels, ModernBertMultiLabelClsPoolingTanhGelu) {
  ModernBertConfig c = tiny_modernbert(head("ModernBertForSequenceClassification", HeadKind::SequenceClassification, 3,
                                            ProblemType::MultiLabel));
  c.hidden_activation = "gelu_pytorch_tanh";
  c.classifier_activation = "silu";
  c.classifier_pooling = "cls";
  ModernBertModel model(c, {});
  model.init_weights(4);
  randomize(model, 5);
  check_model_gradients(model, make_batch(kLengths, c.vocab_size, false, 6),
                        sequence_values({1, 0, 1, 0, 0, 1, 1, 1, 0}));
}

TEST(GradcheckModels, ModernBertSingleLabelInferredProblemType) {
  ModernBertConfig c =
      tiny_modernbert(head("ModernBertForSequenceClassification", HeadKind::SequenceClassification, 4));
  c.hidden_activation = "silu";
  ModernBertModel model(c, {});
  model.init_weights(7);
  randomize(model, 8);
  check_model_gradients(model, make_batch(kLengths, c.vocab_size, false, 9), class_labels({3, 0, 2}));
}

TEST(GradcheckModels, ModernBertTokenClassificationWindowOne) {
  ModernBertConfig c = tiny_modernbert(head("ModernBertForTokenClassification", HeadKind::TokenClassification, 5));
  c.local_attention = 2;  // |i - j| <= 1
  c.num_hidden_layers = 2;
  c.layer_is_global = {false, false};
  c.mlp_bias = true;
  ModernBertModel model(c, {});
  model.init_weights(10);
  randomize(model, 11);
  const Batch b = make_batch(kLengths, c.vocab_size, false, 12);
  check_model_gradients(model, b, class_labels(token_labels(b, 5, 13)));
}

TEST(GradcheckModels, ModernBertMaskedLMTiedDecoder) {
  ModernBertConfig c = tiny_modernbert(head("ModernBertForMaskedLM", HeadKind::MaskedLM, 2));
  ModernBertModel model(c, {});
  model.init_weights(14);
  randomize(model, 15);
  const Batch b = make_batch(kLengths, c.vocab_size, false, 16);
  check_model_gradients(model, b, class_labels(token_labels(b, (int)c.vocab_size, 17, /*mostly_ignored=*/true)));
}

TEST(GradcheckModels, ModernBertMaskedLMUntiedDecoderWithoutBias) {
  ModernBertConfig c = tiny_modernbert(head("ModernBertForMaskedLM", HeadKind::MaskedLM, 2));
  c.tie_word_embeddings = false;
  c.decoder_bias = false;
  ModernBertModel model(c, {});
  model.init_weights(18);
  randomize(model, 19);
  const Batch b = make_batch(kLengths, c.vocab_size, false, 20);
  check_model_gradients(model, b, class_labels(token_labels(b, (int)c.vocab_size, 21, true)));
}

TEST(GradcheckModels, ModernBertEveryDropoutSiteInTrainingMode) {
  ModernBertConfig c = tiny_modernbert(head("ModernBertForSequenceClassification", HeadKind::SequenceClassification, 1,
                                            ProblemType::Regression));
  c.attention_dropout = c.mlp_dropout = c.embedding_dropout = c.classifier_dropout = 0.2;
  c.attention_bias = true;
  ModernBertModel model(c, {});
  model.init_weights(22);
  randomize(model, 23);
  const Batch b = make_batch(kLengths, c.vocab_size, false, 24);
  Case k = sequence_values({0.5f, -1.0f, 2.0f});
  k.options.dropout = true;
  k.options.seed = 77;
  // Same seed, same loss; another seed, another mask; dropout off differs from on.
  const double a = loss_at(model, b, k), again = loss_at(model, b, k);
  EXPECT_EQ(a, again);
  Case other = k;
  other.options.seed = 78;
  EXPECT_NE(loss_at(model, b, other), a);
  Case off = k;
  off.options.dropout = false;
  EXPECT_NE(loss_at(model, b, off), a);
  check_model_gradients(model, b, k);
}

// ---------------------------------------------------------------------------------------------
// BERT (post-LN) and Megatron-BERT (pre-LN)

TEST(GradcheckModels, BertSequenceClassificationPoolerSingleLabel) {
  BertModel model(tiny_bert(Family::Bert, head("BertForSequenceClassification", HeadKind::SequenceClassification, 3)),
                  {});
  model.init_weights(30);
  randomize(model, 31);
  check_model_gradients(model, make_batch(kLengths, 40, true, 32), class_labels({2, 0, 1}));
}

TEST(GradcheckModels, BertRegressionAndMultiLabel) {
  {
    BertModel model(tiny_bert(Family::Bert, head("BertForSequenceClassification", HeadKind::SequenceClassification, 1)),
                    {});
    model.init_weights(33);
    randomize(model, 34);
    check_model_gradients(model, make_batch(kLengths, 40, false, 35), sequence_values({1.5f, -0.5f, 0.0f}));
  }
  {
    BertConfig c = tiny_bert(Family::Bert, head("BertForSequenceClassification", HeadKind::SequenceClassification, 2,
                                                ProblemType::MultiLabel));
    c.hidden_act = "gelu_new";
    BertModel model(c, {});
    model.init_weights(36);
    randomize(model, 37);
    check_model_gradients(model, make_batch(kLengths, 40, true, 38), sequence_values({1, 0, 0, 1, 1, 1}));
  }
}

TEST(GradcheckModels, BertTokenClassification) {
  BertModel model(tiny_bert(Family::Bert, head("BertForTokenClassification", HeadKind::TokenClassification, 4)), {});
  model.init_weights(40);
  randomize(model, 41);
  const Batch b = make_batch(kLengths, 40, true, 42);
  check_model_gradients(model, b, class_labels(token_labels(b, 4, 43)));
}

TEST(GradcheckModels, BertMaskedLMTiedDecoder) {
  BertModel model(tiny_bert(Family::Bert, head("BertForMaskedLM", HeadKind::MaskedLM, 2)), {});
  model.init_weights(44);
  randomize(model, 45);
  const Batch b = make_batch(kLengths, 40, true, 46);
  check_model_gradients(model, b, class_labels(token_labels(b, 40, 47, true)));
}

TEST(GradcheckModels, BertWithDropoutInTrainingMode) {
  BertConfig c = tiny_bert(Family::Bert, head("BertForSequenceClassification", HeadKind::SequenceClassification, 2,
                                              ProblemType::SingleLabel));
  c.hidden_dropout_prob = 0.15;
  c.attention_probs_dropout_prob = 0.1;
  c.classifier_dropout = 0.3;
  BertModel model(c, {});
  model.init_weights(48);
  randomize(model, 49);
  Case k = class_labels({1, 0, 1});
  k.options.dropout = true;
  k.options.seed = 5;
  check_model_gradients(model, make_batch(kLengths, 40, true, 50), k);
}

TEST(GradcheckModels, MegatronSequenceClassificationWithDropout) {
  BertConfig c = tiny_bert(Family::MegatronBert,
                           head("MegatronBertForSequenceClassification", HeadKind::SequenceClassification, 3));
  c.hidden_dropout_prob = 0.1;
  c.attention_probs_dropout_prob = 0.1;
  BertModel model(c, {});
  model.init_weights(51);
  randomize(model, 52);
  Case k = class_labels({0, 2, 1});
  k.options.dropout = true;
  k.options.seed = 9;
  check_model_gradients(model, make_batch(kLengths, 40, true, 53), k);
}

TEST(GradcheckModels, MegatronTokenClassificationAndMaskedLM) {
  {
    BertModel model(
        tiny_bert(Family::MegatronBert, head("MegatronBertForTokenClassification", HeadKind::TokenClassification, 6)),
        {});
    model.init_weights(54);
    randomize(model, 55);
    const Batch b = make_batch(kLengths, 40, false, 56);
    check_model_gradients(model, b, class_labels(token_labels(b, 6, 57)));
  }
  {
    BertModel model(tiny_bert(Family::MegatronBert, head("MegatronBertForMaskedLM", HeadKind::MaskedLM, 2)), {});
    model.init_weights(58);
    randomize(model, 59);
    const Batch b = make_batch(kLengths, 40, true, 60);
    check_model_gradients(model, b, class_labels(token_labels(b, 40, 61, true)));
  }
}

// ---------------------------------------------------------------------------------------------
// Gradient accumulation and the training API's contracts

TEST(GradcheckModels, AccumulatedHalvesEqualTheWholeBatch) {
  ModernBertConfig c = tiny_modernbert(head("ModernBertForSequenceClassification", HeadKind::SequenceClassification, 1,
                                            ProblemType::Regression));
  ModernBertModel model(c, {});
  model.init_weights(62);
  randomize(model, 63);
  Batch whole = make_batch({7, 5, 8, 4}, c.vocab_size, false, 64);
  Batch first, second;
  for (int64_t b = 0; b < 4; ++b) {
    std::span<const int32_t> ids(whole.ids.data() + whole.offsets[b], (size_t)whole.length(b));
    (b < 2 ? first : second).add(ids);
  }
  const std::vector<float> values = {0.5f, -1.0f, 2.0f, 0.25f};
  TrainOptions o;
  o.dropout = false;
  model.zero_grad();
  model.forward_train(whole, {values, {}}, o);
  model.backward();
  const std::vector<float> g_whole = model.gradients();
  model.zero_grad();
  model.forward_train(first, {{values[0], values[1]}, {}}, o);
  model.backward(0.5f);
  model.forward_train(second, {{values[2], values[3]}, {}}, o);
  model.backward(0.5f);
  const std::vector<float>& g_acc = model.gradients();
  double max_err = 0, max_g = 0;
  for (size_t i = 0; i < g_whole.size(); ++i) {
    max_err = std::max(max_err, (double)std::fabs(g_whole[i] - g_acc[i]));
    max_g = std::max(max_g, (double)std::fabs(g_whole[i]));
  }
  EXPECT_LT(max_err, 1e-5 * max_g);
  EXPECT_GT(max_g, 0.0);
}

TEST(GradcheckModels, BadLabelsAndMissingForwardAreErrors) {
  ModernBertModel model(
      tiny_modernbert(head("ModernBertForTokenClassification", HeadKind::TokenClassification, 3)), {});
  model.init_weights(65);
  const Batch b = make_batch(kLengths, 40, false, 66);
  EXPECT_THROW(model.backward(), Error);
  EXPECT_THROW(model.forward_train(b, {{}, {1, 2}}, {}), Error);  // one label per token needed
  std::vector<int32_t> labels((size_t)b.tokens(), 0);
  labels[4] = 7;  // outside [0, 3)
  EXPECT_THROW(model.forward_train(b, {{}, labels}, {}), Error);
  ModernBertModel bare(tiny_modernbert(head("ModernBertModel", HeadKind::Base, 2)), {});
  EXPECT_THROW(bare.forward_train(b, {}, {}), Error);
  ModernBertModel regression(tiny_modernbert(head("ModernBertForSequenceClassification",
                                                  HeadKind::SequenceClassification, 1, ProblemType::Regression)),
                             {});
  EXPECT_THROW(regression.forward_train(b, {{1.0f}, {}}, {}), Error);  // three sequences, one value
}
