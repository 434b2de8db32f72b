// medenc embed: one vector per document from the encoder's last hidden state.
#include "cli/command.h"
#include "cli/task_options.h"
#include "medenc/embed.h"

namespace {

struct Options {
  medenc::cli::TaskCliOptions task;
  std::string pooling = "mean";
  bool normalize = false;
};

int run(const Options& o) {
  return medenc::cli::with_usage_errors("embed", [&] {
    medenc::cli::LoadedTask loaded = medenc::cli::load_task(o.task);
    medenc::EmbedOptions eo;
    eo.pooling = medenc::parse_pooling(o.pooling);
    eo.normalize = o.normalize;
    auto task = medenc::make_embed_task(loaded.model->tokenizer(), loaded.model->info(), loaded.windows, eo);
    return medenc::cli::run_task(o.task, loaded, *task, "", "embed");
  });
}

medenc::cli::Registrar reg("embed", "Embed documents: pooled last hidden state of any checkpoint", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  medenc::cli::add_task_options(app, o->task);
  app.add_option("--pooling", o->pooling,
                 "cls (first token), mean (all tokens; default) or splade (masked-LM models: the vocabulary-wide "
                 "max over tokens of log(1 + relu(logit)))")
      ->check(CLI::IsMember({"cls", "mean", "splade"}));
  app.add_flag("--normalize", o->normalize, "Scale every embedding to unit length");
  return [o] { return run(*o); };
});

}  // namespace
