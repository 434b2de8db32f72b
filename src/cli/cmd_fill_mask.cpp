// medenc fill-mask: the most likely tokens at every mask token, from a masked-LM checkpoint.
#include "cli/command.h"
#include "cli/task_options.h"
#include "medenc/fill_mask.h"

namespace {

struct Options {
  medenc::cli::TaskCliOptions task;
  int top_k = 5;
};

int run(const Options& o) {
  return medenc::cli::with_usage_errors("fill-mask", [&] {
    if (o.task.stride > 0) throw medenc::cli::UsageError("fill-mask does not take --stride (use --max-length)");
    medenc::cli::LoadedTask loaded = medenc::cli::load_task(o.task);
    medenc::FillMaskOptions fo;
    fo.top_k = o.top_k;
    auto task = medenc::make_fill_mask_task(loaded.model->tokenizer(), loaded.model->info(), loaded.windows, fo);
    return medenc::cli::run_task(o.task, loaded, *task, "", "fill-mask");
  });
}

medenc::cli::Registrar reg("fill-mask", "Predict the tokens at mask positions with a masked-LM checkpoint",
                           [](CLI::App& app) {
                             auto o = std::make_shared<Options>();
                             medenc::cli::add_task_options(app, o->task);
                             app.add_option("--top-k", o->top_k, "Predictions per mask token (default: 5)")
                                 ->check(CLI::PositiveNumber);
                             return [o] { return run(*o); };
                           });

}  // namespace
