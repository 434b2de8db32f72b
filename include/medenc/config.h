#pragma once
// Pieces of a Hugging Face config.json shared by every model family: activations, the task head,
// labels and problem type. Family-specific fields live in that family's header.
#include <string>
#include <vector>

namespace medenc {

enum class Activation {
  GeluErf,      // "gelu", "gelu_python"
  GeluTanh,     // "gelu_new", "gelu_pytorch_tanh", "gelu_accurate"
  GeluFast,     // "gelu_fast"
  QuickGelu,    // "quick_gelu"
  Gelu10,       // "gelu_10"
  Silu,         // "silu", "swish"
  Relu,
  Relu6,
  Relu2,
  LeakyRelu,
  Tanh,
  Sigmoid,
  Mish,
  Linear,
};

// Maps an ACT2FN name to the activation; throws medenc::Error naming `where` for unknown names.
Activation parse_activation(const std::string& name, const std::string& where);

enum class Family { ModernBert, Bert, MegatronBert };
enum class HeadKind { Base, MaskedLM, SequenceClassification, TokenClassification };
enum class ProblemType { Unset, Regression, SingleLabel, MultiLabel };

const char* family_name(Family f);
const char* head_name(HeadKind h);
const char* problem_type_name(ProblemType p);  // as written in config.json ("" for Unset)

struct HeadConfig {
  std::string architecture;  // architectures[0], e.g. "ModernBertForSequenceClassification"
  HeadKind kind = HeadKind::Base;
  int num_labels = 2;
  std::vector<std::string> id2label;  // size num_labels
  ProblemType problem_type = ProblemType::Unset;

  // The problem type Hugging Face would use at inference: regression for one label, single-label
  // for several when unset.
  ProblemType resolved_problem_type() const;
};

}  // namespace medenc
