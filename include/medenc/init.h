#pragma once
// Random-weight checkpoints in exact Hugging Face layout (config.json + model.safetensors).
#include <cstdint>
#include <string>

#include "medenc/config.h"

namespace medenc {

struct InitOptions {
  std::string architecture;  // Hugging Face class name, e.g. "ModernBertForSequenceClassification"
  std::string config;        // "tiny" | "base" | "large" | path to a config.json
  std::string out_dir;
  uint64_t seed = 0;
  int num_labels = 0;        // 0: keep the config's
  std::string problem_type;  // "" | regression | single_label_classification | multi_label_classification
  std::string tokenizer_dir; // copy tokenizer files from here ("" : none)
};

// Writes the checkpoint; returns the architecture written. Errors are medenc::Error.
std::string write_random_checkpoint(const InitOptions& options);

}  // namespace medenc
