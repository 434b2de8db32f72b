#include "models/encoder_common.h"

#include <algorithm>

#include <fmt/format.h>

#include "medenc/error.h"
#include "models/common.h"
#include "train/train_common.h"

namespace medenc {

ops::Context context_from(const LoadOptions& options) {
  ops::Context ctx;
  ctx.compute = options.int8 ? ops::ComputeType::INT8 : options.bf16 ? ops::ComputeType::BF16 : ops::ComputeType::F32;
  ctx.deterministic = options.deterministic;
  return ctx;
}

ops::Context head_context(const ops::Context& ctx) {
  ops::Context head = ctx;
  if (head.compute == ops::ComputeType::INT8) head.compute = ops::ComputeType::F32;
  return head;
}

ops::LinearWeights linear_weights(const ParameterSet& ps, size_t w, size_t b, int64_t in, int64_t out) {
  ops::LinearWeights x;
  x.weight = param_or_null(ps, w);
  x.bias = param_or_null(ps, b);
  x.in = in;
  x.out = out;
  return x;
}

void ActivationArena::layout(const std::vector<std::pair<float**, size_t>>& table) {
  size_t total = 0;
  for (const auto& [tensor, size] : table) total += size;
  if (memory_.size() < total) memory_.resize(total);
  size_t offset = 0;
  for (const auto& [tensor, size] : table) {
    *tensor = memory_.data() + offset;
    offset += size;
  }
}

void EncoderActivations::begin(const Batch& b, const TrainOptions& options) {
  filled = false;
  batch = b;
  sequence_positions(b, positions);
  seed = options.seed;
  dropout = options.dropout;
}

void EncoderActivations::set_head(HeadRows rows, int64_t H) {
  head = std::move(rows);
  const size_t n = (size_t)(head.count * H);
  head_pre.resize(n);
  head_act.resize(n);
  head_out.resize(n);
}

TrainOutput EncoderActivations::finish(const HeadConfig& config, const TrainLabels& labels,
                                       std::vector<float>&& logits, int64_t C, bool keep_logits) {
  TrainOutput out = head_loss(config, batch, labels, head.labels, std::move(logits), head.count, C, keep_logits, dlogits);
  filled = true;
  return out;
}

size_t EncoderActivations::bytes() const {
  const size_t head_floats = head.in.size() + head_pre.size() + head_act.size() + head_out.size() + dlogits.size();
  return arena.bytes() + head_floats * sizeof(float);
}

GradientSlices::GradientSlices(const EncoderActivations& saved, std::span<float> gradients, const ParameterSet& ps)
    : base(gradients.data()), ps(ps) {
  if (!saved.filled) throw Error("backward() needs a forward_train() first");
  if (gradients.size() != ps.total()) throw Error("internal: the gradient buffer does not match the parameters");
}

HeadRows inference_head_rows(HeadKind kind, const Batch& batch, const float* hidden, int64_t H, bool mean_pool,
                             const std::vector<int64_t>& mlm_rows) {
  const int64_t N = batch.tokens();
  HeadRows r;
  if (kind == HeadKind::SequenceClassification) {
    r.count = batch.size();
    r.in = pool_sequences(batch, hidden, H, mean_pool);
  } else if (kind == HeadKind::MaskedLM && !mlm_rows.empty()) {
    for (const int64_t t : mlm_rows)
      if (t < 0 || t >= N) throw Error(fmt::format("masked-LM row {} is outside the batch ({} tokens)", t, N));
    r.index = mlm_rows;
    r.count = (int64_t)mlm_rows.size();
    r.in = gather_rows(hidden, r.index, H);
  } else {
    r.count = N;
    r.in.assign(hidden, hidden + N * H);
  }
  return r;
}

HeadRows training_head_rows(HeadKind kind, const Batch& batch, const float* hidden, int64_t H, bool mean_pool,
                            const TrainLabels& labels) {
  const int64_t N = batch.tokens();
  HeadRows r;
  if (kind == HeadKind::SequenceClassification) {
    r.count = batch.size();
    r.in = pool_sequences(batch, hidden, H, mean_pool);
  } else if (kind == HeadKind::TokenClassification) {
    r.count = N;
    r.in.assign(hidden, hidden + N * H);
    r.labels = labels.classes;
  } else {
    r.index = labelled_rows(labels.classes);
    r.count = (int64_t)r.index.size();
    r.in = gather_rows(hidden, r.index, H);
    r.labels = gather_labels(labels.classes, r.index);
  }
  return r;
}

void route_head_gradient(const ops::Context& ctx, HeadKind kind, const Batch& batch, const HeadRows& rows,
                         const float* d_rows, float* dhidden, int64_t H, bool mean_pool) {
  const int64_t N = batch.tokens();
  if (kind == HeadKind::SequenceClassification) {
    std::fill(dhidden, dhidden + N * H, 0.0f);
    ops::pool_backward(ctx, batch.offsets.data(), batch.size(), d_rows, dhidden, H, mean_pool);
  } else if (kind == HeadKind::TokenClassification) {
    if (d_rows != dhidden) std::copy(d_rows, d_rows + N * H, dhidden);
  } else {
    scatter_rows(d_rows, rows.index, H, dhidden, N);
  }
}

}  // namespace medenc
