// Smoke test of the peer bench (bench/peers/): on a tiny random ModernBERT classifier, the PyTorch
// module of export_onnx.py matches medenc forward to 1e-4 (the script's --check stops otherwise),
// and ONNX Runtime on the exported graph gives medenc's logits. Skipped unless the one-time setup
// was done (bench/peers/node_modules) and Debian's python3-torch is there.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "medenc/forward.h"
#include "medenc/model.h"
#include "test_support.h"

using namespace medenc;
namespace fs = std::filesystem;

namespace {

std::string repo(const std::string& relative) { return test::data_path("../../" + relative); }

int shell(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

}  // namespace

TEST(PeerBench, OnnxExportRunsInOnnxRuntimeWithMedencsLogits) {
  if (!fs::exists(repo("bench/peers/node_modules/onnxruntime-node/package.json")))
    GTEST_SKIP() << "bench/peers/node_modules absent (one-time setup in bench/peers/README.md)";
  if (shell("/usr/bin/python3 -c 'import torch'") != 0 || shell("node --version") != 0)
    GTEST_SKIP() << "python3-torch or node absent";
  const std::string dir = test::temp_dir("peer_bench");
  const std::string model = dir + "/tiny";
  ASSERT_EQ(test::run_cli("init --arch ModernBertForSequenceClassification --config tiny --num-labels 2 --seed 7 --out " +
                          model),
            0);
  const std::string onnx = dir + "/tiny.onnx";
  std::string cmd = "/usr/bin/python3 " + repo("bench/peers/export_onnx.py") + " --model " + model + " --out " + onnx +
                    " --check " + MEDENC_CLI_PATH;
  ASSERT_EQ(shell(cmd), 0) << cmd;

  // The "all" graph optimisation level, as peer_bench.py runs it: onnxruntime-node 1.31.1 crashed in
  // its SkipLayerNormFusion on norms without a bias until the export gave them a zero one.
  // Texts of 3 to 150 tokens (both sides of the 128-token local window).
  std::vector<std::vector<int32_t>> texts = {{1, 2, 3}, {}, {}};
  for (int i = 0; i < 150; ++i) texts[1].push_back((i * 37) % 200 + 5);
  for (int i = 0; i < 40; ++i) texts[2].push_back((i * 11) % 90 + 1);
  std::ofstream(dir + "/ids.jsonl") << nlohmann::json({{"ids", texts[0]}}).dump() << "\n"
                                    << nlohmann::json({{"ids", texts[1]}}).dump() << "\n"
                                    << nlohmann::json({{"ids", texts[2]}}).dump() << "\n";
  cmd = "node " + repo("bench/peers/ort_bench.mjs") + " --model " + onnx + " --ids " + dir +
        "/ids.jsonl --threads 1 --reps 1 --batches 2 --budgets 256 --opt all > " + dir + "/ort.json 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const nlohmann::json ort = nlohmann::json::parse(test::read_file(dir + "/ort.json"));

  auto encoder = load_encoder(model);
  Batch batch;
  for (const auto& t : texts) batch.add(t);
  const ForwardOutput out = encoder->forward(batch);
  ASSERT_EQ(ort["logits"].size(), texts.size());
  for (size_t s = 0; s < texts.size(); ++s)
    for (int64_t c = 0; c < out.logits_cols; ++c)
      EXPECT_NEAR(ort["logits"][s][c].get<double>(), out.logits[s * out.logits_cols + c], 1e-4) << "text " << s;
  EXPECT_GT(ort["best"]["tokens_per_s"].get<double>(), 0.0);
}
