#pragma once
// Typed results as the JSON lines the CLI writes; the server and the Python package return the same.
#include <iosfwd>
#include <span>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "medenc/classify.h"
#include "medenc/ner.h"
#include "medenc/pipeline.h"
#include "medenc/results.h"

namespace medenc {

// Float for JSON output: the double whose shortest decimal form is the float's shortest form
// (0.1f prints as 0.1, not 0.10000000149011612). Results are computed in float and reported so.
double json_float(float x);

// regression {"score"} or {"scores": {label: x}}; single-label {"label", "score", "scores"};
// multi-label {"labels", "scores"}.
void result_fields(const ClassificationResult& r, nlohmann::ordered_json& out);
// {"entities": [{"label", "start", "end", "text", "score", "word", "hf_start", "hf_end"(, "index")}]}
void result_fields(const std::vector<EntitySpan>& spans, nlohmann::ordered_json& out);
// {"embedding": [...]}
void result_fields(const std::vector<float>& embedding, nlohmann::ordered_json& out);
// {"masks": [{"start", "end", "predictions": [{"token", "token_id", "score"}]}]}
void result_fields(const std::vector<MaskPredictions>& masks, nlohmann::ordered_json& out);
void result_fields(const TaskResult& result, nlohmann::ordered_json& out);

// The two steps at once, for one document's logits / entities.
void classification_fields(std::span<const float> logits, const HeadConfig& head, const ClassifyOptions& options,
                           nlohmann::ordered_json& out);
void ner_fields(std::string_view text, std::span<const size_t> cp_bytes, const std::vector<NerEntity>& entities,
                nlohmann::ordered_json& out);

// The JSON line for a document: {"id"?, result fields..., "truncated"?, "windows"?} or
// {"id"?, "error", "line"}.
nlohmann::ordered_json document_line(const Job& job);

// The streaming job writing one JSON line per document to `out` (flushed after every read-ahead
// window), with a workspace of its own.
PipelineStats run_pipeline_jsonl(const Encoder& encoder, const Task& task, DocumentReader& reader, std::ostream& out,
                                 const PipelineOptions& options);

}  // namespace medenc
