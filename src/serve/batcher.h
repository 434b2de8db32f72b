#pragma once
// Dynamic batching across HTTP requests. Every input of every request is its own entry: a
// tokenizer worker prepares its windows (the task's own prepare, as the CLI does), then the
// model's single inference loop forms batches from all waiting entries, longest-waiting first,
// under --max-batch-tokens real tokens and --max-batch-requests inputs, with no delay timer (a
// batch is formed as soon as the previous one is done, so batches grow by themselves under load).
// Batches run through Session::run_jobs, the library's batcher: there is no second inference path.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "medenc/session.h"
#include "serve/exchange.h"
#include "serve/metrics.h"

namespace medenc::serve {

// Threads that tokenize (and run /tokenize, /decode) off the I/O thread and off the model's loop.
class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  ~WorkerPool();
  void post(std::function<void()> work);
  void stop();  // finishes the queued work, then joins

 private:
  void run();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> work_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// The inference work of one HTTP request.
struct InferenceRequest {
  std::shared_ptr<Exchange> exchange;
  std::shared_ptr<const Task> task;  // prepares, collects and finishes these inputs
  // Inputs whose keys are equal may share a forward batch (the same task kind, window options and
  // collected values); the key's task collects the batch.
  std::string batch_key;
  // Real tokens per model batch when lower than --max-batch-tokens (the same for every request of
  // a batch key; e.g. SPLADE keeps vocabulary-wide logits of every token): 0 = the server's.
  int64_t max_batch_tokens = 0;
  std::vector<Job> jobs;
  bool truncate = true;        // false: an input longer than max_input_length is a 422 (TEI)
  int64_t max_input_length = 0;
  std::string family = "embed";  // TEI metric family: "embed" | "predict"
  bool openai = false;           // errors in the OpenAI body {"message", "code", "type"}
  int64_t characters = 0;        // x-compute-characters
  // Builds the reply once every input is computed (on the I/O thread).
  std::function<Reply(InferenceRequest&)> render;
  Permit permit;

  // Per input, in seconds; filled by the batcher.
  std::vector<double> tokenization, queue, inference;
  std::vector<int64_t> tokens;

  // Batcher state.
  std::atomic<int64_t> remaining{0};
  std::mutex mu;
  std::optional<ApiError> error;
  void fail(const ApiError& e);
};

struct BatcherOptions {
  int64_t max_batch_tokens = 16384;
  int64_t max_batch_requests = 0;  // 0: no cap
  int threads = 0;                 // the session's threads
};

class Batcher {
 public:
  Batcher(std::shared_ptr<const Model> model, const BatcherOptions& options, Metrics& metrics, WorkerPool& tokenizers);
  ~Batcher();

  // Queues every input of the request; its exchange is answered when the last one is done.
  void submit(std::shared_ptr<InferenceRequest> request);
  // One forward pass on a short text, so that the first request does not pay for first use.
  void warm_up();
  // Stops the loop after the current batch; inputs still queued are answered 503.
  void stop();
  // Raised by stop(): a running batch whose requests are all gone stops between layers.
  bool stopping() const { return stopping_.load(); }
  int64_t queued() const;

 private:
  struct Entry {
    std::shared_ptr<InferenceRequest> request;
    size_t index = 0;
    int64_t tokens = 0;
    Clock::time_point enqueued;
  };
  void tokenize(const std::shared_ptr<InferenceRequest>& request, size_t index);
  void done(const std::shared_ptr<InferenceRequest>& request);
  void drop(const Entry& entry);
  void loop();
  bool next_batch(std::vector<Entry>& batch);
  void run_batch(std::vector<Entry>& batch);

  std::shared_ptr<const Model> model_;
  BatcherOptions options_;
  Metrics& metrics_;
  WorkerPool& tokenizers_;
  Session session_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> queue_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace medenc::serve
