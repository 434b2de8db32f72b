// Shared plumbing of the batch-job commands: options, model + tokenizer loading, input, output.
#include "cli/task_options.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "cli/command.h"
#include "cli/status_line.h"
#include "medenc/error.h"
#include "medenc/hub.h"
#include "medenc/result_json.h"

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
  app.add_option("--dtype", o.dtype,
                 "Compute type: f32 (default), bf16 (bf16 GEMM inputs, fp32 accumulation) or int8 (int8 weights "
                 "per output channel, inputs per row, exact int32 sums)")
      ->check(CLI::IsMember({"f32", "bf16", "int8"}));
}

LoadedTask load_task(const TaskCliOptions& o) {
  LoadedTask t;
  // Model::load resolves hub ids and names a missing tokenizer (as the server's and Python's loads do).
  ModelOptions mo;
  mo.tokenizer = o.tokenizer;
  mo.precision = parse_precision(o.dtype);
  try {
    t.model = Model::load(o.model, mo);
  } catch (const Error& e) {
    // The library says a tokenizer can be given apart; the command line says how.
    const std::string dir = o.tokenizer.empty() && e.kind() == ErrorKind::InvalidModel ? resolve_model(o.model) : "";
    namespace fs = std::filesystem;
    if (!dir.empty() && fs::is_directory(dir) && !fs::exists(fs::path(dir) / "tokenizer.json") &&
        !fs::exists(fs::path(dir) / "vocab.txt"))
      throw Error(ErrorKind::InvalidModel, dir + ": no tokenizer.json or vocab.txt (give --tokenizer DIR)");
    throw;
  }
  SessionOptions so;
  so.threads = o.threads;
  t.session = std::make_unique<Session>(t.model, so);
  try {
    t.windows = t.model->window_options(o.max_length, o.stride);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  return t;
}

int run_task(const TaskCliOptions& o, LoadedTask& loaded, const Task& task, const std::string& pair_field,
             const char* command, const LineFilter& filter) {
  InputOptions io;
  io.format = parse_input_format(o.format);
  io.field = o.field;
  io.pair_field = pair_field;
  io.id_field = o.id_field;

  PipelineOptions po;
  po.max_batch_tokens = o.max_batch_tokens;
  po.read_ahead = o.read_ahead;
  po.fail_on_error = o.on_error == "fail";
  po.source = o.input == "-" ? "stdin" : o.input;
  int64_t total_bytes = 0;

  std::ifstream file;
  std::istream* in = &std::cin;
  if (o.input != "-") {
    file.open(o.input, std::ios::binary);
    if (!file) throw Error(fmt::format("{}: cannot open the input", o.input));
    std::error_code ec;
    if (std::filesystem::is_regular_file(o.input, ec)) total_bytes = (int64_t)std::filesystem::file_size(o.input, ec);
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
  // "1,234 docs  56.7 docs/s  8,901 tokens/s  ETA 0:01:23", live on a terminal.
  StatusLine status(StatusLine::stderr_is_terminal());
  const auto start = std::chrono::steady_clock::now();
  po.progress = [&](const PipelineStats& s, int64_t bytes, bool final) {
    out->flush();
    if (!*out) throw Error(ErrorKind::Io, po.source + ": cannot write the output");
    if (!status.live()) return;
    const double secs =
        std::max(1e-9, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    std::string eta;
    if (total_bytes > 0 && bytes > 0 && !final)
      eta = "  ETA " + format_duration(secs * (double)std::max<int64_t>(0, total_bytes - bytes) / (double)bytes);
    status.draw(fmt::format("{} docs  {:.1f} docs/s  {:.0f} tokens/s{}", s.documents, (double)s.documents / secs,
                            (double)s.tokens / secs, eta),
                final);
    if (final) status.finish();
  };
  auto write = [&](const Job& job) {
    if (filter.keep && job.error.empty() && !filter.keep(job)) return;
    nlohmann::ordered_json line = document_line(job);
    if (filter.with_text && job.error.empty()) line["text"] = job.doc.text;
    *out << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  };
  PipelineStats stats;
  try {
    stats = loaded.session->run_pipeline(task, *reader, write, po);
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
