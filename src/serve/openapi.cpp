// Every route with a request and response example; the schemas are derived from the examples so
// that the two cannot disagree.
#include "serve/openapi.h"

#include <string>

namespace medenc::serve {

using nlohmann::ordered_json;

namespace {

ordered_json schema_of(const ordered_json& example) {
  ordered_json s;
  if (example.is_object()) {
    s["type"] = "object";
    s["properties"] = ordered_json::object();
    for (const auto& [k, v] : example.items()) s["properties"][k] = schema_of(v);
  } else if (example.is_array()) {
    s["type"] = "array";
    // Items of several shapes (e.g. strings and {"text", "text_pair"} objects): oneOf those shapes.
    ordered_json shapes = ordered_json::array();
    for (const auto& item : example) {
      ordered_json shape = schema_of(item);
      bool seen = false;
      for (const auto& x : shapes) seen = seen || x["type"] == shape["type"];
      if (!seen) shapes.push_back(std::move(shape));
    }
    if (shapes.empty()) s["items"] = ordered_json::object();
    else if (shapes.size() == 1) s["items"] = shapes[0];
    else s["items"] = {{"oneOf", shapes}};
  } else if (example.is_string()) {
    s["type"] = "string";
  } else if (example.is_boolean()) {
    s["type"] = "boolean";
  } else if (example.is_number_integer() || example.is_number_unsigned()) {
    s["type"] = "integer";
  } else if (example.is_number()) {
    s["type"] = "number";
  } else {
    s["nullable"] = true;
  }
  return s;
}

ordered_json error_response(const char* description, const char* type, const char* message) {
  ordered_json example = {{"error", message}, {"error_type", type}};
  return {{"description", description},
          {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/ErrorResponse"}}},
                                              {"example", example}}}}}};
}

struct Route {
  const char* path;
  const char* method;
  const char* summary;
  const char* request;   // JSON example, or nullptr for GET routes
  const char* response;  // JSON example ("" for an empty body)
  bool inference;        // queued inputs: 413/422/424/429 apply
};

const Route kRoutes[] = {
    {"/health", "get", "200 once the models are loaded and warmed, 503 before (no API key needed)", nullptr, "", false},
    {"/info", "get", "The default model and the server's limits (TEI's fields) and every model served", nullptr,
     R"({"model_id":"/models/relevance","model_sha":null,"model_dtype":"float32","served_model_name":"relevance",
        "model_type":{"classifier":{"id2label":{"0":"irrelevant","1":"relevant"},"label2id":{"irrelevant":0,"relevant":1}}},
        "max_concurrent_requests":512,"max_input_length":8192,"max_batch_tokens":16384,"max_batch_requests":null,
        "max_client_batch_size":32,"auto_truncate":true,"tokenization_workers":1,"version":"medenc 0.1.0","sha":null,
        "docker_label":null,"models":[{"name":"relevance","model_id":"/models/relevance",
        "architecture":"ModernBertForSequenceClassification","head":"sequence-classification",
        "problem_type":"single_label_classification","labels":["irrelevant","relevant"],"max_input_length":8192}]})",
     false},
    {"/metrics", "get", "Prometheus text exposition with TEI's te_* metric names (no API key needed)", nullptr, "",
     false},
    {"/embed", "post", "One pooled, by default L2-normalized vector per input (TEI)",
     R"({"inputs":["Chest X-ray: no acute findings.","Left lower lobe pneumonia."],"normalize":true,"truncate":null,
        "truncation_direction":"Right","prompt_name":null,"dimensions":null,"stride":0,"model":"relevance"})",
     R"([[0.0123,-0.0456,0.0789],[0.0321,-0.0654,0.0987]])", true},
    {"/embed_all", "post", "Every token's last hidden state, special tokens included (TEI)",
     R"({"inputs":"Left lower lobe pneumonia.","truncate":true,"truncation_direction":"Left","prompt_name":null})",
     R"([[[0.11,-0.52],[0.07,0.33]]])", true},
    {"/embed_sparse", "post",
     "SPLADE: per input, the vocabulary entries of max over tokens of log(1 + relu(MLM logit)) that are not zero, in "
     "index order (a model with a masked-LM head; TEI)",
     R"({"inputs":["Left lower lobe pneumonia."],"truncate":true,"truncation_direction":"Right","prompt_name":null,
        "model":"splade"})",
     R"([[{"index":1012,"value":0.53},{"index":30412,"value":1.27}]])", true},
    {"/predict", "post",
     "TEI's sequence classification: every label with its score (softmax, or sigmoid for one label), best first",
     R"({"inputs":"Left lower lobe pneumonia.","raw_scores":false,"truncate":true})",
     R"([{"score":0.93,"label":"relevant"},{"score":0.07,"label":"irrelevant"}])", true},
    {"/rerank", "post", "Scores each (query, text) pair with a one-label classifier, best first (TEI)",
     R"({"query":"pneumonia","texts":["Left lower lobe pneumonia.","Normal study."],"raw_scores":false,
        "return_text":false})",
     R"([{"index":0,"score":0.98},{"index":1,"score":0.02}])", true},
    {"/similarity", "post", "Cosine similarity of the source sentence to each sentence (TEI)",
     R"({"inputs":{"source_sentence":"pneumonia","sentences":["Left lower lobe pneumonia.","Normal study."]},
        "parameters":{"truncate":true}})",
     R"([0.82,0.11])", true},
    {"/tokenize", "post", "Tokens with byte offsets (TEI; no queue, no permit)",
     R"({"inputs":"Chest pain","add_special_tokens":true})",
     R"([[{"id":50281,"special":true,"text":"[CLS]","start":null,"stop":null},
          {"id":41479,"special":false,"text":"Chest","start":0,"stop":5}]])",
     false},
    {"/decode", "post", "Token ids back to text (TEI)", R"({"ids":[[41479,3075]],"skip_special_tokens":true})",
     R"(["Chest pain"])", false},
    {"/v1/embeddings", "post", "OpenAI-compatible embeddings; `model` selects among the served models",
     R"({"input":["Left lower lobe pneumonia."],"model":"relevance","encoding_format":"float","dimensions":null})",
     R"({"object":"list","data":[{"object":"embedding","embedding":[0.0123,-0.0456],"index":0}],
        "model":"relevance","usage":{"prompt_tokens":8,"total_tokens":8}})",
     true},
    {"/classify", "post",
     "medenc: the checkpoint's problem_type (regression score, single-label softmax, multi-label sigmoid with "
     "threshold, per-label thresholds and top_k); long inputs as stride windows, averaged or maxed",
     R"({"inputs":["Left lower lobe pneumonia.",{"text":"query","text_pair":"passage"}],"threshold":0.5,
        "thresholds":{"relevant":0.4},"top_k":0,"stride":128,"window_aggregation":"mean","model":"relevance"})",
     R"([{"label":"relevant","score":0.93,"scores":{"irrelevant":0.07,"relevant":0.93}},
         {"label":"irrelevant","score":0.6,"scores":{"irrelevant":0.6,"relevant":0.4},"windows":3}])",
     true},
    {"/ner", "post", "medenc: token classification to entity spans with code-point offsets; stride windows merged",
     R"({"inputs":"Patient denies chest pain.","aggregation":"simple","ignore_labels":["O"],"stride":64,
        "model":"ner"})",
     R"([{"entities":[{"label":"SYMPTOM","start":15,"end":25,"text":"chest pain","score":0.97,"word":"chest pain",
          "hf_start":15,"hf_end":25}]}])",
     true},
    {"/fill-mask", "post", "medenc: the most likely tokens at each mask token",
     R"({"inputs":"The chest [MASK] is clear.","top_k":5,"model":"mlm"})",
     R"([{"masks":[{"start":10,"end":16,"predictions":[{"token":"x","token_id":1060,"score":0.41}]}]}])", true},
};

