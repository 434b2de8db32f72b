// Seeded shuffling and length-grouped batches.
#include "trainer/sampler.h"

#include <algorithm>
#include <numeric>

#include "medenc/error.h"
#include "trainer/seeds.h"
#include "util/random.h"

namespace medenc {

Sampler::Sampler(const Dataset& data, std::vector<int64_t> pool, const ExampleEncoder& encoder, int64_t batch_size,
                 bool group_by_length, uint64_t seed)
    : data_(data), pool_(std::move(pool)), encoder_(encoder), batch_size_(batch_size), seed_(seed) {
  if (batch_size_ < 1) throw Error("batch size must be at least 1");
  if (group_by_length) mult_ = std::clamp<int64_t>((int64_t)pool_.size() / (4 * batch_size_), 1, 50);
}

void Sampler::load_megabatch(int64_t epoch, int64_t k) {
  if (epoch != epoch_) {
    // Fisher-Yates with a generator seeded by (seed, epoch).
    order_ = pool_;
    Rng rng(mix_seed(seed_, 0x73687566ull, (uint64_t)epoch));
    for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.below(i)]);
    epoch_ = epoch;
    mega_ = -1;
  }
  if (k == mega_) return;
  const size_t size = (size_t)(mult_ * batch_size_);
  const size_t begin = (size_t)k * size, end = std::min(order_.size(), begin + size);
  encoded_.clear();
  for (size_t i = begin; i < end; ++i) {
    encoded_.push_back(encoder_.encode(data_.get(order_[i])));
    if (epoch == 0 && encoded_.back().truncated) ++truncated_;
  }
  sorted_.resize(encoded_.size());
  std::iota(sorted_.begin(), sorted_.end(), 0);
  if (mult_ > 1)
    std::stable_sort(sorted_.begin(), sorted_.end(),
                     [&](size_t a, size_t b) { return encoded_[a].length() > encoded_[b].length(); });
  mega_ = k;
}

const std::vector<const EncodedExample*>& Sampler::batch(int64_t epoch, int64_t j) {
  if (j < 0 || j >= batches_per_epoch()) throw Error("internal: batch index out of range");
  load_megabatch(epoch, j / mult_);
  const size_t begin = (size_t)((j % mult_) * batch_size_);
  const size_t end = std::min(sorted_.size(), begin + (size_t)batch_size_);
  current_.clear();
  for (size_t i = begin; i < end; ++i) current_.push_back(&encoded_[sorted_[i]]);
  return current_;
}

}  // namespace medenc
