// Model (shared, immutable) and Session (per caller): loading, and the request-level calls.
#include "medenc/session.h"

#include <chrono>
#include <filesystem>

#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/hub.h"
#include "ops/ops.h"

namespace medenc {

Precision parse_precision(const std::string& name) {
  if (name == "f32") return Precision::F32;
  if (name == "bf16") return Precision::BF16;
  if (name == "int8") return Precision::INT8;
  throw Error(fmt::format("unknown precision '{}' (f32, bf16, int8)", name));
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::F32: return "f32";
    case Precision::BF16: return "bf16";
    case Precision::INT8: return "int8";
  }
  return "f32";
}

struct Model::Impl {
  std::unique_ptr<Encoder> encoder;
  std::unique_ptr<Tokenizer> tokenizer;
  Precision precision = Precision::F32;
  std::string path;
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

namespace {

bool has_tokenizer_files(const std::string& dir) {
  namespace fs = std::filesystem;
  return fs::exists(fs::path(dir) / "tokenizer.json") || fs::exists(fs::path(dir) / "vocab.txt");
}

// Errors while loading are the checkpoint's fault unless they say otherwise (a missing file: Io).
[[noreturn]] void rethrow_as_model_error(const Error& e) {
  if (e.kind() == ErrorKind::InvalidInput) throw Error(ErrorKind::InvalidModel, e.what());
  throw;
}

}  // namespace

std::shared_ptr<const Model> Model::load(const std::string& path, const ModelOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->precision = options.precision;
  const std::string tok_dir = resolve_model(options.tokenizer.empty() ? path : options.tokenizer);  // ORG/NAME too
  try {
    LoadOptions lo;
    lo.bf16 = options.precision == Precision::BF16;
    lo.int8 = options.precision == Precision::INT8;
    impl->encoder = load_encoder(path, lo);
    if (!has_tokenizer_files(tok_dir))
      throw Error(ErrorKind::InvalidModel,
                  fmt::format("{}: no tokenizer.json or vocab.txt{}", tok_dir,
                              options.tokenizer.empty() ? " (the tokenizer folder can be given separately)" : ""));
    impl->tokenizer = Tokenizer::from_dir(tok_dir);
  } catch (const Error& e) {
    rethrow_as_model_error(e);
  }
  const ModelInfo& info = impl->encoder->info();
  if (impl->tokenizer->vocab_size() > info.vocab_size)
    throw Error(ErrorKind::InvalidModel,
                fmt::format("the tokenizer in {} has {} ids but the model in {} only {}: they do not belong together",
                            tok_dir, impl->tokenizer->vocab_size(), path, info.vocab_size));
  // One pass over a short sequence makes every derived weight copy the kernels use (packed GEMM
  // tiles), so that sessions only ever read the model.
  {
    Batch warm;
    std::vector<int32_t> ids{(int32_t)info.pad_token_id};
    if (info.type_vocab_size > 0) warm.add(ids, std::vector<int32_t>{0});
    else warm.add(ids);
    impl->encoder->forward(warm);
  }
  return std::shared_ptr<const Model>(new Model(std::move(impl)));
}

const ModelInfo& Model::info() const { return impl_->encoder->info(); }
const Tokenizer& Model::tokenizer() const { return *impl_->tokenizer; }
const Encoder& Model::encoder() const { return *impl_->encoder; }
Precision Model::precision() const { return impl_->precision; }
const std::string& Model::path() const { return impl_->path; }
int64_t Model::max_length() const {
  const int64_t positions = info().max_positions;
  return positions > 0 ? positions : 512;
}

WindowOptions Model::window_options(int64_t max_length, int64_t stride) const {
  WindowOptions w;
  const int64_t limit = info().max_positions;
  w.max_length = max_length > 0 ? max_length : this->max_length();
  if (limit > 0 && w.max_length > limit)
    throw Error(fmt::format("--max-length {} is more than the {} positions the model in {} has", max_length, limit,
                            path()));
  const int64_t specials = tokenizer().num_special_tokens_to_add(false);
  if (w.max_length <= specials)
    throw Error(fmt::format("--max-length {} leaves no room for text next to the {} special tokens", w.max_length,
                            specials));
  if (stride < 0) throw Error(fmt::format("--stride {} must not be negative", stride));
  w.stride = stride;
  if (stride > 0 && stride >= w.max_length - specials)
    throw Error(fmt::format("--stride {} must be smaller than --max-length {} minus the {} special tokens", stride,
                            w.max_length, specials));
  return w;
}

// ---------------------------------------------------------------------------------------------

Session::Session(std::shared_ptr<const Model> model, const SessionOptions& options)
    : model_(std::move(model)), options_(options) {
  if (!model_) throw Error(ErrorKind::InvalidInput, "a session needs a loaded model");
  workspace_ = model_->encoder().make_workspace();
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

ForwardOutput Session::forward(const Batch& batch, const ForwardOptions& options, const StopCheck& should_stop) {
  const ops::ThreadScope threads(options_.threads);
  if (!should_stop) return model_->encoder().forward(batch, options, *workspace_);
  ForwardOptions o = options;
  o.should_stop = should_stop;
  return model_->encoder().forward(batch, o, *workspace_);
}

void Session::run_jobs(const Task& task, std::span<Job* const> jobs, const BatchOptions& options,
                       CallTimings* timings) {
  const ops::ThreadScope threads(options_.threads);
  medenc::run_jobs(model_->encoder(), *workspace_, task, jobs, options, timings);
}

PipelineStats Session::run_pipeline(const Task& task, DocumentReader& reader,
                                    const std::function<void(const Job&)>& write, const PipelineOptions& options) {
  const ops::ThreadScope threads(options_.threads);
  return medenc::run_pipeline(model_->encoder(), *workspace_, task, reader, write, options);
}

namespace {

std::vector<Job> jobs_of(std::span<const TextInput> inputs) {
  std::vector<Job> jobs(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    jobs[i].doc.line = (int64_t)i + 1;
    jobs[i].doc.text = inputs[i].text;
    jobs[i].doc.text_pair = inputs[i].pair;
  }
  return jobs;
}

InputStatus status_of(const Job& job) {
  InputStatus s;
  s.error = job.error;
  s.error_kind = job.error_kind;
  if (!job.error.empty()) return s;
  s.truncated = job.truncated;
  s.windows = (int64_t)job.windows.size();
  for (const Window& w : job.windows) s.tokens += (int64_t)w.enc.ids.size();
  return s;
}

// Runs the task over the inputs and hands back each job (with its status) in input order.
template <class Result>
Response<Result> run_request(Session& session, const Task& task, std::span<const TextInput> inputs,
                             const RequestOptions& request) {
  std::vector<Job> jobs = jobs_of(inputs);
  std::vector<Job*> pointers;
  for (Job& j : jobs) pointers.push_back(&j);
  Response<Result> r;
  session.run_jobs(task, pointers, BatchOptions{request.max_batch_tokens, request.should_stop}, &r.timings);
  r.results.resize(jobs.size());
  r.inputs.reserve(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    r.inputs.push_back(status_of(jobs[i]));
    if (Result* result = std::get_if<Result>(&jobs[i].result)) r.results[i] = std::move(*result);
  }
  return r;
}

}  // namespace

ClassifyResponse Session::classify(std::span<const TextInput> inputs, const ClassifyOptions& options,
                                   const RequestOptions& request) {
  const Model& m = *model_;
  auto task = make_classify_task(m.tokenizer(), m.info(), m.window_options(request.max_length, request.stride), options);
  return run_request<ClassificationResult>(*this, *task, inputs, request);
}

NerResponse Session::ner(std::span<const TextInput> inputs, const NerOptions& options, const RequestOptions& request) {
  const Model& m = *model_;
  auto task = make_ner_task(m.tokenizer(), m.info(), m.window_options(request.max_length, request.stride), options);
  return run_request<std::vector<EntitySpan>>(*this, *task, inputs, request);
}

FillMaskResponse Session::fill_mask(std::span<const TextInput> inputs, const FillMaskOptions& options,
                                    const RequestOptions& request) {
  const Model& m = *model_;
  auto task =
      make_fill_mask_task(m.tokenizer(), m.info(), m.window_options(request.max_length, request.stride), options);
  return run_request<std::vector<MaskPredictions>>(*this, *task, inputs, request);
}

EmbedResponse Session::embed(std::span<const TextInput> inputs, const EmbedOptions& options,
                             const RequestOptions& request) {
  const Model& m = *model_;
  // One vector per input: "tokens" pooling (a row per token) does not fit [inputs, dim].
  if (options.pooling == Pooling::Tokens)
    throw Error(ErrorKind::InvalidInput, "embed: 'tokens' pooling gives one row per token, not one vector per input "
                                         "(run make_embed_task for per-token rows)");
  auto task = make_embed_task(m.tokenizer(), m.info(), m.window_options(request.max_length, request.stride), options);
  Response<std::vector<float>> rows = run_request<std::vector<float>>(*this, *task, inputs, request);
  EmbedResponse r;
  r.dim = embedding_width(m.info(), options.pooling);
  r.data.assign(inputs.size() * (size_t)r.dim, 0.0f);
  for (size_t i = 0; i < rows.results.size(); ++i) {
    if (!rows.inputs[i].ok()) continue;
    if ((int64_t)rows.results[i].size() != r.dim) {  // never silently a row of zeros
      rows.inputs[i].error = fmt::format("embed: a vector of {} values where {} were expected",
                                         rows.results[i].size(), r.dim);
      rows.inputs[i].error_kind = ErrorKind::Internal;
      continue;
    }
    std::copy(rows.results[i].begin(), rows.results[i].end(), r.data.begin() + (int64_t)i * r.dim);
  }
  r.inputs = std::move(rows.inputs);
  r.timings = rows.timings;
  return r;
}

}  // namespace medenc
