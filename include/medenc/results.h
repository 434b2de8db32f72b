#pragma once
// Typed results of the task calls (classify, ner, embed, fill-mask). The CLI writes them as JSON
// lines (medenc/results_json.h in the CLI); a server or a binding reads the fields directly.
#include <cstdint>
#include <string>
#include <vector>

#include "medenc/config.h"
#include "medenc/error.h"

namespace medenc {

struct LabelScore {
  std::string label;
  double score = 0;
};

// What a sequence-classification head's logits mean under the checkpoint's problem_type:
//   Regression:  raw values: `score` (one label) or `scores` (several), no output function;
//   SingleLabel: softmax: `label` is the best, `score` its probability, `scores` the distribution;
//   MultiLabel:  sigmoid: `labels` above their threshold (descending probability), `scores`.
// `scores` lists every label in id order, or with top_k the k best in descending order.
struct ClassificationResult {
  ProblemType problem_type = ProblemType::Regression;
  double score = 0;                 // Regression with one label; SingleLabel: probability of `label`
  bool has_score = false;           // whether `score` is set (not for multi-label or several raw values)
  std::string label;                // SingleLabel only
  std::vector<std::string> labels;  // MultiLabel only
  std::vector<LabelScore> scores;   // empty for single-value regression
  // The head's raw logits in label-id order (aggregated over windows): what the fields above were
  // computed from, for callers with their own output function (a server's raw_scores, TEI's /predict).
  std::vector<float> logits;
};

// One entity of a document. Offsets are Unicode code points into the input text.
struct EntitySpan {
  std::string label;
  int64_t start = 0, end = 0;        // trimmed of surrounding white space
  std::string text;                  // exactly the input's code points [start, end)
  double score = 0;                  // mean token probability of the group (aggregation none: the token's)
  std::string word;                  // the decoded tokens, as Hugging Face's pipeline reports them
  int64_t hf_start = 0, hf_end = 0;  // the pipeline's offsets (byte-level BPE: with the leading space)
  int64_t index = -1;                // aggregation none: the token's position in its window
};

struct TokenPrediction {
  std::string token;  // the token as a string (decoded, as Hugging Face's fill-mask pipeline shows it)
  int32_t token_id = 0;
  double score = 0;  // softmax probability
};

// The predictions at one mask token; start/end are the mask token's code-point offsets.
struct MaskPredictions {
  int64_t start = 0, end = 0;
  std::vector<TokenPrediction> predictions;
};

// What happened to one input of a call, besides its result.
struct InputStatus {
  int64_t tokens = 0;      // tokens run through the model, special tokens and window overlap included
  int64_t windows = 0;     // model windows the input was cut into (0 when it failed)
  bool truncated = false;  // tokens past max_length were dropped
  bool ok() const { return error.empty(); }
  std::string error;  // non-empty: this input failed and its result is empty
  ErrorKind error_kind = ErrorKind::InvalidInput;
};

}  // namespace medenc
