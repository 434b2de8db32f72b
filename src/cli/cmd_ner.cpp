// medenc ner: token-classification checkpoints -> entity spans with character offsets.
#include "cli/command.h"
#include "cli/task_options.h"
#include "medenc/ner.h"

namespace {

struct Options {
  medenc::cli::TaskCliOptions task;
  std::string aggregation = "simple";
  std::vector<std::string> ignore_labels{"O"};
};

int run(const Options& o) {
  return medenc::cli::with_usage_errors("ner", [&] {
    medenc::cli::LoadedTask loaded = medenc::cli::load_task(o.task);
    medenc::NerOptions no;
    no.aggregation = medenc::parse_ner_aggregation(o.aggregation);
    no.ignore_labels = o.ignore_labels;
    auto task = medenc::make_ner_task(loaded.model->tokenizer(), loaded.model->info(), loaded.windows, no);
    return medenc::cli::run_task(o.task, loaded, *task, "", "ner");
  });
}

medenc::cli::Registrar reg(
    "ner",
    "Find entities with a token-classification model: spans with character offsets into the input, "
    "grouped as Hugging Face's token-classification pipeline does",
    [](CLI::App& app) {
      auto o = std::make_shared<Options>();
      medenc::cli::add_task_options(app, o->task);
      app.add_option("--aggregation", o->aggregation,
                     "none | simple (default) | first | average | max, as in Hugging Face's pipeline")
          ->check(CLI::IsMember({"none", "simple", "first", "average", "max"}));
      // One comma-separated list per occurrence, so that `--ignore-labels O,DIS notes.jsonl` leaves
      // the input file to the input argument.
      app.add_option("--ignore-labels", o->ignore_labels, "Labels (entity groups) left out (default: O)")
          ->delimiter(',')
          ->allow_extra_args(false);
      return [o] { return run(*o); };
    });

}  // namespace
