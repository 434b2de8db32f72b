// Pooling for embeddings and the embed job.
#include "medenc/embed.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "medenc/error.h"
#include "ops/ops.h"

namespace medenc {

Pooling parse_pooling(const std::string& name) {
  if (name == "cls") return Pooling::Cls;
  if (name == "mean") return Pooling::Mean;
  if (name == "splade") return Pooling::Splade;
  if (name == "tokens") return Pooling::Tokens;
  throw Error(fmt::format("unknown pooling '{}' (cls, mean, splade, tokens)", name));
}

const char* pooling_name(Pooling pooling) {
  switch (pooling) {
    case Pooling::Cls: return "cls";
    case Pooling::Mean: return "mean";
    case Pooling::Splade: return "splade";
    case Pooling::Tokens: return "tokens";
  }
  return "mean";
}

int64_t embedding_width(const ModelInfo& model, Pooling pooling) {
  return pooling == Pooling::Splade ? model.vocab_size : model.hidden_size;
}

std::vector<float> pool_rows(std::span<const float> rows, int64_t hidden, Pooling pooling) {
  const int64_t n = hidden > 0 ? (int64_t)rows.size() / hidden : 0;
  std::vector<float> out((size_t)std::max<int64_t>(hidden, 0), 0.0f);
  if (n == 0) return out;
  if (pooling == Pooling::Tokens) return std::vector<float>(rows.begin(), rows.end());
  const int64_t offsets[2] = {0, n};
  const ops::Pool op = pooling == Pooling::Cls ? ops::Pool::Cls : pooling == Pooling::Splade ? ops::Pool::Max : ops::Pool::Mean;
  ops::pool(ops::Context{}, rows.data(), offsets, 1, hidden, op, out.data());
  // SPLADE: log1p(relu(x)) is monotonic, so the max of the activations is the activation of the max.
  if (pooling == Pooling::Splade)
    for (float& x : out) x = (float)std::log1p((double)std::max(x, 0.0f));
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
    const bool splade = options_.pooling == Pooling::Splade;
    f.want_logits = splade;  // every token's vocabulary logits
    f.want_hidden = !splade;
    return f;
  }

  void collect(const ForwardOutput& out, const Batch& batch, std::span<Window* const> windows) const override {
    const bool splade = options_.pooling == Pooling::Splade;
    const int64_t W = splade ? out.logits_cols : out.hidden_size;
    const std::vector<float>& rows = splade ? out.logits : out.last_hidden_state;
    if ((int64_t)rows.size() != batch.tokens() * W)
      throw Error(ErrorKind::Internal, splade ? "embed: the model returned no token logits"
                                              : "embed: the model returned no hidden states");
    for (int64_t b = 0; b < batch.size(); ++b) {
      std::span<const float> window(rows.data() + batch.offsets[b] * W, (size_t)(batch.length(b) * W));
      windows[b]->values = pool_rows(window, W, options_.pooling);
    }
  }

  void finish(Job& job) const override {
    std::vector<float> v = job.windows.front().values;
    if (job.windows.size() > 1) {  // windows merge as their tokens do: the max for SPLADE, else the mean
      const int64_t dim = (int64_t)v.size(), n = (int64_t)job.windows.size();
      std::vector<float> stacked;
      stacked.reserve((size_t)(n * dim));
      for (const Window& w : job.windows) stacked.insert(stacked.end(), w.values.begin(), w.values.end());
      const int64_t offsets[2] = {0, n};
      ops::pool(ops::Context{}, stacked.data(), offsets, 1, dim,
                options_.pooling == Pooling::Splade ? ops::Pool::Max : ops::Pool::Mean, v.data());
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
  if (options.pooling == Pooling::Splade) require_head(model, HeadKind::MaskedLM, "embed --pooling splade");
  if (options.pooling == Pooling::Tokens && windows.stride > 0)
    throw Error(ErrorKind::InvalidInput, "token embeddings (no pooling) take no stride windows");
  return std::make_unique<EmbedTask>(tokenizer, windows, options);
}

}  // namespace medenc
