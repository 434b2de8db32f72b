// What every trainable model shares: the training session (activations, gradients, optimizer state),
// the model's own session for single-caller use, and loading a checkpoint for training.
#include <algorithm>

#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/train.h"

namespace medenc {

TrainingSession::TrainingSession(TrainableEncoder& model) : model_(model) {}

TrainingSession::TrainingSession(TrainableEncoder& model, const AdamWOptions& optimizer)
    : model_(model), optimizer_(std::make_unique<AdamW>(model.parameters(), optimizer)) {}

TrainOutput TrainingSession::forward_train(const Batch& batch, const TrainLabels& labels,
                                           const TrainOptions& options) {
  if (!saved_) saved_ = model_.make_activations();
  return model_.forward_train(batch, labels, options, *saved_);
}

void TrainingSession::backward(float loss_scale) {
  if (!saved_) throw Error("backward() needs a forward_train() first");
  model_.backward(*saved_, gradients(), loss_scale);
}

std::vector<float>& TrainingSession::gradients() {
  if (grads_.size() != model_.parameters().total()) grads_.assign(model_.parameters().total(), 0.0f);
  return grads_;
}

void TrainingSession::zero_grad() {
  std::vector<float>& g = gradients();
  std::fill(g.begin(), g.end(), 0.0f);
}

void TrainingSession::release_activations() { saved_.reset(); }

void TrainingSession::step(double lr) {
  optimizer().step(model_.parameters(), gradients(), lr);
  model_.parameters_changed();
}

AdamW& TrainingSession::optimizer() {
  if (!optimizer_) throw Error("internal: this training session has no optimizer");
  return *optimizer_;
}

TrainableEncoder::TrainableEncoder() = default;
TrainableEncoder::~TrainableEncoder() = default;

TrainingSession& TrainableEncoder::own_session() {
  if (!own_session_) own_session_ = std::make_unique<TrainingSession>(*this);
  return *own_session_;
}

TrainOutput TrainableEncoder::forward_train(const Batch& batch, const TrainLabels& labels,
                                            const TrainOptions& options) {
  return own_session().forward_train(batch, labels, options);
}

void TrainableEncoder::backward(float loss_scale) { own_session().backward(loss_scale); }
std::vector<float>& TrainableEncoder::gradients() { return own_session().gradients(); }
void TrainableEncoder::zero_grad() { own_session().zero_grad(); }
void TrainableEncoder::release_activations() { own_session().release_activations(); }

std::unique_ptr<TrainableEncoder> load_trainable(const std::string& dir, const LoadOptions& options) {
  std::unique_ptr<Encoder> model = load_encoder(dir, options);
  if (auto* trainable = dynamic_cast<TrainableEncoder*>(model.get())) {
    model.release();
    return std::unique_ptr<TrainableEncoder>(trainable);
  }
  throw Error(fmt::format("{}: training is not available for {} models yet", dir, family_name(model->info().family)));
}

}  // namespace medenc
