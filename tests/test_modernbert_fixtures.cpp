// ModernBERT forward against Hugging Face outputs (tests/data/fixtures, made by transformers eager
// fp32): every output within 5e-5 over real tokens.
#include <gtest/gtest.h>

#include "medenc/forward.h"
#include "medenc/model.h"
#include "medenc/safetensors.h"
#include "test_support.h"

using namespace medenc;

namespace {

struct Expected {
  std::shared_ptr<SafetensorsFile> file;
  std::vector<float> get(const std::string& name) const { return file->read_f32(*file->find(name)); }
  bool has(const std::string& name) const { return file->find(name) != nullptr; }
};

// Mask selecting the real-token rows of a [B, T, C] tensor.
std::vector<bool> token_mask(const PaddedInputs& in, int64_t cols) {
  std::vector<bool> mask((size_t)(in.batch * in.seq_len * cols));
  for (int64_t b = 0; b < in.batch; ++b)
    for (int64_t t = 0; t < in.seq_len; ++t)
      for (int64_t c = 0; c < cols; ++c) mask[(b * in.seq_len + t) * cols + c] = t < in.lengths[b];
  return mask;
}

const NamedTensor& output(const std::vector<NamedTensor>& outs, const std::string& name) {
  for (auto& t : outs)
    if (t.name == name) return t;
  throw std::runtime_error("no output " + name);
}

void check_fixture(const std::string& name, LoadOptions options = {}, double tol = 5e-5) {
  SCOPED_TRACE(name);
  const std::string dir = test::fixture_dir(name);
  PaddedInputs in = read_padded_inputs(dir + "/inputs.json");
  Expected exp{SafetensorsFile::open(dir + "/expected.safetensors")};
  if (exp.has("mlm_positions")) {
    auto pos = exp.file->read_i64(*exp.file->find("mlm_positions"));
    for (size_t k = 0; k + 1 < pos.size(); k += 2) in.positions.emplace_back(pos[k], pos[k + 1]);
  }
  auto model = load_encoder(dir, options);
  auto outs = run_padded_forward(*model, in);

  const NamedTensor& hidden = output(outs, "last_hidden_state");
  const int64_t H = hidden.shape[2];
  EXPECT_LT(test::max_abs_diff(hidden.data, exp.get("last_hidden_state"), token_mask(in, H)), tol);

  if (exp.has("logits")) {
    const NamedTensor& logits = output(outs, "logits");
    std::vector<float> want = exp.get("logits");
    ASSERT_EQ(logits.data.size(), want.size());
    std::vector<bool> mask;
    if (logits.shape.size() == 3) mask = token_mask(in, logits.shape[2]);
    EXPECT_LT(test::max_abs_diff(logits.data, want, mask), tol);
  }
  if (exp.has("mlm_logits_at_positions")) {
    const NamedTensor& logits = output(outs, "logits");
    EXPECT_EQ(logits.shape, (std::vector<int64_t>{(int64_t)in.positions.size(), model->info().vocab_size}));
    EXPECT_LT(test::max_abs_diff(logits.data, exp.get("mlm_logits_at_positions")), tol);
  }
  if (exp.has("pooler_output")) {
    EXPECT_LT(test::max_abs_diff(output(outs, "pooler_output").data, exp.get("pooler_output")), tol);
  }
}

}  // namespace

TEST(ModernBertFixtures, BareModelWithoutPrefix) { check_fixture("modernbert_base_smallvocab"); }
TEST(ModernBertFixtures, MaskedLMTiedDecoderAtPositions) { check_fixture("modernbert_mlm"); }
TEST(ModernBertFixtures, RegressionMeanPooling) { check_fixture("modernbert_seqcls_regression_mean"); }
TEST(ModernBertFixtures, MultiLabelClsPooling) { check_fixture("modernbert_seqcls_multilabel_cls"); }
TEST(ModernBertFixtures, SingleLabelThreeClasses) { check_fixture("modernbert_seqcls_single3_smallvocab"); }
TEST(ModernBertFixtures, TokenClassificationNineLabels) { check_fixture("modernbert_tokcls9_smallvocab"); }

TEST(ModernBertFixtures, SingleThreadMatchesToo) {
  LoadOptions o;
  o.threads = 1;
  check_fixture("modernbert_seqcls_regression_mean", o);
}
