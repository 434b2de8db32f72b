#pragma once
// Options and plumbing shared by the batch-job commands (classify, ner, embed, fill-mask).
#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "medenc/session.h"

namespace medenc::cli {

struct TaskCliOptions {
  std::string model, tokenizer;
  std::string input = "-", out;
  std::string format = "jsonl", field = "text", id_field = "id";
  std::string on_error = "line";
  int64_t max_length = 0;  // 0: the model's maximum positions
  int64_t stride = 0;
  int64_t max_batch_tokens = 16384;
  int64_t read_ahead = 1024;
  int threads = 0;
  std::string dtype = "f32";  // f32 | bf16 | int8 (medenc::parse_precision)
};

// Adds --model, [FILE|-], --out, --format, --field, --id-field, --tokenizer, --max-length, --stride,
// --max-batch-tokens, --read-ahead, --on-error, --threads, --dtype.
void add_task_options(CLI::App& app, TaskCliOptions& o);

struct LoadedTask {
  std::shared_ptr<const Model> model;
  std::unique_ptr<Session> session;
  WindowOptions windows;
};

// Loads the model and its tokenizer, opens a session and resolves the window options (throws
// medenc::Error, or UsageError for option values the model cannot take).
LoadedTask load_task(const TaskCliOptions& o);

// Bad option values found once the model is known; main reports them with exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs the job from the input to the output (stdout, or --out written atomically) and returns the
// exit code: kOk, or kInputErrors when some lines were errors. `pair_field` names the optional
// second text ("" : none). `keep`, when set, drops the lines of the documents it rejects (error lines
// are always written); `with_text` copies each document's text into its line.
struct LineFilter {
  std::function<bool(const Job&)> keep;
  bool with_text = false;
};
int run_task(const TaskCliOptions& o, LoadedTask& loaded, const Task& task, const std::string& pair_field,
             const char* command, const LineFilter& filter = {});

// Wraps a command body: UsageError -> message + kUsage; other errors propagate to main.
int with_usage_errors(const char* command, const std::function<int()>& body);

}  // namespace medenc::cli
