#pragma once
// The library's entry point: a Model loaded once and shared, Sessions that run it, and request-level
// calls that take texts and return typed results.
//
//   auto model = medenc::Model::load("models/medical-relevance");
//   medenc::Session session(model);
//   auto r = session.classify({{"Chest X-ray shows a left lower lobe infiltrate."}});
//   double score = r.results[0].score;
//
// Thread safety:
//   - A Model is immutable once loaded (weights, tokenizer, the kernels' derived weight copies are
//     all made by load()). Share it as std::shared_ptr<const Model> between any number of threads.
//   - A Session is NOT thread-safe: it owns the workspace of the calls it runs. Give each thread,
//     worker or Python call its own. Sessions are cheap (buffers, grown on first use): N sessions
//     over one model hold one copy of the weights.
//   - Results never depend on the thread count or on the other inputs of a batch (fixed summation
//     order), so any split of the work between sessions gives the same bits.
//   - Nothing here writes to stdout or stderr; progress and logs go to callbacks.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "medenc/classify.h"
#include "medenc/embed.h"
#include "medenc/fill_mask.h"
#include "medenc/model.h"
#include "medenc/ner.h"
#include "medenc/pipeline.h"
#include "medenc/results.h"
#include "medenc/tokenizer.h"

namespace medenc {

enum class Precision { F32, BF16, INT8 };
Precision parse_precision(const std::string& name);  // "f32" | "bf16" | "int8" (the CLI's --dtype)
const char* precision_name(Precision precision);

struct ModelOptions {
  Precision precision = Precision::F32;
  std::string tokenizer;  // tokenizer folder when it is not the model's own ("": the model folder)
};

class Model {
 public:
  // `path`: a checkpoint folder (config.json, safetensors, tokenizer files). Errors: ErrorKind
  // InvalidModel (or Io) naming the file or tensor at fault.
  static std::shared_ptr<const Model> load(const std::string& path, const ModelOptions& options = {});

  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  ~Model();

  const ModelInfo& info() const;
  const Tokenizer& tokenizer() const;
  const Encoder& encoder() const;
  Precision precision() const;
  const std::string& path() const;  // the folder the model was loaded from
  // Tokens a window may hold, special tokens included: the model's positions.
  int64_t max_length() const;
  // Window options for a call: max_length 0 means max_length(); checks that max_length fits the
  // model and leaves room for text, and that stride is smaller than the text part (InvalidInput).
  WindowOptions window_options(int64_t max_length, int64_t stride) const;

  struct Impl;

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A text input, optionally a pair (a second segment: token types for BERT families).
struct TextInput {
  std::string text;
  std::optional<std::string> pair;
  TextInput() = default;
  TextInput(std::string t) : text(std::move(t)) {}
  TextInput(const char* t) : text(t) {}
  TextInput(std::string t, std::string p) : text(std::move(t)), pair(std::move(p)) {}
};

// A stop flag another thread (or a signal handler: set() is lock-free) raises to cancel calls.
class StopFlag {
 public:
  void set() { flag_.store(true, std::memory_order_relaxed); }
  void reset() { flag_.store(false, std::memory_order_relaxed); }
  bool is_set() const { return flag_.load(std::memory_order_relaxed); }
  StopCheck check() const {
    return [this] { return is_set(); };
  }

 private:
  std::atomic<bool> flag_{false};
};

struct RequestOptions {
  int64_t max_length = 0;  // tokens per window; 0: the model's max_length()
  int64_t stride = 0;      // > 0: a longer input runs as overlapping windows sharing `stride` tokens;
                           // 0: it is truncated to max_length (InputStatus::truncated)
  int64_t max_batch_tokens = 16384;  // real (unpadded) tokens per forward batch
  StopCheck should_stop;             // cancellation (medenc/pipeline.h)
};

struct SessionOptions {
  int threads = 0;  // threads of this session's calls (0: all cores); only the calling thread's
                    // OpenMP setting is touched, and only during a call
};

template <class Result>
struct Response {
  std::vector<Result> results;        // one per input, in input order (empty where the input failed)
  std::vector<InputStatus> inputs;    // one per input
  CallTimings timings;
  bool all_ok() const {
    for (const InputStatus& s : inputs)
      if (!s.ok()) return false;
    return true;
  }
};

using ClassifyResponse = Response<ClassificationResult>;
using NerResponse = Response<std::vector<EntitySpan>>;
using FillMaskResponse = Response<std::vector<MaskPredictions>>;

// Embeddings as one contiguous row-major float array [inputs, dim] (a failed input's row is zeros):
// dim is the hidden size, or the vocabulary size with SPLADE pooling. Session::embed refuses "tokens"
// pooling (a row per token: run make_embed_task for those).
struct EmbedResponse {
  int64_t dim = 0;
  std::vector<float> data;
  std::vector<InputStatus> inputs;
  CallTimings timings;
  std::span<const float> row(size_t i) const { return {data.data() + i * dim, (size_t)dim}; }
};

class Session {
 public:
  explicit Session(std::shared_ptr<const Model> model, const SessionOptions& options = {});
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  const Model& model() const { return *model_; }
  const std::shared_ptr<const Model>& shared_model() const { return model_; }
  int threads() const { return options_.threads; }

  // The forward pass on a packed batch of token ids (the low-level path). `should_stop` as above.
  ForwardOutput forward(const Batch& batch, const ForwardOptions& options = {}, const StopCheck& should_stop = {});

  // Request-level calls: tokenize, cut into windows, run in length-sorted token-budget batches,
  // return one result (or one error, in InputStatus) per input, in input order. A bad input never
  // fails the call; a cancelled call throws Error(Cancelled); a model without the needed head throws
  // Error(Unsupported).
  ClassifyResponse classify(std::span<const TextInput> inputs, const ClassifyOptions& options = {},
                            const RequestOptions& request = {});
  NerResponse ner(std::span<const TextInput> inputs, const NerOptions& options = {},
                  const RequestOptions& request = {});
  EmbedResponse embed(std::span<const TextInput> inputs, const EmbedOptions& options = {},
                      const RequestOptions& request = {});
  FillMaskResponse fill_mask(std::span<const TextInput> inputs, const FillMaskOptions& options = {},
                             const RequestOptions& request = {});

  // The batcher under every call above (see run_jobs in medenc/pipeline.h), on this session.
  void run_jobs(const Task& task, std::span<Job* const> jobs, const BatchOptions& options,
                CallTimings* timings = nullptr);
  // The streaming job (see run_pipeline in medenc/pipeline.h) on this session.
  PipelineStats run_pipeline(const Task& task, DocumentReader& reader, const std::function<void(const Job&)>& write,
                             const PipelineOptions& options);

 private:
  std::shared_ptr<const Model> model_;
  SessionOptions options_;
  std::unique_ptr<EncoderWorkspace> workspace_;
};

}  // namespace medenc
