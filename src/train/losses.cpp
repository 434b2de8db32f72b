// Losses as torch computes them for Hugging Face heads: the inputs are checked here, the arithmetic
// is the ops' (ops_backward.h).
#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/train.h"
#include "ops/ops_backward.h"

namespace medenc {

namespace {

void check_sizes(std::span<const float> logits, std::span<const float> targets, const char* loss) {
  if (logits.size() != targets.size())
    throw Error(fmt::format("{}: {} label values for {} logits", loss, targets.size(), logits.size()));
}

}  // namespace

double mse_loss(std::span<const float> logits, std::span<const float> targets, float* grad, float grad_scale) {
  check_sizes(logits, targets, "MSE loss");
  return ops::mse_loss(ops::Context{}, logits.data(), targets.data(), (int64_t)logits.size(), grad, grad_scale);
}

double bce_with_logits_loss(std::span<const float> logits, std::span<const float> targets, float* grad,
                            float grad_scale) {
  check_sizes(logits, targets, "BCE-with-logits loss");
  return ops::bce_with_logits_loss(ops::Context{}, logits.data(), targets.data(), (int64_t)logits.size(), grad,
                                   grad_scale);
}

double cross_entropy_loss(const float* logits, int64_t rows, int64_t classes, std::span<const int32_t> labels,
                          float* grad, float grad_scale, int32_t ignore_index) {
  if ((int64_t)labels.size() != rows)
    throw Error(fmt::format("cross-entropy loss: {} labels for {} rows of logits", labels.size(), rows));
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t y = labels[(size_t)r];
    if (y != ignore_index && (y < 0 || y >= classes))
      throw Error(fmt::format("label {} of row {} is outside [0, {}) (use {} to ignore a row)", y, r, classes,
                              ignore_index));
  }
  return ops::cross_entropy_loss(ops::Context{}, logits, rows, classes, labels.data(), grad, grad_scale,
                                 ignore_index);
}

}  // namespace medenc
