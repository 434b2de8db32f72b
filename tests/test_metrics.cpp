// Metric functions against values computed by hand (and, where noted, the values scikit-learn, scipy
// and seqeval document for the same inputs).
#include <gtest/gtest.h>

#include <cmath>

#include "medenc/metrics.h"

namespace medenc {
namespace {

TEST(Metrics, AverageRanksShareTiedRanks) {
  const std::vector<double> x{3, 1, 4, 1, 5, 3};
  EXPECT_EQ(average_ranks(x), (std::vector<double>{3.5, 1.5, 5, 1.5, 6, 3.5}));
}

TEST(Metrics, SpearmanWithTies) {
  // Ranks x = [1, 2.5, 2.5, 4], y = [1, 3, 2, 4]: Pearson of the ranks = 4.5 / sqrt(4.5 * 5) = sqrt(0.9).
  const std::vector<double> x{1, 2, 2, 3}, y{1, 3, 2, 4};
  EXPECT_NEAR(spearman(x, y), std::sqrt(0.9), 1e-12);
  // A monotone transform does not change it; constant input has no correlation (NaN, as scipy).
  EXPECT_NEAR(spearman(x, std::vector<double>{10, 300, 200, 4000}), std::sqrt(0.9), 1e-12);
  EXPECT_TRUE(std::isnan(spearman(x, std::vector<double>{5, 5, 5, 5})));
}

TEST(Metrics, RocAucCountsTiesAsHalf) {
  // scikit-learn's documented example.
  EXPECT_NEAR(roc_auc(std::vector<double>{0.1, 0.4, 0.35, 0.8}, std::vector<uint8_t>{0, 0, 1, 1}), 0.75, 1e-12);
  // Positives {0.5, 0.9}, negatives {0.5, 0.2}: pairs 0.5/0.5 tie (1/2), the other three won: 3.5 / 4.
  EXPECT_NEAR(roc_auc(std::vector<double>{0.5, 0.5, 0.2, 0.9}, std::vector<uint8_t>{1, 0, 0, 1}), 0.875, 1e-12);
  // All scores tied: 0.5. One class only: undefined.
  EXPECT_NEAR(roc_auc(std::vector<double>{1, 1, 1}, std::vector<uint8_t>{1, 0, 1}), 0.5, 1e-12);
  EXPECT_TRUE(std::isnan(roc_auc(std::vector<double>{1, 2}, std::vector<uint8_t>{1, 1})));
}

TEST(Metrics, Regression) {
  const std::vector<double> pred{1, 2, 3, 4}, target{1.5, 2, 2.5, 5};
  const RegressionMetrics m = regression_metrics(pred, target, 2.0);
  EXPECT_EQ(m.count, 4);
  EXPECT_NEAR(m.mse, 0.375, 1e-12);  // errors -0.5, 0, 0.5, -1
  EXPECT_NEAR(m.rmse, std::sqrt(0.375), 1e-12);
  EXPECT_NEAR(m.mae, 0.5, 1e-12);
  EXPECT_NEAR(m.r2, 1.0 - 1.5 / 7.25, 1e-12);  // SS_tot around the mean 2.75
  EXPECT_NEAR(m.pearson, 5.5 / std::sqrt(5.0 * 7.25), 1e-12);
  EXPECT_NEAR(m.spearman, 1.0, 1e-12);
  EXPECT_NEAR(m.accuracy, 1.0, 1e-12);  // <= 2: rows 0, 1 on both sides
  EXPECT_EQ(m.positives, 2);
  EXPECT_NEAR(m.roc_auc, 1.0, 1e-12);
  // Binarising at 2.5 instead: prediction 3 > 2.5 but target 2.5 is not.
  EXPECT_NEAR(regression_metrics(pred, target, 2.5).accuracy, 0.75, 1e-12);
  // Constant targets: r2 is 1 for a perfect prediction, 0 otherwise (sklearn's force_finite).
  EXPECT_EQ(regression_metrics(std::vector<double>{2, 2}, std::vector<double>{2, 2}, 2).r2, 1.0);
  EXPECT_EQ(regression_metrics(std::vector<double>{1, 2}, std::vector<double>{2, 2}, 2).r2, 0.0);
}

TEST(Metrics, MultiLabel) {
  const std::vector<std::string> labels{"a", "b", "c"};
  const std::vector<uint8_t> gold{1, 0, 1, /**/ 0, 1, 0, /**/ 1, 1, 0};
  const std::vector<uint8_t> pred{1, 0, 0, /**/ 0, 1, 1, /**/ 1, 1, 0};
  const ClassificationMetrics m = multi_label_metrics(pred, gold, labels);
  // a and b are perfect, c has one false negative and one false positive.
  EXPECT_NEAR(m.precision_micro, 0.8, 1e-12);  // TP 4, FP 1, FN 1
  EXPECT_NEAR(m.recall_micro, 0.8, 1e-12);
  EXPECT_NEAR(m.f1_micro, 0.8, 1e-12);
  EXPECT_NEAR(m.precision_macro, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(m.f1_macro, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(m.exact_match, 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(m.hamming_loss, 2.0 / 9.0, 1e-12);
  EXPECT_NEAR(m.label_accuracy, 7.0 / 9.0, 1e-12);
  ASSERT_EQ(m.per_label.size(), 3u);
  EXPECT_EQ(m.per_label[2].support, 1);
  EXPECT_EQ(m.per_label[2].predicted, 1);
  EXPECT_EQ(m.per_label[2].f1, 0.0);
  // A label nobody has and nobody predicts scores 0 and still counts in the macro mean (sklearn).
  const ClassificationMetrics z = multi_label_metrics(std::vector<uint8_t>{1, 0}, std::vector<uint8_t>{1, 0},
                                                      std::vector<std::string>{"x", "y"});
  EXPECT_NEAR(z.f1_macro, 0.5, 1e-12);
  EXPECT_NEAR(z.f1_micro, 1.0, 1e-12);
}

TEST(Metrics, SingleLabel) {
  const std::vector<std::string> labels{"a", "b", "c", "d"};
  const ClassificationMetrics m =
      single_label_metrics(std::vector<int32_t>{0, 1, 1, 1}, std::vector<int32_t>{0, 0, 1, 2}, labels);
  EXPECT_NEAR(m.accuracy, 0.5, 1e-12);
  EXPECT_NEAR(m.f1_micro, 0.5, 1e-12);
  // a: P 1, R 1/2; b: P 1/3, R 1; c: 0; d never occurs and is left out of the macro mean.
  EXPECT_NEAR(m.precision_macro, (1.0 + 1.0 / 3.0) / 3.0, 1e-12);
  EXPECT_NEAR(m.recall_macro, 1.5 / 3.0, 1e-12);
  EXPECT_NEAR(m.f1_macro, (2.0 / 3.0 + 0.5) / 3.0, 1e-12);
  EXPECT_NEAR(m.hamming_loss, 0.5, 1e-12);
}

TEST(Metrics, ThresholdTuningPicksTheBestMidpoint) {
  // One label, probabilities 0.9 0.6 0.4 0.3 0.2 with gold 1 0 1 0 0: turning on the top three gives
  // F1 = 2*2 / (3 + 2) = 0.8, the best; the threshold is the midpoint between 0.4 and 0.3.
  const std::vector<double> p{0.9, 0.6, 0.4, 0.3, 0.2};
  const std::vector<uint8_t> g{1, 0, 1, 0, 0};
  const std::vector<double> t = tune_thresholds(p, g, 1);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_NEAR(t[0], 0.35, 1e-12);
  // Two labels interleaved; the second has no positives and keeps 0.5.
  const std::vector<double> p2{0.9, 0.1, 0.6, 0.7, 0.4, 0.2, 0.3, 0.9, 0.2, 0.4};
  const std::vector<uint8_t> g2{1, 0, 0, 0, 1, 0, 0, 0, 0, 0};
  const std::vector<double> t2 = tune_thresholds(p2, g2, 2);
  EXPECT_NEAR(t2[0], 0.35, 1e-12);
  EXPECT_EQ(t2[1], 0.5);
  // Already perfect at 0.5: the tie goes to the threshold nearest 0.5.
  EXPECT_EQ(tune_thresholds(std::vector<double>{0.8, 0.2}, std::vector<uint8_t>{1, 0}, 1)[0], 0.5);
}

using Seqs = std::vector<std::vector<std::string>>;

TEST(Metrics, SeqevalDefaultModeEdgeCases) {
  // An I- without a B- starts an entity; a type change inside a chunk starts another; B-B splits.
  const Seqs s{{"I-PER", "I-PER", "O", "B-LOC", "I-PER", "B-ORG", "B-ORG", "I-ORG"}};
  const auto e = seqeval_entities(s);
  const std::vector<TaggedEntity> want{{"PER", 0, 2}, {"LOC", 3, 4}, {"PER", 4, 5}, {"ORG", 5, 6}, {"ORG", 6, 8}};
  EXPECT_EQ(e, want);
  // Sequences do not run into each other: an entity at the end of one is closed before the next.
  const auto two = seqeval_entities(Seqs{{"O", "B-X"}, {"I-X", "O"}});
  EXPECT_EQ(two, (std::vector<TaggedEntity>{{"X", 1, 2}, {"X", 3, 4}}));
}

TEST(Metrics, SeqevalStrictIob2) {
  // Strict IOB2: only B-X I-X* chunks; a stray I- is no entity; B-LOC followed by I-PER ends LOC.
  const Seqs s{{"I-PER", "I-PER", "O", "B-LOC", "I-PER", "B-ORG", "I-ORG", "I-ORG", "B-ORG"}};
  EXPECT_EQ(iob2_strict_entities(s),
            (std::vector<TaggedEntity>{{"LOC", 3, 4}, {"ORG", 5, 8}, {"ORG", 8, 9}}));
}

TEST(Metrics, NerScoresAndMatthews) {
  const Seqs gold{{"B-PER", "I-PER", "O", "B-LOC"}};
  const Seqs pred{{"B-PER", "I-PER", "O", "B-PER"}};
  const NerMetrics m = ner_metrics(gold, pred, false);
  EXPECT_EQ(m.gold_entities, 2);
  EXPECT_EQ(m.predicted_entities, 2);
  EXPECT_EQ(m.correct_entities, 1);
  EXPECT_NEAR(m.precision, 0.5, 1e-12);
  EXPECT_NEAR(m.recall, 0.5, 1e-12);
  EXPECT_NEAR(m.f1, 0.5, 1e-12);
  ASSERT_EQ(m.per_type.size(), 2u);
  EXPECT_EQ(m.per_type[0].label, "LOC");
  EXPECT_EQ(m.per_type[0].f1, 0.0);
  EXPECT_NEAR(m.per_type[1].precision, 0.5, 1e-12);  // PER: 1 of 2 predicted right, 1 of 1 found
  EXPECT_NEAR(m.per_type[1].f1, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(m.f1_macro, 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(m.accuracy, 0.75, 1e-12);
  // Tags as classes: c = 3, s = 4, sum p*t = 4, sum p^2 = 6, sum t^2 = 4 -> 8 / sqrt(12 * 10).
  EXPECT_NEAR(m.matthews, 8.0 / std::sqrt(120.0), 1e-12);
}

TEST(Metrics, MatthewsMatchesScikitLearnExample) {
  // sklearn.metrics.matthews_corrcoef([+1, +1, +1, -1], [+1, -1, +1, +1]) = -0.333...
  EXPECT_NEAR(matthews_corrcoef(std::vector<int32_t>{1, 1, 1, -1}, std::vector<int32_t>{1, -1, 1, 1}), -1.0 / 3.0,
              1e-12);
  EXPECT_EQ(matthews_corrcoef(std::vector<int32_t>{1, 1}, std::vector<int32_t>{1, 1}), 0.0);  // undefined -> 0
}

TEST(Metrics, TopKAccuracyCountsTiesIn) {
  TopKAccuracy acc;
  acc.add(std::vector<float>{0.1f, 0.5f, 0.3f, 0.5f}, 2);  // two logits above: in the top 5, not the top 1
  acc.add(std::vector<float>{0.1f, 0.5f, 0.3f, 0.5f}, 3);  // tied for first: counts as top 1
  EXPECT_EQ(acc.count(), 2);
  EXPECT_NEAR(acc.accuracy(0), 0.5, 1e-12);
  EXPECT_NEAR(acc.accuracy(1), 1.0, 1e-12);
  std::vector<float> many(40);
  for (size_t i = 0; i < many.size(); ++i) many[i] = (float)i;  // label 20 has 19 above it
  acc.add(many, 20);
  EXPECT_NEAR(acc.accuracy(2), 2.0 / 3.0, 1e-12);  // top 10: no
  EXPECT_NEAR(acc.accuracy(3), 1.0, 1e-12);        // top 25: yes
}

}  // namespace
}  // namespace medenc
