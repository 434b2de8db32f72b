#pragma once
// Tasks and the batcher behind every task call (medenc/session.h) and the streaming jobs of
// classify, ner, embed and fill-mask: a task tokenizes each document into model windows, the
// windows run in token-budget batches sorted by length, and the task turns their outputs into one
// typed result per document, in input order.
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "medenc/model.h"
#include "medenc/results.h"
#include "medenc/text_input.h"
#include "medenc/tokenizer.h"

namespace medenc {

// One model input cut from a document.
struct Window {
  Encoding enc;
  std::vector<float> values;  // what the task keeps from the forward output for this window
};

// What a task makes of one document (see medenc/results.h); std::vector<float> is an embedding.
using TaskResult = std::variant<std::monostate, ClassificationResult, std::vector<EntitySpan>, std::vector<float>,
                                std::vector<MaskPredictions>>;

struct Job {
  Document doc;
  std::vector<Window> windows;
  bool truncated = false;  // tokens past max_length were dropped
  // The windows are made already (Task::prepare ran elsewhere, e.g. on a server's tokenizer
  // thread): run_jobs and run_pipeline do not prepare the job again.
  bool prepared = false;
  std::string error;       // non-empty: written as an error line
  ErrorKind error_kind = ErrorKind::InvalidInput;
  TaskResult result;       // set by Task::finish when there is no error
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
  // Sets job.result from the windows' values (a document without error).
  virtual void finish(Job& job) const = 0;
};

// Polled between batches and between the layers of a forward pass; when it returns true the call
// stops and throws Error(ErrorKind::Cancelled). Must be cheap; it runs on the calling thread.
using StopCheck = std::function<bool()>;

struct BatchOptions {
  int64_t max_batch_tokens = 16384;  // real (unpadded) tokens per forward batch (a longer window runs alone)
  StopCheck should_stop;
};

// Wall time of one call, in seconds.
struct CallTimings {
  double tokenization = 0;  // texts to windows
  double queue = 0;         // sorting and batching (a server adds the time its requests waited)
  double inference = 0;     // forward passes and turning their outputs into results
};

// The batcher under every task call: prepares (tokenizes) the jobs that have no error yet, in
// parallel, then runs all their windows through the model, longest first, in batches of at most
// max_batch_tokens real tokens, lets the task collect its values and finish each job. A job whose
// preparation fails gets job.error. Results do not depend on how jobs are grouped (fixed summation
// order in every kernel). Adds to `timings` when given.
void run_jobs(const Encoder& encoder, EncoderWorkspace& workspace, const Task& task, std::span<Job* const> jobs,
              const BatchOptions& options, CallTimings* timings = nullptr);

struct PipelineStats {
  int64_t documents = 0;
  int64_t error_lines = 0;
  int64_t windows = 0;
  int64_t tokens = 0;
};

struct PipelineOptions {
  int64_t max_batch_tokens = 16384;  // tokens per forward call (a longer window runs alone)
  int64_t read_ahead = 1024;         // documents read, sorted by length and batched together
  bool fail_on_error = false;        // stop at the first bad document (after writing the lines before it)
  std::string source = "input";      // names the input in messages
  StopCheck should_stop;
  // Called after every read-ahead window with the totals so far and the input bytes consumed, and
  // once more at the end with final = true.
  std::function<void(const PipelineStats&, int64_t bytes_read, bool final)> progress;
};

// The streaming job: documents from `reader`, each finished job handed to `write` in input order
// (after every read-ahead window); memory stays bounded by the read-ahead window. With
// fail_on_error, the first bad document throws medenc::Error naming its line (after the documents
// before it were written).
PipelineStats run_pipeline(const Encoder& encoder, EncoderWorkspace& workspace, const Task& task,
                           DocumentReader& reader, const std::function<void(const Job&)>& write,
                           const PipelineOptions& options);

// How a document becomes windows.
struct WindowOptions {
  int64_t max_length = 512;  // tokens per window, special tokens included
  int64_t stride = 0;        // 0: truncate to max_length; > 0: overlapping windows sharing `stride` tokens
  TruncationSide side = TruncationSide::Right;  // which end truncation cuts (stride 0 only)
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

}  // namespace medenc
