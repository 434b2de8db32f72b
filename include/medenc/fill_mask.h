#pragma once
// `medenc fill-mask`: the most likely tokens at every mask token of a document.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "medenc/pipeline.h"

namespace medenc {

struct FillMaskOptions {
  int top_k = 5;
};

struct TokenScore {
  int32_t token_id = 0;
  double score = 0;
};

// The k highest softmax probabilities of one logits row, best first (ties: lower id first).
std::vector<TokenScore> top_k_softmax(std::span<const float> logits, int k);

// The fill-mask job over a masked-LM checkpoint. Only the mask rows go through the vocabulary
// projection. A document without a mask token (within max_length) is an error line. Stride windows
// are not supported (throws medenc::Error).
std::unique_ptr<Task> make_fill_mask_task(const Tokenizer& tokenizer, const ModelInfo& model,
                                          const WindowOptions& windows, const FillMaskOptions& options);

}  // namespace medenc
