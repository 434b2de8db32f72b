#pragma once
// The streaming batch job behind classify, ner, embed and fill-mask: read documents, let the task
// tokenize each into model windows, run the windows in token-budget batches sorted by length, and
// write one JSON line per document in input order. Memory stays bounded by the read-ahead window,
// whatever the length of the input.
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "medenc/model.h"
#include "medenc/text_input.h"
#include "medenc/tokenizer.h"

namespace medenc {

// One model input cut from a document.
struct Window {
  Encoding enc;
  std::vector<float> values;  // what the task keeps from the forward output for this window
};

struct Job {
  Document doc;
  std::vector<Window> windows;
  bool truncated = false;  // tokens past max_length were dropped
  std::string error;       // non-empty: written as an error line
};

class Task {
 public:
  virtual ~Task() = default;
  // Fills job.windows (and job.truncated) from job.doc; throws medenc::Error for a document the
  // task cannot handle (the error goes on the document's line).
  virtual void prepare(Job& job) const = 0;
  // Options for one batch; `windows[b]` is the window behind sequence b.
  virtual ForwardOptions forward_options(const Batch& batch, std::span<Window* const> windows) const {
    return {};
  }
  // Copies what the task needs from the batch output into each window's values.
  virtual void collect(const ForwardOutput& out, const Batch& batch, std::span<Window* const> windows) const = 0;
  // Adds the task's result fields for a document without error.
  virtual void finish(const Job& job, nlohmann::ordered_json& line) const = 0;
};

struct PipelineOptions {
  int64_t max_batch_tokens = 16384;  // tokens per forward call (a longer window runs alone)
  int64_t read_ahead = 1024;         // documents read, sorted by length and batched together
  bool fail_on_error = false;        // stop at the first bad document (after writing the lines before it)
  bool progress = false;             // progress line on stderr
  int64_t total_bytes = 0;           // input size for the ETA (0: unknown)
  std::string source = "input";      // names the input in messages
};

struct PipelineStats {
  int64_t documents = 0;
  int64_t error_lines = 0;
  int64_t windows = 0;
  int64_t tokens = 0;
};

// Runs the job; output lines go to `out` and are flushed after every read-ahead window. With
// fail_on_error, the first bad document throws medenc::Error naming its line.
PipelineStats run_pipeline(Encoder& model, const Task& task, DocumentReader& reader, std::ostream& out,
                           const PipelineOptions& options);

// The JSON line for a document: {"id"?, task fields..., "truncated"?, "windows"?} or
// {"id"?, "error", "line"}.
nlohmann::ordered_json document_line(const Job& job, const Task& task);

// How a document becomes windows.
struct WindowOptions {
  int64_t max_length = 512;  // tokens per window, special tokens included
  int64_t stride = 0;        // 0: truncate to max_length; > 0: overlapping windows sharing `stride` tokens
};

// The windows of a text (and optional pair): one window when it fits; otherwise the first
// max_length tokens (truncated = true) or, with a stride, every overlapping window. Offsets in
// every window index the original text.
std::vector<Encoding> encode_windows(const Tokenizer& tokenizer, std::string_view text,
                                     const std::optional<std::string>& pair, const WindowOptions& options,
                                     bool* truncated);

// job.windows from job.doc (its text_pair too when `with_pair`). With `ids_only` the windows keep
// just ids and type ids (tasks that never look at tokens or offsets save the memory).
void prepare_windows(const Tokenizer& tokenizer, Job& job, const WindowOptions& options, bool with_pair,
                     bool ids_only);

// Throws medenc::Error when `model` does not have the head `command` needs, naming the head it has
// and the command that serves it.
void require_head(const ModelInfo& model, HeadKind needed, const std::string& command);

// [start, end) in code points (cp_bytes maps them to byte offsets of text) without surrounding
// Unicode white space; a span that is white space only comes back as it was.
std::pair<int64_t, int64_t> trim_whitespace(std::string_view text, std::span<const size_t> cp_bytes, int64_t start,
                                            int64_t end);

// Float for JSON output: the double whose shortest decimal form is the float's shortest form
// (0.1f prints as 0.1, not 0.10000000149011612).
double json_float(float x);

}  // namespace medenc
