// Task models on a base checkpoint: the head a task needs, Hugging Face's init for everything, then
// every stored tensor with the same name and shape (from_pretrained with ignore_mismatched_sizes).
#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/safetensors.h"
#include "medenc/trainer.h"
#include "models/family.h"
#include "util/fs.h"

namespace medenc {

namespace {

HeadConfig task_head(TaskKind task, const std::string& class_prefix, const std::vector<std::string>& labels) {
  HeadConfig h;
  switch (task) {
    case TaskKind::Mlm:
      h.kind = HeadKind::MaskedLM;
      h.architecture = class_prefix + "ForMaskedLM";
      h.id2label = {"LABEL_0", "LABEL_1"};
      break;
    case TaskKind::Ner:
      h.kind = HeadKind::TokenClassification;
      h.architecture = class_prefix + "ForTokenClassification";
      h.id2label = labels;
      break;
    case TaskKind::Regression:
      h.kind = HeadKind::SequenceClassification;
      h.architecture = class_prefix + "ForSequenceClassification";
      h.problem_type = ProblemType::Regression;
      h.id2label = labels.size() == 1 ? labels : std::vector<std::string>{"LABEL_0"};
      break;
    case TaskKind::SingleLabel:
    case TaskKind::MultiLabel:
      h.kind = HeadKind::SequenceClassification;
      h.architecture = class_prefix + "ForSequenceClassification";
      h.problem_type = task == TaskKind::SingleLabel ? ProblemType::SingleLabel : ProblemType::MultiLabel;
      h.id2label = labels;
      break;
  }
  h.num_labels = (int)h.id2label.size();
  if (h.num_labels < 1) throw Error(fmt::format("the {} task needs at least one label", task_name(task)));
  return h;
}

}  // namespace

std::optional<std::vector<std::string>> checkpoint_labels(const std::string& dir, TaskKind task) {
  const std::string path = join_path(dir, "config.json");
  const HeadConfig head = family_of_dir(dir).read_head(read_text_file(path), path);
  if (head.kind == HeadKind::Base) return std::nullopt;
  if (task_of_head(head) != task) return std::nullopt;
  return head.id2label;
}

TaskKind task_of_head(const HeadConfig& head) {
  switch (head.kind) {
    case HeadKind::MaskedLM: return TaskKind::Mlm;
    case HeadKind::TokenClassification: return TaskKind::Ner;
    case HeadKind::SequenceClassification:
      switch (head.resolved_problem_type()) {
        case ProblemType::Regression: return TaskKind::Regression;
        case ProblemType::MultiLabel: return TaskKind::MultiLabel;
        default: return TaskKind::SingleLabel;
      }
    case HeadKind::Base: break;
  }
  throw Error(fmt::format("{} has no task head (train one with medenc train)", head.architecture));
}

TaskModel build_task_model(const std::string& dir, TaskKind task, const std::vector<std::string>& labels,
                           bool from_scratch, uint64_t seed, const LoadOptions& options) {
  const ModelFamily& family = family_of_dir(dir);
  const std::string path = join_path(dir, "config.json");
  const std::optional<std::vector<std::string>> stored = checkpoint_labels(dir, task);
  const bool keep_classifier = stored && *stored == labels;
  BuiltModel built = family.create(
      read_text_file(path), path, [&](HeadConfig& head) { head = task_head(task, family.class_prefix, labels); },
      options, seed);
  TaskModel out;
  out.model = std::move(built.model);
  out.config_json = std::move(built.config_json);
  if (from_scratch) {
    for (const ParamSpec& s : out.model->parameters().specs()) out.initialised.push_back(s.name);
  } else {
    // Warm start under the family's name rules: what the checkpoint has with the same name and shape.
    const Checkpoint ckpt = Checkpoint::open_dir(dir);
    auto skip = [&](const std::string& name) -> const char* {
      return !keep_classifier && name.rfind("classifier.", 0) == 0 ? "new labels" : nullptr;
    };
    PartialLoad loaded = load_matching_parameters(ckpt, out.model->parameters(),
                                                  family.name_rules(*out.model, ckpt), skip);
    out.initialised = std::move(loaded.initialised);
    out.unused = std::move(loaded.unused);
  }
  out.model->parameters_changed();
  return out;
}

}  // namespace medenc
