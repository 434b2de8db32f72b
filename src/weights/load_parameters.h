#pragma once
// Filling a model's declared parameters from a checkpoint, under one family's name rules: the strict
// load of a model's own checkpoint, and the partial load of a warm start (a checkpoint of another head).
#include <functional>
#include <string>
#include <vector>

#include "medenc/parameters.h"

namespace medenc {

class Checkpoint;

// How stored tensor names map onto declared ones for one model family (each family's file builds its
// rules; models/family.h).
struct NameRules {
  // Prefix of the backbone inside task models ("model." for ModernBERT, "bert." for BERT).
  std::string backbone_prefix;
  // Returns true for a declared name that belongs to the backbone (so the prefix may be added or
  // stripped when looking it up).
  std::function<bool(const std::string&)> is_backbone;
  // Extra spellings to try for a declared name (legacy gamma/beta, ...).
  std::function<std::vector<std::string>(const std::string&)> legacy_aliases;
  // Stored tensors that may be present and are not used by this model (buffers, tied copies, other
  // heads): a strict load accepts them.
  std::function<bool(const std::string&)> ignorable;
  // Stored tensors that are never parameters of any head (buffers, tied copies): a warm start does
  // not report them as unused.
  std::function<bool(const std::string&)> not_a_parameter;
};

// Fills every declared tensor from the checkpoint, converting F16/BF16/F64 to float32.
// Errors (medenc::Error) name the file and tensor: missing, wrong shape, non-float dtype, and stored
// tensors that the architecture does not use.
void load_parameters(const Checkpoint& ckpt, ParameterSet& params, const NameRules& rules,
                     const std::string& architecture);

// What a warm start did: declared tensors it left as they were (absent, another shape, or skipped,
// each with the reason), and stored tensors it did not use.
struct PartialLoad {
  std::vector<std::string> initialised;
  std::vector<std::string> unused;
};

// Warm start (from_pretrained with ignore_mismatched_sizes): every declared tensor the checkpoint
// has under the same name rules and shape is read; the others keep their values. `skip` (optional)
// names declared tensors not to read, with the reason appended to the name in `initialised`.
PartialLoad load_matching_parameters(const Checkpoint& ckpt, ParameterSet& params, const NameRules& rules,
                                     const std::function<const char*(const std::string&)>& skip = {});

}  // namespace medenc
