#pragma once
// Pieces of forward_train shared by the model families: dropout sites, the rows a head trains on, and
// the loss Hugging Face picks for a head.
#include <cstdint>
#include <vector>

#include "medenc/config.h"
#include "medenc/model.h"
#include "medenc/train.h"
#include "ops/ops_backward.h"

namespace medenc {

// Dropout of one site of the network for one step: probability p when training-mode dropout is on,
// with a seed mixed from the step seed and the site number (so every site draws its own mask).
ops::Dropout dropout_site(double p, bool enabled, uint64_t seed, uint64_t site);

// Token and masked-LM heads need one class label per packed token; throws medenc::Error otherwise.
void check_token_labels(HeadKind kind, const TrainLabels& labels, int64_t tokens);

// Packed rows whose label is not -100 (the rows a masked-LM head computes logits for).
std::vector<int64_t> labelled_rows(const std::vector<int32_t>& classes);

// The labels of the rows a masked-LM head trains on.
std::vector<int32_t> gather_labels(const std::vector<int32_t>& classes, const std::vector<int64_t>& index);

// The loss of R x C logits, chosen as Hugging Face does (cross-entropy over row_labels for token and
// masked-LM heads; for sequence heads by problem type: unset means regression for one label, else
// single-label with class labels and multi-label with float labels), packaged as forward_train returns
// it (with a copy of the logits when keep_logits). d loss / d logits goes to dlogits [R, C].
TrainOutput head_loss(const HeadConfig& head, const Batch& batch, const TrainLabels& labels,
                      const std::vector<int32_t>& row_labels, const float* logits, int64_t R, int64_t C,
                      bool keep_logits, float* dlogits);

}  // namespace medenc
