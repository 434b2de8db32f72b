// `medenc forward` and `medenc init` end to end: outputs match the fixtures, and every malformed
// model, config or input exits non-zero with a one-line reason.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "medenc/modernbert.h"
#include "medenc/safetensors.h"
#include "test_support.h"

using namespace medenc;

namespace {

// Runs the CLI expecting failure: exit code 1 and exactly one line on stderr containing `fragment`.
void expect_one_line_error(const std::string& args, const std::string& fragment) {
  std::string out, err;
  int rc = test::run_cli(args, &out, &err);
  EXPECT_EQ(rc, 1) << args << "\n" << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find(fragment), std::string::npos) << "wanted '" << fragment << "' in: " << err;
}

std::string write_inputs(const std::string& dir, const std::string& json) {
  const std::string path = dir + "/inputs.json";
  test::write_file(path, json);
  return path;
}

}  // namespace

TEST(CliForward, WritesOutputsMatchingTheFixture) {
  const std::string fx = test::fixture_dir("modernbert_tokcls9_smallvocab");
  const std::string dir = test::temp_dir("cli_fwd");
  std::string err;
  ASSERT_EQ(test::run_cli("forward --model " + fx + " --inputs " + fx + "/inputs.json --out " + dir + "/o.safetensors",
                          nullptr, &err),
            0)
      << err;
  auto got = SafetensorsFile::open(dir + "/o.safetensors");
  auto want = SafetensorsFile::open(fx + "/expected.safetensors");
  ASSERT_NE(got->find("logits"), nullptr);
  EXPECT_EQ(got->find("logits")->shape, (std::vector<int64_t>{3, 130, 9}));
  auto g = got->read_f32(*got->find("logits"));
  auto w = want->read_f32(*want->find("logits"));
  // Row 0 has 5 real tokens: compare them.
  for (int t = 0; t < 5 * 9; ++t) EXPECT_NEAR(g[t], w[t], 5e-5);
  // Padded positions are zeros.
  EXPECT_EQ(g[5 * 9], 0.0f);
}

TEST(CliForward, MalformedInputsGiveOneLineErrors) {
  const std::string fx = test::fixture_dir("modernbert_base_smallvocab");
  const std::string dir = test::temp_dir("cli_bad_inputs");
  const std::string base = "forward --model " + fx + " --out " + dir + "/o.safetensors --inputs ";
  expect_one_line_error(base + write_inputs(dir, "{\"input_ids\": [[1, 2"), "not valid JSON");
  expect_one_line_error(base + write_inputs(dir, R"({"input_ids": [[249, 5, 250], [249, 250]]})"),
                        "input_ids[1] has 2 entries");
  expect_one_line_error(base + write_inputs(dir, R"({"input_ids": [[249, 5]], "attention_mask": [[1, 2]]})"),
                        "attention_mask[0][1] is 2");
  expect_one_line_error(base + write_inputs(dir, R"({"input_ids": [[251, 249, 5]], "attention_mask": [[0, 1, 1]]})"),
                        "not right-padded");
  expect_one_line_error(base + write_inputs(dir, R"({"input_ids": [[249, 5000, 250]]})"),
                        "id 5000 is outside the vocabulary");
  expect_one_line_error(base + write_inputs(dir, R"({"input_ids": [[249, -3, 250]]})"), "outside the vocabulary");
  expect_one_line_error(base + write_inputs(dir, R"({"input_ids": [[249, 5]], "positions": [[0, 7]]})"),
                        "positions[0]");
  expect_one_line_error(base + write_inputs(dir, R"({"attention_mask": [[1]]})"), "missing \"input_ids\"");
  expect_one_line_error(base + write_inputs(dir, R"({"input_ids": [[249, 5]], "attention_mask": [[0, 0]]})"),
                        "no real tokens");
  expect_one_line_error(base + write_inputs(dir, R"({"input_ids": [["a"]]})"), "not a 32-bit integer");
  expect_one_line_error(base + dir + "/does_not_exist.json", "cannot open");
}

