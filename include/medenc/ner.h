#pragma once
// `medenc ner`: token-classification logits to entity spans, following Hugging Face's
// token-classification pipeline step by step (pre-entities, aggregation none / simple / first /
// average / max, B-/I- grouping, merging of overlapping stride windows), then product spans whose
// text is exactly a slice of the input.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>


#include "medenc/pipeline.h"

namespace medenc {

enum class NerAggregation { None, Simple, First, Average, Max };
NerAggregation parse_ner_aggregation(const std::string& name);  // none | simple | first | average | max

struct NerOptions {
  NerAggregation aggregation = NerAggregation::Simple;
  std::vector<std::string> ignore_labels{"O"};  // entities (groups) with these labels are dropped
};

// What the pipeline needs from the model and the tokenizer.
struct NerLabeling {
  std::vector<std::string> id2label;
  // WordPiece-style tokenizers (a continuing-subword prefix such as "##"): a token is a subword
  // when its vocab string and its text slice differ in length. Others (byte-level BPE, ModernBERT):
  // a token is a subword when it does not start the text and no space touches its start.
  bool word_aware = false;
  std::optional<int32_t> unk_id;  // an [UNK] token always starts a word and shows its text slice
  // The decoder on token strings (Hugging Face's convert_tokens_to_string), for the "word" field.
  std::function<std::string(const std::vector<std::string>&)> tokens_to_string;
};

// One scored, non-special token of a window (the pipeline's "pre-entity").
struct NerToken {
  int64_t index = 0;          // position in the window
  std::string word;           // vocab string ("##ing", "Ġpain"); the text slice for [UNK]
  int64_t start = 0, end = 0; // code-point offsets into the document
  bool is_subword = false;
  std::vector<float> scores;  // softmax over the labels
};

struct NerEntity {
  std::string label;          // none: the token's label; otherwise the group's (up to the first '-' removed)
  double score = 0;           // none: the token's probability; otherwise the mean over the group
  std::string word;           // decoded tokens, as the pipeline reports it (may differ from the text)
  int64_t start = 0, end = 0; // code-point offsets as the pipeline reports them
  int64_t index = -1;         // none: the token position in its window
};

// Number of code points in a UTF-8 string.
int64_t count_codepoints(std::string_view utf8);

// The pre-entities of one window; `logits` is [window tokens, labels]. `cp_bytes` maps code-point
// offsets of `text` to byte offsets (size = code points + 1).
std::vector<NerToken> ner_pre_entities(std::string_view text, std::span<const size_t> cp_bytes, const Encoding& window,
                                       std::span<const float> logits, const NerLabeling& labeling);

// Aggregation (words for first/average/max), grouping (all but none) and the ignore filter.
std::vector<NerEntity> ner_aggregate(const std::vector<NerToken>& tokens, const NerLabeling& labeling,
                                     const NerOptions& options);

// Entities from several windows: sorted by start; of two overlapping, the longer stays (the
// higher score on equal length).
std::vector<NerEntity> merge_window_entities(std::vector<NerEntity> entities);

// All entities of a document whose windows hold their logits in `values` ([tokens, labels]).
std::vector<NerEntity> ner_entities(std::string_view text, std::span<const size_t> cp_bytes,
                                    std::span<const Window> windows, const NerLabeling& labeling,
                                    const NerOptions& options);

// The entities as spans of the input (see EntitySpan): start/end are code-point offsets trimmed of
// surrounding whitespace (Hugging Face's offsets, kept in hf_start/hf_end, include the leading
// space of byte-level BPE tokens); text is the slice [start, end) of the input. A span that is
// whitespace only keeps its untrimmed offsets.
std::vector<EntitySpan> entity_spans(std::string_view text, std::span<const size_t> cp_bytes,
                                     const std::vector<NerEntity>& entities);

// The ner job over a token-classification model.
std::unique_ptr<Task> make_ner_task(const Tokenizer& tokenizer, const ModelInfo& model, const WindowOptions& windows,
                                    const NerOptions& options);

}  // namespace medenc
