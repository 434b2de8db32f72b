// AdamW with torch.optim.AdamW's single-tensor arithmetic (torch 1.13): every elementwise step is a
// float32 operation with the Python-double hyperparameters rounded to float, as torch's kernels do.
#include <cmath>

#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/train.h"
#include "ops/cpu/backward_kernels.h"

namespace medenc {

AdamW::AdamW(const ParameterSet& params, AdamWOptions options) : options_(options) {
  for (const ParamSpec& s : params.specs()) decays_.push_back(options_.decay_all || !s.is_bias_or_norm ? 1 : 0);
  m_.assign(params.total(), 0.0f);
  v_.assign(params.total(), 0.0f);
}

void AdamW::step(ParameterSet& params, std::span<const float> grads, double lr) {
  const size_t n = params.total();
  if (grads.size() != n || m_.size() != n || decays_.size() != params.specs().size())
    throw Error(fmt::format("AdamW: {} gradients for {} parameters", grads.size(), n));
  ++step_;
  const double t = (double)step_;
  ops::cpu::AdamWConstants k;
  k.decay_factor = (float)(1.0 - lr * options_.weight_decay);
  k.beta1 = (float)options_.beta1;
  k.one_minus_beta1 = (float)(1.0 - options_.beta1);
  k.beta2 = (float)options_.beta2;
  k.one_minus_beta2 = (float)(1.0 - options_.beta2);
  k.neg_step_size = (float)(-(lr / (1.0 - std::pow(options_.beta1, t))));
  k.bias_correction2_sqrt = (float)std::sqrt(1.0 - std::pow(options_.beta2, t));
  k.eps = (float)options_.eps;
  // Work in fixed slices of the flat buffer, each inside one tensor, so large and small tensors spread
  // evenly over the threads.
  constexpr size_t kSlice = 1 << 16;
  struct Slice {
    size_t begin, end;
    float decay_factor;
  };
  std::vector<Slice> slices;
  for (size_t i = 0; i < params.specs().size(); ++i) {
    const ParamSpec& s = params.specs()[i];
    const float f = decays_[i] ? k.decay_factor : 1.0f;
    for (size_t b = s.offset; b < s.offset + s.numel; b += kSlice)
      slices.push_back({b, std::min(s.offset + s.numel, b + kSlice), f});
  }
  float* p = params.data();
  const float* g = grads.data();
  #pragma omp parallel for schedule(static)
  for (size_t i = 0; i < slices.size(); ++i) {
    const Slice& s = slices[i];
    ops::cpu::adamw_update(p + s.begin, g + s.begin, m_.data() + s.begin, v_.data() + s.begin, s.end - s.begin, s.decay_factor,
                 k);
  }
}

}  // namespace medenc
