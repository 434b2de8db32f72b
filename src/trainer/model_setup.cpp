// Task models on a base checkpoint: the head a task needs, Hugging Face's init for everything, then
// every stored tensor with the same name and shape (from_pretrained with ignore_mismatched_sizes).
#include <set>

#include <fmt/format.h>

#include "medenc/bert.h"
#include "medenc/error.h"
#include "medenc/modernbert.h"
#include "medenc/safetensors.h"
#include "medenc/trainer.h"
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

bool is_head_tensor(const std::string& name) {
  for (const char* p : {"head.", "decoder.", "classifier.", "cls.", "qa_outputs."})
    if (name.rfind(p, 0) == 0) return true;
  return false;
}

// Names a stored tensor may have for a declared one: with or without the backbone prefix, and BERT's
// legacy LayerNorm gamma/beta and decoder-bias spellings.
std::vector<std::string> stored_names(const std::string& name, const std::string& prefix, bool bert) {
  std::vector<std::string> out{name};
  if (!is_head_tensor(name)) out.push_back(name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : prefix + name);
  if (bert) {
    const size_t n = out.size();
    for (size_t i = 0; i < n; ++i) {
      const std::string c = out[i];  // a copy: push_back may move the elements
      if (c.ends_with(".weight")) out.push_back(c.substr(0, c.size() - 6) + "gamma");
      if (c.ends_with(".bias")) out.push_back(c.substr(0, c.size() - 4) + "beta");
    }
    if (name == "cls.predictions.bias") out.push_back("cls.predictions.decoder.bias");
  }
  return out;
}

void warm_start(const std::string& dir, ParameterSet& params, const std::string& prefix, bool bert,
                bool keep_classifier, TaskModel& out) {
  const Checkpoint ckpt = Checkpoint::open_dir(dir);
  std::set<std::string> used;
  for (size_t i = 0; i < params.specs().size(); ++i) {
    const ParamSpec& spec = params.specs()[i];
    if (!keep_classifier && spec.name.rfind("classifier.", 0) == 0) {
      out.initialised.push_back(spec.name + " (new labels)");
      continue;
    }
    const Checkpoint::Entry* found = nullptr;
    std::string found_name;
    for (const std::string& cand : stored_names(spec.name, prefix, bert))
      if ((found = ckpt.find(cand))) {
        found_name = cand;
        break;
      }
    if (!found) {
      out.initialised.push_back(spec.name);
      continue;
    }
    used.insert(found_name);
    const TensorInfo& info = *found->info;
    if (info.shape != spec.shape) {
      out.initialised.push_back(fmt::format("{} (stored {}, needed {})", spec.name, shape_string(info.shape),
                                            shape_string(spec.shape)));
      continue;
    }
    if (info.dtype != DType::F32 && info.dtype != DType::F16 && info.dtype != DType::BF16 && info.dtype != DType::F64)
      throw Error(fmt::format("{}: tensor '{}' has dtype {}, expected a float type", found->file->path(), found_name,
                              dtype_name(info.dtype)));
    found->file->read_f32(info, params.at(i));
  }
  // Buffers and tied copies are not parameters.
  for (const std::string& n : ckpt.names())
    if (!used.count(n) && !n.ends_with("inv_freq") && !n.ends_with("position_ids") && n != "decoder.weight" &&
        n != "cls.predictions.decoder.weight" && n != "cls.predictions.decoder.bias")
      out.unused.push_back(n);
}

}  // namespace

std::optional<std::vector<std::string>> checkpoint_labels(const std::string& dir, TaskKind task) {
  const std::string path = join_path(dir, "config.json");
  const HeadConfig head = detect_family(dir) == Family::ModernBert ? ModernBertConfig::from_file(path).head
                                                                   : BertConfig::from_file(path).head;
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
  TaskModel out;
  const std::string path = join_path(dir, "config.json");
  const std::optional<std::vector<std::string>> stored = checkpoint_labels(dir, task);
  const bool keep_classifier = stored && *stored == labels;
  if (detect_family(dir) == Family::ModernBert) {
    ModernBertConfig c = ModernBertConfig::from_file(path);
    c.head = task_head(task, "ModernBert", labels);
    auto model = std::make_unique<ModernBertModel>(c, options);
    model->init_weights(seed);
    if (!from_scratch) warm_start(dir, model->parameters(), "model.", false, keep_classifier, out);
    out.config_json = c.to_json();
    out.model = std::move(model);
  } else {
    BertConfig c = BertConfig::from_file(path);
    c.head = task_head(task, c.class_prefix(), labels);
    auto model = std::make_unique<BertModel>(c, options);
    model->init_weights(seed);
    if (!from_scratch) warm_start(dir, model->parameters(), "bert.", true, keep_classifier, out);
    out.config_json = c.to_json();
    out.model = std::move(model);
  }
  if (from_scratch)
    for (const ParamSpec& s : out.model->parameters().specs()) out.initialised.push_back(s.name);
  out.model->parameters_changed();
  return out;
}

}  // namespace medenc
