#include "train/train_common.h"

#include <span>

#include <fmt/format.h>

#include "medenc/error.h"

namespace medenc {

ops::Dropout dropout_site(double p, bool enabled, uint64_t seed, uint64_t site) {
  ops::Dropout d;
  if (!enabled || p <= 0.0) return d;
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (site + 1);  // splitmix64 of (seed, site)
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  d.p = (float)p;
  d.seed = z ^ (z >> 31);
  return d;
}

void check_token_labels(HeadKind kind, const TrainLabels& labels, int64_t tokens) {
  if ((int64_t)labels.classes.size() != tokens)
    throw Error(fmt::format("{} training needs one class label per token (-100 to ignore): got {} for {} tokens",
                            head_name(kind), labels.classes.size(), tokens));
}

std::vector<int64_t> labelled_rows(const std::vector<int32_t>& classes) {
  std::vector<int64_t> rows;
  for (size_t t = 0; t < classes.size(); ++t)
    if (classes[t] != -100) rows.push_back((int64_t)t);
  return rows;
}

std::vector<int32_t> gather_labels(const std::vector<int32_t>& classes, const std::vector<int64_t>& index) {
  std::vector<int32_t> out;
  for (int64_t t : index) out.push_back(classes[(size_t)t]);
  return out;
}

static double loss_by_problem_type(const HeadConfig& head, const Batch& batch, const TrainLabels& labels,
                                   const std::vector<int32_t>& row_labels, const float* logits, int64_t R, int64_t C,
                                   float* dlogits) {
  if (head.kind != HeadKind::SequenceClassification) return cross_entropy_loss(logits, R, C, row_labels, dlogits);
  ProblemType pt = head.problem_type;
  if (pt == ProblemType::Unset)
    pt = C == 1 ? ProblemType::Regression
                : (!labels.classes.empty() ? ProblemType::SingleLabel : ProblemType::MultiLabel);
  if (pt == ProblemType::SingleLabel) {
    if ((int64_t)labels.classes.size() != batch.size())
      throw Error(fmt::format("single-label classification needs one class label per sequence: got {} for {} "
                              "sequences",
                              labels.classes.size(), batch.size()));
    return cross_entropy_loss(logits, R, C, labels.classes, dlogits);
  }
  const char* what = pt == ProblemType::Regression ? "regression" : "multi-label classification";
  if ((int64_t)labels.values.size() != R * C)
    throw Error(fmt::format("{} needs {} float label value(s) per sequence ({} in all), got {}", what, C, R * C,
                            labels.values.size()));
  const std::span<const float> lg(logits, (size_t)(R * C));
  return pt == ProblemType::Regression ? mse_loss(lg, labels.values, dlogits)
                                       : bce_with_logits_loss(lg, labels.values, dlogits);
}

TrainOutput head_loss(const HeadConfig& head, const Batch& batch, const TrainLabels& labels,
                      const std::vector<int32_t>& row_labels, const float* logits, int64_t R, int64_t C,
                      bool keep_logits, float* dlogits) {
  TrainOutput out;
  out.loss = loss_by_problem_type(head, batch, labels, row_labels, logits, R, C, dlogits);
  out.logits_rows = R;
  out.logits_cols = C;
  if (keep_logits) out.logits.assign(logits, logits + R * C);
  return out;
}

}  // namespace medenc
