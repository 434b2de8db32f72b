// Model-domain names and config.json's head fields (activations, families, heads, problem types).
#include "models/config_json.h"

#include <fmt/format.h>

#include "medenc/error.h"
#include "util/json_fields.h"

namespace medenc {

using nlohmann::json;
using json_fields::get_positive;
using json_fields::get_string;

Activation parse_activation(const std::string& name, const std::string& where) {
  static const std::pair<const char*, Activation> table[] = {
      {"gelu", Activation::GeluErf},          {"gelu_python", Activation::GeluErf},
      {"gelu_new", Activation::GeluTanh},     {"gelu_pytorch_tanh", Activation::GeluTanh},
      {"gelu_accurate", Activation::GeluTanh}, {"gelu_fast", Activation::GeluFast},
      {"quick_gelu", Activation::QuickGelu},  {"gelu_10", Activation::Gelu10},
      {"silu", Activation::Silu},             {"swish", Activation::Silu},
      {"relu", Activation::Relu},             {"relu6", Activation::Relu6},
      {"relu2", Activation::Relu2},           {"leaky_relu", Activation::LeakyRelu},
      {"tanh", Activation::Tanh},             {"sigmoid", Activation::Sigmoid},
      {"mish", Activation::Mish},             {"linear", Activation::Linear},
  };
  for (auto& [n, a] : table)
    if (name == n) return a;
  throw Error(fmt::format("{}: unknown activation '{}'", where, name));
}

// family_name is the family table's (registry.cpp).

const char* head_name(HeadKind h) {
  switch (h) {
    case HeadKind::Base: return "Model";
    case HeadKind::MaskedLM: return "ForMaskedLM";
    case HeadKind::SequenceClassification: return "ForSequenceClassification";
    case HeadKind::TokenClassification: return "ForTokenClassification";
  }
  return "?";
}

const char* problem_type_name(ProblemType p) {
  switch (p) {
    case ProblemType::Unset: return "";
    case ProblemType::Regression: return "regression";
    case ProblemType::SingleLabel: return "single_label_classification";
    case ProblemType::MultiLabel: return "multi_label_classification";
  }
  return "";
}

ProblemType HeadConfig::resolved_problem_type() const {
  if (problem_type != ProblemType::Unset) return problem_type;
  return num_labels == 1 ? ProblemType::Regression : ProblemType::SingleLabel;
}

HeadConfig parse_head(const json& j, const std::string& path, const std::string& family_prefix) {
  HeadConfig h;
  h.architecture = family_prefix + "Model";
  if (auto it = j.find("architectures"); it != j.end() && !it->is_null()) {
    if (!it->is_array() || it->empty() || !(*it)[0].is_string())
      throw Error(path + ": \"architectures\" must be a non-empty list of names");
    h.architecture = (*it)[0].get<std::string>();
  }
  const std::string& a = h.architecture;
  if (a.rfind(family_prefix, 0) != 0)
    throw Error(fmt::format("{}: architecture '{}' does not belong to model family '{}'", path, a, family_prefix));
  const std::string suffix = a.substr(family_prefix.size());
  if (suffix == "Model") h.kind = HeadKind::Base;
  else if (suffix == "ForMaskedLM" || suffix == "ForPreTraining") h.kind = HeadKind::MaskedLM;
  else if (suffix == "ForSequenceClassification") h.kind = HeadKind::SequenceClassification;
  else if (suffix == "ForTokenClassification") h.kind = HeadKind::TokenClassification;
  else throw Error(fmt::format("{}: architecture '{}' is not supported (supported: {}Model, {}ForMaskedLM, "
                               "{}ForSequenceClassification, {}ForTokenClassification)",
                               path, a, family_prefix, family_prefix, family_prefix, family_prefix));

  // num_labels = len(id2label) when id2label is given.
  if (auto it = j.find("id2label"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) throw Error(path + ": \"id2label\" must be an object");
    std::vector<std::pair<long long, std::string>> items;
    for (auto e = it->begin(); e != it->end(); ++e) {
      long long id;
      try {
        size_t used = 0;
        id = std::stoll(e.key(), &used);
        if (used != e.key().size()) throw std::invalid_argument("");
      } catch (...) {
        throw Error(fmt::format("{}: id2label key '{}' is not an integer", path, e.key()));
      }
      if (!e.value().is_string()) throw Error(fmt::format("{}: id2label[{}] is not a string", path, e.key()));
      items.emplace_back(id, e.value().get<std::string>());
    }
    h.num_labels = (int)items.size();
    h.id2label.assign(items.size(), "");
    for (auto& [id, name] : items) {
      if (id < 0 || id >= (long long)items.size())
        throw Error(fmt::format("{}: id2label ids must be 0..{}, got {}", path, items.size() - 1, id));
      h.id2label[id] = name;
    }
    if (h.num_labels == 0) throw Error(path + ": \"id2label\" is empty");
  } else {
    h.num_labels = (int)get_positive(j, "num_labels", 2, path);
    for (int i = 0; i < h.num_labels; ++i) h.id2label.push_back("LABEL_" + std::to_string(i));
  }
  const std::string pt = get_string(j, "problem_type", "", path);
  if (pt.empty()) h.problem_type = ProblemType::Unset;
  else if (pt == "regression") h.problem_type = ProblemType::Regression;
  else if (pt == "single_label_classification") h.problem_type = ProblemType::SingleLabel;
  else if (pt == "multi_label_classification") h.problem_type = ProblemType::MultiLabel;
  else throw Error(fmt::format("{}: unknown problem_type '{}'", path, pt));
  return h;
}

void write_head(json& j, const HeadConfig& head) {
  j["architectures"] = json::array({head.architecture});
  json id2label = json::object(), label2id = json::object();
  for (size_t i = 0; i < head.id2label.size(); ++i) {
    id2label[std::to_string(i)] = head.id2label[i];
    label2id[head.id2label[i]] = (int)i;
  }
  j["id2label"] = id2label;
  j["label2id"] = label2id;
  if (head.problem_type != ProblemType::Unset) j["problem_type"] = problem_type_name(head.problem_type);
  else j.erase("problem_type");
  // Bare and masked-LM models with the default two labels write no label maps.
  if ((head.kind == HeadKind::Base || head.kind == HeadKind::MaskedLM) && head.id2label.size() == 2) {
    j.erase("id2label");
    j.erase("label2id");
  }
}

}  // namespace medenc
