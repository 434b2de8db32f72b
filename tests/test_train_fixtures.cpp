// Training against Hugging Face fixtures made with torch 1.13 (tests/data/fixtures/*/expected_train):
// the loss at the initial parameters and after 1 and 2 AdamW steps, every parameter's gradient, and
// every parameter after 1 and 3 steps of torch.optim.AdamW(lr 1e-3, wd 0.01 on all parameters).
#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>

#include "medenc/forward.h"
#include "medenc/safetensors.h"
#include "medenc/train.h"
#include "test_support.h"

using namespace medenc;

namespace {

constexpr double kLr = 1e-3, kWeightDecay = 0.01;

struct TrainFixture {
  std::unique_ptr<TrainableEncoder> model;
  PaddedInputs inputs;
  Batch batch;
  TrainLabels labels;
  std::shared_ptr<SafetensorsFile> expected;

  explicit TrainFixture(const std::string& name) {
    const std::string dir = test::fixture_dir(name);
    model = load_trainable(dir);
    inputs = read_padded_inputs(dir + "/inputs.json");
    batch = inputs.to_batch();
    expected = SafetensorsFile::open(dir + "/expected_train.safetensors");
    const TensorInfo& t = *expected->find("labels");
    if (t.dtype == DType::F32) {
      labels.values = expected->read_f32(t);
    } else {
      const std::vector<int64_t> v = expected->read_i64(t);
      if (t.shape.size() == 2) {  // token labels [B, T]: keep the real tokens, packed like the batch
        for (int64_t b = 0; b < inputs.batch; ++b)
          for (int64_t j = 0; j < inputs.lengths[b]; ++j) labels.classes.push_back((int32_t)v[b * inputs.seq_len + j]);
      } else {
        labels.classes.assign(v.begin(), v.end());
      }
    }
  }
  std::vector<float> get(const std::string& name) const { return expected->read_f32(*expected->find(name)); }
  std::vector<int64_t> rows(const std::string& param) const {
    const TensorInfo* t = expected->find("rows/" + param);
    return t ? expected->read_i64(*t) : std::vector<int64_t>{};
  }
  double loss() {
    TrainOptions o;
    o.dropout = false;
    return model->forward_train(batch, labels, o).loss;
  }
};

// Compares `actual` (a whole tensor) with `expected` (the whole tensor, or only the listed rows) within
// atol + rtol * |expected|; rows not listed must equal `unlisted(i)`. Returns the failures, described.
template <class Unlisted>
std::vector<std::string> compare_tensor(const std::string& what, const ParamSpec& spec, const float* actual,
                                        const std::vector<float>& expected, const std::vector<int64_t>& rows,
                                        double atol, double rtol, Unlisted unlisted) {
  std::vector<std::string> bad;
  const int64_t cols = spec.shape.size() == 2 ? spec.shape[1] : (int64_t)spec.numel;
  auto check = [&](size_t i, float want) {
    if (!(std::fabs((double)actual[i] - want) <= atol + rtol * std::fabs((double)want)) && bad.size() < 3)
      bad.push_back(fmt::format("{} {}[{}]: {} vs expected {}", what, spec.name, i, actual[i], want));
  };
  if (rows.empty()) {
    if (expected.size() != spec.numel)
      return {fmt::format("{} {}: size {} vs {}", what, spec.name, expected.size(), spec.numel)};
    for (size_t i = 0; i < spec.numel; ++i) check(i, expected[i]);
    return bad;
  }
  std::vector<bool> listed((size_t)spec.shape[0], false);
  for (size_t r = 0; r < rows.size(); ++r) {
    listed[(size_t)rows[r]] = true;
    for (int64_t c = 0; c < cols; ++c) check((size_t)(rows[r] * cols + c), expected[r * cols + c]);
  }
  for (int64_t r = 0; r < spec.shape[0]; ++r)
    if (!listed[(size_t)r])
      for (int64_t c = 0; c < cols; ++c) {
        const size_t i = (size_t)(r * cols + c);
        if (actual[i] != unlisted(i) && bad.size() < 3)
          bad.push_back(
              fmt::format("{} {}[{}] (unlisted row {}): {} vs {}", what, spec.name, i, r, actual[i], unlisted(i)));
      }
  return bad;
}

bool is_key_bias(const std::string& name) { return name.ends_with("attention.self.key.bias"); }

void check_training_fixture(const std::string& name) {
  SCOPED_TRACE(name);
  TrainFixture f(name);
  TrainableEncoder& model = *f.model;
  const ParameterSet& ps = model.parameters();
  const std::vector<float> initial(ps.data(), ps.data() + ps.total());
  const std::vector<float> losses = f.get("loss");

  // Loss and logits at the initial parameters.
  model.zero_grad();
  TrainOptions o;
  o.dropout = false;
  o.keep_logits = true;
  TrainOutput out = model.forward_train(f.batch, f.labels, o);
  EXPECT_NEAR(out.loss, losses[0], 1e-5 * std::max(1.0, std::fabs((double)losses[0])));
  {
    // Fixture logits are padded [B, T, C] for token heads: keep the real tokens.
    std::vector<float> want = f.get("logits");
    const TensorInfo& t = *f.expected->find("logits");
    if (t.shape.size() == 3) {
      std::vector<float> packed;
      for (int64_t b = 0; b < f.inputs.batch; ++b)
        for (int64_t j = 0; j < f.inputs.lengths[b]; ++j)
          packed.insert(packed.end(), want.begin() + (b * t.shape[1] + j) * t.shape[2],
                        want.begin() + (b * t.shape[1] + j + 1) * t.shape[2]);
      want = packed;
    }
    EXPECT_LT(test::max_abs_diff(out.logits, want), 2e-5);
  }

  // Every gradient.
  model.backward();
  const std::vector<float>& grads = model.gradients();
  int checked = 0;
  for (const ParamSpec& spec : ps.specs()) {
    ASSERT_TRUE(f.expected->find("grad/" + spec.name)) << "fixture has no gradient for " << spec.name;
    const double atol = is_key_bias(spec.name) ? 1e-5 : 1e-6;
    for (const std::string& msg :
         compare_tensor("gradient", spec, grads.data() + spec.offset, f.get("grad/" + spec.name), f.rows(spec.name),
                        atol, 1e-4, [](size_t) { return 0.0f; }))
      ADD_FAILURE() << msg;
    ++checked;
  }
  EXPECT_EQ(checked, (int)ps.specs().size());

  // Three AdamW steps on the same batch (weight decay on every parameter); losses after 1 and 2 steps.
  AdamWOptions ao;
  ao.weight_decay = kWeightDecay;
  ao.decay_all = true;
  AdamW opt(ps, ao);
  const float decay = (float)(1.0 - kLr * kWeightDecay);
  for (int step = 1; step <= 3; ++step) {
    opt.step(model.parameters(), model.gradients(), kLr);
    model.parameters_changed();
    if (step == 1 || step == 3) {
      const std::string prefix = fmt::format("step{}/", step);
      for (const ParamSpec& spec : ps.specs()) {
        auto decayed_only = [&](size_t i) {
          float p = initial[spec.offset + i];
          for (int k = 0; k < step; ++k) p = p * decay;
          return p;
        };
        const double atol = is_key_bias(spec.name) ? 1e-3 : 2e-4;
        for (const std::string& msg : compare_tensor(prefix, spec, ps.at(&spec - ps.specs().data()),
                                                     f.get(prefix + spec.name), f.rows(spec.name), atol, 0.0,
                                                     decayed_only))
          ADD_FAILURE() << msg;
      }
    }
    if (step < 3) {
      model.zero_grad();
      TrainOptions o2;
      o2.dropout = false;
      const double loss = model.forward_train(f.batch, f.labels, o2).loss;
      EXPECT_NEAR(loss, losses[step], 1e-4 * std::max(1.0, std::fabs((double)losses[step]))) << "after step " << step;
      model.backward();
    }
  }
}

}  // namespace

TEST(TrainFixtures, ModernBertRegressionMeanPooling) { check_training_fixture("modernbert_seqcls_regression_mean"); }
TEST(TrainFixtures, ModernBertMultiLabelClsPooling) { check_training_fixture("modernbert_seqcls_multilabel_cls"); }
TEST(TrainFixtures, MegatronTokenClassification43Labels) { check_training_fixture("megatron_tokcls43_smallvocab"); }
