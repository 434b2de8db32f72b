#pragma once
// `medenc embed`: one vector per document from the encoder's last hidden state.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "medenc/pipeline.h"

namespace medenc {

// Cls: the first row; Mean: the mean of all rows; Splade: a vocabulary-sized sparse vector from a
// masked-LM head, max over tokens of log(1 + relu(logit)) (SPLADE); Tokens: no pooling, every
// token's hidden row [tokens * hidden] (one window only).
enum class Pooling { Cls, Mean, Splade, Tokens };
Pooling parse_pooling(const std::string& name);  // "cls" | "mean" | "splade" | "tokens"
const char* pooling_name(Pooling pooling);
// The length of one pooled vector (Tokens: of each token's row): the vocabulary size for Splade
// (the masked-LM head's logits), else the hidden size.
int64_t embedding_width(const ModelInfo& model, Pooling pooling);

struct EmbedOptions {
  Pooling pooling = Pooling::Mean;
  bool normalize = false;  // unit L2 norm
};

// The pooled vector of one sequence's rows ([tokens, width]): the first row ("cls"), the mean of
// all rows, special tokens included ("mean", as sentence-transformers does), max of
// log(1 + relu(x)) per column over the rows of masked-LM logits ("splade"), or the rows themselves
// ("tokens").
std::vector<float> pool_rows(std::span<const float> rows, int64_t hidden, Pooling pooling);
// Scales v to unit L2 norm (a zero vector stays zero).
void l2_normalize(std::vector<float>& v);

// The embed job over any checkpoint (its task head, if any, is not run, except the masked-LM head
// that Splade pooling needs: Error(Unsupported) without one). A document cut into stride windows
// gets the mean of its windows' pooled vectors (Splade: their maximum; normalized afterwards);
// Tokens pooling takes no stride windows (InvalidInput).
std::unique_ptr<Task> make_embed_task(const Tokenizer& tokenizer, const ModelInfo& model, const WindowOptions& windows,
                                      const EmbedOptions& options);

}  // namespace medenc
