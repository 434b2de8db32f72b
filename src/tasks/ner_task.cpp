// The ner job: windows -> token logits -> pipeline entities -> spans sliced from the input.
#include "medenc/error.h"
#include "medenc/ner.h"

namespace medenc {

namespace {

class NerTask : public Task {
 public:
  NerTask(const Tokenizer& tokenizer, const ModelInfo& model, const WindowOptions& windows, const NerOptions& options)
      : tokenizer_(tokenizer), windows_(windows), options_(options) {
    labeling_.id2label = model.head.id2label;
    labeling_.word_aware = tokenizer.has_continuing_subword_prefix();
    labeling_.unk_id = tokenizer.unk_id();
    labeling_.tokens_to_string = [&tokenizer](const std::vector<std::string>& t) { return tokenizer.tokens_to_string(t); };
  }

  void prepare(Job& job) const override { prepare_windows(tokenizer_, job, windows_, /*with_pair=*/false, false); }

  ForwardOptions forward_options(const Batch&, std::span<Window* const>) const override {
    ForwardOptions f;
    f.want_hidden = false;
    return f;
  }

  void collect(const ForwardOutput& out, const Batch& batch, std::span<Window* const> windows) const override {
    const int64_t L = out.logits_cols;
    if (out.logits_rows != batch.tokens()) throw Error("ner: the model returned no token logits");
    for (int64_t b = 0; b < batch.size(); ++b)
      windows[b]->values.assign(out.logits.begin() + batch.offsets[b] * L, out.logits.begin() + batch.offsets[b + 1] * L);
  }

  void finish(Job& job) const override {
    const std::vector<size_t> cp = codepoint_byte_offsets(job.doc.text);
    job.result = entity_spans(job.doc.text, cp, ner_entities(job.doc.text, cp, job.windows, labeling_, options_));
  }

 private:
  const Tokenizer& tokenizer_;
  const WindowOptions windows_;
  const NerOptions options_;
  NerLabeling labeling_;
};

}  // namespace

std::unique_ptr<Task> make_ner_task(const Tokenizer& tokenizer, const ModelInfo& model, const WindowOptions& windows,
                                    const NerOptions& options) {
  require_head(model, HeadKind::TokenClassification, "ner");
  return std::make_unique<NerTask>(tokenizer, model, windows, options);
}

}  // namespace medenc
