// Classification metrics (single- and multi-label) and per-label threshold tuning.
#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/metrics.h"

namespace medenc {

namespace {

double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

// Precision, recall and F1 from counts (zero_division = 0).
LabelReport report(const std::string& label, int64_t tp, int64_t fp, int64_t fn) {
  LabelReport r;
  r.label = label;
  r.precision = ratio((double)tp, (double)(tp + fp));
  r.recall = ratio((double)tp, (double)(tp + fn));
  r.f1 = ratio(2.0 * (double)tp, (double)(2 * tp + fp + fn));
  r.support = tp + fn;
  r.predicted = tp + fp;
  return r;
}

}  // namespace

ClassificationMetrics single_label_metrics(std::span<const int32_t> predicted, std::span<const int32_t> gold,
                                           const std::vector<std::string>& labels) {
  if (predicted.size() != gold.size()) throw Error("single_label_metrics: sizes differ");
  const size_t L = labels.size();
  std::vector<int64_t> tp(L, 0), fp(L, 0), fn(L, 0);
  int64_t right = 0;
  for (size_t i = 0; i < gold.size(); ++i) {
    const int32_t g = gold[i], p = predicted[i];
    if (g < 0 || (size_t)g >= L || p < 0 || (size_t)p >= L)
      throw Error(fmt::format("single_label_metrics: class id out of range at row {}", i));
    if (g == p) {
      ++tp[g];
      ++right;
    } else {
      ++fp[p];
      ++fn[g];
    }
  }
  ClassificationMetrics m;
  m.count = (int64_t)gold.size();
  m.accuracy = ratio((double)right, (double)gold.size());
  int64_t present = 0;
  for (size_t k = 0; k < L; ++k) {
    m.per_label.push_back(report(labels[k], tp[k], fp[k], fn[k]));
    if (tp[k] + fp[k] + fn[k] == 0) continue;  // neither gold nor predicted: outside sklearn's label set
    ++present;
    m.precision_macro += m.per_label.back().precision;
    m.recall_macro += m.per_label.back().recall;
    m.f1_macro += m.per_label.back().f1;
  }
  if (present) {
    m.precision_macro /= (double)present;
    m.recall_macro /= (double)present;
    m.f1_macro /= (double)present;
  }
  // With one label per example every error is one false positive and one false negative.
  m.precision_micro = m.recall_micro = m.f1_micro = m.accuracy;
  m.exact_match = m.label_accuracy = m.accuracy;
  m.hamming_loss = gold.empty() ? 0.0 : 1.0 - m.accuracy;
  return m;
}

ClassificationMetrics multi_label_metrics(std::span<const uint8_t> predicted, std::span<const uint8_t> gold,
                                          const std::vector<std::string>& labels) {
  const size_t L = labels.size();
  if (predicted.size() != gold.size() || (L && gold.size() % L))
    throw Error("multi_label_metrics: matrix sizes differ");
  const size_t n = L ? gold.size() / L : 0;
  std::vector<int64_t> tp(L, 0), fp(L, 0), fn(L, 0);
  int64_t exact = 0, wrong_cells = 0;
  for (size_t i = 0; i < n; ++i) {
    bool all = true;
    for (size_t k = 0; k < L; ++k) {
      const bool g = gold[i * L + k] != 0, p = predicted[i * L + k] != 0;
      tp[k] += g && p;
      fp[k] += !g && p;
      fn[k] += g && !p;
      if (g != p) {
        all = false;
        ++wrong_cells;
      }
    }
    exact += all;
  }
  ClassificationMetrics m;
  m.count = (int64_t)n;
  int64_t TP = 0, FP = 0, FN = 0;
  for (size_t k = 0; k < L; ++k) {
    m.per_label.push_back(report(labels[k], tp[k], fp[k], fn[k]));
    m.precision_macro += m.per_label.back().precision;
    m.recall_macro += m.per_label.back().recall;
    m.f1_macro += m.per_label.back().f1;
    TP += tp[k];
    FP += fp[k];
    FN += fn[k];
  }
  if (L) {
    m.precision_macro /= (double)L;
    m.recall_macro /= (double)L;
    m.f1_macro /= (double)L;
  }
  const LabelReport micro = report("", TP, FP, FN);
  m.precision_micro = micro.precision;
  m.recall_micro = micro.recall;
  m.f1_micro = micro.f1;
  m.exact_match = m.accuracy = ratio((double)exact, (double)n);
  m.hamming_loss = ratio((double)wrong_cells, (double)(n * L));
  m.label_accuracy = n * L > 0 ? 1.0 - m.hamming_loss : 0.0;
  return m;
}

std::vector<double> tune_thresholds(std::span<const double> probs, std::span<const uint8_t> gold, int64_t labels) {
  if (labels <= 0 || probs.size() != gold.size() || probs.size() % (size_t)labels)
    throw Error("tune_thresholds: matrix sizes differ");
  const size_t L = (size_t)labels, n = probs.size() / L;
  std::vector<double> out(L, 0.5);
  std::vector<std::pair<double, uint8_t>> col(n);
  for (size_t k = 0; k < L; ++k) {
    int64_t positives = 0;
    for (size_t i = 0; i < n; ++i) {
      col[i] = {probs[i * L + k], gold[i * L + k] != 0};
      positives += col[i].second;
    }
    if (positives == 0) continue;
    std::sort(col.begin(), col.end(), [](auto& a, auto& b) { return a.first > b.first; });
    auto f1_at = [&](int64_t tp, int64_t on) { return 2.0 * (double)tp / (double)(on + positives); };
    // Threshold 0.5 itself.
    int64_t tp_half = 0, on_half = 0;
    for (auto& [p, g] : col)
      if (p > 0.5) ++on_half, tp_half += g;
    double best_f1 = f1_at(tp_half, on_half), best_t = 0.5;
    // Walking down the sorted probabilities: after the group of value v, the threshold between v and
    // the next distinct value turns exactly the examples seen so far on.
    int64_t tp = 0, on = 0;
    for (size_t i = 0; i < n;) {
      size_t j = i;
      while (j < n && col[j].first == col[i].first) tp += col[j].second, ++on, ++j;
      const double next = j < n ? col[j].first : 0.0;
      const double t = 0.5 * (col[i].first + next);
      if (!(t < col[i].first)) break;  // a probability of 0 cannot be turned on by p > t
      const double f1 = f1_at(tp, on);
      if (f1 > best_f1 || (f1 == best_f1 && std::fabs(t - 0.5) < std::fabs(best_t - 0.5))) {
        best_f1 = f1;
        best_t = t;
      }
      i = j;
    }
    out[k] = std::clamp(best_t, 0.0, 1.0);
  }
  return out;
}

}  // namespace medenc
