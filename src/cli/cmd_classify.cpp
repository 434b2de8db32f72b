// medenc classify: sequence-classification checkpoints over files and streams.
#include "cli/command.h"
#include "cli/task_options.h"
#include "medenc/classify.h"

namespace {

struct Options {
  medenc::cli::TaskCliOptions task;
  std::string pair_field = "text_pair";
  double threshold = 0.5;
  std::string thresholds_file;
  int top_k = 0;
  std::string window_aggregation = "mean";
};

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
    return medenc::cli::run_task(o.task, loaded, *task, o.pair_field, "classify");
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
      return [o] { return run(*o); };
    });

}  // namespace
