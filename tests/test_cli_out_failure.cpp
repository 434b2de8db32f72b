// `--out FILE` is written to FILE.tmp and renamed over FILE only when the job finishes: a job that
// fails part-way (--on-error fail at a bad record, a CSV without the column asked for) leaves an
// existing FILE exactly as it was and no FILE.tmp behind.
#include <gtest/gtest.h>

#include <filesystem>

#include "task_models.h"
#include "test_support.h"

namespace medenc {
namespace {

std::string model_args() {
  return "--model " + test::fixture_dir("modernbert_seqcls_regression_mean") + " --tokenizer " +
         test::data_path("tokenizers/modernbert-base");
}

TEST(CliOut, FailedJobLeavesTheExistingFileIntact) {
  const std::string dir = test::temp_dir("out_fail");
  const std::string target = dir + "/scores.jsonl";
  const std::string before = "{\"score\": 1.0}\n{\"score\": 2.0}\n";
  test::write_file(target, before);
  std::string out, err;
  // The first record is good and gets scored before the bad second one stops the job.
  const std::string input = "{\"text\": \"Chest pain.\"}\nnot json\n{\"text\": \"Fever.\"}\n";
  EXPECT_EQ(test::run_cli("classify --on-error fail " + model_args() + " --out " + target, &out, &err, input), 1);
  EXPECT_NE(err.find("line 2"), std::string::npos) << err;
  EXPECT_EQ(test::read_file(target), before);
  EXPECT_FALSE(std::filesystem::exists(target + ".tmp"));

  // A CSV input without the text column fails when the reader meets the header.
  test::write_file(dir + "/notes.csv", "id,body\n1,Chest pain.\n");
  EXPECT_EQ(test::run_cli("classify " + model_args() + " --format csv --out " + target + " " + dir + "/notes.csv", &out,
                          &err),
            1);
  EXPECT_NE(err.find("no column \"text\""), std::string::npos) << err;
  EXPECT_EQ(test::read_file(target), before);
  EXPECT_FALSE(std::filesystem::exists(target + ".tmp"));

  // The same job without the failure replaces the file.
  ASSERT_EQ(test::run_cli("classify " + model_args() + " --out " + target, &out, &err, "{\"text\": \"Fever.\"}\n"), 0)
      << err;
  EXPECT_NE(test::read_file(target), before);
  EXPECT_NE(test::read_file(target).find("\"score\""), std::string::npos);
}

}  // namespace
}  // namespace medenc
