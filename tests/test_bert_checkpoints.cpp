// The tensor-name variants real BERT / Megatron checkpoints carry (with or without "bert.", legacy
// gamma/beta, position_ids buffers, NSP heads, stored copies of tied tensors, poolers a head does not
// use) load to the same numbers; missing, misshaped or foreign tensors and unsupported configs fail
// with messages that name the tensor or field.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <regex>

#include "medenc/error.h"
#include "medenc/forward.h"
#include "medenc/model.h"
#include "medenc/safetensors.h"
#include "fixture_check.h"
#include "test_support.h"

using namespace medenc;

namespace {

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Copies fixture NAME to a temporary folder, passing its tensors through `edit` (which may rename,
// drop or add) and its config.json text through `edit_config`.
std::string rewrite_fixture(const std::string& name, const std::function<void(std::vector<Tensor>&)>& edit,
                            const std::function<std::string(std::string)>& edit_config = nullptr,
                            const std::vector<std::pair<std::string, std::vector<int64_t>>>& int_tensors = {}) {
  const std::string src = test::fixture_dir(name);
  auto file = SafetensorsFile::open(src + "/model.safetensors");
  std::vector<Tensor> tensors;
  for (const TensorInfo& t : file->tensors()) tensors.push_back({t.name, t.shape, file->read_f32(t)});
  edit(tensors);
  const std::string dir = test::temp_dir("bert_variant");
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (const Tensor& t : tensors) w.add_f32(t.name, t.shape, t.data.data());
  for (const auto& [tname, shape] : int_tensors) {
    std::vector<int64_t> v((size_t)shape.back());
    for (size_t i = 0; i < v.size(); ++i) v[i] = (int64_t)i;
    w.add_i64(tname, shape, v.data());
  }
  w.write(dir + "/model.safetensors");
  std::string config = test::read_file(src + "/config.json");
  test::write_file(dir + "/config.json", edit_config ? edit_config(config) : config);
  return dir;
}

std::vector<NamedTensor> run_fixture_inputs(const std::string& fixture, const std::string& model_dir) {
  PaddedInputs in = read_padded_inputs(test::fixture_dir(fixture) + "/inputs.json");
  auto model = load_encoder(model_dir);
  return run_padded_forward(*model, in);
}

// Bit-identical outputs (same weights, same kernels).
void expect_same_outputs(const std::string& fixture, const std::string& variant_dir) {
  auto want = run_fixture_inputs(fixture, test::fixture_dir(fixture));
  auto got = run_fixture_inputs(fixture, variant_dir);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_EQ(got[i].shape, want[i].shape);
    EXPECT_TRUE(got[i].data == want[i].data) << want[i].name;
  }
}

Tensor* find(std::vector<Tensor>& ts, const std::string& name) {
  for (Tensor& t : ts)
    if (t.name == name) return &t;
  return nullptr;
}

void rename_all(std::vector<Tensor>& ts, const std::function<std::string(const std::string&)>& f) {
  for (Tensor& t : ts) t.name = f(t.name);
}

std::string load_error(const std::string& dir) {
  try {
    load_encoder(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string replace_in(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  if (at == std::string::npos) throw std::runtime_error("config lacks " + from);
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST(BertCheckpoints, TaskModelWithoutBertPrefix) {
  for (const char* name : {"bert_seqcls_smallvocab", "megatron_tokcls43_smallvocab", "bert_mlm_smallvocab"}) {
    SCOPED_TRACE(name);
    expect_same_outputs(name, rewrite_fixture(name, [](auto& ts) {
      rename_all(ts, [](const std::string& n) { return n.rfind("bert.", 0) == 0 ? n.substr(5) : n; });
    }));
  }
}

TEST(BertCheckpoints, BareModelWithBertPrefix) {
  for (const char* name : {"bert_base_smallvocab", "megatron_base_smallvocab"}) {
    SCOPED_TRACE(name);
    expect_same_outputs(name, rewrite_fixture(name, [](auto& ts) {
      rename_all(ts, [](const std::string& n) { return "bert." + n; });
    }));
  }
}

TEST(BertCheckpoints, LegacyGammaBetaNames) {
  auto legacy = [](std::vector<Tensor>& ts) {
    int renamed = 0;
    rename_all(ts, [&](const std::string& n) {
      static const std::regex ln("(LayerNorm|ln)\\.(weight|bias)$");
      std::smatch m;
      if (!std::regex_search(n, m, ln)) return n;
      ++renamed;
      return n.substr(0, (size_t)m.position(2)) + (m[2] == "weight" ? "gamma" : "beta");
    });
    ASSERT_GT(renamed, 4);
  };
  expect_same_outputs("bert_mlm_smallvocab", rewrite_fixture("bert_mlm_smallvocab", legacy));
  expect_same_outputs("megatron_seqcls3_smallvocab", rewrite_fixture("megatron_seqcls3_smallvocab", legacy));
}

TEST(BertCheckpoints, PretrainingExtrasAreIgnored) {
  // An old BertForPreTraining-style file: position_ids buffer, NSP head, pooler, and stored copies of
  // the tied decoder weight and bias.
  const std::string dir = rewrite_fixture(
      "bert_mlm_smallvocab",
      [](std::vector<Tensor>& ts) {
        const Tensor word = *find(ts, "bert.embeddings.word_embeddings.weight");
        const Tensor bias = *find(ts, "cls.predictions.bias");
        ts.push_back({"cls.predictions.decoder.weight", word.shape, word.data});
        ts.push_back({"cls.predictions.decoder.bias", bias.shape, bias.data});
        ts.push_back({"cls.seq_relationship.weight", {2, 64}, std::vector<float>(128, 0.5f)});
        ts.push_back({"cls.seq_relationship.bias", {2}, {0.1f, 0.2f}});
        ts.push_back({"bert.pooler.dense.weight", {64, 64}, std::vector<float>(64 * 64, 0.01f)});
        ts.push_back({"bert.pooler.dense.bias", {64}, std::vector<float>(64, 0.0f)});
      },
      nullptr, {{"bert.embeddings.position_ids", {1, 512}}});
  expect_same_outputs("bert_mlm_smallvocab", dir);
}

TEST(BertCheckpoints, OnlyTheDecoderBiasCopyStored) {
  expect_same_outputs("bert_mlm_smallvocab", rewrite_fixture("bert_mlm_smallvocab", [](auto& ts) {
    find(ts, "cls.predictions.bias")->name = "cls.predictions.decoder.bias";
  }));
}

TEST(BertCheckpoints, TokenClassifierIgnoresPoolerTensors) {
  const std::string dir = rewrite_fixture("megatron_tokcls43_smallvocab", [](std::vector<Tensor>& ts) {
    ts.push_back({"bert.pooler.dense.weight", {64, 64}, std::vector<float>(64 * 64, 0.01f)});
    ts.push_back({"bert.pooler.dense.bias", {64}, std::vector<float>(64, 0.0f)});
  });
  expect_same_outputs("megatron_tokcls43_smallvocab", dir);
}

TEST(BertCheckpoints, BareModelSavedWithoutPooler) {
  const std::string dir = rewrite_fixture("bert_base_smallvocab", [](std::vector<Tensor>& ts) {
    std::erase_if(ts, [](const Tensor& t) { return t.name.rfind("pooler.", 0) == 0; });
  });
  auto want = run_fixture_inputs("bert_base_smallvocab", test::fixture_dir("bert_base_smallvocab"));
  auto got = run_fixture_inputs("bert_base_smallvocab", dir);
  ASSERT_EQ(got.size(), 1u);  // last_hidden_state only
  EXPECT_EQ(got[0].name, "last_hidden_state");
  EXPECT_TRUE(got[0].data == want[0].data);
  EXPECT_FALSE(load_encoder(dir)->info().has_pooler);
}

TEST(BertCheckpoints, UntiedDecoderUsesItsOwnWeight) {
  // decoder.weight = 2 x word embeddings: logits = 2 (t . W^T) + b = 2 logits_tied - b.
  std::vector<float> bias;
  const std::string dir = rewrite_fixture(
      "bert_mlm_smallvocab",
      [&](std::vector<Tensor>& ts) {
        Tensor dec = *find(ts, "bert.embeddings.word_embeddings.weight");
        dec.name = "cls.predictions.decoder.weight";
        for (float& v : dec.data) v *= 2.0f;
        ts.push_back(dec);
        bias = find(ts, "cls.predictions.bias")->data;
      },
      [](std::string c) { return replace_in(c, "\"use_cache\": true", "\"use_cache\": true, \"tie_word_embeddings\": false"); });
  auto tied = run_fixture_inputs("bert_mlm_smallvocab", test::fixture_dir("bert_mlm_smallvocab"));
  auto untied = run_fixture_inputs("bert_mlm_smallvocab", dir);
  const NamedTensor& a = tied[1];
  const NamedTensor& b = untied[1];
  ASSERT_EQ(a.name, "logits");
  const int64_t V = a.shape[2];
  std::vector<float> want(a.data.size());
  for (size_t i = 0; i < want.size(); ++i) want[i] = 2.0f * a.data[i] - bias[i % (size_t)V];
  const PaddedInputs in = read_padded_inputs(test::fixture_dir("bert_mlm_smallvocab") + "/inputs.json");
  EXPECT_LT(test::max_abs_diff(b.data, want, test::token_mask(in, V)), 1e-4);
  EXPECT_GT(test::max_abs_diff(b.data, a.data), 0.1);
}

TEST(BertCheckpoints, MissingTensorIsNamed) {
  const std::string dir = rewrite_fixture("bert_tokcls9_smallvocab", [](std::vector<Tensor>& ts) {
    std::erase_if(ts, [](const Tensor& t) { return t.name == "bert.encoder.layer.1.output.dense.bias"; });
  });
  const std::string err = load_error(dir);
  EXPECT_NE(err.find("missing tensor 'bert.encoder.layer.1.output.dense.bias'"), std::string::npos) << err;
  EXPECT_NE(err.find(dir), std::string::npos) << err;

  const std::string no_classifier = rewrite_fixture("megatron_seqcls3_smallvocab", [](std::vector<Tensor>& ts) {
    std::erase_if(ts, [](const Tensor& t) { return t.name == "classifier.weight"; });
  });
  EXPECT_NE(load_error(no_classifier).find("'classifier.weight'"), std::string::npos);

  // A sequence classifier needs its pooler.
  const std::string no_pooler = rewrite_fixture("bert_seqcls_smallvocab", [](std::vector<Tensor>& ts) {
    std::erase_if(ts, [](const Tensor& t) { return t.name.rfind("bert.pooler.", 0) == 0; });
  });
  EXPECT_NE(load_error(no_pooler).find("'bert.pooler.dense"), std::string::npos);
}

TEST(BertCheckpoints, WrongShapeIsNamed) {
  const std::string dir = rewrite_fixture("bert_seqcls_smallvocab", [](std::vector<Tensor>& ts) {
    Tensor* c = find(ts, "classifier.weight");
    c->shape = {3, 64};
    c->data.resize(3 * 64, 0.0f);
  });
  const std::string err = load_error(dir);
  EXPECT_NE(err.find("'classifier.weight'"), std::string::npos) << err;
  EXPECT_NE(err.find("[3, 64]"), std::string::npos) << err;
  EXPECT_NE(err.find("[2, 64]"), std::string::npos) << err;
}

TEST(BertCheckpoints, ForeignTensorsAreNamed) {
  // Relative-position weights under an "absolute" config are not silently dropped.
  const std::string dir = rewrite_fixture("bert_base_smallvocab", [](std::vector<Tensor>& ts) {
    ts.push_back({"encoder.layer.0.attention.self.distance_embedding.weight", {1023, 16},
                  std::vector<float>(1023 * 16, 0.0f)});
  });
  const std::string err = load_error(dir);
  EXPECT_NE(err.find("distance_embedding"), std::string::npos) << err;
}

TEST(BertCheckpoints, RelativePositionConfigIsRejected) {
  const std::string dir = rewrite_fixture("bert_base_smallvocab", [](auto&) {}, [](std::string c) {
    return replace_in(c, "\"position_embedding_type\": \"absolute\"", "\"position_embedding_type\": \"relative_key\"");
  });
  const std::string err = load_error(dir);
  EXPECT_NE(err.find("position_embedding_type"), std::string::npos) << err;
  EXPECT_NE(err.find("relative_key"), std::string::npos) << err;
  EXPECT_NE(err.find("not supported"), std::string::npos) << err;
  EXPECT_NE(err.find("config.json"), std::string::npos) << err;
}

TEST(BertCheckpoints, Float16StoredWeightsAreWidened) {
  // Same weights rounded to F16 on disk: outputs differ only by that rounding.
  const std::string src = test::fixture_dir("megatron_seqcls3_smallvocab");
  auto file = SafetensorsFile::open(src + "/model.safetensors");
  const std::string f16 = test::temp_dir("bert_f16"), f32 = test::temp_dir("bert_f16_ref");
  SafetensorsWriter a, b;
  for (const TensorInfo& t : file->tensors()) {
    std::vector<float> v = file->read_f32(t);
    std::vector<uint16_t> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      h[i] = f32_to_f16(v[i]);
      v[i] = f16_to_f32(h[i]);
    }
    a.add(t.name, DType::F16, t.shape, h.data(), h.size() * 2);
    b.add_f32(t.name, t.shape, v.data());
  }
  a.write(f16 + "/model.safetensors");
  b.write(f32 + "/model.safetensors");
  for (const auto& d : {f16, f32}) std::filesystem::copy_file(src + "/config.json", d + "/config.json");
  auto x = run_fixture_inputs("megatron_seqcls3_smallvocab", f16);
  auto y = run_fixture_inputs("megatron_seqcls3_smallvocab", f32);
  ASSERT_EQ(x.size(), y.size());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_TRUE(x[i].data == y[i].data) << x[i].name;
}

TEST(BertCheckpoints, InputErrorsNameTheSequence) {
  auto model = load_encoder(test::fixture_dir("bert_tokcls9_smallvocab"));
  Batch too_long;
  too_long.add(std::vector<int32_t>(513, 5));
  try {
    model->forward(too_long, {});
    FAIL() << "no error for 513 tokens";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("512"), std::string::npos) << e.what();
  }
  Batch at_limit;
  at_limit.add(std::vector<int32_t>(512, 5));
  EXPECT_EQ(model->forward(at_limit, {}).logits_rows, 512);

  Batch bad_type;
  bad_type.add(std::vector<int32_t>{101, 5, 102}, std::vector<int32_t>{0, 2, 0});
  try {
    model->forward(bad_type, {});
    FAIL() << "no error for token type 2";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token type 2"), std::string::npos) << e.what();
  }
  Batch bad_id;
  bad_id.add(std::vector<int32_t>{101, 128, 102});
  EXPECT_THROW(model->forward(bad_id, {}), Error);
}

TEST(BertCheckpoints, TokenTypesChangeTheOutput) {
  // Guards against token_type_ids being dropped on the way in (the fixtures use type 0 only).
  auto model = load_encoder(test::fixture_dir("megatron_tokcls43_smallvocab"));
  Batch zeros, pair, implicit;
  const std::vector<int32_t> ids{101, 300, 301, 102, 400, 102};
  zeros.add(ids, std::vector<int32_t>(6, 0));
  pair.add(ids, std::vector<int32_t>{0, 0, 0, 0, 1, 1});
  implicit.add(ids);
  const auto a = model->forward(zeros, {}), b = model->forward(pair, {}), c = model->forward(implicit, {});
  EXPECT_TRUE(a.logits == c.logits);
  EXPECT_GT(test::max_abs_diff(a.logits, b.logits), 1e-3);
}

// `medenc init` writes the exact Hugging Face layout with Hugging Face's init scheme.
TEST(BertCheckpoints, InitWritesHuggingFaceLayout) {
  struct InitCase {
    const char* arch;
    const char* fixture;  // same architecture, same tensor names
  };
  for (auto [arch, fixture] : {InitCase{"BertForMaskedLM", "bert_mlm_smallvocab"},
                               InitCase{"BertModel", "bert_base_smallvocab"},
                               InitCase{"MegatronBertForSequenceClassification", "megatron_seqcls3_smallvocab"},
                               InitCase{"MegatronBertForTokenClassification", "megatron_tokcls43_smallvocab"}}) {
    SCOPED_TRACE(arch);
    const bool megatron = std::string(arch).rfind("Megatron", 0) == 0;
    const std::string dir = test::temp_dir("bert_init");
    std::string err;
    ASSERT_EQ(test::run_cli(std::string("init --arch ") + arch + " --config tiny --seed 3 --out " + dir, nullptr, &err),
              0)
        << err;
    auto model = load_encoder(dir);
    EXPECT_EQ(model->info().head.architecture, arch);
    auto written = SafetensorsFile::open(dir + "/model.safetensors");
    auto reference = SafetensorsFile::open(test::fixture_dir(fixture) + "/model.safetensors");
    std::vector<std::string> a, b;
    for (const TensorInfo& t : written->tensors()) a.push_back(t.name);
    for (const TensorInfo& t : reference->tensors()) b.push_back(t.name);
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    if (std::string(arch).ends_with("Classification")) {
      EXPECT_EQ(a.size(), b.size());  // label count may differ, names may not
      EXPECT_TRUE(written->find("classifier.weight") && written->find("classifier.bias"));
    }
    EXPECT_EQ(a, b);

    const std::string pre = std::string(arch).ends_with("Model") ? "" : "bert.";
    const std::vector<float> word = written->read_f32(*written->find(pre + "embeddings.word_embeddings.weight"));
    const int64_t H = 64;
    double sum_sq = 0;
    for (float v : word) sum_sq += (double)v * v;
    EXPECT_NEAR(std::sqrt(sum_sq / (double)word.size()), 0.02, 0.001);
    bool pad_row_zero = true;
    for (int64_t i = 0; i < H; ++i) pad_row_zero &= word[i] == 0.0f;
    EXPECT_EQ(pad_row_zero, !megatron);  // Megatron's init does not re-zero the padding row
    for (const TensorInfo& t : written->tensors()) {
      const bool is_norm = t.name.find("LayerNorm.") != std::string::npos || t.name.find("ln.") != std::string::npos;
      if (!is_norm && !t.name.ends_with(".bias")) continue;
      const float want = is_norm && t.name.ends_with(".weight") ? 1.0f : 0.0f;
      for (float v : written->read_f32(t)) ASSERT_EQ(v, want) << t.name;
    }
  }
}
