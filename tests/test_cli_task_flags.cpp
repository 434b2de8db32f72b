// Task-command flags that the library tests cover but the CLI must pass on: `classify --threshold`
// and `--thresholds FILE` decide exactly which labels are on (from the scores classify prints), and
// `ner --ignore-labels` drops exactly the listed labels (per token) or entity groups (grouped).
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "task_models.h"

namespace medenc {
namespace {

using nlohmann::json;


std::vector<std::string> nonempty_sentences() {
  std::vector<std::string> out;
  for (const std::string& s : test::clinical_sentences())
    if (!s.empty()) out.push_back(s);
  return out;
}

TEST(CliTaskFlags, ClassifyThresholdAndThresholdsFileSetTheLabels) {
  const std::vector<std::string> labels{"cardiac", "infection", "imaging", "normal"};
  const std::string model = test::make_model("ModernBertForSequenceClassification", "modernbert-base", 4,
                                             "multi_label_classification", 3);
  test::set_labels(model, labels);
  const std::string dir = test::temp_dir("task_flags");
  test::write_file(dir + "/notes.jsonl", test::to_jsonl(nonempty_sentences()));
  // Per-label thresholds; "normal" is left out, so it takes --threshold (or 0.5).
  const std::map<std::string, double> file{{"cardiac", 0.2}, {"infection", 0.8}, {"imaging", 0.5}};
  test::write_file(dir + "/thresholds.json", json(file).dump());

  std::string out, err;
  ASSERT_EQ(test::run_cli("classify --threads 1 --model " + model + " " + dir + "/notes.jsonl", &out, &err), 0) << err;
  const std::vector<json> base = test::parse_lines(out);
  ASSERT_EQ(base.size(), nonempty_sentences().size());

  struct Case {
    std::string flags;
    std::map<std::string, double> threshold;
  };
  const std::vector<Case> cases{
      {"", {{"cardiac", 0.5}, {"infection", 0.5}, {"imaging", 0.5}, {"normal", 0.5}}},
      {"--threshold 0.3", {{"cardiac", 0.3}, {"infection", 0.3}, {"imaging", 0.3}, {"normal", 0.3}}},
      {"--thresholds " + dir + "/thresholds.json", {{"cardiac", 0.2}, {"infection", 0.8}, {"imaging", 0.5}, {"normal", 0.5}}},
      {"--thresholds " + dir + "/thresholds.json --threshold 0.3",
       {{"cardiac", 0.2}, {"infection", 0.8}, {"imaging", 0.5}, {"normal", 0.3}}},
  };
  std::set<std::set<std::string>> distinct;  // the cases must not all give the same labels
  for (const Case& c : cases) {
    SCOPED_TRACE(c.flags);
    ASSERT_EQ(test::run_cli("classify --threads 1 --model " + model + " " + c.flags + " " + dir + "/notes.jsonl", &out,
                            &err),
              0)
        << err;
    const std::vector<json> lines = test::parse_lines(out);
    ASSERT_EQ(lines.size(), base.size());
    std::set<std::string> all_on;
    for (size_t i = 0; i < lines.size(); ++i) {
      EXPECT_EQ(lines[i]["scores"], base[i]["scores"]) << i;  // thresholds never change the scores
      std::set<std::string> want, have;
      for (const auto& [label, t] : c.threshold)
        if (base[i]["scores"].at(label).get<double>() > t) want.insert(label);
      for (const json& l : lines[i].at("labels")) have.insert(l.get<std::string>());
      EXPECT_EQ(have, want) << i << ": " << lines[i].dump();
      for (const std::string& l : have) all_on.insert(l + "#" + std::to_string(i));
    }
    distinct.insert(all_on);
  }
  EXPECT_GE(distinct.size(), 3u);
}

TEST(CliTaskFlags, NerIgnoreLabelsDropsExactlyThoseLabelsOrGroups) {
  const std::vector<std::string> labels{"O", "B-DIS", "I-DIS", "B-DRUG", "I-DRUG"};
  const std::string model = test::make_model("BertForTokenClassification", "bert-base-uncased", 5, "", 11);
  test::set_labels(model, labels);
  const std::string dir = test::temp_dir("ner_flags");
  test::write_file(dir + "/texts.jsonl", test::to_jsonl(nonempty_sentences()));
  auto run = [&](const std::string& flags) {
    std::string out, err;
    EXPECT_EQ(test::run_cli("ner --threads 1 --model " + model + " " + flags + " " + dir + "/texts.jsonl", &out, &err), 0)
        << err;
    return test::parse_lines(out);
  };
  // Every line's entities without those whose `label` is in `drop`.
  auto without = [](const std::vector<json>& lines, const std::set<std::string>& drop) {
    std::vector<json> out;
    for (const json& line : lines) {
      json kept = json::array();
      for (const json& e : line.at("entities"))
        if (!drop.count(e.at("label").get<std::string>())) kept.push_back(e);
      out.push_back(kept);
    }
    return out;
  };
  auto entities = [&](const std::vector<json>& lines) { return without(lines, {}); };

  // Per token: every token's label is listed unless ignored.
  const std::vector<json> all = run("--aggregation none --ignore-labels B-DRUG,I-DRUG");
  const std::vector<json> by_default = run("--aggregation none");
  const std::vector<json> no_dis = run("--aggregation none --ignore-labels O,B-DIS");
  ASSERT_EQ(all.size(), nonempty_sentences().size());
  size_t o = 0, b_dis = 0;
  for (const json& e : entities(all)) o += std::count_if(e.begin(), e.end(), [](const json& x) { return x["label"] == "O"; });
  for (const json& e : entities(by_default))
    b_dis += std::count_if(e.begin(), e.end(), [](const json& x) { return x["label"] == "B-DIS"; });
  EXPECT_GT(o, 0u);
  EXPECT_GT(b_dis, 0u);  // otherwise dropping B-DIS would prove nothing
  EXPECT_EQ(without(all, {"O"}), without(by_default, {"B-DRUG", "I-DRUG"}));
  EXPECT_EQ(entities(no_dis), without(by_default, {"B-DIS"}));

  // Grouped: the ignored labels are entity groups (the type without B-/I-), as in Hugging Face.
  const std::vector<json> simple = run("--aggregation simple");
  const std::vector<json> simple_no_drug = run("--aggregation simple --ignore-labels O,DRUG");
  size_t drug = 0;
  for (const json& e : entities(simple))
    drug += std::count_if(e.begin(), e.end(), [](const json& x) { return x["label"] == "DRUG"; });
  EXPECT_GT(drug, 0u);
  EXPECT_EQ(entities(simple_no_drug), without(simple, {"DRUG"}));
}

}  // namespace
}  // namespace medenc
