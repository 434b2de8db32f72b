#pragma once
// `medenc embed`: one vector per document from the encoder's last hidden state.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "medenc/pipeline.h"

namespace medenc {

enum class Pooling { Cls, Mean };
Pooling parse_pooling(const std::string& name);  // "cls" | "mean"

struct EmbedOptions {
  Pooling pooling = Pooling::Mean;
  bool normalize = false;  // unit L2 norm
};

// The pooled vector of one sequence's hidden rows ([tokens, hidden]): the first row ("cls") or
// the mean of all rows, special tokens included ("mean", as sentence-transformers does).
std::vector<float> pool_rows(std::span<const float> rows, int64_t hidden, Pooling pooling);
// Scales v to unit L2 norm (a zero vector stays zero).
void l2_normalize(std::vector<float>& v);

// The embed job over any checkpoint (its task head, if any, is not run). A document cut into
// stride windows gets the mean of its windows' pooled vectors (normalized afterwards).
std::unique_ptr<Task> make_embed_task(const Tokenizer& tokenizer, const ModelInfo& model, const WindowOptions& windows,
                                      const EmbedOptions& options);

}  // namespace medenc
