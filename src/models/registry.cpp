// Picks the model family from config.json and loads it.
#include <fmt/format.h>

#include "medenc/bert.h"
#include "medenc/error.h"
#include "medenc/hub.h"
#include "medenc/model.h"
#include "medenc/modernbert.h"
#include "medenc/parameters.h"
#include "medenc/train.h"
#include "util/fs.h"
#include "util/json_fields.h"

namespace medenc {

Family detect_family(const std::string& dir) {
  const std::string path = join_path(dir, "config.json");
  if (!file_exists(path)) throw Error(dir + ": no config.json (is this a model folder?)");
  auto j = json_fields::parse_config(read_text_file(path), path);
  const std::string type = json_fields::get_string(j, "model_type", "", path);
  if (type == "modernbert") return Family::ModernBert;
  if (type == "bert") return Family::Bert;
  if (type == "megatron-bert") return Family::MegatronBert;
  if (type.empty()) throw Error(path + ": no \"model_type\"");
  throw Error(fmt::format("{}: model_type '{}' is not supported (modernbert, bert, megatron-bert)", path, type));
}

static std::unique_ptr<TrainableEncoder> load_family(const std::string& dir, const LoadOptions& options) {
  switch (detect_family(dir)) {
    case Family::ModernBert: return ModernBertModel::load(dir, options);
    case Family::Bert:
    case Family::MegatronBert: return BertModel::load(dir, options);
  }
  throw Error("unreachable");
}

std::unique_ptr<Encoder> load_encoder(const std::string& dir, const LoadOptions& options) {
  std::unique_ptr<TrainableEncoder> model = load_family(resolve_model(dir), options);  // ORG/NAME: HF cache
  if (options.bf16) {
    // bf16 weights; GEMMs accumulate in fp32 and norms/softmax stay fp32. Activations stay fp32 too:
    // on CPUs without bf16 arithmetic (AVX2) rounding them would cost accuracy and buy no speed.
    round_matrices_to_bf16(model->parameters());
    model->parameters_changed();
  }
  return model;
}

}  // namespace medenc
