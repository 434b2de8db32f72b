// `medenc init`: random-weight checkpoints with Hugging Face's init scheme, for demos, tests and
// benchmarks.
#include "medenc/init.h"

#include <filesystem>

#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/parameters.h"
#include "models/family.h"
#include "util/fs.h"

namespace medenc {

namespace {

void apply_head(HeadConfig& head, const std::string& architecture, const std::string& family_prefix,
                const InitOptions& o) {
  const std::string suffix = architecture.substr(family_prefix.size());
  head.architecture = architecture;
  if (suffix == "Model") head.kind = HeadKind::Base;
  else if (suffix == "ForMaskedLM") head.kind = HeadKind::MaskedLM;
  else if (suffix == "ForSequenceClassification") head.kind = HeadKind::SequenceClassification;
  else if (suffix == "ForTokenClassification") head.kind = HeadKind::TokenClassification;
  else throw Error(fmt::format("unknown architecture '{}'", architecture));
  if (o.num_labels < 0) throw Error("--num-labels must be positive");
  if (o.num_labels > 0 && o.num_labels != head.num_labels) {
    head.num_labels = o.num_labels;
    head.id2label.clear();
    for (int i = 0; i < o.num_labels; ++i) head.id2label.push_back("LABEL_" + std::to_string(i));
  }
  if (!o.problem_type.empty()) {
    if (o.problem_type == "regression") head.problem_type = ProblemType::Regression;
    else if (o.problem_type == "single_label_classification") head.problem_type = ProblemType::SingleLabel;
    else if (o.problem_type == "multi_label_classification") head.problem_type = ProblemType::MultiLabel;
    else throw Error(fmt::format("unknown problem type '{}' (regression, single_label_classification, "
                                 "multi_label_classification)", o.problem_type));
    if (head.kind != HeadKind::SequenceClassification)
      throw Error("--problem-type applies to sequence-classification architectures only");
  }
  if (head.problem_type == ProblemType::Regression && head.num_labels != 1 && o.num_labels == 0) {
    head.num_labels = 1;
    head.id2label = {"LABEL_0"};
  }
}

void copy_tokenizer(const std::string& from, const std::string& to) {
  if (from.empty()) return;
  bool any = false;
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"}) {
    const std::string src = join_path(from, name);
    if (!file_exists(src)) continue;
    std::filesystem::copy_file(src, join_path(to, name), std::filesystem::copy_options::overwrite_existing);
    any = true;
  }
  if (!any) throw Error(from + ": no tokenizer.json or vocab.txt to copy");
}

}  // namespace

std::string write_random_checkpoint(const InitOptions& o) {
  if (o.out_dir.empty()) throw Error("--out is required");
  const std::string& arch = o.architecture;
  const ModelFamily* family = find_family_by_architecture(arch);
  if (!family)
    throw Error(fmt::format("unknown or unsupported architecture '{}' (e.g. ModernBertForSequenceClassification, "
                            "BertForTokenClassification, MegatronBertModel)", arch));
  const bool preset = o.config == "tiny" || o.config == "base" || o.config == "large";
  const std::string text = preset ? family->preset_json(o.config) : read_text_file(o.config);
  BuiltModel built = family->create(
      text, o.config, [&](HeadConfig& head) { apply_head(head, arch, family->class_prefix, o); }, LoadOptions{}, o.seed);
  // config.json + model.safetensors (+ tokenizer files) of the freshly initialised model.
  std::filesystem::create_directories(o.out_dir);
  save_parameters(built.model->parameters(), join_path(o.out_dir, "model.safetensors"));
  write_file_atomic(join_path(o.out_dir, "config.json"), built.config_json);
  copy_tokenizer(o.tokenizer_dir, o.out_dir);
  return arch;
}

}  // namespace medenc
