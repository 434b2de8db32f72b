#include "models/common.h"

#include <fmt/format.h>

#include "medenc/error.h"

namespace medenc {

void Batch::add(std::span<const int32_t> seq_ids, std::span<const int32_t> seq_type_ids) {
  if (!seq_type_ids.empty() && seq_type_ids.size() != seq_ids.size())
    throw Error(fmt::format("sequence {}: {} token type ids for {} tokens", size(), seq_type_ids.size(), seq_ids.size()));
  if (!seq_type_ids.empty() && type_ids.size() != ids.size())
    throw Error("token type ids must be given for every sequence of a batch or for none");
  if (seq_type_ids.empty() && !type_ids.empty()) type_ids.resize(ids.size() + seq_ids.size(), 0);
  ids.insert(ids.end(), seq_ids.begin(), seq_ids.end());
  if (!seq_type_ids.empty()) type_ids.insert(type_ids.end(), seq_type_ids.begin(), seq_type_ids.end());
  offsets.push_back((int64_t)ids.size());
}

void validate_batch(const Batch& batch, int64_t vocab_size, int64_t max_positions, int64_t type_vocab_size) {
  if (batch.offsets.empty() || batch.offsets.front() != 0 || batch.offsets.back() != batch.tokens())
    throw Error("batch offsets do not cover the token list");
  if (!batch.type_ids.empty() && batch.type_ids.size() != batch.ids.size())
    throw Error("batch has a different number of token type ids and tokens");
  for (int64_t b = 0; b < batch.size(); ++b) {
    const int64_t len = batch.length(b);
    if (len < 0) throw Error("batch offsets are not increasing");
    if (len == 0) throw Error(fmt::format("sequence {} is empty", b));
    if (max_positions > 0 && len > max_positions)
      throw Error(fmt::format("sequence {} has {} tokens; the model allows at most {} positions", b, len,
                              max_positions));
    for (int64_t t = batch.offsets[b]; t < batch.offsets[b + 1]; ++t) {
      const int32_t id = batch.ids[t];
      if (id < 0 || id >= vocab_size)
        throw Error(fmt::format("sequence {}, token {}: id {} is outside the vocabulary (size {})", b,
                                t - batch.offsets[b], id, vocab_size));
      if (!batch.type_ids.empty()) {
        const int32_t tt = batch.type_ids[t];
        if (tt < 0 || tt >= std::max<int64_t>(type_vocab_size, 1))
          throw Error(fmt::format("sequence {}, token {}: token type {} is outside [0, {})", b, t - batch.offsets[b],
                                  tt, std::max<int64_t>(type_vocab_size, 1)));
      }
    }
  }
}

void sequence_positions(const Batch& batch, std::vector<int32_t>& positions) {
  positions.resize((size_t)batch.tokens());
  for (int64_t b = 0; b < batch.size(); ++b)
    for (int64_t t = batch.offsets[b]; t < batch.offsets[b + 1]; ++t) positions[t] = (int32_t)(t - batch.offsets[b]);
}

void check_stop(const ForwardOptions& options) {
  if (options.should_stop && options.should_stop()) throw Error(ErrorKind::Cancelled, "the forward pass was cancelled");
}

ForwardOutput Encoder::forward(const Batch& batch, const ForwardOptions& options) const {
  const std::unique_ptr<EncoderWorkspace> ws = make_workspace();
  return forward(batch, options, *ws);
}

}  // namespace medenc
