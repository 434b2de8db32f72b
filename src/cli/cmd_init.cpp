// medenc init: write a random-weight checkpoint in Hugging Face layout.
#include <cstdio>

#include "cli/command.h"
#include "medenc/init.h"

namespace {

medenc::cli::Registrar reg(
    "init", "Write a random-weight checkpoint (config.json + model.safetensors) in Hugging Face layout",
    [](CLI::App& app) {
      auto o = std::make_shared<medenc::InitOptions>();
      app.add_option("--arch", o->architecture,
                     "Hugging Face class, e.g. ModernBertForSequenceClassification, ModernBertForMaskedLM")
          ->required();
      app.add_option("--config", o->config, "tiny | base | large | path to a config.json")->required();
      app.add_option("--out", o->out_dir, "Output folder")->required();
      app.add_option("--seed", o->seed, "Random seed");
      app.add_option("--num-labels", o->num_labels, "Number of labels of a classification head");
      app.add_option("--problem-type", o->problem_type,
                     "regression | single_label_classification | multi_label_classification");
      app.add_option("--tokenizer", o->tokenizer_dir, "Copy tokenizer files from this folder");
      return [o] {
        std::string arch = medenc::write_random_checkpoint(*o);
        std::fprintf(stderr, "wrote random-weight %s to %s\n", arch.c_str(), o->out_dir.c_str());
        return medenc::cli::kOk;
      };
    });

}  // namespace
