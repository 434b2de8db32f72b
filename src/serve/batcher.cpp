// Per-input queue entries, tokenizer workers and the model's inference loop.
#include "serve/batcher.h"

#include <algorithm>

#include <fmt/format.h>

#include "medenc/embed.h"
#include "medenc/error.h"

namespace medenc::serve {

WorkerPool::WorkerPool(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { run(); });
}

WorkerPool::~WorkerPool() { stop(); }

void WorkerPool::post(std::function<void()> work) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    work_.push_back(std::move(work));
  }
  cv_.notify_one();
}

void WorkerPool::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_)
    if (t.joinable()) t.join();
}

void WorkerPool::run() {
  for (;;) {
    std::function<void()> work;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !work_.empty(); });
      if (work_.empty()) return;
      work = std::move(work_.front());
      work_.pop_front();
    }
    work();
  }
}

void InferenceRequest::fail(const ApiError& e) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (error) return;
    error = e;
  }
  exchange->cancel(CancelReason::Failed);
  exchange->reply(openai ? openai_error_reply(e) : error_reply(e));
}

namespace {

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

ApiError input_error(const Error& e) {
  switch (e.kind()) {
    case ErrorKind::InvalidInput: return validation_error(fmt::format("Input validation error: {}", e.what()));
    case ErrorKind::ResourceExhausted: return overloaded_error();
    case ErrorKind::Cancelled: return ApiError(503, "Unhealthy", e.what());
    default: return backend_error(e.what());
  }
}

}  // namespace

Batcher::Batcher(std::shared_ptr<const Model> model, const BatcherOptions& options, Metrics& metrics,
                 WorkerPool& tokenizers)
    : model_(std::move(model)),
      options_(options),
      metrics_(metrics),
      tokenizers_(tokenizers),
      session_(model_, SessionOptions{options.threads}) {
  warm_up();
  thread_ = std::thread([this] { loop(); });
}

Batcher::~Batcher() { stop(); }

void Batcher::warm_up() {
  auto task = make_embed_task(model_->tokenizer(), model_->info(), model_->window_options(0, 0), EmbedOptions{});
  Job job;
  job.doc.text = "Warm-up: chest radiograph without acute findings.";
  Job* jobs[] = {&job};
  BatchOptions bo;
  bo.max_batch_tokens = options_.max_batch_tokens;
  session_.run_jobs(*task, jobs, bo);
  if (!job.error.empty()) throw Error(ErrorKind::Internal, "warm-up failed: " + job.error);
}

void Batcher::submit(std::shared_ptr<InferenceRequest> request) {
  const size_t n = request->jobs.size();
  request->remaining = (int64_t)n;
  request->tokenization.assign(n, 0);
  request->queue.assign(n, 0);
  request->inference.assign(n, 0);
  request->tokens.assign(n, 0);
  for (size_t i = 0; i < n; ++i) tokenizers_.post([this, request, i] { tokenize(request, i); });
}

void Batcher::tokenize(const std::shared_ptr<InferenceRequest>& request, size_t index) {
  if (request->exchange->cancelled()) {
    drop(Entry{request, index, 0, Clock::now()});
    return;
  }
  const auto t0 = Clock::now();
  Job& job = request->jobs[index];
  try {
    request->task->prepare(job);
    job.prepared = true;  // run_jobs does not tokenize it again on the inference thread
    if (job.truncated && !request->truncate) {
      const Encoding full = job.doc.text_pair ? model_->tokenizer().encode_pair(job.doc.text, *job.doc.text_pair)
                                              : model_->tokenizer().encode(job.doc.text);
      throw ApiError(422, "Validation",
                     fmt::format("Input validation error: `inputs` must have less than {} tokens. Given: {}",
                                 request->max_input_length, full.size()));
    }
  } catch (const ApiError& e) {
    metrics_.add("te_request_failure", "err=\"validation\"");
    request->fail(e);
  } catch (const Error& e) {
    metrics_.add("te_request_failure", e.kind() == ErrorKind::InvalidInput ? "err=\"tokenization\"" : "err=\"validation\"");
    request->fail(input_error(e));
  } catch (const std::exception& e) {
    metrics_.add("te_request_failure", "err=\"tokenization\"");
    request->fail(ApiError(422, "Tokenizer", fmt::format("tokenizer error {}", e.what())));
  }
  int64_t tokens = 0;
  for (const Window& w : job.windows) tokens += (int64_t)w.enc.ids.size();
  request->tokenization[index] = seconds(Clock::now() - t0);
  request->tokens[index] = tokens;
  if (request->exchange->cancelled()) {
    drop(Entry{request, index, tokens, Clock::now()});
    return;
  }
  metrics_.observe("te_request_input_length", (double)tokens);
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Entry{request, index, tokens, Clock::now()});
    metrics_.set("te_queue_size", (double)queue_.size());
  }
  cv_.notify_one();
}

