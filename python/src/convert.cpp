#include "convert.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace medenc::python {

using nlohmann::ordered_json;

namespace {

// A float as the CLI prints it: the double whose shortest decimal form is the float's shortest
// form, so the Python value equals what json.loads reads from the CLI's line.
double json_float(float x) {
  if (!std::isfinite(x)) return (double)x;
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf) - 1, x);
  *r.ptr = '\0';
  return std::strtod(buf, nullptr);
}

ordered_json scores_object(const std::vector<LabelScore>& scores) {
  ordered_json o = ordered_json::object();
  for (const LabelScore& s : scores) o[s.label] = json_float((float)s.score);
  return o;
}

void fields(const ClassificationResult& r, ordered_json& out) {
  switch (r.problem_type) {
    case ProblemType::SingleLabel:
      out["label"] = r.label;
      out["score"] = json_float((float)r.score);
      out["scores"] = scores_object(r.scores);
      return;
    case ProblemType::MultiLabel:
      out["labels"] = r.labels;
      out["scores"] = scores_object(r.scores);
      return;
    case ProblemType::Regression:
    case ProblemType::Unset:
      if (r.has_score) out["score"] = json_float((float)r.score);
      else out["scores"] = scores_object(r.scores);
      return;
  }
}

void fields(const std::vector<EntitySpan>& spans, ordered_json& out) {
  ordered_json list = ordered_json::array();
  for (const EntitySpan& e : spans) {
    ordered_json j;
    j["label"] = e.label;
    j["start"] = e.start;
    j["end"] = e.end;
    j["text"] = e.text;
    j["score"] = json_float((float)e.score);
    j["word"] = e.word;
    j["hf_start"] = e.hf_start;
    j["hf_end"] = e.hf_end;
    if (e.index >= 0) j["index"] = e.index;
    list.push_back(std::move(j));
  }
  out["entities"] = std::move(list);
}

void fields(const std::vector<float>& embedding, ordered_json& out) {
  ordered_json e = ordered_json::array();
  for (float x : embedding) e.push_back(json_float(x));
  out["embedding"] = std::move(e);
}

void fields(const std::vector<MaskPredictions>& masks, ordered_json& out) {
  ordered_json list = ordered_json::array();
  for (const MaskPredictions& m : masks) {
    ordered_json preds = ordered_json::array();
    for (const TokenPrediction& t : m.predictions) {
      ordered_json p;
      p["token"] = t.token;
      p["token_id"] = t.token_id;
      p["score"] = json_float((float)t.score);
      preds.push_back(std::move(p));
    }
    ordered_json entry;
    entry["start"] = m.start;
    entry["end"] = m.end;
    entry["predictions"] = std::move(preds);
    list.push_back(std::move(entry));
  }
  out["masks"] = std::move(list);
}

}  // namespace

void result_fields(const TaskResult& result, ordered_json& out) {
  std::visit(
      [&](const auto& r) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(r)>, std::monostate>) fields(r, out);
      },
      result);
}

void status_fields(const InputStatus& status, ordered_json& out) {
  if (status.truncated) out["truncated"] = true;
  if (status.windows > 1) out["windows"] = status.windows;
}

ordered_json document_line(const Job& job) {
  ordered_json line = ordered_json::object();
  if (!job.doc.id.is_null()) line["id"] = job.doc.id;
  if (!job.error.empty()) {
    line["error"] = job.error;
    line["line"] = job.doc.line;
    return line;
  }
  result_fields(job.result, line);
  if (job.truncated) line["truncated"] = true;
  if (job.windows.size() > 1) line["windows"] = job.windows.size();
  return line;
}

py::object json_to_python(const ordered_json& j) {
  using T = ordered_json::value_t;
  switch (j.type()) {
    case T::null:
    case T::discarded:
    case T::binary:
      return py::none();
    case T::boolean:
      return py::bool_(j.get<bool>());
    case T::number_integer:
      return py::int_(j.get<int64_t>());
    case T::number_unsigned:
      return py::int_(j.get<uint64_t>());
    case T::number_float:  // nlohmann writes null for NaN and infinities
      return std::isfinite(j.get<double>()) ? py::object(py::float_(j.get<double>())) : py::object(py::none());
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
  }
  return py::none();
}

}  // namespace medenc::python
