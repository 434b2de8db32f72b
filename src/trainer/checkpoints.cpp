// Checkpoint folders: atomic writes, listing, rotation, optimizer state.
#include "trainer/checkpoints.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/safetensors.h"
#include "util/fs.h"

namespace medenc {

namespace fs = std::filesystem;

namespace {

// The step of a folder named PREFIX<step>, or -1.
int64_t step_of(const std::string& name, const std::string& prefix) {
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) return -1;
  int64_t step = 0;
  for (size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}

}  // namespace

void write_model_files(const std::string& dir, const ParameterSet& params, const std::string& config_json,
                       const std::string& tokenizer_dir) {
  fs::create_directories(dir);
  save_parameters(params, join_path(dir, "model.safetensors"));
  write_file_atomic(join_path(dir, "config.json"), config_json);
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"}) {
    const std::string src = join_path(tokenizer_dir, name);
    if (file_exists(src) && fs::absolute(src) != fs::absolute(join_path(dir, name)))
      write_file_atomic(join_path(dir, name), read_text_file(src));
  }
}

std::string write_checkpoint(const std::string& out_dir, int64_t step, const ParameterSet& params,
                             const std::string& config_json, const std::string& tokenizer_dir, AdamW& optimizer,
                             const nlohmann::ordered_json& state, const nlohmann::ordered_json& args) {
  const std::string final_dir = join_path(out_dir, fmt::format("checkpoint-{}", step));
  const std::string tmp = join_path(out_dir, fmt::format("tmp-checkpoint-{}", step));
  fs::remove_all(tmp);
  write_model_files(tmp, params, config_json, tokenizer_dir);
  SafetensorsWriter w;
  w.set_metadata("step", std::to_string(optimizer.steps()));
  const int64_t n = (int64_t)params.total();
  w.add_f32("exp_avg", {n}, optimizer.exp_avg().data());
  w.add_f32("exp_avg_sq", {n}, optimizer.exp_avg_sq().data());
  w.write(join_path(tmp, "optimizer.safetensors"));
  write_file_atomic(join_path(tmp, "training_args.json"), args.dump(2) + "\n");
  write_file_atomic(join_path(tmp, "trainer_state.json"), state.dump(2) + "\n");
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
  return final_dir;
}

std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& out_dir) {
  std::vector<std::pair<int64_t, std::string>> out;
  if (!fs::is_directory(out_dir)) return out;
  for (const auto& e : fs::directory_iterator(out_dir)) {
    if (!e.is_directory()) continue;
    const int64_t step = step_of(e.path().filename().string(), "checkpoint-");
    if (step >= 0 && file_exists((e.path() / "trainer_state.json").string())) out.emplace_back(step, e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void remove_partial_checkpoints(const std::string& out_dir) {
  if (!fs::is_directory(out_dir)) return;
  std::vector<fs::path> stale;
  for (const auto& e : fs::directory_iterator(out_dir))
    if (e.is_directory() && step_of(e.path().filename().string(), "tmp-checkpoint-") >= 0) stale.push_back(e.path());
  for (const fs::path& p : stale) fs::remove_all(p);
}

void rotate_checkpoints(const std::string& out_dir, int64_t limit, const std::string& keep) {
  if (limit <= 0) return;
  auto all = list_checkpoints(out_dir);
  // As the Trainer: a limit of 1 keeps the newest checkpoint too while the best is another one
  // (so that training can resume from where it stopped).
  if (limit == 1 && !keep.empty() && !all.empty() && fs::exists(keep) && !fs::equivalent(all.back().second, keep))
    limit = 2;
  int64_t excess = (int64_t)all.size() - limit;
  for (const auto& [step, path] : all) {
    if (excess <= 0) break;
    if (!keep.empty() && fs::equivalent(path, keep)) continue;
    fs::remove_all(path);
    --excess;
  }
}

void load_optimizer_state(const std::string& dir, AdamW& optimizer, size_t parameters) {
  const std::string path = join_path(dir, "optimizer.safetensors");
  auto f = SafetensorsFile::open(path);
  for (auto [name, dst] : {std::pair{"exp_avg", &optimizer.exp_avg()}, {"exp_avg_sq", &optimizer.exp_avg_sq()}}) {
    const TensorInfo* t = f->find(name);
    if (!t || t->numel() != (int64_t)parameters)
      throw Error(fmt::format("{}: '{}' is missing or does not match the {} parameters", path, name, parameters));
    dst->resize(parameters);
    f->read_f32(*t, dst->data());
  }
  auto it = f->metadata().find("step");
  if (it == f->metadata().end()) throw Error(path + ": no step in the metadata");
  optimizer.set_steps(std::stoll(it->second));
}

void load_weights(const std::string& dir, ParameterSet& params) {
  const Checkpoint ckpt = Checkpoint::open_dir(dir);
  for (size_t i = 0; i < params.specs().size(); ++i) {
    const ParamSpec& s = params.specs()[i];
    const Checkpoint::Entry* e = ckpt.find(s.name);
    if (!e || e->info->shape != s.shape)
      throw Error(fmt::format("{}: tensor '{}' {} is missing or has another shape", ckpt.description(), s.name,
                              shape_string(s.shape)));
    e->file->read_f32(*e->info, params.at(i));
  }
}

}  // namespace medenc
