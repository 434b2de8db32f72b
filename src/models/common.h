#pragma once
// Helpers shared by the model families: batch validation, positions.
#include <cstdint>
#include <vector>

#include "medenc/model.h"

namespace medenc {

// Throws medenc::Error naming the sequence and token for ids or token types out of range, or a
// sequence longer than max_positions (0: no limit).
void validate_batch(const Batch& batch, int64_t vocab_size, int64_t max_positions, int64_t type_vocab_size);

// positions[t] = index of token t inside its own sequence.
void sequence_positions(const Batch& batch, std::vector<int32_t>& positions);

// Throws Error(ErrorKind::Cancelled) when options.should_stop says so.
void check_stop(const ForwardOptions& options);

}  // namespace medenc
