// Typed results to JSON lines.
#include "medenc/result_json.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <ostream>

#include "medenc/error.h"

namespace medenc {

using nlohmann::ordered_json;

double json_float(float x) {
  if (!std::isfinite(x)) return (double)x;  // nlohmann writes null for these
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), x);
  *r.ptr = '\0';
  return std::strtod(buf, nullptr);
}

namespace {

ordered_json scores_object(const std::vector<LabelScore>& scores) {
  ordered_json o = ordered_json::object();
  for (const LabelScore& s : scores) o[s.label] = json_float((float)s.score);
  return o;
}

}  // namespace

void result_fields(const ClassificationResult& r, ordered_json& out) {
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

void result_fields(const std::vector<EntitySpan>& spans, ordered_json& out) {
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

void result_fields(const std::vector<float>& embedding, ordered_json& out) {
  ordered_json e = ordered_json::array();
  for (float x : embedding) e.push_back(json_float(x));
  out["embedding"] = std::move(e);
}

void result_fields(const std::vector<MaskPredictions>& masks, ordered_json& out) {
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

void result_fields(const TaskResult& result, ordered_json& out) {
  std::visit(
      [&](const auto& r) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(r)>, std::monostate>) result_fields(r, out);
      },
      result);
}

void classification_fields(std::span<const float> logits, const HeadConfig& head, const ClassifyOptions& options,
                           ordered_json& out) {
  result_fields(classify_logits(logits, head, options), out);
}

void ner_fields(std::string_view text, std::span<const size_t> cp, const std::vector<NerEntity>& entities,
                ordered_json& out) {
  result_fields(entity_spans(text, cp, entities), out);
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

PipelineStats run_pipeline_jsonl(const Encoder& encoder, const Task& task, DocumentReader& reader, std::ostream& out,
                                 const PipelineOptions& options) {
  const std::unique_ptr<EncoderWorkspace> workspace = encoder.make_workspace();
  PipelineOptions o = options;
  auto user_progress = options.progress;
  o.progress = [&](const PipelineStats& stats, int64_t bytes, bool final) {
    out.flush();
    if (!out) throw Error(ErrorKind::Io, options.source + ": cannot write the output");
    if (user_progress) user_progress(stats, bytes, final);
  };
  auto write = [&](const Job& job) {
    out << document_line(job).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  };
  return run_pipeline(encoder, *workspace, task, reader, write, o);
}

}  // namespace medenc
