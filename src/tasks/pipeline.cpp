// The batcher and the streaming job: read ahead, tokenize, batch by token budget, run, finish in order.
#include "medenc/pipeline.h"

#include <algorithm>
#include <chrono>
#include <exception>

#include <fmt/format.h>

#include "medenc/error.h"

namespace medenc {

namespace {

const char* head_description(HeadKind kind) {
  switch (kind) {
    case HeadKind::Base: return "a bare encoder (no task head)";
    case HeadKind::MaskedLM: return "a masked-LM head";
    case HeadKind::SequenceClassification: return "a sequence-classification head";
    case HeadKind::TokenClassification: return "a token-classification head";
  }
  return "an unknown head";
}

const char* command_for(HeadKind kind) {
  switch (kind) {
    case HeadKind::Base: return "embed";
    case HeadKind::MaskedLM: return "fill-mask";
    case HeadKind::SequenceClassification: return "classify";
    case HeadKind::TokenClassification: return "ner";
  }
  return "embed";
}

}  // namespace

void require_head(const ModelInfo& model, HeadKind needed, const std::string& command) {
  if (model.head.kind == needed) return;
  throw Error(ErrorKind::Unsupported,
              fmt::format("{}: medenc {} needs a checkpoint with {}, but this one is {} ({}); use medenc {}{}",
                          model.dir, command, head_description(needed), model.head.architecture,
                          head_description(model.head.kind), command_for(model.head.kind),
                          model.head.kind == HeadKind::Base ? "" : " (or medenc embed)"));
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void check_stop(const StopCheck& should_stop) {
  if (should_stop && should_stop()) throw Error(ErrorKind::Cancelled, "the call was cancelled");
}

// Tokenizes the jobs in parallel (tokenizers are safe to share between threads). A medenc::Error
// becomes the job's error; anything else stops the call.
void prepare_jobs(const Task& task, std::span<Job* const> jobs) {
  // Jobs prepared elsewhere (a server's tokenizer threads) need no parallel region here.
  if (std::none_of(jobs.begin(), jobs.end(), [](const Job* j) { return j->error.empty() && !j->prepared; })) return;
  std::exception_ptr fatal;
  const int64_t n = (int64_t)jobs.size();
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t j = 0; j < n; ++j) {
    Job& job = *jobs[j];
    if (!job.error.empty() || job.prepared) continue;
    try {
      task.prepare(job);
    } catch (const Error& e) {
      job.error = e.what();
      job.error_kind = e.kind();
      job.windows.clear();
    } catch (...) {
#pragma omp critical(medenc_prepare_fatal)
      if (!fatal) fatal = std::current_exception();
    }
  }
  if (fatal) std::rethrow_exception(fatal);
}

// Runs every window of the jobs without error through the model, longest first, in batches of at
// most `max_tokens` tokens (a longer window runs alone).
void run_windows(const Encoder& encoder, EncoderWorkspace& workspace, const Task& task, std::span<Job* const> jobs,
                 const BatchOptions& options, CallTimings* timings) {
  const Clock::time_point sort_start = Clock::now();
  std::vector<Window*> order;
  for (Job* job : jobs)
    if (job->error.empty())
      for (Window& w : job->windows) order.push_back(&w);
  std::stable_sort(order.begin(), order.end(),
                   [](const Window* a, const Window* b) { return a->enc.ids.size() > b->enc.ids.size(); });
  if (timings) timings->queue += seconds_since(sort_start);
  const Clock::time_point run_start = Clock::now();
  const bool with_types = encoder.info().type_vocab_size > 0;
  size_t i = 0;
  while (i < order.size()) {
    check_stop(options.should_stop);
    Batch batch;
    size_t end = i;
    while (end < order.size() &&
           (end == i || batch.tokens() + (int64_t)order[end]->enc.ids.size() <= options.max_batch_tokens)) {
      const Encoding& e = order[end]->enc;
      if (with_types && e.type_ids.size() == e.ids.size()) batch.add(e.ids, e.type_ids);
      else if (with_types) batch.add(e.ids, std::vector<int32_t>(e.ids.size(), 0));
      else batch.add(e.ids);
      ++end;
    }
    std::span<Window* const> windows(order.data() + i, end - i);
    ForwardOptions fo = task.forward_options(batch, windows);
    fo.should_stop = options.should_stop;
    const ForwardOutput out = encoder.forward(batch, fo, workspace);
    task.collect(out, batch, windows);
    i = end;
  }
  for (Job* job : jobs)
    if (job->error.empty()) task.finish(*job);
  if (timings) timings->inference += seconds_since(run_start);
}

}  // namespace

void run_jobs(const Encoder& encoder, EncoderWorkspace& workspace, const Task& task, std::span<Job* const> jobs,
              const BatchOptions& options, CallTimings* timings) {
  if (options.max_batch_tokens <= 0) throw Error("max_batch_tokens must be positive");
  check_stop(options.should_stop);
  const Clock::time_point start = Clock::now();
  prepare_jobs(task, jobs);
  if (timings) timings->tokenization += seconds_since(start);
  run_windows(encoder, workspace, task, jobs, options, timings);
}

PipelineStats run_pipeline(const Encoder& encoder, EncoderWorkspace& workspace, const Task& task,
                           DocumentReader& reader, const std::function<void(const Job&)>& write,
                           const PipelineOptions& o) {
  if (o.max_batch_tokens <= 0) throw Error("--max-batch-tokens must be positive");
  const size_t read_ahead = (size_t)std::max<int64_t>(1, o.read_ahead);
  const BatchOptions batch_options{o.max_batch_tokens, o.should_stop};
  PipelineStats stats;
  std::vector<Job> jobs(read_ahead);
  std::vector<Job*> pointers;
  for (;;) {
    size_t count = 0;
    while (count < read_ahead) {
      Job& job = jobs[count];
      job.windows.clear();
      job.truncated = false;
      job.prepared = false;
      job.result = {};
      job.error_kind = ErrorKind::InvalidInput;
      if (!reader.next(job.doc)) break;
      job.error = job.doc.error;
      ++count;
    }
    if (count == 0) break;
    pointers.clear();
    for (size_t j = 0; j < count; ++j) pointers.push_back(&jobs[j]);
    check_stop(o.should_stop);
    prepare_jobs(task, pointers);
    // With fail_on_error, finish the documents before the first bad one, then stop.
    size_t usable = count;
    if (o.fail_on_error)
      for (size_t j = 0; j < count; ++j)
        if (!jobs[j].error.empty()) {
          usable = j;
          break;
        }
    run_windows(encoder, workspace, task, std::span<Job* const>(pointers.data(), usable), batch_options, nullptr);
    for (size_t j = 0; j < usable; ++j) {
      write(jobs[j]);
      ++stats.documents;
      if (!jobs[j].error.empty()) ++stats.error_lines;
      for (const Window& w : jobs[j].windows) {
        ++stats.windows;
        stats.tokens += (int64_t)w.enc.ids.size();
      }
    }
    if (o.progress) o.progress(stats, reader.bytes_read(), false);
    if (usable < count)
      throw Error(fmt::format("{}: line {}: {}", o.source, jobs[usable].doc.line, jobs[usable].error));
    if (count < read_ahead) break;
  }
  if (o.progress) o.progress(stats, reader.bytes_read(), true);
  return stats;
}

}  // namespace medenc