TEST(CliForward, MalformedModelsGiveOneLineErrors) {
  const std::string fx = test::fixture_dir("modernbert_base_smallvocab");
  const std::string dir = test::temp_dir("cli_bad_model");
  const std::string inputs = fx + "/inputs.json";
  expect_one_line_error("forward --model " + dir + "/nope --inputs " + inputs + " --out " + dir + "/o.safetensors",
                        "no config.json");
  // Config with an impossible value.
  const std::string bad_cfg = dir + "/badcfg";
  std::filesystem::create_directories(bad_cfg);
  std::filesystem::copy_file(fx + "/model.safetensors", bad_cfg + "/model.safetensors");
  test::write_file(bad_cfg + "/config.json", R"({"model_type": "modernbert", "hidden_size": 64, "num_attention_heads": 5})");
  expect_one_line_error("forward --model " + bad_cfg + " --inputs " + inputs + " --out " + dir + "/o.safetensors",
                        "not divisible");
  // Truncated weights file.
  const std::string trunc = dir + "/trunc";
  std::filesystem::create_directories(trunc);
  std::filesystem::copy_file(fx + "/config.json", trunc + "/config.json");
  std::string bytes = test::read_file(fx + "/model.safetensors");
  test::write_file(trunc + "/model.safetensors", bytes.substr(0, bytes.size() / 2));
  expect_one_line_error("forward --model " + trunc + " --inputs " + inputs + " --out " + dir + "/o.safetensors",
                        "model.safetensors");
  // Unknown model type.
  const std::string other = dir + "/other";
  std::filesystem::create_directories(other);
  test::write_file(other + "/config.json", R"({"model_type": "gpt2"})");
  expect_one_line_error("forward --model " + other + " --inputs " + inputs + " --out " + dir + "/o.safetensors",
                        "model_type 'gpt2' is not supported");
}

TEST(CliInit, WritesALoadableCheckpointInHuggingFaceLayout) {
  const std::string dir = test::temp_dir("cli_init");
  std::string err;
  ASSERT_EQ(test::run_cli("init --arch ModernBertForMaskedLM --config tiny --seed 3 --out " + dir + "/m", nullptr, &err), 0)
      << err;
  auto f = SafetensorsFile::open(dir + "/m/model.safetensors");
  // Tied decoder is not stored; the MLM head and decoder bias are.
  EXPECT_EQ(f->find("decoder.weight"), nullptr);
  ASSERT_NE(f->find("decoder.bias"), nullptr);
  ASSERT_NE(f->find("head.dense.weight"), nullptr);
  ASSERT_NE(f->find("model.layers.1.attn_norm.weight"), nullptr);
  EXPECT_EQ(f->find("model.layers.0.attn_norm.weight"), nullptr);  // layer 0 has no attention norm
  // Truncated-normal init: |w| <= 2 sigma, sigma = 0.02 for Wqkv.
  auto w = f->read_f32(*f->find("model.layers.0.attn.Wqkv.weight"));
  double sum2 = 0;
  for (float v : w) {
    ASSERT_LE(std::fabs(v), 0.04f + 1e-7f);
    sum2 += (double)v * v;
  }
  const double stdv = std::sqrt(sum2 / (double)w.size());
  EXPECT_NEAR(stdv, 0.02 * 0.8796, 0.0005);  // N(0,1) truncated at +-2 has variance 0.7737, std 0.8796
  // Same seed, same bytes.
  ASSERT_EQ(test::run_cli("init --arch ModernBertForMaskedLM --config tiny --seed 3 --out " + dir + "/m2"), 0);
  EXPECT_EQ(test::read_file(dir + "/m/model.safetensors"), test::read_file(dir + "/m2/model.safetensors"));
  // It runs.
  const std::string inputs = dir + "/in.json";
  test::write_file(inputs, R"({"input_ids": [[50281, 100, 200, 50284, 50282]], "positions": [[0, 3]]})");
  ASSERT_EQ(test::run_cli("forward --model " + dir + "/m --inputs " + inputs + " --out " + dir + "/o.safetensors", nullptr, &err), 0) << err;
  auto o = SafetensorsFile::open(dir + "/o.safetensors");
  EXPECT_EQ(o->find("logits")->shape, (std::vector<int64_t>{1, 50368}));
}

