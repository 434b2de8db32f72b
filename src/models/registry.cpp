// The family table (CTranslate2's model factory): one row per family, and loading any checkpoint
// through it.
#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/hub.h"
#include "medenc/model.h"
#include "medenc/parameters.h"
#include "medenc/train.h"
#include "models/family.h"
#include "util/fs.h"
#include "util/json_fields.h"

namespace medenc {

const std::vector<ModelFamily>& model_families() {
  static const std::vector<ModelFamily> table = {
      modernbert_family(),
      bert_family(),
      megatron_bert_family(),
  };
  return table;
}

const ModelFamily& model_family(Family family) {
  for (const ModelFamily& f : model_families())
    if (f.family == family) return f;
  throw Error("internal: a model family without a row in the family table");
}

const char* family_name(Family f) { return model_family(f).model_type; }

const ModelFamily* find_family_by_model_type(const std::string& model_type) {
  for (const ModelFamily& f : model_families())
    if (model_type == f.model_type) return &f;
  return nullptr;
}

const ModelFamily* find_family_by_architecture(const std::string& architecture) {
  const ModelFamily* best = nullptr;
  for (const ModelFamily& f : model_families()) {
    const std::string prefix = f.class_prefix;
    if (architecture.rfind(prefix, 0) == 0 && (!best || prefix.size() > std::string(best->class_prefix).size()))
      best = &f;
  }
  return best;
}

const ModelFamily& family_of_dir(const std::string& dir) {
  const std::string path = join_path(dir, "config.json");
  if (!file_exists(path)) throw Error(dir + ": no config.json (is this a model folder?)");
  auto j = json_fields::parse_config(read_text_file(path), path);
  const std::string type = json_fields::get_string(j, "model_type", "", path);
  if (const ModelFamily* f = find_family_by_model_type(type)) return *f;
  if (type.empty()) throw Error(path + ": no \"model_type\"");
  std::string known;
  for (const ModelFamily& f : model_families()) known += (known.empty() ? "" : ", ") + std::string(f.model_type);
  throw Error(fmt::format("{}: model_type '{}' is not supported ({})", path, type, known));
}

Family detect_family(const std::string& dir) { return family_of_dir(dir).family; }

std::unique_ptr<Encoder> load_encoder(const std::string& dir, const LoadOptions& options) {
  const std::string resolved = resolve_model(dir);  // ORG/NAME: the Hugging Face cache
  std::unique_ptr<TrainableEncoder> model = family_of_dir(resolved).load(resolved, options);
  if (options.bf16) {
    // bf16 weights; GEMMs accumulate in fp32 and norms/softmax stay fp32. Activations stay fp32 too:
    // on CPUs without bf16 arithmetic (AVX2) rounding them would cost accuracy and buy no speed.
    round_matrices_to_bf16(model->parameters());
    model->parameters_changed();
  }
  return model;
}

}  // namespace medenc
