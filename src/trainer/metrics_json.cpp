// Top-k accuracy of masked-token predictions, and the JSON forms of every metric set.
#include <algorithm>

#include "medenc/metrics.h"

namespace medenc {

using nlohmann::ordered_json;

void TopKAccuracy::add(std::span<const float> logits, int32_t label) {
  const float target = logits[(size_t)label];
  int64_t above = 0;  // tokens ranked strictly before the true one
  for (float v : logits) above += v > target;
  ++count_;
  for (int i = 0; i < 4; ++i) hits_[i] += above < kKs[i];
}

static ordered_json label_reports(const std::vector<LabelReport>& reports) {
  ordered_json out = ordered_json::object();
  for (const LabelReport& r : reports)
    out[r.label] = {{"precision", r.precision}, {"recall", r.recall}, {"f1", r.f1}, {"support", r.support},
                    {"predicted", r.predicted}};
  return out;
}

ordered_json to_json(const RegressionMetrics& m) {
  return {{"count", m.count},         {"mse", m.mse},           {"rmse", m.rmse},
          {"mae", m.mae},             {"r2", m.r2},             {"pearson", m.pearson},
          {"spearman", m.spearman},   {"threshold", m.threshold}, {"accuracy", m.accuracy},
          {"roc_auc", m.roc_auc},     {"positives", m.positives}};
}

ordered_json to_json(const ClassificationMetrics& m, bool multi_label) {
  ordered_json j;
  j["count"] = m.count;
  j["accuracy"] = m.accuracy;
  j["precision_micro"] = m.precision_micro;
  j["recall_micro"] = m.recall_micro;
  j["f1"] = m.f1_micro;  // the micro F1, under the name the Trainer recipes use
  j["precision_macro"] = m.precision_macro;
  j["recall_macro"] = m.recall_macro;
  j["f1_macro"] = m.f1_macro;
  if (multi_label) {
    j["exact_match"] = m.exact_match;
    j["hamming_loss"] = m.hamming_loss;
    j["label_accuracy"] = m.label_accuracy;
  }
  j["per_label"] = label_reports(m.per_label);
  return j;
}

ordered_json to_json(const NerMetrics& m, const NerMetrics& strict) {
  ordered_json j;
  j["sequences"] = m.sequences;
  j["words"] = m.words;
  j["precision"] = m.precision;
  j["recall"] = m.recall;
  j["f1"] = m.f1;
  j["precision_macro"] = m.precision_macro;
  j["recall_macro"] = m.recall_macro;
  j["f1_macro"] = m.f1_macro;
  j["gold_entities"] = m.gold_entities;
  j["predicted_entities"] = m.predicted_entities;
  j["correct_entities"] = m.correct_entities;
  j["accuracy"] = m.accuracy;
  j["matthews"] = m.matthews;
  j["strict_precision"] = strict.precision;
  j["strict_recall"] = strict.recall;
  j["strict_f1"] = strict.f1;
  j["strict_f1_macro"] = strict.f1_macro;
  j["per_type"] = label_reports(m.per_type);
  j["per_type_strict"] = label_reports(strict.per_type);
  return j;
}

ordered_json to_json(const TopKAccuracy& m) {
  ordered_json j;
  j["masked_tokens"] = m.count();
  for (int i = 0; i < 4; ++i) j["top" + std::to_string(TopKAccuracy::kKs[i]) + "_accuracy"] = m.accuracy(i);
  return j;
}

}  // namespace medenc
