// Output functions for sequence classification, chosen by the checkpoint's problem_type.
#include "medenc/classify.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "medenc/error.h"
#include "util/fs.h"

namespace medenc {

using nlohmann::json;

WindowAggregation parse_window_aggregation(const std::string& name) {
  if (name == "mean") return WindowAggregation::Mean;
  if (name == "max") return WindowAggregation::Max;
  throw Error(fmt::format("unknown window aggregation '{}' (mean, max)", name));
}

std::vector<double> softmax(std::span<const float> logits) {
  std::vector<double> p(logits.size());
  if (logits.empty()) return p;
  const double m = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp((double)logits[i] - m);
  for (double& v : p) v /= sum;
  return p;
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

std::vector<float> aggregate_window_logits(const std::vector<std::span<const float>>& rows, WindowAggregation how) {
  if (rows.empty()) return {};
  std::vector<float> out(rows[0].begin(), rows[0].end());
  if (how == WindowAggregation::Max) {
    for (size_t r = 1; r < rows.size(); ++r)
      for (size_t i = 0; i < out.size(); ++i) out[i] = std::max(out[i], rows[r][i]);
    return out;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    double sum = 0;
    for (const auto& row : rows) sum += row[i];
    out[i] = (float)(sum / (double)rows.size());
  }
  return out;
}

namespace {

std::string label_name(const HeadConfig& head, size_t i) {
  return i < head.id2label.size() ? head.id2label[i] : fmt::format("LABEL_{}", i);
}

// Label indices to list: all in id order, or the top k by value (ties: lower id first).
std::vector<size_t> listed_labels(const std::vector<double>& values, int top_k) {
  std::vector<size_t> idx(values.size());
  std::iota(idx.begin(), idx.end(), 0);
  if (top_k <= 0 || (size_t)top_k >= values.size()) {
    if (top_k > 0)
      std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return values[a] > values[b]; });
    return idx;
  }
  std::partial_sort(idx.begin(), idx.begin() + top_k, idx.end(),
                    [&](size_t a, size_t b) { return values[a] > values[b] || (values[a] == values[b] && a < b); });
  idx.resize((size_t)top_k);
  return idx;
}

std::vector<LabelScore> listed_scores(const HeadConfig& head, const std::vector<double>& values, int top_k) {
  std::vector<LabelScore> scores;
  for (size_t i : listed_labels(values, top_k)) scores.push_back({label_name(head, i), values[i]});
  return scores;
}

}  // namespace

ClassificationResult classify_logits(std::span<const float> logits, const HeadConfig& head, const ClassifyOptions& o) {
  ClassificationResult r;
  const std::vector<double> raw(logits.begin(), logits.end());
  r.problem_type = head.resolved_problem_type();
  switch (r.problem_type) {
    case ProblemType::Regression:
    case ProblemType::Unset:  // resolved_problem_type never returns it; treat as raw values
      r.problem_type = ProblemType::Regression;
      if (raw.size() == 1) {
        r.score = logits[0];
        r.has_score = true;
      } else {
        r.scores = listed_scores(head, raw, o.top_k);
      }
      return r;
    case ProblemType::SingleLabel: {
      const std::vector<double> p = softmax(logits);
      const size_t best = (size_t)(std::max_element(p.begin(), p.end()) - p.begin());
      r.label = label_name(head, best);
      r.score = p[best];
      r.has_score = true;
      r.scores = listed_scores(head, p, o.top_k);
      return r;
    }
    case ProblemType::MultiLabel: {
      std::vector<double> p(raw.size());
      for (size_t i = 0; i < raw.size(); ++i) p[i] = sigmoid(raw[i]);
      // By descending probability; at most top_k of them.
      for (size_t i : listed_labels(p, (int)p.size())) {
        const double t = i < o.thresholds.size() ? o.thresholds[i] : o.threshold;
        if (p[i] > t && (o.top_k <= 0 || (int)r.labels.size() < o.top_k)) r.labels.push_back(label_name(head, i));
      }
      r.scores = listed_scores(head, p, o.top_k);
      return r;
    }
  }
  return r;
}

std::vector<double> read_label_thresholds(const std::string& path, const HeadConfig& head, double default_threshold) {
  json j;
  try {
    j = json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
  if (!j.is_object()) throw Error(path + ": expected a JSON object {\"label\": threshold, ...}");
  std::vector<double> t((size_t)head.num_labels, default_threshold);
  for (auto it = j.begin(); it != j.end(); ++it) {
    size_t i = 0;
    while (i < t.size() && label_name(head, i) != it.key()) ++i;
    if (i == t.size()) throw Error(fmt::format("{}: \"{}\" is not a label of the model", path, it.key()));
    if (!it.value().is_number() || it.value().get<double>() < 0 || it.value().get<double>() > 1)
      throw Error(fmt::format("{}: the threshold of \"{}\" must be a number in [0, 1]", path, it.key()));
    t[i] = it.value().get<double>();
  }
  return t;
}

}  // namespace medenc
