// Regression metrics: errors, R², correlations, accuracy after binarising, ROC-AUC.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "medenc/error.h"
#include "medenc/metrics.h"

namespace medenc {

static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> average_ranks(std::span<const double> x) {
  const size_t n = x.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> ranks(n);
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && x[order[j]] == x[order[i]]) ++j;
    // Positions i..j-1 (0-based) share the mean of ranks i+1..j.
    const double mean_rank = 0.5 * (double)(i + 1 + j);
    for (size_t k = i; k < j; ++k) ranks[order[k]] = mean_rank;
    i = j;
  }
  return ranks;
}

double pearson(std::span<const double> x, std::span<const double> y) {
  if (x.size() != y.size()) throw Error("pearson: sizes differ");
  const size_t n = x.size();
  if (n < 2) return kNaN;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) mx += x[i], my += y[i];
  mx /= (double)n;
  my /= (double)n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    const double dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx == 0 || syy == 0) return kNaN;
  return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

double spearman(std::span<const double> x, std::span<const double> y) {
  const std::vector<double> rx = average_ranks(x), ry = average_ranks(y);
  return pearson(rx, ry);
}

double roc_auc(std::span<const double> scores, std::span<const uint8_t> positive) {
  if (scores.size() != positive.size()) throw Error("roc_auc: sizes differ");
  const std::vector<double> ranks = average_ranks(scores);
  double rank_sum = 0;
  int64_t pos = 0;
  for (size_t i = 0; i < scores.size(); ++i)
    if (positive[i]) rank_sum += ranks[i], ++pos;
  const int64_t neg = (int64_t)scores.size() - pos;
  if (pos == 0 || neg == 0) return kNaN;
  // U statistic of the positives over the negatives, ties counting one half.
  const double u = rank_sum - 0.5 * (double)pos * (double)(pos + 1);
  return u / ((double)pos * (double)neg);
}

RegressionMetrics regression_metrics(std::span<const double> pred, std::span<const double> target, double threshold) {
  if (pred.size() != target.size()) throw Error("regression_metrics: sizes differ");
  RegressionMetrics m;
  const size_t n = pred.size();
  m.count = (int64_t)n;
  m.threshold = threshold;
  if (n == 0) return m;
  double se = 0, ae = 0, mean_t = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = pred[i] - target[i];
    se += d * d;
    ae += std::fabs(d);
    mean_t += target[i];
  }
  mean_t /= (double)n;
  double ss_tot = 0;
  for (size_t i = 0; i < n; ++i) ss_tot += (target[i] - mean_t) * (target[i] - mean_t);
  m.mse = se / (double)n;
  m.rmse = std::sqrt(m.mse);
  m.mae = ae / (double)n;
  m.r2 = ss_tot > 0 ? 1.0 - se / ss_tot : (se == 0 ? 1.0 : 0.0);
  m.pearson = pearson(pred, target);
  m.spearman = spearman(pred, target);
  std::vector<uint8_t> high(n);
  int64_t right = 0;
  for (size_t i = 0; i < n; ++i) {
    high[i] = target[i] > threshold;
    right += (pred[i] > threshold) == (bool)high[i];
    m.positives += high[i];
  }
  m.accuracy = (double)right / (double)n;
  m.roc_auc = roc_auc(pred, high);
  return m;
}

}  // namespace medenc
