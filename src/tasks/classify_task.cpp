// The classify job: windows -> sequence logits -> window aggregation -> output function.
#include <fmt/format.h>

#include "medenc/classify.h"
#include "medenc/error.h"

namespace medenc {

namespace {

class ClassifyTask : public Task {
 public:
  ClassifyTask(const Tokenizer& tokenizer, const ModelInfo& model, const WindowOptions& windows,
               const ClassifyOptions& options)
      : tokenizer_(tokenizer), head_(model.head), windows_(windows), options_(options) {}

  void prepare(Job& job) const override { prepare_windows(tokenizer_, job, windows_, /*with_pair=*/true, true); }

  ForwardOptions forward_options(const Batch&, std::span<Window* const>) const override {
    ForwardOptions f;
    f.want_hidden = false;
    return f;
  }

  void collect(const ForwardOutput& out, const Batch& batch, std::span<Window* const> windows) const override {
    const int64_t cols = out.logits_cols;
    if (out.logits_rows != batch.size()) throw Error("classify: the model returned no sequence logits");
    for (int64_t b = 0; b < batch.size(); ++b)
      windows[b]->values.assign(out.logits.begin() + b * cols, out.logits.begin() + (b + 1) * cols);
  }

  void finish(Job& job) const override {
    std::vector<std::span<const float>> rows;
    for (const Window& w : job.windows) rows.emplace_back(w.values);
    std::vector<float> logits = aggregate_window_logits(rows, options_.window_aggregation);
    ClassificationResult result = classify_logits(logits, head_, options_);
    result.logits = std::move(logits);
    job.result = std::move(result);
  }

 private:
  const Tokenizer& tokenizer_;
  const HeadConfig head_;
  const WindowOptions windows_;
  const ClassifyOptions options_;
};

}  // namespace

std::unique_ptr<Task> make_classify_task(const Tokenizer& tokenizer, const ModelInfo& model,
                                         const WindowOptions& windows, const ClassifyOptions& options) {
  require_head(model, HeadKind::SequenceClassification, "classify");
  if (!options.thresholds.empty() && (int)options.thresholds.size() != model.head.num_labels)
    throw Error(fmt::format("{} thresholds given for a model with {} labels", options.thresholds.size(),
                            model.head.num_labels),
                ErrorKind::InvalidInput);
  return std::make_unique<ClassifyTask>(tokenizer, model, windows, options);
}

}  // namespace medenc