void Batcher::drop(const Entry& entry) {
  if (entry.request->exchange->cancel_reason() == CancelReason::ClientGone)
    metrics_.add("te_request_failure", "err=\"dropped\"");
  entry.request->jobs[entry.index].windows.clear();
  done(entry.request);
}

void Batcher::done(const std::shared_ptr<InferenceRequest>& request) {
  if (--request->remaining > 0) return;
  if (request->exchange->cancelled()) return;  // answered already (error, timeout) or nobody listens
  if (request->exchange->timed_out_reply()) return;
  request->exchange->reply_with([request] { return request->render(*request); });
}

int64_t Batcher::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return (int64_t)queue_.size();
}

void Batcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::deque<Entry> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(queue_);
  }
  for (Entry& e : left) {
    e.request->fail(ApiError(503, "Unhealthy", "the server is shutting down"));
    drop(e);
  }
}

// Longest-waiting first: the oldest live entry starts the batch; later entries of the same kind
// join while the real-token budget and the request cap allow (strict FIFO within a kind: the first
// one that does not fit ends the batch). Entries of cancelled exchanges are dropped here.
bool Batcher::next_batch(std::vector<Entry>& batch) {
  std::vector<Entry> dropped;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return false;
    int64_t tokens = 0, budget = options_.max_batch_tokens;
    const std::string* key = nullptr;
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->request->exchange->cancelled()) {
        dropped.push_back(std::move(*it));
        it = queue_.erase(it);
        continue;
      }
      if (key && it->request->batch_key != *key) {
        ++it;
        continue;
      }
      if (key && ((options_.max_batch_requests > 0 && (int64_t)batch.size() >= options_.max_batch_requests) ||
                  tokens + it->tokens > budget))
        break;
      if (!key && it->request->max_batch_tokens > 0) budget = std::min(budget, it->request->max_batch_tokens);
      key = &it->request->batch_key;
      tokens += it->tokens;
      batch.push_back(std::move(*it));
      key = &batch.front().request->batch_key;
      it = queue_.erase(it);
    }
    metrics_.set("te_queue_size", (double)queue_.size());
  }
  for (const Entry& e : dropped) drop(e);
  return true;
}

void Batcher::loop() {
  std::vector<Entry> batch;
  while (!stopping_) {
    batch.clear();
    if (!next_batch(batch)) break;
    if (batch.empty()) continue;
    run_batch(batch);
    batch.clear();
  }
}

void Batcher::run_batch(std::vector<Entry>& batch) {
  std::vector<Job*> jobs;
  int64_t tokens = 0;
  for (Entry& e : batch) {
    jobs.push_back(&e.request->jobs[e.index]);
    tokens += e.tokens;
  }
  metrics_.observe("te_batch_next_size", (double)batch.size());
  metrics_.observe("te_batch_next_tokens", (double)tokens);

  BatchOptions ro;
  ro.max_batch_tokens = options_.max_batch_tokens;
  if (batch.front().request->max_batch_tokens > 0)
    ro.max_batch_tokens = std::min(ro.max_batch_tokens, batch.front().request->max_batch_tokens);
  // Compute nobody will read is stopped between layers.
  ro.should_stop = [&] {
    if (stopping_) return true;
    for (const Entry& e : batch)
      if (!e.request->exchange->cancelled()) return false;
    return true;
  };
  const auto t0 = Clock::now();
  for (Entry& e : batch) e.request->queue[e.index] = seconds(t0 - e.enqueued);
  std::optional<ApiError> failure;
  bool cancelled = false;
  try {
    session_.run_jobs(*batch.front().request->task, jobs, ro);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Cancelled) cancelled = true;
    else failure = backend_error(e.what());
  } catch (const std::exception& e) {
    failure = backend_error(e.what());
  }
  const double inference = seconds(Clock::now() - t0);
  for (Entry& e : batch) {
    InferenceRequest& r = *e.request;
    r.inference[e.index] = inference;
    const Job& job = r.jobs[e.index];
    if (failure) {
      metrics_.add("te_request_failure", "err=\"inference\"");
      r.fail(*failure);
    } else if (cancelled) {
      r.fail(ApiError(503, "Unhealthy", "the server is shutting down"));
    } else if (!job.error.empty()) {
      metrics_.add("te_request_failure", "err=\"validation\"");
      r.fail(validation_error(fmt::format("Input validation error: input {}: {}", e.index, job.error)));
    } else if (r.task != batch.front().request->task) {
      // The batch's first task collected every window; each input is finished by its own request's
      // task (its threshold, top_k, aggregation).
      try {
        r.task->finish(r.jobs[e.index]);
      } catch (const std::exception& x) {
        r.fail(backend_error(x.what()));
      }
    }
    done(e.request);
  }
}

}  // namespace medenc::serve
