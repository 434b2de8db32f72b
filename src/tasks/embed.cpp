// Pooling for embeddings and the embed job.
#include "medenc/embed.h"

#include <cmath>

#include <fmt/format.h>

#include "medenc/error.h"

namespace medenc {

Pooling parse_pooling(const std::string& name) {
  if (name == "cls") return Pooling::Cls;
  if (name == "mean") return Pooling::Mean;
  throw Error(fmt::format("unknown pooling '{}' (cls, mean)", name));
}

std::vector<float> pool_rows(std::span<const float> rows, int64_t hidden, Pooling pooling) {
  const int64_t n = hidden > 0 ? (int64_t)rows.size() / hidden : 0;
  if (n == 0) return std::vector<float>((size_t)std::max<int64_t>(hidden, 0), 0.0f);
  if (pooling == Pooling::Cls) return std::vector<float>(rows.begin(), rows.begin() + hidden);
  std::vector<double> sum((size_t)hidden, 0.0);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t h = 0; h < hidden; ++h) sum[h] += rows[t * hidden + h];
  std::vector<float> out((size_t)hidden);
  for (int64_t h = 0; h < hidden; ++h) out[h] = (float)(sum[h] / (double)n);
  return out;
}

void l2_normalize(std::vector<float>& v) {
  double ss = 0;
  for (float x : v) ss += (double)x * x;
  if (ss <= 0) return;
  const double inv = 1.0 / std::sqrt(ss);
  for (float& x : v) x = (float)(x * inv);
}

namespace {

class EmbedTask : public Task {
 public:
  EmbedTask(const Tokenizer& tokenizer, const WindowOptions& windows, const EmbedOptions& options)
      : tokenizer_(tokenizer), windows_(windows), options_(options) {}

  void prepare(Job& job) const override { prepare_windows(tokenizer_, job, windows_, /*with_pair=*/false, true); }

  ForwardOptions forward_options(const Batch&, std::span<Window* const>) const override {
    ForwardOptions f;
    f.want_logits = false;
    return f;
  }

  void collect(const ForwardOutput& out, const Batch& batch, std::span<Window* const> windows) const override {
    const int64_t H = out.hidden_size;
    if ((int64_t)out.last_hidden_state.size() != batch.tokens() * H)
      throw Error("embed: the model returned no hidden states");
    for (int64_t b = 0; b < batch.size(); ++b) {
      std::span<const float> rows(out.last_hidden_state.data() + batch.offsets[b] * H, (size_t)(batch.length(b) * H));
      windows[b]->values = pool_rows(rows, H, options_.pooling);
    }
  }

  void finish(Job& job) const override {
    std::vector<float> v = job.windows.front().values;
    if (job.windows.size() > 1) {
      std::vector<double> sum(v.size(), 0.0);
      for (const Window& w : job.windows)
        for (size_t h = 0; h < v.size(); ++h) sum[h] += w.values[h];
      for (size_t h = 0; h < v.size(); ++h) v[h] = (float)(sum[h] / (double)job.windows.size());
    }
    if (options_.normalize) l2_normalize(v);
    job.result = std::move(v);
  }

 private:
  const Tokenizer& tokenizer_;
  const WindowOptions windows_;
  const EmbedOptions options_;
};

}  // namespace

std::unique_ptr<Task> make_embed_task(const Tokenizer& tokenizer, const ModelInfo& model, const WindowOptions& windows,
                                      const EmbedOptions& options) {
  return std::make_unique<EmbedTask>(tokenizer, windows, options);
}

}  // namespace medenc
