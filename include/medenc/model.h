#pragma once
// The family-neutral model API: load any supported checkpoint folder and run unpadded batches.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "medenc/config.h"

namespace medenc {

// A batch of sequences, concatenated without padding. offsets has size() + 1 entries
// (offsets[b]..offsets[b+1] are sequence b's tokens).
struct Batch {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;  // empty, or one per token (BERT families)
  std::vector<int64_t> offsets{0};

  void add(std::span<const int32_t> seq_ids, std::span<const int32_t> seq_type_ids = {});
  int64_t size() const { return (int64_t)offsets.size() - 1; }
  int64_t tokens() const { return (int64_t)ids.size(); }
  int64_t length(int64_t b) const { return offsets[b + 1] - offsets[b]; }
};

struct ForwardOptions {
  bool want_hidden = true;  // keep last_hidden_state in the output
  bool want_logits = true;  // run the task head
  // Masked-LM only: packed token rows whose logits are wanted (empty: every row).
  std::vector<int64_t> mlm_rows;
  // Polled before every layer; true stops the pass with Error(ErrorKind::Cancelled).
  std::function<bool()> should_stop;
};

struct ForwardOutput {
  int64_t hidden_size = 0;
  std::vector<float> last_hidden_state;  // [tokens, hidden]
  std::vector<float> pooler_output;      // [batch, hidden]; BERT-family models with a pooler
  std::vector<float> logits;             // [batch, labels] | [tokens, labels] | [rows, vocab]
  int64_t logits_rows = 0;
  int64_t logits_cols = 0;
};

struct ModelInfo {
  Family family = Family::ModernBert;
  HeadConfig head;
  int64_t hidden_size = 0;
  int64_t vocab_size = 0;
  int64_t max_positions = 0;       // positions a sequence may use (BERT: the table size)
  int64_t num_layers = 0;
  int64_t type_vocab_size = 0;     // 0 when the family has no token types
  bool has_pooler = false;
  std::string classifier_pooling;  // ModernBERT sequence heads: "cls" or "mean"
  int64_t pad_token_id = 0;
  std::string dir;
};

struct LoadOptions {
  bool deterministic = false;  // bit-identical whatever the thread count and batch neighbours (always true now)
  bool bf16 = false;           // bf16 weights and GEMM inputs, fp32 accumulation (heads: see models)
  bool int8 = false;           // int8 linear layers (weights per channel, inputs per row), bf16 attention
};

// The buffers of one caller's forward passes, reused across its calls (see Encoder).
class EncoderWorkspace {
 public:
  virtual ~EncoderWorkspace() = default;
};

// A loaded model. Its weights are not changed by forward(): one Encoder may run forward() from
// several threads at once, each with its own EncoderWorkspace (medenc/session.h wraps this).
// Encoders are not copyable. Training (TrainableEncoder, medenc/train.h) changes the weights and
// keeps saved activations in the object: a model under training belongs to one trainer.
class Encoder {
 public:
  Encoder() = default;
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;
  virtual ~Encoder() = default;
  virtual const ModelInfo& info() const = 0;
  virtual std::unique_ptr<EncoderWorkspace> make_workspace() const = 0;
  // Errors (medenc::Error) for ids out of range, sequences longer than the model allows, or
  // token types out of range, naming the sequence.
  virtual ForwardOutput forward(const Batch& batch, const ForwardOptions& options, EncoderWorkspace& ws) const = 0;
  // One call with a workspace of its own (allocated for this call).
  ForwardOutput forward(const Batch& batch, const ForwardOptions& options = {}) const;
  // FLOPs of one forward pass over this batch (matmuls and attention), for benchmarks.
  virtual double forward_flops(const Batch& batch) const = 0;
};

// Reads DIR/config.json, picks the family from model_type, loads and validates the weights.
std::unique_ptr<Encoder> load_encoder(const std::string& dir, const LoadOptions& options = {});

// "modernbert" | "bert" | "megatron-bert" from DIR/config.json (error if anything else).
Family detect_family(const std::string& dir);

}  // namespace medenc
