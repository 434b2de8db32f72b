#pragma once
// `medenc train` and `medenc eval` as a library: the task head on a base checkpoint, Hugging Face
// Trainer's loop (gradient accumulation, AdamW, clipping, schedules, evaluation and checkpoints every N
// steps or each epoch, best-model tracking, early stopping) with exact resume, and evaluation.
//
// Output folder layout (as the Trainer writes it):
//   OUT/checkpoint-STEP/  config.json, model.safetensors, tokenizer files, optimizer.safetensors
//                         (AdamW moments), trainer_state.json, training_args.json
//   OUT/                  the final model (same files without the optimizer), eval_results.json
// A checkpoint folder is written as OUT/tmp-checkpoint-STEP and renamed when complete, so a killed run
// leaves complete checkpoints or none. All randomness (shuffling, dropout, masking) is drawn from
// counters (seed, epoch, step), so the optimizer moments, the step and the model weights are all the
// state a resume needs: it continues bit for bit where the checkpoint was taken.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "medenc/datasets.h"
#include "medenc/model.h"
#include "medenc/train.h"

namespace medenc {

// ---------------------------------------------------------------------------------------------
// Task models

struct TaskModel {
  std::unique_ptr<TrainableEncoder> model;
  std::string config_json;               // config.json of the task model
  std::vector<std::string> initialised;  // tensors given a fresh init (absent, other shape, new labels)
  std::vector<std::string> unused;       // stored tensors the task model does not use
};

// The head `task` needs on the base checkpoint in `dir`: sequence classification with problem_type set
// (regression: one output), token classification, or masked LM, with `labels` as id2label. Every
// tensor is initialised as Hugging Face's _init_weights does (seeded); unless `from_scratch`, the
// tensors the checkpoint has with the same name and shape are then loaded, so a classifier built from
// an MLM checkpoint keeps the MLM prediction head (head.*) and only classifier.* is new. A classifier
// whose labels differ from the checkpoint's is always new.
TaskModel build_task_model(const std::string& dir, TaskKind task, const std::vector<std::string>& labels,
                           bool from_scratch, uint64_t seed, const LoadOptions& options);

// The checkpoint's id2label when its head already serves `task` (so its classifier can be kept).
std::optional<std::vector<std::string>> checkpoint_labels(const std::string& dir, TaskKind task);

// The task a loaded model's head serves (sequence heads by problem type).
TaskKind task_of_head(const HeadConfig& head);

// ---------------------------------------------------------------------------------------------
// Evaluation

struct EvalSettings {
  TaskKind task = TaskKind::Regression;
  int64_t batch_size = 64;             // sequences per forward batch (at most)
  int64_t max_batch_tokens = 16384;    // tokens per forward batch (at most; a longer example runs alone)
  double threshold = 0.5;              // multi-label: probability threshold
  std::vector<double> thresholds;      // multi-label: per label (overrides threshold)
  double regression_threshold = 2.0;   // regression: binarise at <= / > this value
  double mlm_probability = 0.15;       // masked LM: fixed masking rate
  uint64_t seed = 42;                  // masked LM: which tokens are masked
  std::function<void(int64_t done, int64_t total)> on_progress;  // after each example
};

struct EvalOutput {
  double loss = 0;                   // mean over examples (sequence tasks) or labelled tokens
  nlohmann::ordered_json metrics;    // "loss" and the task's metrics (see metrics.h for the keys)
  std::vector<double> probabilities; // multi-label: n x L sigmoid outputs (for threshold tuning)
  std::vector<uint8_t> gold;         // multi-label: n x L
  int64_t examples = 0, tokens = 0;
  double seconds = 0;
};

EvalOutput evaluate(Encoder& model, const ExampleEncoder& encoder, const Dataset& data, const EvalSettings& settings);

// The metric named `name` ("f1", "eval_f1", "loss", ...) in evaluate()'s metrics; error when absent.
double metric_value(const nlohmann::ordered_json& metrics, const std::string& name);

// ---------------------------------------------------------------------------------------------
// Training

// After each optimizer step.
struct TrainStepInfo {
  int64_t step = 0, total_steps = 0;
  double epoch = 0, loss = 0, learning_rate = 0;
  double tokens_per_second = 0;  // training tokens over the time spent in optimizer steps
  double eta_seconds = -1;       // at the average step time so far (-1: unknown)
};

// What a training run reports while it runs, and how to stop it (Hugging Face's TrainerCallback).
// Every callback is optional and runs on the training thread.
struct TrainerCallbacks {
  std::function<void(const std::string& line)> on_message;        // data report, model, logs, evals, saves
  std::function<void(const TrainStepInfo& step)> on_step;          // after every optimizer step
  std::function<void(const nlohmann::ordered_json& entry)> on_log;  // a training log_history entry
  std::function<void(const nlohmann::ordered_json& entry)> on_evaluate;  // an evaluation's log entry
  std::function<void(const std::string& checkpoint)> on_save;      // a checkpoint folder was written
  // Polled after every optimizer step: true saves a checkpoint there and ends the run early
  // (TrainSummary::stopped); the same command resumes from it to the same weights.
  std::function<bool()> should_stop;
  std::function<void(int64_t done, int64_t total)> on_eval_progress;  // examples evaluated so far
};

struct TrainingArguments {
  std::string model_dir, tokenizer_dir, train_file, eval_file, output_dir;
  TaskKind task = TaskKind::Regression;
  DataOptions data;
  std::string label_list_file;  // fixed label set (one label per line; NER: entity types)
  bool from_scratch = false;
  int64_t max_length = 0;       // 0: min(512, the model's positions)

