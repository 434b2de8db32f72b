#pragma once
// Training and evaluation data for `medenc train` / `medenc eval`: records read from JSON Lines, CSV,
// CoNLL/BIO, PubTator or plain text; checked for the task (bad rows counted and reported, never used);
// indexed by byte offset so a file larger than memory is read one record at a time; turned into model
// inputs with labels (NER spans aligned to tokens, B-/I- tags built; masked-LM inputs masked 80/10/10).
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "medenc/model.h"
#include "medenc/tokenizer.h"

namespace medenc {

enum class TaskKind { Regression, SingleLabel, MultiLabel, Ner, Mlm };
TaskKind parse_task(const std::string& name);  // regression | single-label | multi-label | ner | mlm
const char* task_name(TaskKind task);

enum class DataFormat { Auto, Jsonl, Csv, Conll, Pubtator, Text };
DataFormat parse_data_format(const std::string& name);  // auto | jsonl | csv | conll | pubtator | text
const char* data_format_name(DataFormat format);
// Auto: from the extension (.jsonl/.json, .csv, .conll/.bio/.iob, .pubtator, .txt), else JSON Lines.
DataFormat resolve_data_format(DataFormat format, const std::string& path);

struct DataOptions {
  DataFormat format = DataFormat::Auto;
  std::string text_field = "text";
  std::string pair_field;       // optional second text ("": none)
  std::string label_field;      // "": the first of "label", "labels", "score" the record has
  std::string entities_field = "entities";
  std::string label_separator = ";";  // multi-label labels given as one string (CSV)
  std::optional<double> score_min, score_max;  // regression: scores outside are bad rows
  // Renames labels / entity types before anything else; a label renamed to "" or "O" is dropped.
  std::map<std::string, std::string> label_map;
};

// A span of code points [start, end) of a text, with a label (entities) or without (words).
struct TextSpan {
  int64_t start = 0, end = 0;
  std::string label;
  bool operator==(const TextSpan&) const = default;
};

// One checked example of a task.
struct Example {
  int64_t line = 0;  // 1-based line where the record starts
  std::string text;
  std::optional<std::string> text_pair;
  double score = 0;                  // regression
  std::vector<std::string> labels;   // single-label: one; multi-label: any number (after the label map)
  std::vector<TextSpan> entities;    // NER: sorted, non-overlapping, code points
  std::vector<TextSpan> words;       // NER from CoNLL: the given words; empty: the tokenizer's words
};

// The labels a model predicts, in id order.
struct LabelSpace {
  std::vector<std::string> names;
  std::unordered_map<std::string, int32_t> index;
  explicit LabelSpace(std::vector<std::string> labels = {});
  int32_t find(const std::string& label) const;  // -1 when absent
  int64_t size() const { return (int64_t)names.size(); }
};

// NER tags for entity types: "O", then B-/I- per type in the given order.
std::vector<std::string> bio_label_names(const std::vector<std::string>& types);

// What a data file held: rows used, bad rows by reason with the first few located, labels dropped.
struct DataReport {
  std::string source;
  int64_t records = 0;
  int64_t used = 0;
  std::map<std::string, int64_t> bad;  // reason -> rows
  std::vector<std::string> first_errors;  // "FILE:LINE: message" (at most 10)
  int64_t labels_dropped = 0;    // multi-label labels outside the label set (the row is kept)
  int64_t entities_dropped = 0;  // entities mapped to "O"/"" or overlapping an earlier one
  int64_t truncated = 0;         // examples cut at --max-length (counted when encoded)
  int64_t bad_rows() const;
  void add_bad(const std::string& reason, int64_t line, const std::string& message);
  std::string summary() const;  // one paragraph for stderr
  nlohmann::ordered_json to_json() const;
};

// A data file indexed by record: each record is checked for the task when the file is scanned, and the
// good ones are read again, one at a time, by byte offset. Files must be seekable (not gzip, not a pipe).
class Dataset {
 public:
  // Scans `path`. With `labels` (fixed label set: the model's at evaluation, --label-list in training)
  // single-label rows with another label are bad rows and other multi-label labels are dropped;
  // without, every label is collected (see label_counts()).
  static std::unique_ptr<Dataset> scan(const std::string& path, TaskKind task, const DataOptions& options,
                                       const LabelSpace* labels = nullptr);
  ~Dataset();

