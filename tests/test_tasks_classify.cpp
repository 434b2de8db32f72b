// Classification output functions by problem_type, on hand-computed logits.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "medenc/result_json.h"
#include "medenc/classify.h"
#include "medenc/error.h"
#include "test_support.h"

namespace medenc {
namespace {

using nlohmann::ordered_json;

HeadConfig head(std::vector<std::string> labels, ProblemType p) {
  HeadConfig h;
  h.kind = HeadKind::SequenceClassification;
  h.num_labels = (int)labels.size();
  h.id2label = std::move(labels);
  h.problem_type = p;
  return h;
}

ordered_json fields(const std::vector<float>& logits, const HeadConfig& h, const ClassifyOptions& o = {}) {
  ordered_json j = ordered_json::object();
  classification_fields(logits, h, o, j);
  return j;
}

TEST(TasksClassify, RegressionIsTheRawValue) {
  // 4.37 stays 4.37: no sigmoid, no clamp.
  const auto j = fields({4.37f}, head({"LABEL_0"}, ProblemType::Regression));
  EXPECT_EQ(j.dump(), "{\"score\":4.37}");
  // problem_type unset with one label: Hugging Face infers regression.
  EXPECT_EQ(fields({-2.5f}, head({"LABEL_0"}, ProblemType::Unset)).dump(), "{\"score\":-2.5}");
}

TEST(TasksClassify, SingleLabelSoftmax) {
  // logits 0, ln 2, ln 3 -> probabilities 1/6, 2/6, 3/6.
  const std::vector<float> logits{0.0f, (float)std::log(2.0), (float)std::log(3.0)};
  for (ProblemType p : {ProblemType::SingleLabel, ProblemType::Unset}) {
    const auto j = fields(logits, head({"negative", "neutral", "positive"}, p));
    EXPECT_EQ(j["label"], "positive");
    EXPECT_NEAR(j["score"].get<double>(), 0.5, 1e-6);
    ASSERT_EQ(j["scores"].size(), 3u);
    auto it = j["scores"].begin();  // id order
    EXPECT_EQ(it.key(), "negative");
    EXPECT_NEAR(it.value().get<double>(), 1.0 / 6, 1e-6);
    ++it;
    EXPECT_EQ(it.key(), "neutral");
    EXPECT_NEAR(it.value().get<double>(), 2.0 / 6, 1e-6);
    EXPECT_FALSE(j.contains("labels"));
  }
  // top_k keeps the best k, best first.
  ClassifyOptions o;
  o.top_k = 2;
  const auto j = fields(logits, head({"negative", "neutral", "positive"}, ProblemType::SingleLabel), o);
  ASSERT_EQ(j["scores"].size(), 2u);
  EXPECT_EQ(j["scores"].begin().key(), "positive");
}

TEST(TasksClassify, MultiLabelSigmoidThresholds) {
  // sigmoid(ln 3) = 0.75, sigmoid(0) = 0.5, sigmoid(-ln 3) = 0.25, sigmoid(ln 9) = 0.9.
  const std::vector<float> logits{(float)std::log(3.0), 0.0f, (float)-std::log(3.0), (float)std::log(9.0)};
  const HeadConfig h = head({"C0018787", "C0024109", "C0032285", "C0018802"}, ProblemType::MultiLabel);
  auto j = fields(logits, h);
  EXPECT_EQ(j["labels"], ordered_json({"C0018802", "C0018787"}));  // above 0.5 (0.5 is not), best first
  EXPECT_NEAR(j["scores"]["C0018787"].get<double>(), 0.75, 1e-6);
  EXPECT_NEAR(j["scores"]["C0032285"].get<double>(), 0.25, 1e-6);
  EXPECT_NEAR(j["scores"]["C0018802"].get<double>(), 0.9, 1e-6);
  EXPECT_FALSE(j.contains("label"));

  ClassifyOptions o;
  o.threshold = 0.8;
  EXPECT_EQ(fields(logits, h, o)["labels"], ordered_json({"C0018802"}));
  o.thresholds = {0.7, 0.49, 0.25, 0.95};
  EXPECT_EQ(fields(logits, h, o)["labels"], ordered_json({"C0018787", "C0024109"}));
  o.thresholds.clear();
  o.threshold = 0.1;
  o.top_k = 2;
  j = fields(logits, h, o);
  EXPECT_EQ(j["labels"], ordered_json({"C0018802", "C0018787"}));
  ASSERT_EQ(j["scores"].size(), 2u);
  EXPECT_EQ(j["scores"].begin().key(), "C0018802");
}

TEST(TasksClassify, WindowAggregation) {
  const std::vector<float> a{1, 5, -2}, b{3, 1, -4};
  std::vector<std::span<const float>> rows{a, b};
  EXPECT_EQ(aggregate_window_logits(rows, WindowAggregation::Mean), (std::vector<float>{2, 3, -3}));
  EXPECT_EQ(aggregate_window_logits(rows, WindowAggregation::Max), (std::vector<float>{3, 5, -2}));
  EXPECT_EQ(parse_window_aggregation("max"), WindowAggregation::Max);
  EXPECT_THROW(parse_window_aggregation("median"), Error);
}

TEST(TasksClassify, ThresholdFile) {
  const std::string dir = test::temp_dir("thresholds");
  const HeadConfig h = head({"a", "b", "c"}, ProblemType::MultiLabel);
  test::write_file(dir + "/t.json", "{\"b\": 0.9, \"c\": 0.1}");
  EXPECT_EQ(read_label_thresholds(dir + "/t.json", h, 0.5), (std::vector<double>{0.5, 0.9, 0.1}));
  test::write_file(dir + "/bad.json", "{\"zzz\": 0.9}");
  EXPECT_THROW(read_label_thresholds(dir + "/bad.json", h, 0.5), Error);
  test::write_file(dir + "/range.json", "{\"a\": 1.5}");
  EXPECT_THROW(read_label_thresholds(dir + "/range.json", h, 0.5), Error);
}

TEST(TasksClassify, JsonFloatIsShortest) {
  EXPECT_EQ(ordered_json(json_float(0.1f)).dump(), "0.1");
  EXPECT_EQ(ordered_json(json_float(4.37f)).dump(), "4.37");
  EXPECT_EQ((float)json_float(0.123456789f), 0.123456789f);
}

}  // namespace
}  // namespace medenc
