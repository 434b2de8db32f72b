// Shared plumbing of the batch-job commands: options, model + tokenizer loading, input, output.
#include "cli/task_options.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "cli/command.h"
#include "medenc/error.h"
#include "medenc/hub.h"

namespace medenc::cli {

void add_task_options(CLI::App& app, TaskCliOptions& o) {
  app.add_option("--model", o.model, "Model folder (config.json + safetensors)")->required();
  app.add_option("input", o.input, "Input file, or - for stdin (the default)");
  app.add_option("--out", o.out, "Output JSON Lines file (default: stdout); written atomically");
  app.add_option("--format", o.format, "Input format: jsonl (default), text (one document per line), csv (with header)")
      ->check(CLI::IsMember({"jsonl", "text", "csv"}));
  app.add_option("--field", o.field, "JSON key or CSV column holding the text (default: text)");
  app.add_option("--id-field", o.id_field, "JSON key or CSV column copied to the output as \"id\" (default: id)");
  app.add_option("--tokenizer", o.tokenizer, "Tokenizer folder (default: the model folder)");
  app.add_option("--max-length", o.max_length,
                 "Tokens per window, special tokens included (default: the model's maximum positions)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--stride", o.stride, "Cover long texts with overlapping windows sharing this many tokens")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-batch-tokens", o.max_batch_tokens, "Token budget of one forward batch (default: 16384)")
      ->check(CLI::PositiveNumber);
  app.add_option("--read-ahead", o.read_ahead, "Documents read, sorted by length and batched together (default: 1024)")
      ->check(CLI::PositiveNumber);
  app.add_option("--on-error", o.on_error, "Bad input line: line (write an error line, go on; default) or fail")
      ->check(CLI::IsMember({"line", "fail"}));
  app.add_option("--threads", o.threads, "Threads (default: all cores)")->check(CLI::NonNegativeNumber);
}

LoadedTask load_task(const TaskCliOptions& o) {
  LoadedTask t;
  LoadOptions lo;
  lo.threads = o.threads;
  t.model = load_encoder(o.model, lo);
  const std::string tok_dir = resolve_model(o.tokenizer.empty() ? o.model : o.tokenizer);
  if (!std::filesystem::exists(std::filesystem::path(tok_dir) / "tokenizer.json") &&
      !std::filesystem::exists(std::filesystem::path(tok_dir) / "vocab.txt"))
    throw Error(fmt::format("{}: no tokenizer.json or vocab.txt{}", tok_dir,
                            o.tokenizer.empty() ? "; give the tokenizer folder with --tokenizer DIR" : ""));
  t.tokenizer = Tokenizer::from_dir(tok_dir);
  const ModelInfo& info = t.model->info();
  if (t.tokenizer->vocab_size() > info.vocab_size)
    throw Error(fmt::format("the tokenizer in {} has {} ids but the model in {} only {}: they do not belong together",
                            tok_dir, t.tokenizer->vocab_size(), o.model, info.vocab_size));
  const int64_t limit = info.max_positions;
  t.windows.max_length = o.max_length > 0 ? o.max_length : limit;
  if (limit > 0 && t.windows.max_length > limit)
    throw UsageError(fmt::format("--max-length {} is more than the {} positions the model in {} has", o.max_length,
                                 limit, o.model));
  const int64_t specials = t.tokenizer->num_special_tokens_to_add(false);
  if (t.windows.max_length <= specials + 0)
    throw UsageError(fmt::format("--max-length {} leaves no room for text next to the {} special tokens",
                                 t.windows.max_length, specials));
  t.windows.stride = o.stride;
  if (o.stride > 0 && o.stride >= t.windows.max_length - specials)
    throw UsageError(fmt::format("--stride {} must be smaller than --max-length {} minus the {} special tokens",
                                 o.stride, t.windows.max_length, specials));
  return t;
}

int run_task(const TaskCliOptions& o, LoadedTask& loaded, const Task& task, const std::string& pair_field,
             const char* command) {
  InputOptions io;
  io.format = parse_input_format(o.format);
  io.field = o.field;
  io.pair_field = pair_field;
  io.id_field = o.id_field;

  PipelineOptions po;
  po.max_batch_tokens = o.max_batch_tokens;
  po.read_ahead = o.read_ahead;
  po.fail_on_error = o.on_error == "fail";
  po.progress = isatty(fileno(stderr));
  po.source = o.input == "-" ? "stdin" : o.input;

  std::ifstream file;
  std::istream* in = &std::cin;
  if (o.input != "-") {
    file.open(o.input, std::ios::binary);
    if (!file) throw Error(fmt::format("{}: cannot open the input", o.input));
    std::error_code ec;
    if (std::filesystem::is_regular_file(o.input, ec)) po.total_bytes = (int64_t)std::filesystem::file_size(o.input, ec);
    in = &file;
  }
  auto reader = make_document_reader(*in, io, po.source);

  // --out goes to FILE.tmp, renamed over FILE once the job is done.
  std::ofstream out_file;
  std::ostream* out = &std::cout;
  const std::string tmp = o.out + ".tmp";
  if (!o.out.empty()) {
    out_file.open(tmp, std::ios::binary | std::ios::trunc);
    if (!out_file) throw Error(fmt::format("{}: cannot write", tmp));
    out = &out_file;
  }
  PipelineStats stats;
  try {
    stats = run_pipeline(*loaded.model, task, *reader, *out, po);
  } catch (...) {
    if (!o.out.empty()) {
      out_file.close();
      std::filesystem::remove(tmp);
    }
    throw;
  }
  if (!o.out.empty()) {
    out_file.close();
    if (!out_file) throw Error(fmt::format("{}: cannot write", tmp));
    std::filesystem::rename(tmp, o.out);
  }
  if (stats.error_lines > 0) {
    std::fprintf(stderr, "medenc %s: %lld of %lld input records were errors (error lines written in place)\n", command,
                 (long long)stats.error_lines, (long long)stats.documents);
    return kInputErrors;
  }
  return kOk;
}

int with_usage_errors(const char* command, const std::function<int()>& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    std::fprintf(stderr, "medenc %s: %s\n", command, e.what());
    return kUsage;
  }
}

}  // namespace medenc::cli
