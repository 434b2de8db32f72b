#pragma once
// Compares a model's `medenc forward` outputs with a Hugging Face fixture (tests/data/fixtures/NAME:
// config.json + weights, inputs.json, expected.safetensors) over real tokens.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "medenc/forward.h"
#include "medenc/model.h"
#include "medenc/safetensors.h"
#include "test_support.h"

namespace medenc::test {

struct ExpectedTensors {
  std::shared_ptr<SafetensorsFile> file;
  std::vector<float> get(const std::string& name) const { return file->read_f32(*file->find(name)); }
  bool has(const std::string& name) const { return file->find(name) != nullptr; }
};

// Mask selecting the real-token rows of a [B, T, C] tensor.
inline std::vector<bool> token_mask(const PaddedInputs& in, int64_t cols) {
  std::vector<bool> mask((size_t)(in.batch * in.seq_len * cols));
  for (int64_t b = 0; b < in.batch; ++b)
    for (int64_t t = 0; t < in.seq_len; ++t)
      for (int64_t c = 0; c < cols; ++c) mask[(b * in.seq_len + t) * cols + c] = t < in.lengths[b];
  return mask;
}

inline const NamedTensor& output(const std::vector<NamedTensor>& outs, const std::string& name) {
  for (auto& t : outs)
    if (t.name == name) return t;
  throw std::runtime_error("no output " + name);
}

// The fixture's inputs, with the MLM positions of fixtures that store logits only there.
inline PaddedInputs fixture_inputs(const std::string& dir, const ExpectedTensors& exp) {
  PaddedInputs in = read_padded_inputs(dir + "/inputs.json");
  if (exp.has("mlm_positions")) {
    auto pos = exp.file->read_i64(*exp.file->find("mlm_positions"));
    for (size_t k = 0; k + 1 < pos.size(); k += 2) in.positions.emplace_back(pos[k], pos[k + 1]);
  }
  return in;
}

// Every expected output (last_hidden_state, pooler_output, logits, mlm_logits_at_positions) within
// tol of `outs` over real tokens (the hidden states within hidden_tol when given); a missing output
// fails.
inline void expect_matches_fixture(const std::vector<NamedTensor>& outs, const PaddedInputs& in,
                                   const ExpectedTensors& exp, int64_t vocab_size, double tol,
                                   double hidden_tol = 0.0) {
  const NamedTensor& hidden = output(outs, "last_hidden_state");
  const int64_t H = hidden.shape[2];
  EXPECT_LT(max_abs_diff(hidden.data, exp.get("last_hidden_state"), token_mask(in, H)),
            hidden_tol > 0 ? hidden_tol : tol);

  if (exp.has("logits")) {
    const NamedTensor& logits = output(outs, "logits");
    std::vector<float> want = exp.get("logits");
    ASSERT_EQ(logits.data.size(), want.size());
    std::vector<bool> mask;
    if (logits.shape.size() == 3) mask = token_mask(in, logits.shape[2]);
    EXPECT_LT(max_abs_diff(logits.data, want, mask), tol);
  }
  if (exp.has("mlm_logits_at_positions")) {
    const NamedTensor& logits = output(outs, "logits");
    EXPECT_EQ(logits.shape, (std::vector<int64_t>{(int64_t)in.positions.size(), vocab_size}));
    EXPECT_LT(max_abs_diff(logits.data, exp.get("mlm_logits_at_positions")), tol);
  }
  if (exp.has("pooler_output")) {
    EXPECT_LT(max_abs_diff(output(outs, "pooler_output").data, exp.get("pooler_output")), tol);
  }
}

// Loads fixture NAME (or the model in model_dir instead of the fixture's own weights) and checks it.
inline void check_fixture(const std::string& name, LoadOptions options = {}, double tol = 5e-5,
                          const std::string& model_dir = "", double hidden_tol = 0.0) {
  SCOPED_TRACE(name);
  const std::string dir = fixture_dir(name);
  ExpectedTensors exp{SafetensorsFile::open(dir + "/expected.safetensors")};
  PaddedInputs in = fixture_inputs(dir, exp);
  auto model = load_encoder(model_dir.empty() ? dir : model_dir, options);
  expect_matches_fixture(run_padded_forward(*model, in), in, exp, model->info().vocab_size, tol, hidden_tol);
}

}  // namespace medenc::test
