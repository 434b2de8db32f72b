#pragma once
// Fine-tuning core: losses as Hugging Face computes them, trainable models (forward with saved
// activations, exact backward into a gradient buffer laid out like the parameters), AdamW identical to
// torch.optim.AdamW, global-norm gradient clipping and Hugging Face's learning-rate schedules.
//
// One optimizer step with gradient accumulation over `k` micro-batches (TrainingSession below holds
// the activations, gradients and optimizer state):
//   session.zero_grad();
//   for each micro-batch: session.forward_train(batch, labels, {...}); session.backward(1.0f / k);
//   clip_grad_norm(session.gradients(), max_norm);
//   session.step(schedule.lr(step));   // AdamW, then model.parameters_changed()
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "medenc/model.h"
#include "medenc/parameters.h"

namespace medenc {

// ---------------------------------------------------------------------------------------------
// Losses. Each returns the mean loss (accumulated in double) and, when grad is non-null, writes
// d loss / d logits times grad_scale into grad (same shape as logits).

// Mean squared error over all elements (regression; Hugging Face squeezes [B, 1] to [B], same mean).
double mse_loss(std::span<const float> logits, std::span<const float> targets, float* grad, float grad_scale = 1.0f);
// BCEWithLogitsLoss, mean over all elements (multi-label classification; targets in [0, 1]).
double bce_with_logits_loss(std::span<const float> logits, std::span<const float> targets, float* grad,
                            float grad_scale = 1.0f);
// Cross-entropy over rows of `classes` logits, mean over the rows whose label is not ignore_index.
// A label outside [0, classes) that is not ignore_index throws medenc::Error naming the row. With no
// labelled row at all the loss is 0 and the gradient 0 (torch would give NaN).
double cross_entropy_loss(const float* logits, int64_t rows, int64_t classes, std::span<const int32_t> labels,
                          float* grad, float grad_scale = 1.0f, int32_t ignore_index = -100);

// ---------------------------------------------------------------------------------------------
// Trainable models

// Labels for one batch; the model picks the loss from its head and problem type, as Hugging Face does.
//  - sequence regression:   values [B] (one label) or [B, C]              -> MSE
//  - sequence multi-label:  values [B, C] (floats in [0, 1])              -> BCE-with-logits
//  - sequence single-label: classes [B]                                   -> cross-entropy
//  - token classification:  classes [tokens] (packed like the batch), -100 = ignored -> cross-entropy
//  - masked LM:             classes [tokens], -100 = not masked            -> cross-entropy at masked rows
// With problem_type unset: one label -> regression; otherwise classes -> single-label, values -> multi-label.
struct TrainLabels {
  std::vector<float> values;
  std::vector<int32_t> classes;
};

struct TrainOptions {
  bool dropout = true;  // training-mode dropout with the config's probabilities (false: eval-mode forward)
  uint64_t seed = 0;    // dropout stream; use a different seed per step (e.g. mix in the step number)
  bool keep_logits = false;
};

struct TrainOutput {
  double loss = 0.0;
  int64_t logits_rows = 0;  // [B, C] | [tokens, C] | [masked rows, V]
  int64_t logits_cols = 0;
  std::vector<float> logits;  // filled when TrainOptions::keep_logits
};

// What a training session keeps between forward_train and backward: the saved activations and the
// backward pass's scratch, laid out by the model family (one arena cut by a size table).
class TrainingActivations {
 public:
  virtual ~TrainingActivations() = default;
  virtual size_t bytes() const = 0;
};

class TrainingSession;

// A model that can be trained. It holds the weights only; the training state (activations, gradients,
// optimizer state) lives in a TrainingSession. The weights change under training, so a model being
// trained belongs to one session and is not run by others at the same time.
class TrainableEncoder : public Encoder {
 public:
  TrainableEncoder();
  ~TrainableEncoder() override;
  virtual ParameterSet& parameters() = 0;
  virtual const ParameterSet& parameters() const = 0;
  // Empty activations for this model (sized by forward_train).
  virtual std::unique_ptr<TrainingActivations> make_activations() const = 0;
  // Forward pass that keeps what backward() needs in `saved`; returns the loss of this batch.
  virtual TrainOutput forward_train(const Batch& batch, const TrainLabels& labels, const TrainOptions& options,
                                    TrainingActivations& saved) const = 0;
  // Adds d(loss_scale * loss)/d(parameters) of the forward_train that filled `saved` to grads (laid out
  // like parameters()).
  virtual void backward(TrainingActivations& saved, std::span<float> grads, float loss_scale) const = 0;
  // Call after the parameters change (derived weight copies are rebuilt).
  virtual void parameters_changed() = 0;
  // Bytes the saved activations of this batch take (what memory planning needs).
  virtual size_t activation_bytes(const Batch& batch) const = 0;
  // FLOPs of one training step (forward + backward) over this batch, counted as 3x forward_flops.
  double train_step_flops(const Batch& batch) const { return 3.0 * forward_flops(batch); }

