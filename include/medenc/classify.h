#pragma once
// `medenc classify`: sequence-classification logits turned into what the checkpoint's problem_type
// means — a raw score (regression), a softmax label (single-label) or sigmoid labels over a
// threshold (multi-label).
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "medenc/config.h"
#include "medenc/pipeline.h"

namespace medenc {

enum class WindowAggregation { Mean, Max };
WindowAggregation parse_window_aggregation(const std::string& name);  // "mean" | "max"

struct ClassifyOptions {
  double threshold = 0.5;          // multi-label: a label is on when its probability is above this
  std::vector<double> thresholds;  // multi-label: one per label (overrides threshold); empty: none
  int top_k = 0;                   // > 0: only the k best labels in "scores" (and "labels")
  WindowAggregation window_aggregation = WindowAggregation::Mean;  // across stride windows
};

// exp(x - max) / sum, in double.
std::vector<double> softmax(std::span<const float> logits);
double sigmoid(double x);

// Element-wise mean or max of equally long logit rows (one per window).
std::vector<float> aggregate_window_logits(const std::vector<std::span<const float>>& rows, WindowAggregation how);

// What one document's logits mean under the checkpoint's problem_type (see ClassificationResult).
ClassificationResult classify_logits(std::span<const float> logits, const HeadConfig& head,
                                     const ClassifyOptions& options);

// Per-label thresholds from a JSON object {"label": t, ...}; labels it leaves out get
// `default_threshold`. Unknown labels and values outside [0, 1] are errors naming the file.
std::vector<double> read_label_thresholds(const std::string& path, const HeadConfig& head, double default_threshold);

// The classify job over a sequence-classification model (pairs use the document's text_pair).
std::unique_ptr<Task> make_classify_task(const Tokenizer& tokenizer, const ModelInfo& model,
                                         const WindowOptions& windows, const ClassifyOptions& options);

}  // namespace medenc