  int64_t size() const { return (int64_t)entries_.size(); }
  Example get(int64_t index) const;
  double score(int64_t index) const { return entries_[(size_t)index].score; }
  TaskKind task() const { return task_; }
  const DataReport& report() const { return report_; }
  DataReport& report() { return report_; }
  // Labels (single/multi-label) or entity types (NER) seen in good rows, with their counts.
  const std::map<std::string, int64_t>& label_counts() const { return label_counts_; }
  int64_t file_size() const { return file_size_; }

  struct Entry {
    int64_t offset = 0;
    int64_t line = 0;
    float score = 0;
  };
  class Reader;

 private:
  Dataset() = default;
  TaskKind task_ = TaskKind::Regression;
  DataOptions options_;
  std::vector<Entry> entries_;
  DataReport report_;
  std::map<std::string, int64_t> label_counts_;
  int64_t file_size_ = 0;
  std::unique_ptr<Reader> reader_;
};

// ---------------------------------------------------------------------------------------------
// Model inputs

// One example as model input with its labels.
struct EncodedExample {
  std::vector<int32_t> ids, type_ids;
  std::vector<uint8_t> special;       // 1 on tokens the tokenizer added (never masked)
  float score = 0;                    // regression target
  int32_t label = -1;                 // single-label class
  std::vector<float> multi_hot;       // multi-label targets
  std::vector<int32_t> token_labels;  // NER: per token, -100 where not trained
  bool truncated = false;
  int64_t length() const { return (int64_t)ids.size(); }
};

// NER: the words of an example (given, or the tokenizer's words over these windows) and the BIO tag of
// each word (the type of the entity it overlaps; B- on the entity's first word).
std::vector<TextSpan> tokenizer_words(std::string_view text, std::span<const Encoding* const> windows);
std::vector<std::string> word_bio_tags(const std::vector<TextSpan>& words, const std::vector<TextSpan>& entities);
// For each token of a window, the word it belongs to (-1: special token or white space only). Token
// offsets are trimmed of surrounding white space first (byte-level BPE offsets include the space).
std::vector<int64_t> token_words(std::string_view text, const Encoding& window, const std::vector<TextSpan>& words);

// Turns examples into model inputs for one task: truncation to max_length, labels mapped to ids,
// NER tags on the first sub-token of each word (the rest -100).
class ExampleEncoder {
 public:
  ExampleEncoder(const Tokenizer& tokenizer, TaskKind task, LabelSpace labels, int64_t max_length,
                 bool with_type_ids);
  EncodedExample encode(const Example& example) const;
  const LabelSpace& labels() const { return labels_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  int64_t max_length() const { return max_length_; }
  bool with_type_ids() const { return with_type_ids_; }

  // NER evaluation: every window of the text (none dropped), each word's gold tag, and which token of
  // which window starts each word (window -1: no token).
  struct NerWindows {
    std::vector<Encoding> windows;
    std::vector<std::string> gold_tags;
    std::vector<std::pair<int32_t, int32_t>> first_token;  // per word: (window, token)
  };
  NerWindows encode_ner_windows(const Example& example) const;

 private:
  Encoding encode_text(const Example& example, bool* truncated) const;
  const Tokenizer& tokenizer_;
  TaskKind task_;
  LabelSpace labels_;
  int64_t max_length_;
  bool with_type_ids_;
};

// Masked-LM inputs: each non-special token is picked with probability `probability`; a picked token
// becomes the mask token (80%), a random vocabulary token (10%) or stays (10%), and its label is the
// original id; every other label is -100. Deterministic in `seed`.
void mask_tokens(std::vector<int32_t>& ids, const std::vector<uint8_t>& special, double probability,
                 int32_t mask_id, int64_t vocab_size, uint64_t seed, std::vector<int32_t>& labels);

// Appends an example to a batch (its type ids when the batch carries them).
void add_to_batch(Batch& batch, const EncodedExample& example, bool with_type_ids);

}  // namespace medenc