// `--config base` is ModernBERT-base: the preset equals Hugging Face's config.json of
// answerdotai/ModernBERT-base (bundled with its tokenizer), and a model built from it declares the
// 134 tensors of the real backbone, named as in the HF-made fixture (its layer 1 standing for every
// layer after the first, which has no attention norm) with the shapes the config implies. Checked
// on the declared parameters, not by writing the 570 MB checkpoint: the writing path is the tiny
// test above, and this one stays fast.
TEST(CliInit, BaseConfigHasModernBertBaseShapes) {
  using nlohmann::json;
  const json hf = json::parse(test::read_file(test::data_path("tokenizers/modernbert-base/config.json")));
  const ModernBertConfig c = modernbert_preset("base");
  const json ours = json::parse(c.to_json());
  for (const char* key : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                          "local_attention", "global_attn_every_n_layers", "global_rope_theta", "local_rope_theta",
                          "max_position_embeddings", "hidden_activation", "norm_eps", "attention_bias", "mlp_bias",
                          "norm_bias", "classifier_pooling", "pad_token_id", "initializer_range",
                          "initializer_cutoff_factor"})
    EXPECT_EQ(ours.at(key), hf.at(key)) << key;

  const int64_t V = hf["vocab_size"], H = hf["hidden_size"], I = hf["intermediate_size"], L = hf["num_hidden_layers"];
  std::map<std::string, std::vector<int64_t>> want;
  auto fx = SafetensorsFile::open(test::fixture_dir("modernbert_base_smallvocab") + "/model.safetensors");
  for (const TensorInfo& t : fx->tensors()) {
    const std::string& n = t.name;
    if (n.rfind("layers.", 0) != 0) {
      want[n] = n.find("tok_embeddings") != std::string::npos ? std::vector<int64_t>{V, H} : std::vector<int64_t>{H};
      continue;
    }
    const std::string rest = n.substr(n.find('.', 7) + 1);  // after "layers.K."
    const int64_t k = std::stoll(n.substr(7));
    std::vector<int64_t> shape = rest == "attn.Wqkv.weight" ? std::vector<int64_t>{3 * H, H}
                                 : rest == "attn.Wo.weight" ? std::vector<int64_t>{H, H}
                                 : rest == "mlp.Wi.weight"  ? std::vector<int64_t>{2 * I, H}
                                 : rest == "mlp.Wo.weight"  ? std::vector<int64_t>{H, I}
                                                            : std::vector<int64_t>{H};
    if (k == 0) want[n] = shape;
    if (k == 1)
      for (int64_t l = 1; l < L; ++l) want["layers." + std::to_string(l) + "." + rest] = shape;
  }
  EXPECT_EQ(want.size(), 134u);  // the tensor count of the real ModernBERT-base backbone

  ModernBertModel model(c, LoadOptions{});  // the preset's head is the bare ModernBertModel
  std::map<std::string, std::vector<int64_t>> have;
  for (const ParamSpec& s : model.parameters().specs()) have[s.name] = s.shape;
  EXPECT_EQ(have, want);
}

TEST(CliInit, RejectsUnknownArchitecture) {
  const std::string dir = test::temp_dir("cli_init_bad");
  expect_one_line_error("init --arch GPT2LMHeadModel --config tiny --out " + dir, "unknown or unsupported architecture");
  expect_one_line_error("init --arch ModernBertForMaskedLM --config huge --out " + dir, "huge");
}

// Separate processes with 1 and 6 threads (more threads than this machine has cores is fine): every
// GEMM kernel is configured for the single thread that runs it, so the outputs are bit-identical.
TEST(CliForward, ThreadCountDoesNotChangeOutputsAcrossProcesses) {
  const std::string fx = test::fixture_dir("modernbert_tokcls9_smallvocab");
  const std::string dir = test::temp_dir("cli_fwd_threads");
  for (const std::string dtype : {"f32", "bf16"}) {
    std::vector<std::vector<float>> logits;
    for (int threads : {1, 6}) {
      const std::string out = dir + "/o_" + dtype + "_" + std::to_string(threads) + ".safetensors";
      std::string err;
      ASSERT_EQ(test::run_cli("forward --model " + fx + " --inputs " + fx + "/inputs.json --dtype " + dtype +
                                  " --threads " + std::to_string(threads) + " --out " + out,
                              nullptr, &err),
                0)
          << err;
      auto got = SafetensorsFile::open(out);
      ASSERT_NE(got->find("logits"), nullptr);
      logits.push_back(got->read_f32(*got->find("logits")));
    }
    EXPECT_EQ(logits[0], logits[1]) << dtype;
  }
}
