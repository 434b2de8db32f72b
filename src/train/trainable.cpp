// What every trainable model shares: the gradient buffer, and loading a checkpoint for training.
#include <algorithm>

#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/train.h"

namespace medenc {

std::vector<float>& TrainableEncoder::gradients() {
  if (grads_.size() != parameters().total()) grads_.assign(parameters().total(), 0.0f);
  return grads_;
}

void TrainableEncoder::zero_grad() {
  std::vector<float>& g = gradients();
  std::fill(g.begin(), g.end(), 0.0f);
}

std::unique_ptr<TrainableEncoder> load_trainable(const std::string& dir, const LoadOptions& options) {
  std::unique_ptr<Encoder> model = load_encoder(dir, options);
  if (auto* trainable = dynamic_cast<TrainableEncoder*>(model.get())) {
    model.release();
    return std::unique_ptr<TrainableEncoder>(trainable);
  }
  throw Error(fmt::format("{}: training is not available for {} models yet", dir, family_name(model->info().family)));
}

}  // namespace medenc