  // One session's calls on the model itself (tests, benchmarks, a single caller): they run in a
  // TrainingSession the model keeps for them (created on first use).
  TrainOutput forward_train(const Batch& batch, const TrainLabels& labels, const TrainOptions& options);
  void backward(float loss_scale = 1.0f);
  std::vector<float>& gradients();
  void zero_grad();
  void release_activations();

 private:
  TrainingSession& own_session();
  std::unique_ptr<TrainingSession> own_session_;
};

// Loads a checkpoint folder as a trainable model (any supported family).
std::unique_ptr<TrainableEncoder> load_trainable(const std::string& dir, const LoadOptions& options = {});

// Random labels valid for the model's head and problem type (benchmarks, smoke tests): a value or class
// per sequence, or a class per token (masked LM: about 15% of the tokens, the rest -100).
TrainLabels synthetic_labels(const TrainableEncoder& model, const Batch& batch, uint64_t seed);

// ---------------------------------------------------------------------------------------------
// Optimizer

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  // false: Hugging Face Trainer's rule (no decay on biases and LayerNorm weights); true: decay all.
  bool decay_all = false;
};

// torch.optim.AdamW (single-tensor path, torch 1.13), fp32 state:
//   p *= 1 - lr * wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
class AdamW {
 public:
  AdamW(const ParameterSet& params, AdamWOptions options);
  void step(ParameterSet& params, std::span<const float> grads, double lr);
  int64_t steps() const { return step_; }
  const AdamWOptions& options() const { return options_; }
  // State, for saving and resuming (same layout as the parameters).
  std::vector<float>& exp_avg() { return m_; }
  std::vector<float>& exp_avg_sq() { return v_; }
  void set_steps(int64_t steps) { step_ = steps; }

 private:
  AdamWOptions options_;
  std::vector<uint8_t> decays_;  // per parameter tensor: 1 when weight decay applies
  std::vector<float> m_, v_;
  int64_t step_ = 0;
};

// torch.nn.utils.clip_grad_norm_ (norm 2): returns the total norm before clipping; scales the gradients
// by min(1, max_norm / (norm + 1e-6)). max_norm <= 0 only measures.
double clip_grad_norm(std::span<float> grads, double max_norm);

// ---------------------------------------------------------------------------------------------
// Training session

// The state of training one model: the saved activations of the last forward_train (one arena), the
// gradient buffer and, when given options, the AdamW state. One optimizer step with accumulation:
//   session.zero_grad();
//   for each micro-batch: session.forward_train(batch, labels, {...}); session.backward(1.0f / k);
//   clip_grad_norm(session.gradients(), max_norm);
//   session.step(lr);   // AdamW, then model.parameters_changed()
class TrainingSession {
 public:
  explicit TrainingSession(TrainableEncoder& model);
  TrainingSession(TrainableEncoder& model, const AdamWOptions& optimizer);
  TrainingSession(const TrainingSession&) = delete;
  TrainingSession& operator=(const TrainingSession&) = delete;

  TrainableEncoder& model() { return model_; }
  TrainOutput forward_train(const Batch& batch, const TrainLabels& labels, const TrainOptions& options = {});
  void backward(float loss_scale = 1.0f);
  // Gradient of every parameter, at the same offsets as the model's parameters (allocated, zeroed, on
  // first use).
  std::vector<float>& gradients();
  void zero_grad();
  // Frees the saved activations (they are otherwise kept for reuse by the next batch).
  void release_activations();
  size_t activations_bytes() const { return saved_ ? saved_->bytes() : 0; }
  // AdamW step over the gradients, then parameters_changed(); needs the optimizer constructor.
  void step(double lr);
  AdamW& optimizer();

 private:
  TrainableEncoder& model_;
  std::unique_ptr<TrainingActivations> saved_;
  std::vector<float> grads_;
  std::unique_ptr<AdamW> optimizer_;
};

// ---------------------------------------------------------------------------------------------
// Learning-rate schedules (transformers.get_scheduler)

enum class ScheduleKind { Linear, Cosine, Constant, ConstantWithWarmup };
ScheduleKind parse_schedule(const std::string& name);  // "linear" | "cosine" | "constant" | "constant_with_warmup"

struct LrSchedule {
  ScheduleKind kind = ScheduleKind::Linear;
  double base_lr = 5e-5;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;
  // Learning rate of optimizer step `step` (0-based), i.e. base_lr * lr_lambda(step).
  double lr(int64_t step) const;
};

// TrainingArguments.get_warmup_steps: ceil(total_steps * ratio).
int64_t warmup_steps_from_ratio(int64_t total_steps, double ratio);

// ---------------------------------------------------------------------------------------------
// Benchmarking

// One optimizer step (zero_grad, forward_train, backward, AdamW step, parameters_changed) timed part by part.
struct TrainStepTimes {
  double loss = 0.0;
  double forward_s = 0.0, backward_s = 0.0, optimizer_s = 0.0;
  double total_s() const { return forward_s + backward_s + optimizer_s; }
};
TrainStepTimes timed_train_step(TrainableEncoder& model, AdamW& optimizer, const Batch& batch,
                                const TrainLabels& labels, double lr, const TrainOptions& options = {});

}  // namespace medenc
