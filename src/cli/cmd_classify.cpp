// medenc classify: sequence-classification checkpoints over files and streams.
#include "cli/command.h"
#include "cli/task_options.h"
#include "medenc/classify.h"
#include "medenc/result_json.h"

#include <variant>

#include <fmt/format.h>

namespace {

struct Options {
  medenc::cli::TaskCliOptions task;
  std::string pair_field = "text_pair";
  double threshold = 0.5;
  std::string thresholds_file;
  int top_k = 0;
  std::string window_aggregation = "mean";
  double min_score = 0;
  bool filter_by_score = false;  // --min-score given
  bool with_text = false;
};

// --min-score keeps the documents whose single regression score is >= the bound. Classification
// checkpoints have probabilities per label, not one score to rank by: refused.
medenc::cli::LineFilter line_filter(const Options& o, const medenc::HeadConfig& head) {
  medenc::cli::LineFilter filter;
  filter.with_text = o.with_text;
  if (!o.filter_by_score) return filter;
  if (head.resolved_problem_type() != medenc::ProblemType::Regression || head.num_labels != 1)
    throw medenc::cli::UsageError(fmt::format(
        "--min-score needs a regression model with one output (problem_type regression, num_labels 1); {} has "
        "{} label(s) and problem type {}: filter its \"label\"/\"labels\" fields instead (e.g. with jq)",
        o.task.model, head.num_labels, medenc::problem_type_name(head.resolved_problem_type())));
  const double bound = o.min_score;
  filter.keep = [bound](const medenc::Job& job) {
    const auto* r = std::get_if<medenc::ClassificationResult>(&job.result);
    // The score as written (a float's shortest decimal), so the bound compares with what the user sees.
    return r != nullptr && r->has_score && medenc::json_float((float)r->score) >= bound;
  };
  return filter;
}

int run(const Options& o) {
  return medenc::cli::with_usage_errors("classify", [&] {
    medenc::cli::LoadedTask loaded = medenc::cli::load_task(o.task);
    medenc::ClassifyOptions co;
    co.threshold = o.threshold;
    co.top_k = o.top_k;
    co.window_aggregation = medenc::parse_window_aggregation(o.window_aggregation);
    if (!o.thresholds_file.empty())
      co.thresholds = medenc::read_label_thresholds(o.thresholds_file, loaded.model->info().head, o.threshold);
    auto task = medenc::make_classify_task(loaded.model->tokenizer(), loaded.model->info(), loaded.windows, co);
    const medenc::cli::LineFilter filter = line_filter(o, loaded.model->info().head);
    return medenc::cli::run_task(o.task, loaded, *task, o.pair_field, "classify", filter);
  });
}

medenc::cli::Registrar reg(
    "classify",
    "Score documents with a sequence-classification model: raw score (regression), softmax label "
    "(single-label) or sigmoid labels (multi-label), as the checkpoint's problem_type says",
    [](CLI::App& app) {
      auto o = std::make_shared<Options>();
      medenc::cli::add_task_options(app, o->task);
      app.add_option("--pair-field", o->pair_field,
                     "JSON key or CSV column of an optional second text (default: text_pair)");
      app.add_option("--threshold", o->threshold, "Multi-label: a label is on above this probability (default: 0.5)")
          ->check(CLI::Range(0.0, 1.0));
      app.add_option("--thresholds", o->thresholds_file, "Multi-label: JSON file {\"label\": threshold, ...}")
          ->check(CLI::ExistingFile);
      app.add_option("--top-k", o->top_k, "Only the k best labels in \"scores\" (and \"labels\")")
          ->check(CLI::NonNegativeNumber);
      app.add_option("--window-aggregation", o->window_aggregation,
                     "With --stride: combine the windows' logits by mean (default) or max")
          ->check(CLI::IsMember({"mean", "max"}));
      CLI::Option* min_score = app.add_option("--min-score", o->min_score,
                     "Regression: write only the documents whose score is >= this (error lines are kept); "
                     "refused for classification models");
      app.add_flag("--with-text", o->with_text, "Copy each document's text into its output line (\"text\")");
      return [o, min_score] {
        o->filter_by_score = min_score->count() > 0;
        return run(*o);
      };
    });

}  // namespace
