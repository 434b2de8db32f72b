// `medenc classify --dtype bf16` and `medenc bench --end-to-end` (classify against the bare forward on
// the bench's clinical texts) from the outside, on a fixture model and a small stand-in text folder.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "task_models.h"

namespace medenc {
namespace {

using nlohmann::json;

std::string model_args() {
  return "--model " + test::fixture_dir("modernbert_seqcls_regression_mean") + " --tokenizer " +
         test::data_path("tokenizers/modernbert-base");
}

std::vector<double> scores(const std::string& out) {
  std::vector<double> s;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) s.push_back(json::parse(line)["score"].get<double>());
  return s;
}

// A --texts folder holding only the ROCO captions file (TSV, caption in column 5), with `texts`.
std::string texts_folder(const std::vector<std::string>& texts) {
  const std::string dir = test::temp_dir("bench_e2e");
  std::filesystem::create_directories(dir + "/roco");
  std::ofstream f(dir + "/roco/roco_val_test_captions_cuis.tsv.gz");  // zlib reads plain files too
  f << "id\tname\tcuis\tsplit\tcaption\n";
  for (size_t i = 0; i < texts.size(); ++i) f << "r" << i << "\tx.jpg\tC0000\ttest\t" << texts[i] << "\n";
  return dir;
}

TEST(CliBenchEndToEnd, ClassifyBf16IsCloseToFp32ButRounded) {
  const auto& texts = test::clinical_sentences();
  std::string input;
  for (size_t i = 0; i < 4; ++i) input += json({{"id", i}, {"text", texts[i]}}).dump() + "\n";
  std::string f32_out, bf16_out, err;
  ASSERT_EQ(test::run_cli("classify " + model_args(), &f32_out, &err, input), 0) << err;
  ASSERT_EQ(test::run_cli("classify --dtype bf16 " + model_args(), &bf16_out, &err, input), 0) << err;
  const std::vector<double> a = scores(f32_out), b = scores(bf16_out);
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 4u);
  double max_diff = 0.0;
  for (size_t i = 0; i < a.size(); ++i) max_diff = std::max(max_diff, std::fabs(a[i] - b[i]));
  EXPECT_LT(max_diff, 2e-2);
  EXPECT_GT(max_diff, 1e-6);  // the bf16 path was really taken
  EXPECT_NE(test::run_cli("classify --dtype f16 " + model_args(), nullptr, &err, input), 0);
}

TEST(CliBenchEndToEnd, ReportIsConsistent) {
  const auto& texts = test::clinical_sentences();
  const std::string dir = texts_folder({texts[0], texts[1], texts[2]});
  std::string out, err;
  ASSERT_EQ(test::run_cli("bench " + model_args() + " --texts " + dir + " --end-to-end --dtype f32 bf16 --reps 2 --json",
                          &out, &err),
            0)
      << err;
  const json report = json::parse(out);
  ASSERT_EQ(report["runs"].size(), 2u) << out;
  for (const json& run : report["runs"]) {
    SCOPED_TRACE(run.dump());
    EXPECT_EQ(run["documents"], 3);
    const double tokens = run["tokens"], f = run["forward_seconds"], c = run["classify_seconds"];
    EXPECT_GT(tokens, 3.0);
    EXPECT_NEAR((double)run["forward_tokens_per_s"] * f, tokens, 1e-6 * tokens);
    EXPECT_NEAR((double)run["classify_tokens_per_s"] * c, tokens, 1e-6 * tokens);
    EXPECT_NEAR((double)run["ratio"], f / c, 1e-9);
    EXPECT_GT((double)run["tokenize_share"], 0.0);
  }
  EXPECT_EQ(report["runs"][0]["dtype"], "f32");
  EXPECT_EQ(report["runs"][1]["dtype"], "bf16");
}

TEST(CliBenchEndToEnd, NoTextsIsAClearError) {
  const std::string dir = test::temp_dir("bench_e2e_empty");
  std::string err;
  EXPECT_NE(test::run_cli("bench " + model_args() + " --texts " + dir + " --end-to-end", nullptr, &err), 0);
  EXPECT_NE(err.find("no clinical texts under " + dir), std::string::npos) << err;
}

}  // namespace
}  // namespace medenc
