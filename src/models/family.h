#pragma once
// The model families medenc knows, one row each (CTranslate2's model factory): the model_type and
// class prefix config.json names them by, their `medenc init` presets, and how a model of the family
// is read, built, initialised and loaded, with the rules that map stored tensor names onto declared
// ones. Everything that asks "which family is this" (load_encoder, init, the trainer's task models,
// bench) goes through this table.
//
// Adding a family: one file (src/models/<family>.cpp: config, layers, backward, and a
// `ModelFamily <family>_family()` row), one line in the table in registry.cpp, one Family value.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "medenc/config.h"
#include "medenc/model.h"
#include "medenc/train.h"
#include "weights/load_parameters.h"

namespace medenc {

class Checkpoint;

// A freshly built model and the config.json that describes it.
struct BuiltModel {
  std::unique_ptr<TrainableEncoder> model;
  std::string config_json;
};

struct ModelFamily {
  Family family;
  const char* model_type;    // config.json "model_type"
  const char* class_prefix;  // architectures[0] = prefix + Model | ForMaskedLM | ForSequenceClassification | ...
  // config.json text of a `medenc init` preset ("tiny", "base", "large").
  std::string (*preset_json)(const std::string& name);
  // The head a config.json text describes (the whole config is validated; errors name `path`).
  HeadConfig (*read_head)(const std::string& config_text, const std::string& path);
  // A model from config.json text, its head changed by set_head, with Hugging Face's _init_weights
  // (seeded).
  BuiltModel (*create)(const std::string& config_text, const std::string& path,
                       const std::function<void(HeadConfig&)>& set_head, const LoadOptions& options, uint64_t seed);
  // A checkpoint folder (config.json and weights) of this family.
  std::unique_ptr<TrainableEncoder> (*load)(const std::string& dir, const LoadOptions& options);
  // How the tensors stored in `ckpt` map onto the declared tensors of `model` (a model of this family).
  NameRules (*name_rules)(const TrainableEncoder& model, const Checkpoint& ckpt);
};

// Each family's row, defined in the family's own file.
ModelFamily modernbert_family();
ModelFamily bert_family();
ModelFamily megatron_bert_family();

// The table (registry.cpp) and look-ups in it.
const std::vector<ModelFamily>& model_families();
const ModelFamily& model_family(Family family);
const ModelFamily* find_family_by_model_type(const std::string& model_type);
// The family whose class prefix starts `architecture` (the longest such prefix), or null.
const ModelFamily* find_family_by_architecture(const std::string& architecture);
// The family of a checkpoint folder, from the model_type of its config.json.
const ModelFamily& family_of_dir(const std::string& dir);

}  // namespace medenc