  double learning_rate = 5e-5;
  double num_train_epochs = 3.0;
  int64_t max_steps = -1;       // > 0: overrides num_train_epochs
  int64_t per_device_train_batch_size = 8;
  int64_t per_device_eval_batch_size = 64;  // results do not depend on it
  int64_t gradient_accumulation_steps = 1;
  double weight_decay = 0.0;
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_epsilon = 1e-8;
  bool decay_all = false;       // weight decay on biases and LayerNorm weights too
  int64_t warmup_steps = 0;
  double warmup_ratio = 0.0;
  std::string lr_scheduler_type = "linear";
  double max_grad_norm = 1.0;
  uint64_t seed = 42;

  std::string eval_strategy = "no";    // no | steps | epoch
  int64_t eval_steps = 0;              // 0: logging_steps
  std::string save_strategy = "steps"; // no | steps | epoch
  int64_t save_steps = 500;
  int64_t save_total_limit = 0;        // 0: keep every checkpoint
  bool load_best_model_at_end = false;
  std::string metric_for_best_model;   // "": loss
  std::optional<bool> greater_is_better;  // unset: false for losses, mse, rmse, mae; true otherwise
  int64_t early_stopping_patience = 0; // 0: off
  int64_t logging_steps = 500;

  bool group_by_length = false;
  std::optional<double> balance_threshold;  // regression: equal numbers of scores <= and > this
  double mlm_probability = 0.15;
  std::optional<double> mlm_probability_end;  // linear schedule from mlm_probability to this
  double eval_threshold = 0.5;                // multi-label metrics during training
  double regression_threshold = 2.0;          // regression accuracy / ROC-AUC during training

  int threads = 0;
  bool overwrite_output_dir = false;
  std::string resume_from_checkpoint;  // "": the latest checkpoint in output_dir, if any
  TrainerCallbacks callbacks;          // progress, logs and stopping (not part of to_json)

  // Checks values and combinations (as TrainingArguments.__post_init__ does); throws medenc::Error.
  void validate() const;
  nlohmann::ordered_json to_json() const;
};

struct TrainSummary {
  bool stopped = false;         // ended by should_stop (a checkpoint was saved; no final model written)
  std::string last_checkpoint;  // the folder of the last checkpoint written
  int64_t global_step = 0;
  double train_loss = 0;
  double seconds = 0;
  bool resumed = false;
  std::string best_model_checkpoint;
  std::unique_ptr<TrainableEncoder> model;  // the final model, as written to the output folder
};

// Runs training to completion (or early stop), writing checkpoints and the final model.
TrainSummary train(const TrainingArguments& args);

// What `medenc train` prints and medenc.train returns: output_dir, global_step, train_loss,
// train_runtime, resumed, stopped, and last_checkpoint / best_model_checkpoint when there are some.
nlohmann::ordered_json summary_json(const std::string& output_dir, const TrainSummary& summary);

}  // namespace medenc
