#include "weights/load_parameters.h"

#include <set>

#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/safetensors.h"
#include "util/bf16.h"

namespace medenc {

size_t ParameterSet::declare(const std::string& name, std::vector<int64_t> shape, bool is_bias_or_norm) {
  if (index_.count(name)) throw Error("internal: parameter declared twice: " + name);
  ParamSpec s;
  s.name = name;
  s.shape = std::move(shape);
  s.numel = 1;
  for (auto d : s.shape) s.numel *= (size_t)d;
  s.offset = total_;
  s.is_bias_or_norm = is_bias_or_norm;
  total_ += s.numel;
  index_[name] = specs_.size();
  specs_.push_back(std::move(s));
  return specs_.size() - 1;
}

void ParameterSet::allocate() {
  // Zeroed on all cores: the first touch of each page (the kernel clears it) is most of the cost.
  values_.clear();
  values_.resize(total_);  // LargeBufferAllocator leaves the floats uninitialised
  float* p = values_.data();
  const int64_t n = (int64_t)total_;
  #pragma omp parallel for schedule(static) if (n > (1 << 18))
  for (int64_t i = 0; i < n; ++i) p[i] = 0.0f;
}

const ParamSpec* ParameterSet::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &specs_[it->second];
}

static std::vector<std::string> candidate_names(const std::string& name, const NameRules& rules) {
  std::vector<std::string> out{name};
  const std::string& p = rules.backbone_prefix;
  if (!p.empty() && rules.is_backbone && rules.is_backbone(name)) {
    if (name.rfind(p, 0) == 0) out.push_back(name.substr(p.size()));
    else out.push_back(p + name);
  }
  if (rules.legacy_aliases) {
    const size_t n = out.size();
    for (size_t i = 0; i < n; ++i)
      for (auto& a : rules.legacy_aliases(out[i])) out.push_back(a);
  }
  return out;
}

// The stored tensor for a declared name: the first candidate the checkpoint has (null: none). With
// `unique`, two candidates present at once are an error.
static const Checkpoint::Entry* find_stored(const Checkpoint& ckpt, const std::string& name, const NameRules& rules,
                                            bool unique, std::string& found_name) {
  const Checkpoint::Entry* found = nullptr;
  for (const std::string& cand : candidate_names(name, rules)) {
    if (const Checkpoint::Entry* e = ckpt.find(cand)) {
      if (found)
        throw Error(fmt::format("{}: tensors '{}' and '{}' both provide '{}'", ckpt.description(), found_name, cand,
                                name));
      found = e;
      found_name = cand;
      if (!unique) break;
    }
  }
  return found;
}

static void check_float_dtype(const Checkpoint::Entry& e, const std::string& name) {
  const DType d = e.info->dtype;
  if (d != DType::F32 && d != DType::F16 && d != DType::BF16 && d != DType::F64)
    throw Error(fmt::format("{}: tensor '{}' has dtype {}, expected F32, F16 or BF16", e.file->path(), name,
                            dtype_name(d)));
}

void load_parameters(const Checkpoint& ckpt, ParameterSet& params, const NameRules& rules,
                     const std::string& architecture) {
  if (params.values().size() != params.total()) params.allocate();
  std::set<std::string> used;
  for (size_t i = 0; i < params.specs().size(); ++i) {
    const ParamSpec& spec = params.specs()[i];
    std::string found_name;
    const Checkpoint::Entry* found = find_stored(ckpt, spec.name, rules, /*unique=*/true, found_name);
    if (!found)
      throw Error(fmt::format("{}: missing tensor '{}' {} required by {}", ckpt.description(), spec.name,
                              shape_string(spec.shape), architecture));
    const TensorInfo& info = *found->info;
    if (info.shape != spec.shape)
      throw Error(fmt::format("{}: tensor '{}' has shape {}, expected {} for {}", found->file->path(), found_name,
                              shape_string(info.shape), shape_string(spec.shape), architecture));
    check_float_dtype(*found, found_name);
    found->file->read_f32(info, params.at(i));
    used.insert(found_name);
  }
  std::vector<std::string> unexpected;
  for (const std::string& name : ckpt.names())
    if (!used.count(name) && !(rules.ignorable && rules.ignorable(name))) unexpected.push_back(name);
  if (!unexpected.empty()) {
    std::string list;
    for (size_t i = 0; i < unexpected.size() && i < 5; ++i) list += (i ? ", " : "") + ("'" + unexpected[i] + "'");
    if (unexpected.size() > 5) list += fmt::format(" and {} more", unexpected.size() - 5);
    throw Error(fmt::format("{}: unexpected tensor{} for {}: {}", ckpt.description(),
                            unexpected.size() > 1 ? "s" : "", architecture, list));
  }
}

PartialLoad load_matching_parameters(const Checkpoint& ckpt, ParameterSet& params, const NameRules& rules,
                                     const std::function<const char*(const std::string&)>& skip) {
  PartialLoad out;
  std::set<std::string> used;
  for (size_t i = 0; i < params.specs().size(); ++i) {
    const ParamSpec& spec = params.specs()[i];
    if (const char* why = skip ? skip(spec.name) : nullptr) {
      out.initialised.push_back(fmt::format("{} ({})", spec.name, why));
      continue;
    }
    std::string found_name;
    const Checkpoint::Entry* found = find_stored(ckpt, spec.name, rules, /*unique=*/false, found_name);
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
    check_float_dtype(*found, found_name);
    found->file->read_f32(info, params.at(i));
  }
  for (const std::string& n : ckpt.names())
    if (!used.count(n) && !(rules.not_a_parameter && rules.not_a_parameter(n))) out.unused.push_back(n);
  return out;
}

void round_matrices_to_bf16(ParameterSet& params) {
  for (size_t i = 0; i < params.specs().size(); ++i) {
    const ParamSpec& s = params.specs()[i];
    if (s.shape.size() != 2) continue;
    float* p = params.at(i);
    // Inline and vectorised over both cores: with a call per element this took ~0.6 s of the
    // bf16 load of ModernBERT-base. One rounding for files, loads and kernels: util/bf16.h.
    #pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < (int64_t)s.numel; ++k) p[k] = bf16::rounded(p[k]);
  }
}

void save_parameters(const ParameterSet& params, const std::string& path) {
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (size_t i = 0; i < params.specs().size(); ++i)
    w.add_f32(params.specs()[i].name, params.specs()[i].shape, params.at(i));
  w.write(path);
}

}  // namespace medenc
