// Loading a checkpoint folder as a trainable model.
#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/train.h"

namespace medenc {

std::unique_ptr<TrainableEncoder> load_trainable(const std::string& dir, const LoadOptions& options) {
  std::unique_ptr<Encoder> model = load_encoder(dir, options);
  if (auto* trainable = dynamic_cast<TrainableEncoder*>(model.get())) {
    model.release();
    return std::unique_ptr<TrainableEncoder>(trainable);
  }
  throw Error(fmt::format("{}: training is not available for {} models yet", dir, family_name(model->info().family)));
}

}  // namespace medenc
