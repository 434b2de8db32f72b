// Pooling for embeddings and the embed job.
#include "medenc/embed.h"

#include <cmath>

#include <fmt/format.h>

#include "medenc/error.h"
#include "ops/ops.h"

namespace medenc {

Pooling parse_pooling(const std::string& name) {
  if (name == "cls") return Pooling::Cls;
  if (name == "mean") return Pooling::Mean;
  throw Error(fmt::format("unknown pooling '{}' (cls, mean)", name));
}

std::vector<float> pool_rows(std::span<const float> rows, int64_t hidden, Pooling pooling) {
  const int64_t n = hidden > 0 ? (int64_t)rows.size() / hidden : 0;
  std::vector<float> out((size_t)std::max<int64_t>(hidden, 0), 0.0f);
  if (n == 0) return out;
  const int64_t offsets[2] = {0, n};
  ops::pool(ops::Context{}, rows.data(), offsets, 1, hidden, pooling == Pooling::Cls ? ops::Pool::Cls : ops::Pool::Mean,
            out.data());
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
    if (job.windows.size() > 1) {  // the mean of the windows' vectors
      const int64_t dim = (int64_t)v.size(), n = (int64_t)job.windows.size();
      std::vector<float> stacked;
      stacked.reserve((size_t)(n * dim));
      for (const Window& w : job.windows) stacked.insert(stacked.end(), w.values.begin(), w.values.end());
      const int64_t offsets[2] = {0, n};
      ops::pool(ops::Context{}, stacked.data(), offsets, 1, dim, ops::Pool::Mean, v.data());
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
