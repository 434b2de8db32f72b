// TrainingArguments: checks (as Hugging Face's __post_init__ does) and the JSON written with checkpoints.
#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/train.h"
#include "medenc/trainer.h"

namespace medenc {

void TrainingArguments::validate() const {
  auto fail = [](const std::string& m) { throw Error(m); };
  if (model_dir.empty()) fail("--model is required");
  if (train_file.empty()) fail("--train is required");
  if (output_dir.empty()) fail("--out is required");
  if (!(learning_rate > 0)) fail("--learning-rate must be positive");
  if (max_steps <= 0 && !(num_train_epochs > 0)) fail("--num-train-epochs must be positive (or give --max-steps)");
  if (per_device_train_batch_size < 1 || per_device_eval_batch_size < 1) fail("batch sizes must be at least 1");
  if (gradient_accumulation_steps < 1) fail("--gradient-accumulation-steps must be at least 1");
  if (weight_decay < 0) fail("--weight-decay must not be negative");
  if (warmup_steps < 0) fail("--warmup-steps must not be negative");
  if (warmup_ratio < 0 || warmup_ratio > 1) fail("--warmup-ratio must be in [0, 1]");
  parse_schedule(lr_scheduler_type);
  for (auto [name, v] : {std::pair{"eval", eval_strategy}, {"save", save_strategy}})
    if (v != "no" && v != "steps" && v != "epoch")
      fail(fmt::format("--{}-strategy must be no, steps or epoch, got '{}'", name, v));
  if (eval_strategy != "no" && eval_file.empty()) fail("--eval-strategy needs --eval FILE");
  if (eval_steps < 0 || save_steps < 1 || logging_steps < 1)
    fail("--eval-steps must not be negative; --save-steps and --logging-steps must be at least 1");
  if (save_total_limit < 0) fail("--save-total-limit must not be negative");
  if (load_best_model_at_end) {
    if (eval_strategy == "no") fail("--load-best-model-at-end needs an --eval-strategy");
    if (save_strategy != eval_strategy)
      fail(fmt::format("--load-best-model-at-end needs the save and eval strategies to match (save: {}, eval: {})",
                       save_strategy, eval_strategy));
    const int64_t every = eval_steps > 0 ? eval_steps : logging_steps;
    if (save_strategy == "steps" && save_steps % every != 0)
      fail(fmt::format("--load-best-model-at-end needs --save-steps ({}) to be a multiple of --eval-steps ({})",
                       save_steps, every));
  }
  if (early_stopping_patience < 0) fail("--early-stopping-patience must not be negative");
  if (early_stopping_patience > 0 && !load_best_model_at_end)
    fail("--early-stopping-patience needs --load-best-model-at-end (as Hugging Face's EarlyStoppingCallback)");
  if (balance_threshold && task != TaskKind::Regression) fail("--balance-threshold applies to regression only");
  if (!(mlm_probability > 0 && mlm_probability < 1)) fail("--mlm-probability must be in (0, 1)");
  if (mlm_probability_end && !(*mlm_probability_end > 0 && *mlm_probability_end < 1))
    fail("--mlm-probability-end must be in (0, 1)");
  if (eval_threshold < 0 || eval_threshold > 1) fail("--threshold must be in [0, 1]");
  if (max_length < 0) fail("--max-length must not be negative");
}

nlohmann::ordered_json TrainingArguments::to_json() const {
  nlohmann::ordered_json j;
  j["model"] = model_dir;
  j["tokenizer"] = tokenizer_dir;
  j["task"] = task_name(task);
  j["train_file"] = train_file;
  j["eval_file"] = eval_file;
  j["output_dir"] = output_dir;
  j["data_format"] = data_format_name(data.format);
  j["text_field"] = data.text_field;
  j["pair_field"] = data.pair_field;
  j["label_field"] = data.label_field;
  j["entities_field"] = data.entities_field;
  j["label_separator"] = data.label_separator;
  j["score_min"] = data.score_min ? nlohmann::ordered_json(*data.score_min) : nlohmann::ordered_json();
  j["score_max"] = data.score_max ? nlohmann::ordered_json(*data.score_max) : nlohmann::ordered_json();
  j["label_map"] = data.label_map;
  j["label_list"] = label_list_file;
  j["from_scratch"] = from_scratch;
  j["max_length"] = max_length;
  j["learning_rate"] = learning_rate;
  j["num_train_epochs"] = num_train_epochs;
  j["max_steps"] = max_steps;
  j["per_device_train_batch_size"] = per_device_train_batch_size;
  j["per_device_eval_batch_size"] = per_device_eval_batch_size;
  j["gradient_accumulation_steps"] = gradient_accumulation_steps;
  j["weight_decay"] = weight_decay;
  j["adam_beta1"] = adam_beta1;
  j["adam_beta2"] = adam_beta2;
  j["adam_epsilon"] = adam_epsilon;
  j["decay_all"] = decay_all;
  j["warmup_steps"] = warmup_steps;
  j["warmup_ratio"] = warmup_ratio;
  j["lr_scheduler_type"] = lr_scheduler_type;
  j["max_grad_norm"] = max_grad_norm;
  j["seed"] = seed;
  j["eval_strategy"] = eval_strategy;
  j["eval_steps"] = eval_steps;
  j["save_strategy"] = save_strategy;
  j["save_steps"] = save_steps;
  j["save_total_limit"] = save_total_limit;
  j["load_best_model_at_end"] = load_best_model_at_end;
  j["metric_for_best_model"] = metric_for_best_model;
  j["greater_is_better"] = greater_is_better ? nlohmann::ordered_json(*greater_is_better) : nlohmann::ordered_json();
  j["early_stopping_patience"] = early_stopping_patience;
  j["logging_steps"] = logging_steps;
  j["group_by_length"] = group_by_length;
  j["balance_threshold"] = balance_threshold ? nlohmann::ordered_json(*balance_threshold) : nlohmann::ordered_json();
  j["mlm_probability"] = mlm_probability;
  j["mlm_probability_end"] =
      mlm_probability_end ? nlohmann::ordered_json(*mlm_probability_end) : nlohmann::ordered_json();
  j["threshold"] = eval_threshold;
  j["regression_threshold"] = regression_threshold;
  return j;
}

}  // namespace medenc
