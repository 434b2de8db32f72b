#pragma once
// Training checkpoints on disk: Hugging Face layout, written into tmp-checkpoint-STEP and renamed, so a
// checkpoint folder is either complete or absent; rotation under save_total_limit; AdamW state.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "medenc/parameters.h"
#include "medenc/train.h"

namespace medenc {

// config.json, model.safetensors and the tokenizer files (from tokenizer_dir) into `dir`, each file
// written atomically.
void write_model_files(const std::string& dir, const ParameterSet& params, const std::string& config_json,
                       const std::string& tokenizer_dir);

// OUT/checkpoint-STEP with the model files, optimizer.safetensors, trainer_state.json and
// training_args.json; returns its path.
std::string write_checkpoint(const std::string& out_dir, int64_t step, const ParameterSet& params,
                             const std::string& config_json, const std::string& tokenizer_dir, AdamW& optimizer,
                             const nlohmann::ordered_json& state, const nlohmann::ordered_json& args);

// Complete checkpoints in OUT, by step.
std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& out_dir);
// Removes tmp-checkpoint-* folders a killed run left behind.
void remove_partial_checkpoints(const std::string& out_dir);
// Deletes the oldest checkpoints beyond `limit` (0: keep all), never `keep` (the best one).
void rotate_checkpoints(const std::string& out_dir, int64_t limit, const std::string& keep);

// AdamW moments and step count from DIR/optimizer.safetensors (shapes must match the parameters).
void load_optimizer_state(const std::string& dir, AdamW& optimizer, size_t parameters);
// Every declared parameter from DIR/model.safetensors by its exact name (a checkpoint of this run).
void load_weights(const std::string& dir, ParameterSet& params);

}  // namespace medenc
