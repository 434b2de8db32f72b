// AdamW with torch.optim.AdamW's single-tensor arithmetic (torch 1.13): every elementwise step is a
// float32 operation with the Python-double hyperparameters rounded to float, as torch's kernels do.
#include <cmath>

#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/train.h"

namespace medenc {

AdamW::AdamW(const ParameterSet& params, AdamWOptions options) : options_(options) {
  decays_.assign(params.total(), 0);
  for (const ParamSpec& s : params.specs()) {
    const bool decay = options_.decay_all || !s.is_bias_or_norm;
    std::fill(decays_.begin() + (ptrdiff_t)s.offset, decays_.begin() + (ptrdiff_t)(s.offset + s.numel), decay ? 1 : 0);
  }
  m_.assign(params.total(), 0.0f);
  v_.assign(params.total(), 0.0f);
}

void AdamW::step(ParameterSet& params, std::span<const float> grads, double lr) {
  const size_t n = params.total();
  if (grads.size() != n || m_.size() != n)
    throw Error(fmt::format("AdamW: {} gradients for {} parameters", grads.size(), n));
  ++step_;
  const double t = (double)step_;
  const float decay_factor = (float)(1.0 - lr * options_.weight_decay);
  const float beta1 = (float)options_.beta1, one_minus_beta1 = (float)(1.0 - options_.beta1);
  const float beta2 = (float)options_.beta2, one_minus_beta2 = (float)(1.0 - options_.beta2);
  const double bias_correction1 = 1.0 - std::pow(options_.beta1, t);
  const double bias_correction2 = 1.0 - std::pow(options_.beta2, t);
  const float neg_step_size = (float)(-(lr / bias_correction1));
  const float bias_correction2_sqrt = (float)std::sqrt(bias_correction2);
  const float eps = (float)options_.eps;
  float* p = params.data();
  const float* g = grads.data();
  float* m = m_.data();
  float* v = v_.data();
  const uint8_t* decays = decays_.data();
  #pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) {
    if (decays[i]) p[i] = p[i] * decay_factor;
    m[i] = std::fma(g[i], one_minus_beta1, m[i] * beta1);
    v[i] = v[i] * beta2 + one_minus_beta2 * g[i] * g[i];
    const float denom = std::sqrt(v[i]) / bias_correction2_sqrt + eps;
    p[i] = p[i] + neg_step_size * m[i] / denom;
  }
}

}  // namespace medenc
