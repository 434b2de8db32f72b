#pragma once
// Scaffolding every encoder family shares around its own layer math: the op context from the load
// options, parameter look-ups resolved once (linear and norm weights), the dropout sites of a training
// step, the rows a task head runs on (pooled sequences, every token, or masked-LM rows) in inference
// and training with the way their gradient goes back to the token rows, and what every family's
// training activations hold (an ops::Arena cut by a size table, the head rows, the gradient slices).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "medenc/config.h"
#include "medenc/model.h"
#include "medenc/parameters.h"
#include "medenc/train.h"
#include "ops/ops.h"
#include "ops/ops_backward.h"

namespace medenc {

// Parameter index of a tensor the architecture does not have.
inline constexpr size_t kNoParam = (size_t)-1;

// The op context a model's passes run in.
ops::Context context_from(const LoadOptions& options);
// The task heads' context: under int8 they stay fp32 (under 1% of the FLOPs; quantizing them costs
// accuracy for nothing).
ops::Context head_context(const ops::Context& ctx);

// Pointer to a declared tensor's values, or null for kNoParam.
inline const float* param_or_null(const ParameterSet& ps, size_t i) { return i == kNoParam ? nullptr : ps.at(i); }

// A linear layer's weights (index w, optional bias b) resolved to pointers.
ops::LinearWeights linear_weights(const ParameterSet& ps, size_t w, size_t b, int64_t in, int64_t out);

// A norm layer: parameter indices (for gradients) and its weights resolved once, like LinearWeights.
struct NormWeights {
  size_t w = kNoParam, b = kNoParam;
  const float* weight = nullptr;
  const float* bias = nullptr;  // null: the norm has no bias
  void resolve(const ParameterSet& ps) {
    weight = param_or_null(ps, w);
    bias = param_or_null(ps, b);
  }
};

// Initialisation: tensor i (kNoParam: none) set element by element from draw(), the host RNG stream
// (sequential, so a seed gives the same weights on every platform and thread count).
template <class Draw>
void draw_parameter(ParameterSet& ps, size_t i, Draw draw) {
  if (i == kNoParam) return;
  float* p = ps.at(i);
  for (size_t k = 0; k < ps.specs()[i].numel; ++k) p[k] = (float)draw();
}

// Dropout sites of one training step, each with its own mask: embeddings, classifier, then three per
// layer (site layer_site(l, k), k = 0, 1, 2).
enum DropoutSite : uint64_t { kEmbeddingDrop = 0, kClassifierDrop = 1, kLayerSites = 2 };
inline uint64_t layer_site(int64_t layer, int k) { return kLayerSites + 3 * (uint64_t)layer + (uint64_t)k; }

// The rows a task head runs on: how many and which (known before the encoder runs, so their buffers
// are slots of the same size table as the encoder's).
struct HeadRows {
  int64_t count = 0;            // R
  std::vector<int64_t> index;   // masked LM: the packed token row of each head row (empty: every token)
  std::vector<int32_t> labels;  // token and masked-LM heads: one class per head row (training)
};

// Inference: pooled sequences for sequence heads, the requested packed rows for a masked-LM head given
// mlm_rows (an error names a row outside the batch), every token otherwise.
HeadRows inference_head_rows(HeadKind kind, const Batch& batch, const std::vector<int64_t>& mlm_rows);
// Training: pooled sequences, every token with its class, or (masked LM) the labelled tokens only.
HeadRows training_head_rows(HeadKind kind, const Batch& batch, const TrainLabels& labels);
// The head's [R, H] input rows from the final hidden states: each sequence pooled into `buffer` (its
// first row, or the mean with mean_pool), the listed rows gathered into it, or (every token) hidden
// itself, uncopied.
const float* head_input(const ops::Context& ctx, HeadKind kind, const Batch& batch, const HeadRows& rows,
                        const float* hidden, int64_t H, bool mean_pool, float* buffer);

// A size table (llm.c's ActivationTensors): named tensors and their floats, laid out by ops::Arena.
using SizeTable = std::vector<ops::Arena::Slot>;
// Floats a size table asks for (before the arena's alignment).
int64_t table_floats(const SizeTable& table);

// What every family's training activations hold beside its own tensors: the batch and its dropout
// stream, the one arena of the training session, and the head's tensors (their row count follows from
// the labels, known before the forward pass). A family's Activations derive from it; its size table
// lists its own tensors and then add_head_slots(), and one arena.layout() points them all.
struct EncoderActivations : TrainingActivations {
  Batch batch;
  std::vector<int32_t> positions;
  uint64_t seed = 0;
  bool dropout = false;
  bool filled = false;  // a forward_train has run to its loss
  ops::Arena arena;     // every tensor below and the family's own, cut by the family's size table
  HeadRows head;        // the rows through the head
  const float* head_in = nullptr;  // [R, H] the head's input (head_rows, or the hidden states themselves)
  float *head_rows = nullptr, *head_pre = nullptr, *head_act = nullptr, *head_out = nullptr;  // [R, H]
  float *d_head_out = nullptr, *d_head_pre = nullptr;  // [R, H] backward scratch inside the head
  float *logits = nullptr, *dlogits = nullptr;         // [R, C] and d loss / d logits
  float* scaled_dlogits = nullptr;                     // [R, C] dlogits * backward's loss scale

  // Starts a forward_train over `batch` (positions, dropout stream, the head's rows; filled once the
  // loss is known).
  void begin(const Batch& b, const TrainOptions& options, HeadRows rows);
  // The head's slots of the size table, for R = head.count rows of width H and C logits each.
  void add_head_slots(SizeTable& table, int64_t H, int64_t C);
  // The loss of the head's R x C logits (train_common.h's head_loss); the activations are then filled.
  TrainOutput finish(const HeadConfig& config, const TrainLabels& labels, int64_t C, bool keep_logits);
  // d loss / d logits times loss_scale (in scaled_dlogits), where backward() starts.
  const float* start_backward(const ops::Context& ctx, int64_t C, float loss_scale);
  size_t bytes() const override;
};

// The parameter gradients backward() adds to: checks that `saved` holds a forward_train and that the
// buffer matches the parameters; grad(i) is tensor i's slice (null for kNoParam).
struct GradientSlices {
  GradientSlices(const EncoderActivations& saved, std::span<float> gradients, const ParameterSet& ps);
  float* operator()(size_t i) const { return i == kNoParam ? nullptr : base + ps.specs()[i].offset; }
  float* base;
  const ParameterSet& ps;
};

// Backward: d loss / d (head input rows) back onto the [tokens, H] rows in dhidden (the pooling's
// backward, a scatter of the masked-LM rows, or the rows themselves for a token head).
void route_head_gradient(const ops::Context& ctx, HeadKind kind, const Batch& batch, const HeadRows& rows,
                         const float* d_rows, float* dhidden, int64_t H, bool mean_pool);

}  // namespace medenc
