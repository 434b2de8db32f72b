#pragma once
// PyTorch state dicts (pytorch_model.bin: torch.save's zip format, and the legacy pre-1.6 stream)
// read without Python and without executing anything. The pickle is interpreted by a restricted
// machine that knows only what a state dict needs (an ordered dict of tensors rebuilt from typed
// storages); any other global, opcode or structure is refused with an error naming it. The tensors
// come back as a safetensors image, so they pass the same validation as model.safetensors.
#include <memory>
#include <string>

#include "medenc/safetensors.h"

namespace medenc {

// The state dict in path as a validated in-memory safetensors file (messages name path and tensor).
std::shared_ptr<SafetensorsFile> read_torch_checkpoint(const std::string& path);
// The same tensors as the bytes of a .safetensors file (dtypes kept, names sorted).
std::string torch_checkpoint_to_safetensors(const std::string& path);

}  // namespace medenc

namespace medenc {

// Writes out_dir/model.safetensors holding every tensor of the checkpoint in model_dir (a .bin,
// sharded .bin or sharded safetensors; dtypes kept) and copies the folder's other files (config,
// tokenizer, sentence-transformers modules) beside it. Weight files themselves are not copied.
// Returns the number of tensors written.
size_t convert_checkpoint(const std::string& model_dir, const std::string& out_dir);

}  // namespace medenc
