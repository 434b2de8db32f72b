#include "convert.h"

#include "medenc/pipeline.h"

namespace medenc::python {

namespace {

// Scores go out as the CLI prints them: a float's shortest decimal form (json_float), so the
// Python value equals the one json.loads gives for the CLI's line.
py::float_ as_printed(double x) { return py::float_(json_float((float)x)); }

py::dict scores_dict(const std::vector<LabelScore>& scores) {
  py::dict d;
  for (const LabelScore& s : scores) d[py::str(s.label)] = as_printed(s.score);
  return d;
}

}  // namespace

py::dict classification_dict(const ClassificationResult& r, const InputStatus& status) {
  py::dict d;
  switch (r.problem_type) {
    case ProblemType::Regression:
    case ProblemType::Unset:
      if (r.has_score) d["score"] = as_printed(r.score);
      else d["scores"] = scores_dict(r.scores);
      break;
    case ProblemType::SingleLabel:
      d["label"] = r.label;
      d["score"] = as_printed(r.score);
      d["scores"] = scores_dict(r.scores);
      break;
    case ProblemType::MultiLabel: {
      py::list labels;
      for (const std::string& l : r.labels) labels.append(l);
      d["labels"] = labels;
      d["scores"] = scores_dict(r.scores);
      break;
    }
  }
  if (status.truncated) d["truncated"] = true;
  if (status.windows > 1) d["windows"] = status.windows;
  return d;
}

py::list entity_list(const std::vector<EntitySpan>& entities) {
  py::list list;
  for (const EntitySpan& e : entities) {
    py::dict d;
    d["label"] = e.label;
    d["start"] = e.start;
    d["end"] = e.end;
    d["text"] = e.text;
    d["score"] = as_printed(e.score);
    d["word"] = e.word;
    d["hf_start"] = e.hf_start;
    d["hf_end"] = e.hf_end;
    if (e.index >= 0) d["index"] = e.index;
    list.append(d);
  }
  return list;
}

py::list mask_list(const std::vector<MaskPredictions>& masks) {
  py::list list;
  for (const MaskPredictions& m : masks) {
    py::list predictions;
    for (const TokenPrediction& p : m.predictions) {
      py::dict d;
      d["token"] = p.token;
      d["token_id"] = p.token_id;
      d["score"] = as_printed(p.score);
      predictions.append(d);
    }
    py::dict d;
    d["start"] = m.start;
    d["end"] = m.end;
    d["predictions"] = predictions;
    list.append(d);
  }
  return list;
}

py::object json_to_python(const nlohmann::ordered_json& j) {
  using T = nlohmann::ordered_json::value_t;
  switch (j.type()) {
    case T::null:
    case T::discarded:
      return py::none();
    case T::boolean:
      return py::bool_(j.get<bool>());
    case T::number_integer:
      return py::int_(j.get<int64_t>());
    case T::number_unsigned:
      return py::int_(j.get<uint64_t>());
    case T::number_float:
      return py::float_(j.get<double>());
    case T::string:
      return py::str(j.get_ref<const std::string&>());
    case T::array: {
      py::list list;
      for (const auto& v : j) list.append(json_to_python(v));
      return list;
    }
    case T::object: {
      py::dict d;
      for (auto it = j.begin(); it != j.end(); ++it) d[py::str(it.key())] = json_to_python(it.value());
      return d;
    }
    case T::binary:
      break;
  }
  return py::none();
}

}  // namespace medenc::python
