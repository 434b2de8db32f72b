// Helpers for benchmarking training: labels that fit any head, and one timed optimizer step.
#include <chrono>

#include "medenc/train.h"
#include "util/random.h"

namespace medenc {

TrainLabels synthetic_labels(const TrainableEncoder& model, const Batch& batch, uint64_t seed) {
  const HeadConfig& head = model.info().head;
  Rng rng(seed);
  TrainLabels labels;
  const int64_t classes = head.kind == HeadKind::MaskedLM ? model.info().vocab_size : head.num_labels;
  auto draw = [&] { return (int32_t)rng.below((uint64_t)classes); };
  switch (head.kind) {
    case HeadKind::Base: break;
    case HeadKind::SequenceClassification: {
      ProblemType pt = head.problem_type;
      if (pt == ProblemType::Unset) pt = classes == 1 ? ProblemType::Regression : ProblemType::SingleLabel;
      if (pt == ProblemType::SingleLabel) {
        for (int64_t b = 0; b < batch.size(); ++b) labels.classes.push_back(draw());
      } else {
        for (int64_t i = 0; i < batch.size() * classes; ++i)
          labels.values.push_back(pt == ProblemType::Regression ? (float)rng.normal() : (float)rng.below(2));
      }
      break;
    }
    case HeadKind::TokenClassification:
      for (int64_t t = 0; t < batch.tokens(); ++t) labels.classes.push_back(draw());
      break;
    case HeadKind::MaskedLM:
      for (int64_t t = 0; t < batch.tokens(); ++t) labels.classes.push_back(rng.uniform() < 0.15 ? draw() : -100);
      break;
  }
  return labels;
}

TrainStepTimes timed_train_step(TrainableEncoder& model, AdamW& optimizer, const Batch& batch,
                                const TrainLabels& labels, double lr, const TrainOptions& options) {
  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
  TrainStepTimes t;
  const auto t0 = Clock::now();
  model.zero_grad();
  t.loss = model.forward_train(batch, labels, options).loss;
  const auto t1 = Clock::now();
  model.backward();
  const auto t2 = Clock::now();
  optimizer.step(model.parameters(), model.gradients(), lr);
  model.parameters_changed();
  const auto t3 = Clock::now();
  t.forward_s = seconds(t0, t1);
  t.backward_s = seconds(t1, t2);
  t.optimizer_s = seconds(t2, t3);
  return t;
}

}  // namespace medenc
