// Top-k tokens at mask positions, and the fill-mask job.
#include "medenc/fill_mask.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>

#include <fmt/format.h>

#include "medenc/error.h"
#include "tasks/spans.h"

namespace medenc {

std::vector<TokenScore> top_k_softmax(std::span<const float> logits, int k) {
  const size_t n = logits.size();
  if (n == 0 || k <= 0) return {};
  const double m = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float x : logits) sum += std::exp((double)x - m);
  std::vector<int32_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  const size_t kk = std::min<size_t>((size_t)k, n);
  std::partial_sort(idx.begin(), idx.begin() + kk, idx.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  std::vector<TokenScore> out(kk);
  for (size_t i = 0; i < kk; ++i) out[i] = {idx[i], std::exp((double)logits[idx[i]] - m) / sum};
  return out;
}

namespace {

// values of a window: for each mask token, top_k pairs (token id, probability) stored as floats
// (ids are below 2^24, so exact).
class FillMaskTask : public Task {
 public:
  FillMaskTask(const Tokenizer& tokenizer, int32_t mask_id, const WindowOptions& windows, const FillMaskOptions& options)
      : tokenizer_(tokenizer), mask_id_(mask_id), windows_(windows), options_(options) {}

  void prepare(Job& job) const override {
    prepare_windows(tokenizer_, job, windows_, /*with_pair=*/false, false);
    if (mask_positions(job.windows.front().enc).empty())
      throw Error(fmt::format("no mask token {} in the text{}", tokenizer_.mask_token(),
                              job.truncated ? fmt::format(" (within its first {} tokens)", windows_.max_length) : ""));
  }

  ForwardOptions forward_options(const Batch& batch, std::span<Window* const> windows) const override {
    ForwardOptions f;
    f.want_hidden = false;
    for (int64_t b = 0; b < batch.size(); ++b)
      for (int64_t p : mask_positions(windows[b]->enc)) f.mlm_rows.push_back(batch.offsets[b] + p);
    return f;
  }

  void collect(const ForwardOutput& out, const Batch& batch, std::span<Window* const> windows) const override {
    const int64_t V = out.logits_cols;
    int64_t row = 0;
    for (int64_t b = 0; b < batch.size(); ++b) {
      std::vector<float>& values = windows[b]->values;
      values.clear();
      for (size_t m = 0; m < mask_positions(windows[b]->enc).size(); ++m, ++row) {
        if (row >= out.logits_rows) throw Error("fill-mask: the model returned too few masked-LM rows");
        for (const TokenScore& t : top_k_softmax({out.logits.data() + row * V, (size_t)V}, options_.top_k)) {
          values.push_back((float)t.token_id);
          values.push_back((float)t.score);
        }
      }
    }
  }

  void finish(Job& job) const override {
    const Window& w = job.windows.front();
    const std::vector<int64_t> masks = mask_positions(w.enc);
    const std::vector<size_t> cp = codepoint_byte_offsets(job.doc.text);
    const size_t pairs = masks.empty() ? 0 : w.values.size() / (2 * masks.size());
    std::vector<MaskPredictions> list;
    for (size_t m = 0; m < masks.size(); ++m) {
      MaskPredictions& entry = list.emplace_back();
      for (size_t k = 0; k < pairs; ++k) {
        const size_t i = 2 * (m * pairs + k);
        const int32_t id = (int32_t)w.values[i];
        entry.predictions.push_back(
            {tokenizer_.decode(std::span<const int32_t>(&id, 1), /*skip_special=*/false), id, w.values[i + 1]});
      }
      // The mask's span without the spaces an lstrip mask token absorbs.
      std::tie(entry.start, entry.end) =
          trim_whitespace(job.doc.text, cp, w.enc.offsets[masks[m]].first, w.enc.offsets[masks[m]].second);
    }
    job.result = std::move(list);
  }

 private:
  std::vector<int64_t> mask_positions(const Encoding& e) const {
    std::vector<int64_t> p;
    for (size_t i = 0; i < e.ids.size(); ++i)
      if (e.ids[i] == mask_id_) p.push_back((int64_t)i);
    return p;
  }

  const Tokenizer& tokenizer_;
  const int32_t mask_id_;
  const WindowOptions windows_;
  const FillMaskOptions options_;
};

}  // namespace

std::unique_ptr<Task> make_fill_mask_task(const Tokenizer& tokenizer, const ModelInfo& model,
                                          const WindowOptions& windows, const FillMaskOptions& options) {
  require_head(model, HeadKind::MaskedLM, "fill-mask");
  if (windows.stride > 0) throw Error("medenc fill-mask does not take --stride (use --max-length)");
  if (options.top_k <= 0) throw Error("--top-k must be positive");
  const std::optional<int32_t> mask = tokenizer.mask_id();
  if (!mask) throw Error("the tokenizer has no mask token");
  return std::make_unique<FillMaskTask>(tokenizer, *mask, windows, options);
}

}  // namespace medenc
