// medenc train: fine-tune or pre-train a checkpoint with Hugging Face Trainer's hyperparameters.
#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/data_options.h"
#include "cli/status_line.h"
#include "medenc/error.h"
#include "medenc/hub.h"
#include "medenc/trainer.h"

namespace {

struct Options {
  medenc::TrainingArguments args;
  medenc::cli::DataCliOptions data;
  std::string task;
  std::string greater_is_better;
  double balance_threshold = 0, mlm_probability_end = 0;
  bool fp16 = false, bf16 = false;
};

int run(Options& o) {
  medenc::TrainingArguments& a = o.args;
  a.task = medenc::parse_task(o.task);
  a.data = medenc::cli::resolve_data_options(o.data);
  if (!o.greater_is_better.empty()) {
    if (o.greater_is_better != "true" && o.greater_is_better != "false")
      throw medenc::Error("--greater-is-better must be true or false");
    a.greater_is_better = o.greater_is_better == "true";
  }
  if (o.fp16 || o.bf16)
    std::fprintf(stderr, "note: --%s accepted for recipe compatibility; medenc trains with fp32 weights, gradients "
                         "and optimizer state\n", o.fp16 ? "fp16" : "bf16");
  medenc::cli::StatusLine status(medenc::cli::StatusLine::stderr_is_terminal());
  a.callbacks.on_message = [&](const std::string& line) { status.print(line); };
  a.callbacks.on_step = [&](const medenc::TrainStepInfo& s) {
    status.draw(fmt::format("step {}/{}  epoch {:.2f}  loss {:.4f}  lr {:.3g}  {:.0f} tokens/s  ETA {}", s.step,
                            s.total_steps, s.epoch, s.loss, s.learning_rate, s.tokens_per_second,
                            s.eta_seconds < 0 ? "?" : medenc::cli::format_duration(s.eta_seconds)),
                s.step == s.total_steps);
  };
  a.callbacks.on_eval_progress = [&](int64_t done, int64_t total) {
    status.draw(fmt::format("evaluating {}/{}", done, total), done == total);
  };
  // Ctrl-C (or SIGTERM) stops at the next optimizer step, leaving a checkpoint to resume from.
  const medenc::cli::InterruptFlag interrupt;
  a.model_dir = medenc::resolve_model(a.model_dir), a.tokenizer_dir = medenc::resolve_model(a.tokenizer_dir);
  a.callbacks.should_stop = [] { return medenc::cli::InterruptFlag::raised(); };
  try {
    a.validate();
  } catch (const medenc::Error& e) {
    std::fprintf(stderr, "medenc train: error: %s\n", e.what());
    return medenc::cli::kUsage;
  }
  const medenc::TrainSummary s = medenc::train(a);
  status.finish();
  const nlohmann::ordered_json j = medenc::summary_json(a.output_dir, s);
  std::printf("%s\n", j.dump().c_str());
  return s.stopped ? medenc::cli::kInterrupted : medenc::cli::kOk;
}

medenc::cli::Registrar reg(
    "train",
    "Fine-tune (regression, single-label, multi-label, ner) or pre-train (mlm) a checkpoint; writes Hugging "
    "Face checkpoints and resumes exactly after a kill",
    [](CLI::App& app) {
      auto o = std::make_shared<Options>();
      medenc::TrainingArguments& a = o->args;
      app.add_option("--model", a.model_dir, "Base checkpoint folder (config.json + safetensors)")->required();
      app.add_option("--task", o->task, "regression | single-label | multi-label | ner | mlm")
          ->required()
          ->check(CLI::IsMember({"regression", "single-label", "multi-label", "ner", "mlm"}));
      app.add_option("--train", a.train_file, "Training data")->required()->check(CLI::ExistingFile);
      app.add_option("--eval", a.eval_file, "Evaluation data")->check(CLI::ExistingFile);
      app.add_option("--out,--output-dir", a.output_dir, "Output folder (checkpoints, final model)")->required();
      app.add_option("--tokenizer", a.tokenizer_dir, "Tokenizer folder (default: the model folder)");
      app.add_flag("--from-scratch", a.from_scratch, "Random init from the model's config (no weights loaded)");
      app.add_option("--label-list", a.label_list_file,
                     "Fixed label set, one per line (NER: entity types); other labels are dropped or bad rows")
          ->check(CLI::ExistingFile);
      medenc::cli::add_data_options(app, o->data);
      app.add_option("--max-length", a.max_length, "Tokens per example, specials included (default: min(512, model))")
          ->check(CLI::NonNegativeNumber);

      app.add_option("--learning-rate", a.learning_rate, "Peak learning rate (default: 5e-5)");
      app.add_option("--num-train-epochs", a.num_train_epochs, "Epochs, may be fractional (default: 3)");
      app.add_option("--max-steps", a.max_steps, "Optimizer steps; overrides --num-train-epochs when > 0");
      app.add_option("--per-device-train-batch-size,--batch-size", a.per_device_train_batch_size,
                     "Examples per micro-batch (default: 8)");
      app.add_option("--per-device-eval-batch-size", a.per_device_eval_batch_size, "Evaluation batch, at most (default: 64)");
      app.add_option("--gradient-accumulation-steps", a.gradient_accumulation_steps,
                     "Micro-batches per optimizer step (default: 1)");
      app.add_option("--weight-decay", a.weight_decay, "AdamW weight decay (default: 0)");
      app.add_option("--adam-beta1", a.adam_beta1, "(default: 0.9)");
      app.add_option("--adam-beta2", a.adam_beta2, "(default: 0.999)");
      app.add_option("--adam-epsilon", a.adam_epsilon, "(default: 1e-8)");
      app.add_flag("--decay-all", a.decay_all,
                   "Weight decay on biases and LayerNorm weights too (default: the Trainer's rule, not on those)");
      app.add_option("--warmup-steps", a.warmup_steps, "Linear warmup steps (default: 0)");
      app.add_option("--warmup-ratio", a.warmup_ratio, "Warmup as a fraction of the steps (default: 0)");
      app.add_option("--lr-scheduler-type", a.lr_scheduler_type, "linear (default) | cosine | constant | "
                                                                  "constant_with_warmup");
      app.add_option("--max-grad-norm", a.max_grad_norm, "Clip gradients to this global norm; 0: off (default: 1)");
      app.add_option("--seed", a.seed, "Seed of init, shuffling, dropout and masking (default: 42)");
      app.add_option("--eval-strategy,--evaluation-strategy", a.eval_strategy, "no (default) | steps | epoch");
      app.add_option("--eval-steps", a.eval_steps, "Evaluate every N steps (default: --logging-steps)");
      app.add_option("--save-strategy", a.save_strategy, "steps (default) | epoch | no");
      app.add_option("--save-steps", a.save_steps, "Save a checkpoint every N steps (default: 500)");
      app.add_option("--save-total-limit", a.save_total_limit, "Keep at most N checkpoints (and the best one)");
      app.add_flag("--load-best-model-at-end", a.load_best_model_at_end,
                   "End with the best evaluated checkpoint's weights");
      app.add_option("--metric-for-best-model", a.metric_for_best_model,
                     "Metric that picks the best model, e.g. f1, eval_loss, spearman (default: loss)");
      app.add_option("--greater-is-better", o->greater_is_better,
                     "true | false (default: false for losses, mse, rmse, mae; true otherwise)");
      app.add_option("--early-stopping-patience", a.early_stopping_patience,
                     "Stop after N evaluations without improvement (needs --load-best-model-at-end)");
      app.add_option("--logging-steps", a.logging_steps, "Log every N steps (default: 500)");
      app.add_flag("--group-by-length", a.group_by_length, "Batch examples of similar length (megabatches of 50)");
      auto* bal = app.add_option("--balance-threshold", o->balance_threshold,
                                 "Regression: train on equal numbers of scores <= and > this value");
      app.add_option("--mlm-probability", a.mlm_probability, "Masked LM: masking rate (default: 0.15)");
      auto* mpe = app.add_option("--mlm-probability-end", o->mlm_probability_end,
                                 "Masked LM: rate at the last step (linear from --mlm-probability)");
      app.add_option("--threshold", a.eval_threshold, "Multi-label evaluation: probability threshold (default: 0.5)");
      app.add_option("--regression-threshold", a.regression_threshold,
                     "Regression evaluation: accuracy and ROC-AUC of <= vs > this value (default: 2)");
      app.add_option("--threads", a.threads, "Threads (default: all cores)")->check(CLI::NonNegativeNumber);
      app.add_flag("--overwrite-output-dir", a.overwrite_output_dir,
                   "Start over even if --out holds checkpoints (default: resume from the latest)");
      app.add_option("--resume-from-checkpoint,--resume", a.resume_from_checkpoint,
                     "Resume from this checkpoint folder (default: the latest in --out, if any)")
          ->check(CLI::ExistingDirectory);
      app.add_flag("--fp16", o->fp16, "Accepted for recipe compatibility (training runs in fp32)");
      app.add_flag("--bf16", o->bf16, "Accepted for recipe compatibility (training runs in fp32)");
      return [o, bal, mpe] {
        if (bal->count()) o->args.balance_threshold = o->balance_threshold;
        if (mpe->count()) o->args.mlm_probability_end = o->mlm_probability_end;
        return run(*o);
      };
    });

}  // namespace
