#include "models/encoder_common.h"

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

int64_t table_floats(const SizeTable& table) {
  int64_t floats = 0;
  for (const ops::Arena::Slot& slot : table) floats += slot.numel;
  return floats;
}

void EncoderActivations::begin(const Batch& b, const TrainOptions& options, HeadRows rows) {
  filled = false;
  batch = b;
  sequence_positions(b, positions);
  seed = options.seed;
  dropout = options.dropout;
  head = std::move(rows);
}

void EncoderActivations::add_head_slots(SizeTable& table, int64_t H, int64_t C) {
  for (float** t : {&head_rows, &head_pre, &head_act, &head_out, &d_head_out, &d_head_pre})
    table.push_back({t, head.count * H});
  for (float** t : {&logits, &dlogits, &scaled_dlogits}) table.push_back({t, head.count * C});
}

TrainOutput EncoderActivations::finish(const HeadConfig& config, const TrainLabels& labels, int64_t C,
                                       bool keep_logits) {
  TrainOutput out = head_loss(config, batch, labels, head.labels, logits, head.count, C, keep_logits, dlogits);
  filled = true;
  return out;
}

const float* EncoderActivations::start_backward(const ops::Context& ctx, int64_t C, float loss_scale) {
  ops::copy(ctx, dlogits, scaled_dlogits, head.count * C);
  ops::scale(ctx, scaled_dlogits, head.count * C, loss_scale);
  return scaled_dlogits;
}

size_t EncoderActivations::bytes() const { return (size_t)arena.capacity() * sizeof(float); }

GradientSlices::GradientSlices(const EncoderActivations& saved, std::span<float> gradients, const ParameterSet& ps)
    : base(gradients.data()), ps(ps) {
  if (!saved.filled) throw Error("backward() needs a forward_train() first");
  if (gradients.size() != ps.total()) throw Error("internal: the gradient buffer does not match the parameters");
}

HeadRows inference_head_rows(HeadKind kind, const Batch& batch, const std::vector<int64_t>& mlm_rows) {
  const int64_t N = batch.tokens();
  HeadRows r;
  if (kind == HeadKind::SequenceClassification) {
    r.count = batch.size();
  } else if (kind == HeadKind::MaskedLM && !mlm_rows.empty()) {
    for (const int64_t t : mlm_rows)
      if (t < 0 || t >= N) throw Error(fmt::format("masked-LM row {} is outside the batch ({} tokens)", t, N));
    r.index = mlm_rows;
    r.count = (int64_t)mlm_rows.size();
  } else {
    r.count = N;
  }
  return r;
}

HeadRows training_head_rows(HeadKind kind, const Batch& batch, const TrainLabels& labels) {
  HeadRows r;
  if (kind == HeadKind::SequenceClassification) {
    r.count = batch.size();
  } else if (kind == HeadKind::TokenClassification) {
    r.count = batch.tokens();
    r.labels = labels.classes;
  } else {
    r.index = labelled_rows(labels.classes);
    r.count = (int64_t)r.index.size();
    r.labels = gather_labels(labels.classes, r.index);
  }
  return r;
}

const float* head_input(const ops::Context& ctx, HeadKind kind, const Batch& batch, const HeadRows& rows,
                        const float* hidden, int64_t H, bool mean_pool, float* buffer) {
  if (kind == HeadKind::SequenceClassification) {
    ops::pool(ctx, hidden, batch.offsets.data(), batch.size(), H, mean_pool ? ops::Pool::MeanF32 : ops::Pool::Cls,
              buffer);
    return buffer;
  }
  if (kind == HeadKind::MaskedLM && !rows.index.empty()) {
    ops::gather_rows(ctx, hidden, H, rows.index.data(), rows.count, buffer);
    return buffer;
  }
  return hidden;
}

void route_head_gradient(const ops::Context& ctx, HeadKind kind, const Batch& batch, const HeadRows& rows,
                         const float* d_rows, float* dhidden, int64_t H, bool mean_pool) {
  const int64_t N = batch.tokens();
  if (kind == HeadKind::SequenceClassification) {
    ops::fill(ctx, dhidden, N * H, 0.0f);
    ops::pool_backward(ctx, batch.offsets.data(), batch.size(), d_rows, dhidden, H, mean_pool);
  } else if (kind == HeadKind::TokenClassification) {
    ops::copy(ctx, d_rows, dhidden, N * H);
  } else {
    ops::fill(ctx, dhidden, N * H, 0.0f);
    ops::scatter_rows(ctx, d_rows, H, rows.index.data(), rows.count, dhidden);
  }
}

}  // namespace medenc
