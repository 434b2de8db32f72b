// medenc classify --min-score / --with-text: the corpus filter keeps exactly the documents whose
// regression score is >= the bound (scores from the unfiltered run, itself checked against a forward
// pass elsewhere), keeps error lines, copies the text on request, and refuses classification models.
#include <algorithm>
#include <filesystem>
#include <sstream>

#include <gtest/gtest.h>

#include "task_models.h"

namespace medenc {
namespace {

using nlohmann::json;
using test::parse_lines;
using test::regression_args;

TEST(CliMinScore, KeepsExactlyTheDocumentsAtOrAboveTheBoundInInputOrder) {
  const auto& texts = test::clinical_sentences();
  ASSERT_GE(texts.size(), 4u);
  std::string input;
  for (size_t i = 0; i < texts.size(); ++i) input += json({{"id", (int)i}, {"text", texts[i]}}).dump() + "\n";
  std::string out, err;
  ASSERT_EQ(test::run_cli("classify " + regression_args(), &out, &err, input), 0) << err;
  const auto all = parse_lines(out);
  ASSERT_EQ(all.size(), texts.size());
  std::vector<double> scores;
  for (const auto& l : all) scores.push_back(l["score"].get<double>());
  // The bound: one of the scores (the median), so ">=" keeps that document and "<" would not.
  std::vector<double> sorted = scores;
  std::sort(sorted.begin(), sorted.end());
  const double bound = sorted[sorted.size() / 2];
  ASSERT_LT(sorted.front(), bound) << "the fixture gives every text the same score; the test needs a spread";

  std::ostringstream bound_text;
  bound_text.precision(17);
  bound_text << bound;
  ASSERT_EQ(test::run_cli("classify --min-score " + bound_text.str() + " --with-text " +
                              regression_args(),
                          &out, &err, input),
            0)
      << err;
  const auto kept = parse_lines(out);
  std::vector<int> expected_ids;
  for (size_t i = 0; i < texts.size(); ++i)
    if (scores[i] >= bound) expected_ids.push_back((int)i);
  ASSERT_EQ(kept.size(), expected_ids.size());
  for (size_t k = 0; k < kept.size(); ++k) {
    const int id = kept[k]["id"].get<int>();
    EXPECT_EQ(id, expected_ids[k]);
    EXPECT_EQ(kept[k]["text"], texts[id]);
    EXPECT_DOUBLE_EQ(kept[k]["score"].get<double>(), scores[id]);
  }

  // Above every score: nothing is kept, but an error line is still written (and the exit code says so).
  const std::string with_error = input + "{\"id\": \"bad\", \"note\": \"no text field\"}\n";
  ASSERT_EQ(test::run_cli("classify --min-score 1e9 " + regression_args(), &out, &err,
                          with_error),
            3);
  const auto only_error = parse_lines(out);
  ASSERT_EQ(only_error.size(), 1u);
  EXPECT_EQ(only_error[0]["id"], "bad");
  EXPECT_TRUE(only_error[0].contains("error"));
}

// Single- and multi-label models give a probability per label, not one score: refused (exit 2). The
// single-label model is the multi-label fixture with its problem_type changed.
TEST(CliMinScore, RefusesClassificationModelsWithAClearMessage) {
  const std::string multi = test::fixture_dir("modernbert_seqcls_multilabel_cls");
  const std::string single = test::temp_dir("min_score_single");
  for (const char* f : {"model.safetensors", "config.json"})
    std::filesystem::copy_file(multi + "/" + f, single + "/" + f, std::filesystem::copy_options::overwrite_existing);
  json config = json::parse(test::read_file(single + "/config.json"));
  config["problem_type"] = "single_label_classification";
  test::write_file(single + "/config.json", config.dump(2));
  for (const auto& [dir, kind] : {std::pair{single, "single_label_classification"},
                                  std::pair{multi, "multi_label_classification"}}) {
    std::string out, err;
    EXPECT_EQ(test::run_cli("classify --min-score 0.5 --model " + dir + " --tokenizer " +
                                test::data_path("tokenizers/modernbert-base"),
                            &out, &err, "{\"text\": \"Fever.\"}\n"),
              2)
        << kind;
    EXPECT_NE(err.find("--min-score needs a regression model"), std::string::npos) << err;
    EXPECT_NE(err.find(kind), std::string::npos) << err;
    EXPECT_EQ(out, "");
  }
}

}  // namespace
}  // namespace medenc
