#pragma once
// Evaluation metrics of `medenc eval` and of evaluation during training, defined as the usual Python
// tools define them: scikit-learn (regression, ROC-AUC, precision/recall/F1 with zero_division=0,
// Hamming loss, Matthews correlation), scipy (Pearson, Spearman with average ranks for ties) and
// seqeval (entity-level NER scores, default and strict IOB2 modes).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace medenc {

// ---------------------------------------------------------------------------------------------
// Regression (one score per example)

// 1-based ranks, tied values sharing the mean of their ranks (scipy.stats.rankdata "average").
std::vector<double> average_ranks(std::span<const double> x);
// Pearson correlation; NaN when either side is constant (as scipy; written as null in JSON).
double pearson(std::span<const double> x, std::span<const double> y);
// Pearson correlation of the average ranks.
double spearman(std::span<const double> x, std::span<const double> y);
// Area under the ROC curve of `scores` for the positives (sklearn.metrics.roc_auc_score): the
// Mann-Whitney statistic, a tied positive/negative pair counting one half. NaN when one class is absent
// (sklearn raises there).
double roc_auc(std::span<const double> scores, std::span<const uint8_t> positive);

struct RegressionMetrics {
  int64_t count = 0;
  double mse = 0, rmse = 0, mae = 0, r2 = 0, pearson = 0, spearman = 0;
  // After binarising both sides at `threshold` (value <= threshold: low, above: high), as the
  // safety and relevance seeds report (<= 2 vs > 2).
  double threshold = 0, accuracy = 0;
  double roc_auc = 0;  // predictions as scores for target > threshold
  int64_t positives = 0;
};
// r2 is sklearn's r2_score (1 - SS_res / SS_tot; 0 when the targets are constant and predicted
// imperfectly, 1 when perfectly).
RegressionMetrics regression_metrics(std::span<const double> predictions, std::span<const double> targets,
                                     double threshold);

// ---------------------------------------------------------------------------------------------
// Classification

struct LabelReport {
  std::string label;
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;    // gold occurrences
  int64_t predicted = 0;  // predicted occurrences
};

struct ClassificationMetrics {
  int64_t count = 0;
  double accuracy = 0;  // single-label: fraction right; multi-label: exact match (subset accuracy)
  double precision_micro = 0, recall_micro = 0, f1_micro = 0;
  double precision_macro = 0, recall_macro = 0, f1_macro = 0;
  double exact_match = 0, hamming_loss = 0, label_accuracy = 0;
  std::vector<LabelReport> per_label;
};

// Single-label: pred/gold are class ids in [0, labels.size()). Macro averages run over the labels that
// occur in gold or predictions (sklearn's default label set); per_label lists every label.
ClassificationMetrics single_label_metrics(std::span<const int32_t> predicted, std::span<const int32_t> gold,
                                           const std::vector<std::string>& labels);
// Multi-label: n x L 0/1 matrices, row-major. Macro averages run over all L labels (sklearn on
// indicator matrices), a label with nothing predicted and nothing gold scoring 0.
ClassificationMetrics multi_label_metrics(std::span<const uint8_t> predicted, std::span<const uint8_t> gold,
                                          const std::vector<std::string>& labels);

// Per label, the probability threshold t (a label is on when p > t) that maximises F1 on this data:
// candidates are 0.5 and the midpoints between consecutive distinct probabilities; ties go to the
// candidate nearest 0.5. A label without gold positives keeps 0.5. probs and gold are n x L.
std::vector<double> tune_thresholds(std::span<const double> probs, std::span<const uint8_t> gold, int64_t labels);

// ---------------------------------------------------------------------------------------------
// Named-entity recognition (entity level, over word-level tag sequences such as "B-T038")

struct TaggedEntity {
  std::string type;
  int64_t begin = 0, end = 0;  // word positions [begin, end) in the concatenated sequences
  bool operator==(const TaggedEntity&) const = default;
};

// seqeval's default mode (conlleval rules, IOB1/IOB2/IOBES tolerant): an I- after O or after another
// type starts an entity. Sequences are concatenated with an "O" between them.
std::vector<TaggedEntity> seqeval_entities(const std::vector<std::vector<std::string>>& sequences);
// seqeval mode="strict", scheme=IOB2: an entity is B-X followed by I-X...; an I- that does not continue
// an entity of its type is not part of any entity.
std::vector<TaggedEntity> iob2_strict_entities(const std::vector<std::vector<std::string>>& sequences);

struct NerMetrics {
  int64_t sequences = 0, words = 0;
  // Entity level, exact span and type (seqeval classification_report): micro over all entities, and
  // the unweighted mean over types.
  double precision = 0, recall = 0, f1 = 0;
  double precision_macro = 0, recall_macro = 0, f1_macro = 0;
  int64_t gold_entities = 0, predicted_entities = 0, correct_entities = 0;
  std::vector<LabelReport> per_type;  // sorted by type
  // Word level: fraction of tags right, and the multiclass Matthews correlation over the tags.
  double accuracy = 0, matthews = 0;
};
// strict: iob2_strict_entities instead of seqeval_entities.
NerMetrics ner_metrics(const std::vector<std::vector<std::string>>& gold,
                       const std::vector<std::vector<std::string>>& predicted, bool strict);

// Multiclass Matthews correlation coefficient (sklearn.metrics.matthews_corrcoef); 0 when undefined.
double matthews_corrcoef(std::span<const int32_t> gold, std::span<const int32_t> predicted);

// ---------------------------------------------------------------------------------------------
// Masked language modelling

// Counts, over masked positions, how often the true token is among the k highest logits
// (k = 1, 5, 10, 25). A tie at the k-th place counts the true token in when its logit equals it.
class TopKAccuracy {
 public:
  static constexpr int kKs[4] = {1, 5, 10, 25};
  void add(std::span<const float> logits, int32_t label);
  int64_t count() const { return count_; }
  double accuracy(int index) const { return count_ ? (double)hits_[index] / (double)count_ : 0.0; }

 private:
  int64_t count_ = 0;
  int64_t hits_[4] = {0, 0, 0, 0};
};

// ---------------------------------------------------------------------------------------------
// JSON forms (the keys `medenc eval` writes and `--metric-for-best-model` names)

nlohmann::ordered_json to_json(const RegressionMetrics& m);
nlohmann::ordered_json to_json(const ClassificationMetrics& m, bool multi_label);
nlohmann::ordered_json to_json(const NerMetrics& m, const NerMetrics& strict);
nlohmann::ordered_json to_json(const TopKAccuracy& m);

}  // namespace medenc
