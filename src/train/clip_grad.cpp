// Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_ with norm_type 2): ops::clip_grad_norm.
#include "medenc/train.h"
#include "ops/ops_backward.h"

namespace medenc {

double clip_grad_norm(std::span<float> grads, double max_norm) {
  return ops::clip_grad_norm(ops::Context{}, grads.data(), (int64_t)grads.size(), max_norm);
}

}  // namespace medenc
