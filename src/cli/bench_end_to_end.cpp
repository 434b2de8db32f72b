// medenc bench --end-to-end: the whole classify job against the bare forward pass on the same texts.
//
// For each dtype the model is loaded once, as `medenc classify` loads it, and three things are timed
// in alternation (rep 1 of each, then rep 2, ...), so that their ratio compares runs made under the
// same machine state:
//   forward   the bench's clinical batch (the texts tokenized beforehand, one forward call), as the
//             'clinical' case of medenc bench times it;
//   classify  `medenc classify`'s own code path (cli::run_task) on a JSON Lines file of the same
//             texts: reading, tokenization, sorting and batching, the forward passes, the output
//             lines written to a file;
//   tokenize  the tokenization alone, in parallel as the pipeline runs it, to show its share.
// The ratio classify tokens/s over forward tokens/s is the end-to-end target (>= 0.95).
#include "cli/bench_end_to_end.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "bench/bench_support.h"
#include "cli/command.h"
#include "cli/task_options.h"
#include "medenc/classify.h"
#include "medenc/error.h"
#include "medenc/pipeline.h"
#include "ops/ops.h"

namespace medenc::cli {

namespace {

using nlohmann::json;

// A temporary folder removed when this goes out of scope.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() / fmt::format("medenc-bench-e2e-{}", (long)getpid());
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

size_t count_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  size_t n = 0;
  std::string line;
  while (std::getline(in, line)) ++n;
  return n;
}

json run_dtype(const EndToEndOptions& o, const std::string& dtype, const std::vector<std::string>& texts,
               const std::string& input, const std::string& output, bool verbose) {
  TaskCliOptions t;
  t.model = o.model;
  t.tokenizer = o.tokenizer;
  t.input = input;
  t.out = output;
  t.threads = o.threads;
  t.dtype = dtype;
  LoadedTask loaded = load_task(t);
  require_head(loaded.model->info(), HeadKind::SequenceClassification, "classify");
  const std::unique_ptr<Task> task =
      make_classify_task(loaded.model->tokenizer(), loaded.model->info(), loaded.windows, ClassifyOptions{});
  const Tokenizer& tok = loaded.model->tokenizer();

  // The bench's clinical batch: every text in one window of at most the model's length.
  const int64_t n = (int64_t)texts.size();
  std::vector<Encoding> encodings((size_t)n);
  auto tokenize_all = [&] {
    #pragma omp parallel for schedule(dynamic, 4)
    for (int64_t i = 0; i < n; ++i) {
      bool truncated = false;
      encodings[(size_t)i] = encode_windows(tok, texts[(size_t)i], std::nullopt, loaded.windows, &truncated)[0];
    }
  };
  tokenize_all();
  Batch batch;
  for (const Encoding& e : encodings) batch.add(e.ids);
  ForwardOptions fo;
  fo.want_hidden = false;
  fo.want_logits = true;
  auto forward = [&] { loaded.session->forward(batch, fo); };
  auto classify = [&] {
    if (run_task(t, loaded, *task, "text_pair", "classify") != kOk)
      throw Error(fmt::format("bench --end-to-end: classify reported input errors on {}", input));
  };
  auto tokenize = [&] {
    const ops::ThreadScope threads(o.threads);
    tokenize_all();
  };
  forward();  // warm-up: allocations, caches, primitives
  classify();
  if (count_lines(output) != texts.size())
    throw Error(fmt::format("bench --end-to-end: {} output lines for {} texts", count_lines(output), texts.size()));
  std::vector<double> forward_s, classify_s, tokenize_s;
  for (int r = 0; r < o.reps; ++r) {
    forward_s.push_back(bench::time_seconds(forward));
    classify_s.push_back(bench::time_seconds(classify));
    tokenize_s.push_back(bench::time_seconds(tokenize));
  }
  const double tokens = (double)batch.tokens();
  const double f = bench::median(forward_s), c = bench::median(classify_s), k = bench::median(tokenize_s);
  json j = {{"dtype", dtype},
            {"documents", n},
            {"tokens", batch.tokens()},
            {"forward_seconds", f},
            {"classify_seconds", c},
            {"tokenize_seconds", k},
            {"forward_tokens_per_s", tokens / f},
            {"classify_tokens_per_s", tokens / c},
            {"ratio", f / c},
            {"tokenize_share", k / c}};
  if (verbose)
    std::fprintf(stderr,
                 "  %-5s %ld documents, %.0f tokens: forward %.0f tok/s, classify %.0f tok/s: %.3fx of the forward "
                 "(target >= 0.95); tokenization alone %.2f%% of the job\n",
                 dtype.c_str(), (long)n, tokens, tokens / f, tokens / c, f / c, 100.0 * k / c);
  return j;
}

}  // namespace

json run_end_to_end(const EndToEndOptions& o, bool verbose) {
  std::vector<std::string> texts;
  std::string what;
  for (const bench::ClinicalSource& src : bench::clinical_texts(o.texts_dir)) {
    texts.insert(texts.end(), src.texts.begin(), src.texts.end());
    if (!src.texts.empty()) what += fmt::format("{}{} x {}", what.empty() ? "" : "; ", src.texts.size(), src.name);
  }
  if (texts.empty())
    throw Error(fmt::format("bench --end-to-end: no clinical texts under {} (see --texts)", o.texts_dir));
  const TempDir tmp;
  const std::string input = (tmp.path / "texts.jsonl").string(), output = (tmp.path / "scores.jsonl").string();
  {
    std::ofstream in(input, std::ios::binary);
    for (size_t i = 0; i < texts.size(); ++i) in << json{{"id", (int64_t)i}, {"text", texts[i]}}.dump() << '\n';
    if (!in) throw Error(fmt::format("{}: cannot write", input));
  }
  if (verbose) std::fprintf(stderr, "%s end to end (medenc classify vs the bare forward): %s\n", o.model.c_str(),
                            what.c_str());
  json report = {{"model", o.model}, {"texts", what}, {"runs", json::array()}};
  for (const std::string& dtype : o.dtypes) report["runs"].push_back(run_dtype(o, dtype, texts, input, output, verbose));
  return report;
}

}  // namespace medenc::cli
