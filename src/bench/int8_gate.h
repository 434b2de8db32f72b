#pragma once
// The int8 accuracy gate and the determinism check of `medenc bench`, computed in the run that
// reports the speed: fp32 and int8 (and bf16) are both run on the same inputs, nothing is recorded.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "medenc/model.h"

namespace medenc::bench {

struct Int8GateOptions {
  std::string fixtures_dir = "tests/data/fixtures";             // Hugging Face fixtures (fp32 expected outputs)
  std::string relevance_model = "models/medical-relevance";     // the shipped regression model (scores 1-5)
  std::string relevance_texts = "bench/finetune/relevance_unseen.jsonl";  // {"text", "score"} lines
  double max_mean_abs_score_diff = 0.05;
  double max_auc_diff = 0.002;
};

// Per fixture: the largest |int8 - fp32| of the logits (medenc fp32, and Hugging Face's fp32 outputs
// the fixture stores), and of the last hidden state; on the relevance model: the mean and largest
// |int8 - fp32| score over the texts and the ROC-AUC of both (medical = score > 3). Missing folders
// are skipped (noted in the report).
nlohmann::json int8_accuracy_gate(const Int8GateOptions& options, int threads);

// Runs `model` on `batch` with all threads, with one thread, and each sequence alone, and reports
// whether the last hidden states (and logits) are bit-identical across the three.
nlohmann::json determinism_check(const Encoder& model, const Batch& batch, int threads);

}  // namespace medenc::bench
