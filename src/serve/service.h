#pragma once
// The routes of `medenc serve`: TEI's (same JSON in and out, status codes and error bodies) and
// medenc's own (/classify, /ner, /fill-mask), over one or more models, each with its batcher.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "medenc/session.h"
#include "serve/batcher.h"
#include "serve/exchange.h"
#include "serve/metrics.h"

namespace medenc::serve {

struct ModelSpec {
  std::string name;  // the request's "model" field selects it; the first model is the default
  std::string dir;
};

struct ServerOptions {
  std::vector<ModelSpec> models;
  std::string host = "127.0.0.1";
  int port = 3000;
  std::string api_key;  // "": no key
  int64_t max_concurrent_requests = 512;
  int64_t max_batch_tokens = 16384;
  int64_t max_batch_requests = 0;  // 0: no cap
  int64_t max_client_batch_size = 32;
  int64_t payload_limit = 2000000;
  bool auto_truncate = true;
  int64_t stride = 0;  // default stride of requests that give none (0: truncate)
  std::string dtype = "f32";
  // /embed, /similarity, /v1/embeddings: "mean", "cls", or "splade" (masked-LM models as SPLADE
  // embedders, TEI's --pooling splade: vocabulary-wide vectors, no L2 normalization, no /embed_all).
  std::string pooling = "mean";
  // Prepended to the texts of the embedding routes and /tokenize when a request names no
  // prompt_name: the text itself, or the name of a prompt in config_sentence_transformers.json.
  std::string default_prompt, default_prompt_name;
  int threads = 0;               // per model session (0: all cores)
  int tokenization_workers = 1;
  double request_timeout = 0;    // seconds an input may wait for its reply (0: no limit)
  double shutdown_timeout = 30;  // seconds in-flight requests get after SIGTERM
  bool json_logs = false;
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string
  std::string body;
  std::string authorization;  // the Authorization header ("" when absent)
};

class Service {
 public:
  Service(const ServerOptions& options, Metrics& metrics);
  ~Service();

  // Loads and warms every model (throws medenc::Error); /health answers 200 afterwards.
  void load();
  bool healthy() const { return healthy_.load(); }
  // Answers through `exchange` (now, or when the inputs are computed).
  void handle(const HttpRequest& request, const std::shared_ptr<Exchange>& exchange);
  // Stops the batchers (inputs still queued are answered 503) and the tokenizer workers.
  void stop();
  int64_t inputs_in_flight() const { return permits_.used(); }
  const ServerOptions& options() const { return options_; }

  struct Served;

 private:
  Reply route(const HttpRequest& request, const std::shared_ptr<Exchange>& exchange);
  Served& select(const std::string& name);

  ServerOptions options_;
  Metrics& metrics_;
  Permits permits_;
  WorkerPool tokenizers_;
  std::vector<std::unique_ptr<Served>> models_;
  std::atomic<bool> healthy_{false};
};

}  // namespace medenc::serve