ordered_json build() {
  ordered_json doc;
  doc["openapi"] = "3.0.3";
  doc["info"] = {{"title", "medenc serve"},
                 {"version", "0.1.0"},
                 {"description",
                  "Text Embeddings Inference (TEI) compatible HTTP API over medenc models, plus /classify, /ner "
                  "and /fill-mask. Errors are {\"error\", \"error_type\"} with TEI's types and status codes."}};
  doc["servers"] = ordered_json::array({{{"url", "http://127.0.0.1:3000"}}});
  ordered_json paths = ordered_json::object();
  for (const Route& r : kRoutes) {
    ordered_json op;
    op["summary"] = r.summary;
    op["operationId"] = std::string(r.method) + std::string(r.path);
    if (r.request) {
      const ordered_json example = ordered_json::parse(r.request);
      op["requestBody"] = {{"required", true},
                           {"content", {{"application/json", {{"schema", schema_of(example)}, {"example", example}}}}}};
    }
    ordered_json responses = ordered_json::object();
    if (std::string(r.response).empty()) {
      responses["200"] = {{"description", "OK"}};
    } else {
      const ordered_json example = ordered_json::parse(r.response);
      responses["200"] = {{"description", "OK"},
                          {"content", {{"application/json", {{"schema", schema_of(example)}, {"example", example}}}}}};
    }
    if (std::string(r.path) == "/metrics")
      responses["200"] = {{"description", "Prometheus text format 0.0.4"},
                          {"content", {{"text/plain", {{"schema", {{"type", "string"}}},
                                                       {"example", "te_request_success{method=\"single\"} 1\n"}}}}}};
    if (std::string(r.path) == "/health")
      responses["503"] = error_response("Not loaded yet", "Unhealthy", "unhealthy");
    if (r.request) {
      responses["400"] = error_response("Empty input or malformed JSON", "Empty", "`inputs` cannot be empty");
      responses["401"] = {{"description", "Missing or wrong `Authorization: Bearer KEY` (with --api-key)"}};
      responses["422"] = error_response("Invalid input", "Validation", "batch size 40 > maximum allowed batch size 32");
    }
    if (r.inference) {
      responses["413"] = error_response("Body over --payload-limit", "Validation",
                                        "Failed to buffer the request body: length limit exceeded");
      responses["424"] = error_response("The model cannot serve this route, or inference failed", "Backend",
                                        "Backend error: Model is not a classifier model");
      responses["429"] = error_response("More inputs in flight than --max-concurrent-requests", "Overloaded",
                                        "Model is overloaded");
      responses["503"] = error_response("Waited longer than --request-timeout, or shutting down", "Timeout",
                                        "the request was not answered within --request-timeout 30 s");
    }
    op["responses"] = std::move(responses);
    paths[r.path][r.method] = std::move(op);
    if (std::string(r.path) == "/v1/embeddings") paths["/embeddings"][r.method] = paths[r.path][r.method];
  }
  doc["paths"] = std::move(paths);
  doc["components"]["schemas"]["ErrorResponse"] = {
      {"type", "object"},
      {"required", {"error", "error_type"}},
      {"properties",
       {{"error", {{"type", "string"}}},
        {"error_type",
         {{"type", "string"},
          {"enum", {"Empty", "Validation", "Tokenizer", "Backend", "Overloaded", "Unhealthy", "Timeout", "NotFound"}}}}}}};
  doc["components"]["securitySchemes"]["bearer"] = {{"type", "http"}, {"scheme", "bearer"}};
  return doc;
}

}  // namespace

const ordered_json& openapi_document() {
  static const ordered_json doc = build();
  return doc;
}

}  // namespace medenc::serve
