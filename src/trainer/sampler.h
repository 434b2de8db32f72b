#pragma once
// The order examples are trained in: a seeded shuffle per epoch (a function of seed and epoch only, so
// a resumed run sees the same batches), optionally grouped by length inside megabatches of up to 50
// batches (Hugging Face's LengthGroupedSampler), each batch encoded when it is first needed.
#include <cstdint>
#include <vector>

#include "medenc/datasets.h"

namespace medenc {

class Sampler {
 public:
  // `pool`: the dataset indices an epoch covers (all good rows, or a balanced subset).
  Sampler(const Dataset& data, std::vector<int64_t> pool, const ExampleEncoder& encoder, int64_t batch_size,
          bool group_by_length, uint64_t seed);
  int64_t batches_per_epoch() const { return ((int64_t)pool_.size() + batch_size_ - 1) / batch_size_; }
  int64_t examples() const { return (int64_t)pool_.size(); }
  // Batch `j` of epoch `epoch` (valid until the next call).
  const std::vector<const EncodedExample*>& batch(int64_t epoch, int64_t j);
  // Examples encoded so far in the first epoch that were cut at max length.
  int64_t truncated() const { return truncated_; }

 private:
  void load_megabatch(int64_t epoch, int64_t k);
  const Dataset& data_;
  std::vector<int64_t> pool_;
  const ExampleEncoder& encoder_;
  int64_t batch_size_;
  int64_t mult_ = 1;  // batches per megabatch
  uint64_t seed_;
  int64_t epoch_ = -1, mega_ = -1;
  std::vector<int64_t> order_;
  std::vector<EncodedExample> encoded_;
  std::vector<size_t> sorted_;  // positions in encoded_, longest first when grouping by length
  std::vector<const EncodedExample*> current_;
  int64_t truncated_ = 0;
};

}  // namespace medenc
