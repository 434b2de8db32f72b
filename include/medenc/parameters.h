#pragma once
// All parameters of a model in one float buffer (llm.c style): each tensor is a named slice with its
// Hugging Face name and shape. Gradients and optimizer state use the same layout.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "medenc/large_buffer.h"

namespace medenc {

struct ParamSpec {
  std::string name;  // the name Hugging Face saves for this architecture
  std::vector<int64_t> shape;
  size_t offset = 0;  // in floats
  size_t numel = 0;
  bool is_bias_or_norm = false;  // excluded from weight decay by the Trainer's default rule
};

class ParameterSet {
 public:
  // Declares a tensor and returns its index. Offsets are assigned in declaration order, so tensors
  // declared one after another are contiguous (used to fuse Q/K/V into one GEMM).
  size_t declare(const std::string& name, std::vector<int64_t> shape, bool is_bias_or_norm = false);
  void allocate();  // zero-filled buffer for everything declared

  const std::vector<ParamSpec>& specs() const { return specs_; }
  const ParamSpec* find(const std::string& name) const;
  size_t total() const { return total_; }
  float* data() { return values_.data(); }
  const float* data() const { return values_.data(); }
  float* at(size_t index) { return values_.data() + specs_[index].offset; }
  const float* at(size_t index) const { return values_.data() + specs_[index].offset; }
  using Buffer = std::vector<float, LargeBufferAllocator<float>>;
  Buffer& values() { return values_; }

 private:
  std::vector<ParamSpec> specs_;
  std::unordered_map<std::string, size_t> index_;
  Buffer values_;
  size_t total_ = 0;
};

// Rounds every matrix (2-D tensor: embeddings and linear weights) to the nearest bf16 value, ties to
// even, keeping fp32 storage; vectors (biases, norm weights) stay fp32. This is `--dtype bf16`.
void round_matrices_to_bf16(ParameterSet& params);

// Writes the parameters as one model.safetensors (F32), the way save_pretrained lays them out.
void save_parameters(const ParameterSet& params, const std::string& path);

}  // namespace medenc
