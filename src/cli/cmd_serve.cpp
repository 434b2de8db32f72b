// medenc serve: the HTTP inference server (src/serve/).
#include <thread>

#include "cli/command.h"
#include "medenc/error.h"
#include "serve/http_server.h"

namespace {

struct Options {
  medenc::serve::ServerOptions server;
  std::vector<std::string> models;
  std::string auto_truncate = "true";
};

int run(Options& o) {
  for (const std::string& m : o.models) {
    const size_t eq = m.find('=');
    medenc::serve::ModelSpec spec;
    if (eq == std::string::npos) {
      spec.dir = m;
      std::string d = m;
      while (d.size() > 1 && d.back() == '/') d.pop_back();
      spec.name = d.substr(d.find_last_of('/') == std::string::npos ? 0 : d.find_last_of('/') + 1);
    } else {
      spec.name = m.substr(0, eq);
      spec.dir = m.substr(eq + 1);
    }
    if (spec.name.empty() || spec.dir.empty())
      throw medenc::Error(medenc::ErrorKind::InvalidInput, "--model " + m + ": expected DIR or NAME=DIR");
    for (const auto& other : o.server.models)
      if (other.name == spec.name)
        throw medenc::Error(medenc::ErrorKind::InvalidInput, "--model: two models are named '" + spec.name + "'");
    o.server.models.push_back(spec);
  }
  o.server.auto_truncate = o.auto_truncate == "true";
  return medenc::serve::run_server(o.server);
}

medenc::cli::Registrar reg(
    "serve",
    "HTTP inference server: Text Embeddings Inference's API (/embed, /predict, /rerank, ...) plus /classify, "
    "/ner and /fill-mask, with dynamic batching across requests",
    [](CLI::App& app) {
      auto o = std::make_shared<Options>();
      auto& s = o->server;
      app.add_option("--model", o->models, "Model folder, or NAME=DIR; repeat to serve several (the first is the default)")
          ->required();
      app.add_option("--host", s.host, "Address to listen on (default: 127.0.0.1)");
      app.add_option("--port", s.port, "Port (default: 3000; 0: any free port, logged)")->check(CLI::Range(0, 65535));
      app.add_option("--api-key", s.api_key, "Require `Authorization: Bearer KEY` (except /health, /metrics, /docs)");
      app.add_option("--max-concurrent-requests", s.max_concurrent_requests,
                     "Inputs in flight before new requests get 429 Overloaded (default: 512)")
          ->check(CLI::PositiveNumber);
      app.add_option("--max-batch-tokens", s.max_batch_tokens, "Real tokens per model batch (default: 16384)")
          ->check(CLI::PositiveNumber);
      app.add_option("--max-batch-requests", s.max_batch_requests, "Inputs per model batch (default: no cap)")
          ->check(CLI::NonNegativeNumber);
      app.add_option("--max-client-batch-size", s.max_client_batch_size, "Inputs per HTTP request (default: 32)")
          ->check(CLI::PositiveNumber);
      app.add_option("--payload-limit", s.payload_limit, "Request body bytes (default: 2000000)")
          ->check(CLI::PositiveNumber);
      app.add_option("--auto-truncate", o->auto_truncate,
                     "Truncate over-long inputs when a request does not say (default: true)")
          ->check(CLI::IsMember({"true", "false"}));
      app.add_option("--stride", s.stride,
                     "Default stride: inputs longer than the model's positions run as overlapping windows (0: truncate)")
          ->check(CLI::NonNegativeNumber);
      app.add_option("--dtype", s.dtype, "f32 | bf16 | int8 (default: f32)")
          ->check(CLI::IsMember({"f32", "bf16", "int8"}));
      app.add_option("--pooling", s.pooling,
                     "Pooling of /embed: mean | cls | splade (masked-LM models as SPLADE embedders; default: mean)")
          ->check(CLI::IsMember({"mean", "cls", "splade"}));
      auto* prompt = app.add_option("--default-prompt", s.default_prompt,
                                    "Text prepended to the inputs of the embedding routes and /tokenize when a request "
                                    "names no prompt_name");
      app.add_option("--default-prompt-name", s.default_prompt_name,
                     "The prompt of config_sentence_transformers.json prepended when a request names no prompt_name")
          ->excludes(prompt);
      app.add_option("--threads", s.threads, "Threads per model's inference loop (default: all cores)")
          ->check(CLI::NonNegativeNumber);
      app.add_option("--tokenization-workers", s.tokenization_workers, "Tokenizer threads (default: 1)")
          ->check(CLI::PositiveNumber);
      app.add_option("--request-timeout", s.request_timeout,
                     "Seconds a request may wait for its reply before a 503 Timeout (default: no limit)")
          ->check(CLI::NonNegativeNumber);
      app.add_option("--shutdown-timeout", s.shutdown_timeout,
                     "Seconds in-flight requests get after SIGTERM/SIGINT (default: 30)")
          ->check(CLI::NonNegativeNumber);
      app.add_flag("--json-logs", s.json_logs, "Logs as JSON lines on stderr");
      return [o] { return run(*o); };
    });

}  // namespace
