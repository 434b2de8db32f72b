// medenc eval: a checkpoint's metrics on labelled data (and per-label thresholds for classify).
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/status_line.h"
#include "ops/ops.h"
#include "cli/data_options.h"
#include "medenc/classify.h"
#include "medenc/error.h"
#include "medenc/metrics.h"
#include "medenc/trainer.h"
#include "util/fs.h"

namespace {

using nlohmann::ordered_json;

struct Options {
  std::string model, tokenizer, data_file, out, task;
  medenc::cli::DataCliOptions data;
  int64_t batch_size = 64;
  int64_t max_batch_tokens = 16384;
  int64_t max_length = 0;
  double threshold = 0.5;
  std::string thresholds_file, tune_thresholds_file;
  double regression_threshold = 2.0;
  double mlm_probability = 0.15;
  uint64_t seed = 42;
  int threads = 0;
};

int run(const Options& o) {
  const medenc::ops::ThreadScope threads(o.threads);
  medenc::LoadOptions lo;
  auto model = medenc::load_encoder(o.model, lo);
  const medenc::ModelInfo& info = model->info();
  const medenc::TaskKind task = o.task.empty() ? medenc::task_of_head(info.head) : medenc::parse_task(o.task);
  if (medenc::task_of_head(info.head) != task)
    throw medenc::Error(fmt::format("{} is a {} model; it cannot be evaluated as {}", o.model,
                                    medenc::task_name(medenc::task_of_head(info.head)), medenc::task_name(task)));
  if (!o.tune_thresholds_file.empty() && task != medenc::TaskKind::MultiLabel)
    throw medenc::Error("--tune-thresholds applies to multi-label models");
  const std::string tok_dir = o.tokenizer.empty() ? o.model : o.tokenizer;
  auto tokenizer = medenc::Tokenizer::from_dir(tok_dir);
  if (tokenizer->vocab_size() > info.vocab_size)
    throw medenc::Error(fmt::format("the tokenizer in {} has {} ids, the model only {}", tok_dir,
                                    tokenizer->vocab_size(), info.vocab_size));
  const std::vector<std::string> labels = task == medenc::TaskKind::Mlm ? std::vector<std::string>{} : info.head.id2label;
  const medenc::LabelSpace space(labels);
  const medenc::DataOptions dopt = medenc::cli::resolve_data_options(o.data);
  const bool fixed = task == medenc::TaskKind::SingleLabel || task == medenc::TaskKind::MultiLabel;
  auto data = medenc::Dataset::scan(o.data_file, task, dopt, fixed ? &space : nullptr);
  std::fprintf(stderr, "%s\n", data->report().summary().c_str());
  if (data->size() == 0) throw medenc::Error(o.data_file + ": no usable rows");
  const int64_t max_length = o.max_length > 0 ? o.max_length : std::min<int64_t>(512, info.max_positions);
  if (max_length > info.max_positions)
    throw medenc::Error(fmt::format("--max-length {} is more than the model's {} positions", max_length,
                                    info.max_positions));
  const medenc::ExampleEncoder encoder(*tokenizer, task, space, max_length, info.type_vocab_size > 0);

  medenc::EvalSettings s;
  s.task = task;
  s.batch_size = o.batch_size;
  s.max_batch_tokens = o.max_batch_tokens;
  s.threshold = o.threshold;
  s.regression_threshold = o.regression_threshold;
  s.mlm_probability = o.mlm_probability;
  s.seed = o.seed;
  medenc::cli::StatusLine status(medenc::cli::StatusLine::stderr_is_terminal());
  s.on_progress = [&](int64_t done, int64_t total) {
    status.draw(fmt::format("evaluating {}/{}", done, total), done == total);
  };
  if (!o.thresholds_file.empty()) s.thresholds = medenc::read_label_thresholds(o.thresholds_file, info.head, o.threshold);
  medenc::EvalOutput ev = medenc::evaluate(*model, encoder, *data, s);
  status.finish();

  ordered_json result;
  result["model"] = o.model;
  result["task"] = medenc::task_name(task);
  result["data"] = o.data_file;
  result["max_length"] = max_length;
  if (task == medenc::TaskKind::MultiLabel)
    result["threshold"] = s.thresholds.empty() ? ordered_json(s.threshold) : ordered_json("per label");
  result["metrics"] = ev.metrics;
  if (!o.tune_thresholds_file.empty()) {
    const std::vector<double> t = medenc::tune_thresholds(ev.probabilities, ev.gold, (int64_t)labels.size());
    ordered_json th = ordered_json::object();
    for (size_t k = 0; k < labels.size(); ++k) th[labels[k]] = t[k];
    medenc::write_file_atomic(o.tune_thresholds_file, th.dump(2) + "\n");
    std::vector<uint8_t> on(ev.probabilities.size());
    for (size_t i = 0; i < on.size(); ++i) on[i] = ev.probabilities[i] > t[i % labels.size()];
    // Optimistic: tuned and scored on the same rows (tune on a dev set, then evaluate a test set with
    // --thresholds).
    result["tuned_thresholds_file"] = o.tune_thresholds_file;
    result["metrics_with_tuned_thresholds"] = medenc::to_json(medenc::multi_label_metrics(on, ev.gold, labels), true);
  }
  result["data_report"] = data->report().to_json();
  const std::string text = result.dump(2) + "\n";
  if (o.out.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    medenc::write_file_atomic(o.out, text);
  }
  const auto& m = ev.metrics;
  std::string line = fmt::format("{} examples, loss {:.4f}", ev.examples, ev.loss);
  for (const char* key : {"f1", "f1_macro", "accuracy", "mse", "rmse", "spearman", "roc_auc", "matthews",
                          "top1_accuracy", "top5_accuracy"})
    if (m.contains(key) && m[key].is_number()) line += fmt::format(", {} {:.4f}", key, m[key].get<double>());
  std::fprintf(stderr, "%s (%.1f s)\n", line.c_str(), ev.seconds);
  return medenc::cli::kOk;
}

medenc::cli::Registrar reg(
    "eval",
    "Metrics of a checkpoint on labelled data: regression, classification (with per-label threshold tuning), "
    "NER (seqeval), masked-LM top-k",
    [](CLI::App& app) {
      auto o = std::make_shared<Options>();
      app.add_option("--model", o->model, "Model folder")->required();
      app.add_option("--data", o->data_file, "Labelled data")->required()->check(CLI::ExistingFile);
      app.add_option("--task", o->task, "regression | single-label | multi-label | ner | mlm (default: the model's head)")
          ->check(CLI::IsMember({"regression", "single-label", "multi-label", "ner", "mlm"}));
      app.add_option("--out", o->out, "Write the metrics JSON here (default: stdout); written atomically");
      app.add_option("--tokenizer", o->tokenizer, "Tokenizer folder (default: the model folder)");
      medenc::cli::add_data_options(app, o->data);
      app.add_option("--batch-size,--per-device-eval-batch-size", o->batch_size,
                     "Sequences per forward batch, at most (default: 64; results do not depend on it)")
          ->check(CLI::PositiveNumber);
      app.add_option("--max-batch-tokens", o->max_batch_tokens, "Tokens per forward batch, at most (default: 16384)")
          ->check(CLI::PositiveNumber);
      app.add_option("--max-length", o->max_length, "Tokens per example (default: min(512, model))")
          ->check(CLI::NonNegativeNumber);
      app.add_option("--threshold", o->threshold, "Multi-label: probability threshold (default: 0.5)")
          ->check(CLI::Range(0.0, 1.0));
      app.add_option("--thresholds", o->thresholds_file, "Multi-label: per-label thresholds, JSON {\"label\": t}")
          ->check(CLI::ExistingFile);
      app.add_option("--tune-thresholds", o->tune_thresholds_file,
                     "Multi-label: write the per-label thresholds that maximise F1 on this data (for classify "
                     "--thresholds)");
      app.add_option("--regression-threshold", o->regression_threshold,
                     "Regression: accuracy and ROC-AUC of <= vs > this value (default: 2)");
      app.add_option("--mlm-probability", o->mlm_probability, "Masked LM: masking rate (default: 0.15)")
          ->check(CLI::Range(0.0, 1.0));
      app.add_option("--seed", o->seed, "Masked LM: seed of the masking (default: 42)");
      app.add_option("--threads", o->threads, "Threads (default: all cores)")->check(CLI::NonNegativeNumber);
      return [o] { return run(*o); };
    });

}  // namespace
