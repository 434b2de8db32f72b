#pragma once
// The padded forward as Hugging Face transformers takes and gives it (right-padded input_ids and
// attention_mask in, padded tensors out), for comparing with transformers: under `medenc forward` and
// Python's Model.forward.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "medenc/model.h"

namespace medenc {

struct PaddedInputs {
  int64_t batch = 0;
  int64_t seq_len = 0;
  std::vector<int32_t> input_ids;       // [batch, seq_len]
  std::vector<int32_t> attention_mask;  // [batch, seq_len], ones then zeros
  std::vector<int32_t> token_type_ids;  // empty or [batch, seq_len]
  std::vector<std::pair<int64_t, int64_t>> positions;  // (batch, token) rows for MLM logits
  std::vector<int64_t> lengths;                       // real tokens per row

  Batch to_batch() const;
};

// Parses and validates FILE.json: input_ids and attention_mask (equal-length right-padded lists),
// optional token_type_ids and positions. Errors name the file and the offending row.
PaddedInputs read_padded_inputs(const std::string& path);
PaddedInputs parse_padded_inputs(const std::string& json_text, const std::string& path);

struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Runs the model unpadded and scatters the results back to the padded shapes (zeros at padding):
// last_hidden_state [B,T,H]; pooler_output [B,H] when the model has one; logits [B,L], [B,T,L],
// [B,T,V], or [K,V] at the given positions.
std::vector<NamedTensor> run_padded_forward(const Encoder& model, const PaddedInputs& inputs);
// The same around any forward call on a model described by `info` (a Session's, with its
// workspace and cancellation). Token type ids given to a model without them must be zeros.
using ForwardCall = std::function<ForwardOutput(const Batch&, const ForwardOptions&)>;
std::vector<NamedTensor> run_padded_forward(const ModelInfo& info, const PaddedInputs& inputs,
                                            const ForwardCall& forward);

void write_tensors(const std::vector<NamedTensor>& tensors, const std::string& path);

}  // namespace medenc
