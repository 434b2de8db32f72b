// AdamW with torch.optim.AdamW's single-tensor arithmetic (torch 1.13); the update itself is
// ops::adamw_step.
#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/train.h"
#include "ops/ops_backward.h"

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
  std::vector<ops::ParamRange> tensors;
  tensors.reserve(params.specs().size());
  for (size_t i = 0; i < params.specs().size(); ++i) {
    const ParamSpec& s = params.specs()[i];
    tensors.push_back({(int64_t)s.offset, (int64_t)s.numel, decays_[i] != 0});
  }
  ops::AdamWStep hp;
  hp.lr = lr;
  hp.beta1 = options_.beta1;
  hp.beta2 = options_.beta2;
  hp.eps = options_.eps;
  hp.weight_decay = options_.weight_decay;
  hp.step = step_;
  ops::adamw_step(ops::Context{}, params.data(), grads.data(), m_.data(), v_.data(), tensors, hp);
}

}  // namespace medenc
