// Route handlers: parse and check the request (TEI's rules), build the inputs' jobs with the
// library's task for the route, queue them, and render the reply once they are computed.
#include "serve/service.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "medenc/classify.h"
#include "medenc/embed.h"
#include "medenc/error.h"
#include "medenc/fill_mask.h"
#include "medenc/hub.h"
#include "medenc/ner.h"
#include "serve/openapi.h"
#include "medenc/result_json.h"

namespace medenc::serve {

using nlohmann::json;
using nlohmann::ordered_json;

Reply error_reply(int status, const std::string& type, const std::string& message) {
  Reply r;
  r.status = status;
  ordered_json body;
  body["error"] = message;
  body["error_type"] = type;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

Reply timeout_reply(double seconds) {
  return error_reply(503, "Timeout", fmt::format("the request was not answered within --request-timeout {} s", seconds));
}

Reply openai_error_reply(const ApiError& e) {
  Reply r;
  r.status = e.status;
  ordered_json body;
  body["message"] = e.what();
  body["code"] = e.status;
  body["type"] = e.type;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

struct Service::Served {
  std::string name;
  std::shared_ptr<const Model> model;
  std::unique_ptr<Batcher> batcher;
  std::map<std::string, std::string> prompts;  // config_sentence_transformers.json's "prompts"
  std::string default_prompt;                  // --default-prompt, or the prompt --default-prompt-name names
};

namespace {

constexpr int kDeferred = 0;  // Reply::status of a reply that comes later through the exchange
// Tokens per /embed_sparse model batch: 1,024 tokens of a 50k vocabulary's logits are 200 MB.
constexpr int64_t kSparseBatchTokens = 1024;

std::string dump(const ordered_json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Reply json_reply(const ordered_json& j) {
  Reply r;
  r.body = dump(j);
  return r;
}

// ---- request parsing ---------------------------------------------------------------------------

json parse_body(const std::string& body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    throw ApiError(400, "Validation", fmt::format("Failed to parse the request body as JSON: {}", e.what()));
  }
  if (!j.is_object()) throw validation_error("the request body must be a JSON object");
  return j;
}

const json* field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<bool> opt_bool(const json& j, const char* name) {
  const json* v = field(j, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw validation_error(fmt::format("`{}` must be a boolean", name));
  return v->get<bool>();
}

std::optional<int64_t> opt_int(const json& j, const char* name, int64_t min_value) {
  const json* v = field(j, name);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) throw validation_error(fmt::format("`{}` must be an integer", name));
  const int64_t x = v->get<int64_t>();
  if (x < min_value) throw validation_error(fmt::format("`{}` must be at least {}", name, min_value));
  return x;
}

std::optional<double> opt_number(const json& j, const char* name) {
  const json* v = field(j, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw validation_error(fmt::format("`{}` must be a number", name));
  return v->get<double>();
}

std::optional<std::string> opt_string(const json& j, const char* name) {
  const json* v = field(j, name);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw validation_error(fmt::format("`{}` must be a string", name));
  return v->get<std::string>();
}

int64_t codepoints(const std::string& s) { return count_codepoints(s); }

std::vector<int32_t> id_list(const json& v, const char* name) {
  std::vector<int32_t> ids;
  for (const json& x : v) {
    if (!x.is_number_unsigned() && !(x.is_number_integer() && x.get<int64_t>() >= 0))
      throw validation_error(fmt::format("`{}` must hold strings or lists of token ids (unsigned integers)", name));
    const uint64_t id = x.get<uint64_t>();
    if (id > (uint64_t)INT32_MAX) throw validation_error(fmt::format("token id {} is out of range", id));
    ids.push_back((int32_t)id);
  }
  return ids;
}

bool all_numbers(const json& v) {
  return std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_number(); });
}

// TEI's `Input`: "text" | [ids] | ["text" | [ids], ...]. Id inputs are decoded to text (and encoded
// again with the model's special tokens). `characters` counts code points (ids: one per id).
std::vector<TextInput> tei_inputs(const json* v, const Tokenizer& tokenizer, const char* name, int64_t& characters) {
  if (!v) throw validation_error(fmt::format("missing field `{}`", name));
  std::vector<TextInput> inputs;
  auto add_ids = [&](const json& list) {
    const std::vector<int32_t> ids = id_list(list, name);
    if (ids.empty()) throw empty_error(fmt::format("Input validation error: `{}` cannot be empty", name));
    for (int32_t id : ids)
      if (id >= tokenizer.vocab_size())
        throw validation_error(fmt::format("Input validation error: token id {} is out of the vocabulary", id));
    inputs.emplace_back(tokenizer.decode(ids, true, false));
    characters += (int64_t)ids.size();
  };
  auto add_text = [&](const json& s) {
    inputs.emplace_back(s.get<std::string>());
    characters += codepoints(inputs.back().text);
  };
  if (v->is_string()) {
    add_text(*v);
  } else if (v->is_array() && all_numbers(*v)) {
    add_ids(*v);  // also `[]`: a single empty id list, as TEI parses it
  } else if (v->is_array()) {
    for (const json& x : *v) {
      if (x.is_string()) add_text(x);
      else if (x.is_array()) add_ids(x);
      else throw validation_error(fmt::format("`{}` must be a string, a list of strings or a list of token-id lists", name));
    }
  } else {
    throw validation_error(fmt::format("`{}` must be a string, a list of strings or a list of token-id lists", name));
  }
  for (const TextInput& in : inputs)
    if (in.text.empty()) throw empty_error(fmt::format("Input validation error: `{}` cannot be empty", name));
  return inputs;
}

// medenc's routes: "text" | ["text" | {"text": ..., "text_pair"?: ...}, ...].
std::vector<TextInput> medenc_inputs(const json* v, int64_t& characters) {
  if (!v) throw validation_error("missing field `inputs`");
  std::vector<TextInput> inputs;
  auto add = [&](const json& x) {
    if (x.is_string()) {
      inputs.emplace_back(x.get<std::string>());
    } else if (x.is_object()) {
      const json* text = field(x, "text");
      if (!text || !text->is_string()) throw validation_error("an input object needs a string `text`");
      const json* pair = field(x, "text_pair");
      if (pair && !pair->is_string()) throw validation_error("`text_pair` must be a string");
      inputs.push_back(pair ? TextInput(text->get<std::string>(), pair->get<std::string>())
                            : TextInput(text->get<std::string>()));
    } else {
      throw validation_error("`inputs` must be a string, or a list of strings or {\"text\", \"text_pair\"} objects");
    }
    characters += codepoints(inputs.back().text) + (inputs.back().pair ? codepoints(*inputs.back().pair) : 0);
  };
  if (v->is_array()) {
    if (v->empty()) throw empty_error("`inputs` cannot be empty");
    for (const json& x : *v) add(x);
  } else {
    add(*v);
  }
  for (const TextInput& in : inputs)
    if (in.text.empty()) throw empty_error("Input validation error: `inputs` cannot be empty");
  return inputs;
}

void check_batch_size(size_t n, int64_t max) {
  if ((int64_t)n > max) throw validation_error(fmt::format("batch size {} > maximum allowed batch size {}", n, max));
}

// TEI's truncation_direction: which end of an over-long input truncation cuts.
TruncationSide truncation_side(const json& j) {
  const std::optional<std::string> d = opt_string(j, "truncation_direction");
  if (!d || *d == "Right" || *d == "right") return TruncationSide::Right;
  if (*d == "Left" || *d == "left") return TruncationSide::Left;
  throw validation_error("`truncation_direction` must be \"Right\" or \"Left\"");
}

ApiError library_error(const Error& e) {
  switch (e.kind()) {
    case ErrorKind::InvalidInput: return validation_error(e.what());
    case ErrorKind::ResourceExhausted: return overloaded_error();
    default: return backend_error(e.what());
  }
}

// ---- rendering helpers ---------------------------------------------------------------------------

int64_t ms(double seconds) { return (int64_t)std::llround(seconds * 1000.0); }

// The embed task's result: the mean over windows, not normalized (that follows the Matryoshka cut);
// with Tokens pooling every token's row, with Splade the vocabulary-sized vector.
const std::vector<float>& embedding_of(const Job& job) { return std::get<std::vector<float>>(job.result); }

ordered_json float_array(const std::vector<float>& v) {
  ordered_json a = ordered_json::array();
  for (float x : v) a.push_back(json_float(x));
  return a;
}

// The head's logits, averaged over the input's windows (TEI's scores are computed from them).
const std::vector<float>& logits_of(const Job& job) { return std::get<ClassificationResult>(job.result).logits; }

// TEI's /predict scores: softmax over several labels, sigmoid of one, or the raw logits.
std::vector<float> tei_scores(const std::vector<float>& logits, bool raw) {
  std::vector<float> s(logits);
  if (raw) return s;
  if (s.size() == 1) {
    s[0] = (float)sigmoid(logits[0]);
  } else {
    const std::vector<double> p = softmax(logits);
    for (size_t i = 0; i < s.size(); ++i) s[i] = (float)p[i];
  }
  return s;
}

std::string base64(const std::vector<float>& v) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes(v.size() * 4, '\0');
  std::memcpy(bytes.data(), v.data(), bytes.size());  // little-endian host
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = (uint8_t)bytes[i] << 16;
    if (i + 1 < bytes.size()) n |= (uint8_t)bytes[i + 1] << 8;
    if (i + 2 < bytes.size()) n |= (uint8_t)bytes[i + 2];
    out += abc[(n >> 18) & 63];
    out += abc[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? abc[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? abc[n & 63] : '=';
  }
  return out;
}

bool is_classifier(const Model& m) { return m.info().head.kind == HeadKind::SequenceClassification; }

// The "prompts" of a sentence-transformers checkpoint ({} when it has no config_sentence_transformers.json).
std::map<std::string, std::string> read_prompts(const std::string& model_dir) {
  const std::filesystem::path file = std::filesystem::path(resolve_model(model_dir)) / "config_sentence_transformers.json";
  std::map<std::string, std::string> prompts;
  std::ifstream in(file, std::ios::binary);
  if (!in) return prompts;
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw Error(ErrorKind::InvalidModel, fmt::format("{}: not valid JSON: {}", file.string(), e.what()));
  }
  const json* p = j.is_object() ? field(j, "prompts") : nullptr;
  if (!p) return prompts;
  if (!p->is_object()) throw Error(ErrorKind::InvalidModel, file.string() + ": \"prompts\" must be an object");
  for (const auto& [name, text] : p->items()) {
    if (!text.is_string())
      throw Error(ErrorKind::InvalidModel, fmt::format("{}: prompts.{} must be a string", file.string(), name));
    prompts[name] = text.get<std::string>();
  }
  return prompts;
}

// Routes whose texts take a prompt (TEI's embedding routes and /tokenize).
bool takes_prompt(const std::string& path) {
  return path == "/embed" || path == "/embed_all" || path == "/embed_sparse" || path == "/similarity" ||
         path == "/v1/embeddings" || path == "/embeddings" || path == "/tokenize";
}

}  // namespace

// ---- the service -------------------------------------------------------------------------------------

Service::Service(const ServerOptions& options, Metrics& metrics)
    : options_(options),
      metrics_(metrics),
      permits_(options.max_concurrent_requests),
      tokenizers_(options.tokenization_workers) {}

Service::~Service() { stop(); }

void Service::load() {
  ModelOptions mo;
  mo.precision = parse_precision(options_.dtype);
  BatcherOptions bo;
  bo.max_batch_tokens = options_.max_batch_tokens;
  bo.max_batch_requests = options_.max_batch_requests;
  bo.threads = options_.threads;
  if (!options_.default_prompt.empty() && !options_.default_prompt_name.empty())
    throw Error(ErrorKind::InvalidInput, "--default-prompt and --default-prompt-name exclude each other");
  bool prompt_found = options_.default_prompt_name.empty();
  for (const ModelSpec& spec : options_.models) {
    auto served = std::make_unique<Served>();
    served->name = spec.name;
    served->prompts = read_prompts(spec.dir);
    served->default_prompt = options_.default_prompt;
    if (auto it = served->prompts.find(options_.default_prompt_name); it != served->prompts.end()) {
      served->default_prompt = it->second;
      prompt_found = true;
    }
    served->model = Model::load(spec.dir, mo);
    // TEI's rule: SPLADE pooling serves masked-LM models; classifiers ignore the pooling.
    const HeadKind head = served->model->info().head.kind;
    if (options_.pooling == "splade" && head != HeadKind::MaskedLM && head != HeadKind::SequenceClassification)
      throw Error(ErrorKind::InvalidInput,
                  fmt::format("--pooling splade: model '{}' ({}) has no masked-LM head (a *ForMaskedLM model)",
                              spec.name, spec.dir));
    // A window longer than --max-batch-tokens runs alone (run_jobs), so no clamp is needed.
    served->batcher = std::make_unique<Batcher>(served->model, bo, metrics_, tokenizers_);
    models_.push_back(std::move(served));
  }
  if (!prompt_found)
    throw Error(ErrorKind::InvalidInput, fmt::format("--default-prompt-name {}: no served model's "
                                                     "config_sentence_transformers.json has this prompt",
                                                     options_.default_prompt_name));
  healthy_ = true;
}

void Service::stop() {
  healthy_ = false;
  for (auto& m : models_)
    if (m->batcher) m->batcher->stop();
  tokenizers_.stop();
}

Service::Served& Service::select(const std::string& name) {
  if (name.empty()) return *models_.front();
  for (auto& m : models_)
    if (m->name == name) return *m;
  std::string names;
  for (auto& m : models_) names += (names.empty() ? "" : ", ") + m->name;
  throw validation_error(fmt::format("unknown model '{}'; this server serves: {}", name, names));
}

namespace {

// The prompt prepended to a request's texts: the one its prompt_name names (422 when the model has
// no such prompt), else the server's default.
std::string prompt_for(const Service::Served& m, const json& j) {
  const std::optional<std::string> name = opt_string(j, "prompt_name");
  if (!name) return m.default_prompt;
  auto it = m.prompts.find(*name);
  if (it != m.prompts.end()) return it->second;
  std::string names;
  for (const auto& [k, v] : m.prompts) names += (names.empty() ? "" : ", ") + k;
  throw validation_error(fmt::format("prompt_name `{}` is not in the model's config_sentence_transformers.json prompts{}",
                                     *name, names.empty() ? " (it has none)" : " (" + names + ")"));
}

// Constant-time comparison: the time taken does not depend on where the strings differ.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? (unsigned char)a[i] : 0;
    const unsigned char y = i < b.size() ? (unsigned char)b[i] : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

bool is_public(const std::string& path) {
  return path == "/health" || path == "/" || path == "/ping" || path == "/metrics" || path == "/docs" ||
         path == "/api-doc/openapi.json";
}

}  // namespace

void Service::handle(const HttpRequest& request, const std::shared_ptr<Exchange>& exchange) {
  const bool openai = request.path == "/v1/embeddings" || request.path == "/embeddings";
  Reply reply;
  try {
    if (!options_.api_key.empty() && !is_public(request.path) &&
        !same_secret(request.authorization, "Bearer " + options_.api_key)) {
      reply.status = 401;
      reply.content_type.clear();
    } else {
      reply = route(request, exchange);
    }
  } catch (const ApiError& e) {
    reply = error_reply(e);
  } catch (const Error& e) {
    reply = error_reply(library_error(e));
  } catch (const std::exception& e) {
    reply = error_reply(500, "Backend", fmt::format("internal error: {}", e.what()));
  }
  if (reply.status == kDeferred) return;
  if (openai && reply.status >= 400 && !reply.body.empty()) {
    // The OpenAI route's error body: {"message", "code", "type"}.
    const json e = json::parse(reply.body);
    ordered_json body;
    body["message"] = e["error"];
    body["code"] = reply.status;
    body["type"] = e["error_type"];
    reply.body = dump(body);
  }
  exchange->reply(std::move(reply));
}

Reply Service::route(const HttpRequest& request, const std::shared_ptr<Exchange>& exchange) {
  const std::string& path = request.path;
  const bool get = request.method == "GET" || request.method == "HEAD";
  auto method_must_be = [&](const char* m) {
    if (request.method != m && !(std::strcmp(m, "GET") == 0 && get))
      throw ApiError(405, "Validation", fmt::format("{} takes {} requests", path, m));
  };

  if (path == "/health" || path == "/" || path == "/ping") {
    method_must_be("GET");
    if (!healthy_) throw unhealthy_error();
    Reply r;
    r.content_type.clear();
    return r;
  }
  if (path == "/metrics") {
    method_must_be("GET");
    Reply r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics_.render();
    return r;
  }
  if (path == "/docs" || path == "/api-doc/openapi.json") {
    method_must_be("GET");
    return json_reply(openapi_document());
  }

  static const char* known[] = {"/info",     "/embed",    "/embed_all",      "/predict",     "/rerank",
                                "/similarity", "/tokenize", "/decode", "/embed_sparse",       "/v1/embeddings", "/embeddings",
                                "/classify", "/ner",      "/fill-mask"};
  if (std::find_if(std::begin(known), std::end(known), [&](const char* k) { return path == k; }) == std::end(known))
    throw ApiError(404, "NotFound", fmt::format("no route {}", path));
  if (!healthy_) throw unhealthy_error();

  if (path == "/info") {
    method_must_be("GET");
    const Served& m = *models_.front();
    const ModelInfo& info = m.model->info();
    ordered_json j;
    j["model_id"] = m.model->path();
    j["model_sha"] = nullptr;
    j["model_dtype"] = m.model->precision() == Precision::BF16   ? "bfloat16"
                     : m.model->precision() == Precision::INT8 ? "int8"
                                                               : "float32";
    j["served_model_name"] = m.name;
    ordered_json labels = ordered_json::object(), ids = ordered_json::object();
    for (size_t i = 0; i < info.head.id2label.size(); ++i) {
      labels[std::to_string(i)] = info.head.id2label[i];
      ids[info.head.id2label[i]] = i;
    }
    if (is_classifier(*m.model))
      j["model_type"][info.head.num_labels == 1 ? "reranker" : "classifier"] = {{"id2label", labels}, {"label2id", ids}};
    else
      j["model_type"]["embedding"] = {{"pooling", options_.pooling}};
    j["max_concurrent_requests"] = options_.max_concurrent_requests;
    j["max_input_length"] = m.model->max_length();
    j["max_batch_tokens"] = options_.max_batch_tokens;
    j["max_batch_requests"] = options_.max_batch_requests > 0 ? ordered_json(options_.max_batch_requests) : ordered_json();
    j["max_client_batch_size"] = options_.max_client_batch_size;
    j["auto_truncate"] = options_.auto_truncate;
    j["tokenization_workers"] = options_.tokenization_workers;
    j["version"] = "medenc 0.1.0";
    j["sha"] = nullptr;
    j["docker_label"] = nullptr;
    // medenc: every model served, with its head.
    ordered_json models = ordered_json::array();
    for (const auto& s : models_) {
      const ModelInfo& mi = s->model->info();
      ordered_json e;
      e["name"] = s->name;
      e["model_id"] = s->model->path();
      e["architecture"] = mi.head.architecture;
      e["head"] = head_name(mi.head.kind);
      if (is_classifier(*s->model)) e["problem_type"] = problem_type_name(mi.head.resolved_problem_type());
      if (mi.head.kind == HeadKind::SequenceClassification || mi.head.kind == HeadKind::TokenClassification)
        e["labels"] = mi.head.id2label;
      e["max_input_length"] = s->model->max_length();
      models.push_back(std::move(e));
    }
    j["models"] = std::move(models);
    return json_reply(j);
  }

  method_must_be("POST");
  const json body = parse_body(request.body);
  const bool openai = path == "/v1/embeddings" || path == "/embeddings";
  std::string model_name;
  if (const auto name = opt_string(body, "model")) model_name = *name;
  // OpenAI clients always name a model: with one model served, any name means it (as in TEI).
  if (openai && models_.size() == 1) model_name.clear();
  Served& served = select(model_name);
  const Model& model = *served.model;
  const Tokenizer& tokenizer = model.tokenizer();

  if (path == "/tokenize" || path == "/decode") {
    // No permit and no queue (TEI): the work runs on a tokenizer worker.
    std::shared_ptr<const Model> keep = served.model;
    std::function<ordered_json()> work;
    if (path == "/tokenize") {
      const std::string prompt = prompt_for(served, body);
      const json* v = field(body, "inputs");
      std::vector<std::string> texts;
      if (v && v->is_string()) texts.push_back(v->get<std::string>());
      else if (v && v->is_array() && !v->empty() &&
               std::all_of(v->begin(), v->end(), [](const json& x) { return x.is_string(); }))
        for (const json& x : *v) texts.push_back(x.get<std::string>());
      else if (v && v->is_array() && v->empty()) throw empty_error("`inputs` cannot be empty");
      else throw validation_error("`inputs` must be a string or a list of strings");
      check_batch_size(texts.size(), options_.max_client_batch_size);
      for (std::string& text : texts) text.insert(0, prompt);  // offsets index the prompted text (TEI)
      EncodeOptions eo;
      eo.add_special_tokens = opt_bool(body, "add_special_tokens").value_or(true);
      work = [keep, texts, eo] {
        ordered_json out = ordered_json::array();
        for (const std::string& text : texts) {
          const Encoding enc = keep->tokenizer().encode(text, eo);
          const std::vector<size_t> cp = codepoint_byte_offsets(text);
          ordered_json tokens = ordered_json::array();
          for (size_t i = 0; i < enc.size(); ++i) {
            ordered_json t;
            t["id"] = enc.ids[i];
            const bool special = enc.special_tokens_mask[i] != 0;
            t["special"] = special;
            if (special) {
              t["text"] = enc.tokens[i];
              t["start"] = nullptr;
              t["stop"] = nullptr;
            } else {
              const size_t start = cp[enc.offsets[i].first], stop = cp[enc.offsets[i].second];
              t["text"] = text.substr(start, stop - start);
              t["start"] = start;
              t["stop"] = stop;
            }
            tokens.push_back(std::move(t));
          }
          out.push_back(std::move(tokens));
        }
        return out;
      };
    } else {
      const json* v = field(body, "ids");
      if (!v || !v->is_array()) throw validation_error("`ids` must be a list of token ids or a list of such lists");
      std::vector<std::vector<int32_t>> lists;
      if (v->empty() || all_numbers(*v)) lists.push_back(id_list(*v, "ids"));
      else
        for (const json& x : *v) {
          if (!x.is_array()) throw validation_error("`ids` must be a list of token ids or a list of such lists");
          lists.push_back(id_list(x, "ids"));
        }
      for (const auto& l : lists) {
        if (l.empty()) throw empty_error("Input validation error: `input_ids` cannot be empty");
        for (int32_t id : l)
          if (id >= tokenizer.vocab_size())
            throw validation_error(fmt::format("Input validation error: token id {} is out of the vocabulary", id));
      }
      check_batch_size(lists.size(), options_.max_client_batch_size);
      const bool skip = opt_bool(body, "skip_special_tokens").value_or(true);
      work = [keep, lists, skip] {
        ordered_json out = ordered_json::array();
        for (const auto& ids : lists) out.push_back(keep->tokenizer().decode(ids, skip));
        return out;
      };
    }
    tokenizers_.post([exchange, work] {
      Reply r;
      try {
        r = json_reply(work());
      } catch (const Error& e) {
        r = error_reply(422, "Tokenizer", fmt::format("tokenizer error {}", e.what()));
      }
      exchange->reply(std::move(r));
    });
    Reply deferred;
    deferred.status = kDeferred;
    return deferred;
  }

  // ---- inference routes: one queue entry per input -------------------------------------------------
  auto r = std::make_shared<InferenceRequest>();
  r->exchange = exchange;
  r->openai = openai;
  r->max_input_length = model.max_length();
  r->truncate = opt_bool(body, "truncate").value_or(options_.auto_truncate);
  const int64_t stride = opt_int(body, "stride", 0).value_or(options_.stride);
  // /similarity takes its options in "parameters" (the HF Inference API's shape).
  const json* parameters = path == "/similarity" ? field(body, "parameters") : nullptr;
  if (parameters && !parameters->is_object()) throw validation_error("`parameters` must be an object");
  const json& request_options = parameters ? *parameters : body;
  WindowOptions windows = model.window_options(0, stride);
  windows.side = truncation_side(request_options);
  const std::string prompt = takes_prompt(path) ? prompt_for(served, request_options) : "";
  const std::string window_key = fmt::format("{}:{}:{}", windows.max_length, windows.stride,
                                             windows.side == TruncationSide::Left ? "left" : "right");
  std::vector<TextInput> inputs;
  // How the computed inputs become the reply body.
  std::function<ordered_json(InferenceRequest&)> render;

  const Pooling pooling = parse_pooling(options_.pooling);  // of /embed, /similarity, /v1/embeddings
  const bool splade = pooling == Pooling::Splade;
  if (path == "/embed" || path == "/similarity" || openai) {
    std::optional<int64_t> dimensions;
    bool normalize = true;
    std::string encoding = "float";
    if (path == "/similarity") {
      const json* in = field(body, "inputs");
      if (!in || !in->is_object()) throw validation_error("`inputs` must be {\"source_sentence\", \"sentences\"}");
      const json* source = field(*in, "source_sentence");
      const json* sentences = field(*in, "sentences");
      if (!source || !source->is_string() || !sentences || !sentences->is_array())
        throw validation_error("`inputs` must be {\"source_sentence\": string, \"sentences\": [string]}");
      if (sentences->empty()) throw empty_error("`inputs.sentences` cannot be empty");
      check_batch_size(sentences->size() + 1, options_.max_client_batch_size);
      inputs.emplace_back(source->get<std::string>());
      for (const json& s : *sentences) {
        if (!s.is_string()) throw validation_error("`inputs.sentences` must hold strings");
        inputs.emplace_back(s.get<std::string>());
      }
      for (const TextInput& in : inputs) {
        if (in.text.empty()) throw empty_error("Input validation error: `inputs` cannot be empty");
        r->characters += codepoints(in.text);
      }
      if (parameters) r->truncate = opt_bool(*parameters, "truncate").value_or(options_.auto_truncate);
      normalize = false;
    } else if (openai) {
      inputs = tei_inputs(field(body, "input"), tokenizer, "input", r->characters);
      dimensions = opt_int(body, "dimensions", 1);
      encoding = opt_string(body, "encoding_format").value_or("float");
      if (encoding != "float" && encoding != "base64")
        throw validation_error("`encoding_format` must be \"float\" or \"base64\"");
      r->truncate = options_.auto_truncate;
    } else {
      inputs = tei_inputs(field(body, "inputs"), tokenizer, "inputs", r->characters);
      normalize = opt_bool(body, "normalize").value_or(true);
      if (const json* d = field(body, "dimensions")) {
        if (!d->is_number_integer()) throw validation_error("`dimensions` must be an integer");
        if (d->get<int64_t>() <= 0) throw validation_error("dimensions should be positive");
        dimensions = d->get<int64_t>();
      }
    }
    if (splade && normalize) throw backend_error("normalize is not available for SPLADE models");
    if (dimensions && *dimensions > embedding_width(model.info(), pooling))
      throw validation_error("dimensions should be smaller than the maximum embedding dimension.");
    if (path != "/similarity") check_batch_size(inputs.size(), options_.max_client_batch_size);
    EmbedOptions eo;
    eo.pooling = pooling;
    eo.normalize = false;  // after the Matryoshka cut, below
    r->task = make_embed_task(tokenizer, model.info(), windows, eo);
    r->batch_key = "embed:" + options_.pooling + ":" + window_key;
    const std::string name = served.name;
    render = [path, normalize, dimensions, encoding, openai, name](InferenceRequest& r) {
      std::vector<std::vector<float>> vectors;
      for (const Job& job : r.jobs) {
        std::vector<float> v = embedding_of(job);
        if (dimensions) v.resize((size_t)*dimensions);
        if (normalize) l2_normalize(v);
        vectors.push_back(std::move(v));
      }
      if (path == "/similarity") {
        ordered_json out = ordered_json::array();
        const std::vector<float>& a = vectors[0];
        for (size_t k = 1; k < vectors.size(); ++k) {
          double dot = 0, na = 0, nb = 0;
          for (size_t h = 0; h < a.size(); ++h) {
            dot += (double)a[h] * vectors[k][h];
            na += (double)a[h] * a[h];
            nb += (double)vectors[k][h] * vectors[k][h];
          }
          const double cos = (na > 0 && nb > 0) ? dot / std::sqrt(na * nb) : 0.0;
          out.push_back(json_float((float)cos));
        }
        return out;
      }
      if (openai) {
        ordered_json out;
        out["object"] = "list";
        out["data"] = ordered_json::array();
        int64_t tokens = 0;
        for (size_t i = 0; i < vectors.size(); ++i) {
          ordered_json d;
          d["object"] = "embedding";
          if (encoding == "base64") d["embedding"] = base64(vectors[i]);
          else d["embedding"] = float_array(vectors[i]);
          d["index"] = i;
          out["data"].push_back(std::move(d));
          tokens += r.tokens[i];
        }
        out["model"] = name;
        out["usage"] = {{"prompt_tokens", tokens}, {"total_tokens", tokens}};
        return out;
      }
      ordered_json out = ordered_json::array();
      for (const auto& v : vectors) out.push_back(float_array(v));
      return out;
    };
  } else if (path == "/embed_all") {
    if (splade) throw backend_error("`/embed_all` is not available for SPLADE models");
    inputs = tei_inputs(field(body, "inputs"), tokenizer, "inputs", r->characters);
    check_batch_size(inputs.size(), options_.max_client_batch_size);
    if (stride > 0) throw validation_error("`stride` is not supported by /embed_all (one vector per token of one window)");
    EmbedOptions eo;
    eo.pooling = Pooling::Tokens;
    r->task = make_embed_task(tokenizer, model.info(), windows, eo);
    r->batch_key = "embed_all:" + window_key;
    const int64_t H = model.info().hidden_size;
    render = [H](InferenceRequest& r) {
      ordered_json out = ordered_json::array();
      for (const Job& job : r.jobs) {
        ordered_json rows = ordered_json::array();
        const std::vector<float>& v = embedding_of(job);
        for (size_t t = 0; t * H < v.size(); ++t)
          rows.push_back(float_array(std::vector<float>(v.begin() + t * H, v.begin() + (t + 1) * H)));
        out.push_back(std::move(rows));
      }
      return out;
    };
  } else if (path == "/embed_sparse") {
    // SPLADE over the masked-LM head: TEI serves it for *ForMaskedLM models started with --pooling splade.
    if (model.info().head.kind != HeadKind::MaskedLM)
      throw backend_error("Model is not an embedding model with SPLADE pooling");
    inputs = tei_inputs(field(body, "inputs"), tokenizer, "inputs", r->characters);
    check_batch_size(inputs.size(), options_.max_client_batch_size);
    EmbedOptions eo;
    eo.pooling = Pooling::Splade;
    r->task = make_embed_task(tokenizer, model.info(), windows, eo);
    r->batch_key = "embed_sparse:" + window_key;
    // Every token's vocabulary-wide logits are held for a batch: fewer tokens per batch.
    r->max_batch_tokens = kSparseBatchTokens;
    render = [](InferenceRequest& r) {
      ordered_json out = ordered_json::array();
      for (const Job& job : r.jobs) {
        const std::vector<float>& v = embedding_of(job);
        ordered_json entries = ordered_json::array();
        for (size_t i = 0; i < v.size(); ++i)
          if (v[i] != 0.0f) entries.push_back({{"index", i}, {"value", json_float(v[i])}});
        out.push_back(std::move(entries));
      }
      return out;
    };
  } else if (path == "/predict" || path == "/rerank") {
    if (!is_classifier(model)) throw backend_error("Model is not a classifier model");
    const bool raw = opt_bool(body, "raw_scores").value_or(false);
    const std::vector<std::string>& labels = model.info().head.id2label;
    if (path == "/predict") {
      // TEI's PredictInput: "a" | ["a"] | ["a", "b"] (one pair) | [["a"], ["b", "c"], ...] (a batch).
      const json* v = field(body, "inputs");
      if (!v) throw validation_error("missing field `inputs`");
      bool batch = false;
      auto sequence = [&](const json& x) {
        if (x.is_string()) return TextInput(x.get<std::string>());
        if (!x.is_array() || x.empty() || x.size() > 2 ||
            !std::all_of(x.begin(), x.end(), [](const json& s) { return s.is_string(); }))
          throw validation_error("`inputs` must be a string, a list of one or two strings, or a list of such lists");
        return x.size() == 1 ? TextInput(x[0].get<std::string>())
                             : TextInput(x[0].get<std::string>(), x[1].get<std::string>());
      };
      if (v->is_array() && !v->empty() && (*v)[0].is_array()) {
        batch = true;
        for (const json& x : *v) inputs.push_back(sequence(x));
      } else {
        inputs.push_back(sequence(*v));
      }
      for (const TextInput& in : inputs) {
        if (in.text.empty()) throw empty_error("Input validation error: `inputs` cannot be empty");
        r->characters += codepoints(in.text) + (in.pair ? codepoints(*in.pair) : 0);
      }
      check_batch_size(inputs.size(), options_.max_client_batch_size);
      render = [batch, raw, labels](InferenceRequest& r) {
        ordered_json out = ordered_json::array();
        for (const Job& job : r.jobs) {
          const std::vector<float> scores = tei_scores(logits_of(job), raw);
          std::vector<size_t> order(scores.size());
          for (size_t i = 0; i < order.size(); ++i) order[i] = i;
          std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
          ordered_json list = ordered_json::array();
          for (size_t i : order) {
            if (std::isnan(scores[i])) throw ApiError(424, "Backend", "score is NaN");
            list.push_back({{"score", json_float(scores[i])}, {"label", labels[i]}});
          }
          out.push_back(std::move(list));
        }
        return batch ? out : out[0];
      };
    } else {
      if (model.info().head.num_labels != 1) throw backend_error("model is not a re-ranker model");
      const std::optional<std::string> query = opt_string(body, "query");
      if (!query) throw validation_error("missing field `query`");
      const json* texts = field(body, "texts");
      if (!texts || !texts->is_array()) throw validation_error("`texts` must be a list of strings");
      if (texts->empty()) throw empty_error("`texts` cannot be empty");
      check_batch_size(texts->size(), options_.max_client_batch_size);
      std::vector<std::string> text_list;
      for (const json& t : *texts) {
        if (!t.is_string()) throw validation_error("`texts` must be a list of strings");
        text_list.push_back(t.get<std::string>());
        if (query->empty() || text_list.back().empty())
          throw empty_error("Input validation error: `inputs` cannot be empty");
        inputs.emplace_back(*query, text_list.back());
        r->characters += codepoints(*query) + codepoints(text_list.back());
      }
      const bool return_text = opt_bool(body, "return_text").value_or(false);
      render = [raw, return_text, text_list](InferenceRequest& r) {
        std::vector<std::pair<float, size_t>> scored;
        for (size_t i = 0; i < r.jobs.size(); ++i) {
          const std::vector<float>& logits = logits_of(r.jobs[i]);
          scored.emplace_back(raw ? logits[0] : (float)sigmoid(logits[0]), i);
        }
        std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
        ordered_json out = ordered_json::array();
        for (const auto& [score, i] : scored) {
          ordered_json e;
          e["index"] = i;
          if (return_text) e["text"] = text_list[i];
          e["score"] = json_float(score);
          out.push_back(std::move(e));
        }
        return out;
      };
    }
    r->task = make_classify_task(tokenizer, model.info(), windows, ClassifyOptions{});
    r->batch_key = "classify:" + window_key;
    r->family = "predict";
  } else {
    // medenc's routes: the CLI's task, and its output line per input.
    inputs = medenc_inputs(field(body, "inputs"), r->characters);
    check_batch_size(inputs.size(), options_.max_client_batch_size);
    const HeadConfig& head = model.info().head;
    if (path == "/classify") {
      if (!is_classifier(model)) throw backend_error("Model is not a classifier model");
      ClassifyOptions co;
      co.threshold = opt_number(body, "threshold").value_or(0.5);
      if (co.threshold < 0 || co.threshold > 1) throw validation_error("`threshold` must be within [0, 1]");
      co.top_k = (int)opt_int(body, "top_k", 0).value_or(0);
      co.window_aggregation = parse_window_aggregation(opt_string(body, "window_aggregation").value_or("mean"));
      if (const json* t = field(body, "thresholds")) {
        if (!t->is_object()) throw validation_error("`thresholds` must be an object {\"label\": threshold}");
        co.thresholds.assign(head.id2label.size(), co.threshold);
        for (const auto& [label, value] : t->items()) {
          auto it = std::find(head.id2label.begin(), head.id2label.end(), label);
          if (it == head.id2label.end()) throw validation_error(fmt::format("`thresholds`: unknown label '{}'", label));
          if (!value.is_number() || value.get<double>() < 0 || value.get<double>() > 1)
            throw validation_error(fmt::format("`thresholds`: the value of '{}' must be a number in [0, 1]", label));
          co.thresholds[it - head.id2label.begin()] = value.get<double>();
        }
      }
      r->task = make_classify_task(tokenizer, model.info(), windows, co);
      r->batch_key = "classify:" + window_key;
      r->family = "predict";
    } else if (path == "/ner") {
      if (head.kind != HeadKind::TokenClassification) throw backend_error("Model is not a token-classification model");
      NerOptions no;
      no.aggregation = parse_ner_aggregation(opt_string(body, "aggregation").value_or("simple"));
      if (const json* ig = field(body, "ignore_labels")) {
        if (!ig->is_array() || !std::all_of(ig->begin(), ig->end(), [](const json& x) { return x.is_string(); }))
          throw validation_error("`ignore_labels` must be a list of strings");
        no.ignore_labels = ig->get<std::vector<std::string>>();
      }
      r->task = make_ner_task(tokenizer, model.info(), windows, no);
      r->batch_key = "ner:" + window_key;
      r->family = "predict";
    } else {
      if (head.kind != HeadKind::MaskedLM) throw backend_error("Model is not a masked-LM model");
      FillMaskOptions fo;
      fo.top_k = (int)opt_int(body, "top_k", 1).value_or(5);
      r->task = make_fill_mask_task(tokenizer, model.info(), windows, fo);
      r->batch_key = fmt::format("fill_mask:{}:{}", fo.top_k, window_key);
      r->family = "predict";
    }
    render = [](InferenceRequest& r) {
      ordered_json out = ordered_json::array();
      for (const Job& job : r.jobs) out.push_back(document_line(job));  // the CLI's line
      return out;
    };
  }

  if (!prompt.empty())
    for (TextInput& in : inputs) in.text.insert(0, prompt);
  r->jobs.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    r->jobs[i].doc.line = (int64_t)i + 1;
    r->jobs[i].doc.text = std::move(inputs[i].text);
    r->jobs[i].doc.text_pair = std::move(inputs[i].pair);
  }
  const int64_t n = (int64_t)r->jobs.size();
  const std::string method = n == 1 ? "method=\"single\"" : "method=\"batch\"";
  metrics_.add("te_request_count", method);
  if (!permits_.try_acquire(n)) {
    metrics_.add("te_request_failure", "err=\"overloaded\"");
    throw overloaded_error();
  }
  r->permit = Permit(&permits_, n);
  metrics_.add("te_" + r->family + "_count", "", (double)n);

  Metrics* metrics = &metrics_;
  r->render = [render, metrics, method](InferenceRequest& r) {
    Reply reply;
    try {
      reply = json_reply(render(r));
    } catch (const ApiError& e) {
      return error_reply(e);
    } catch (const std::exception& e) {
      return error_reply(500, "Backend", fmt::format("internal error: {}", e.what()));
    }
    const size_t n = r.jobs.size();
    double tok = 0, queue = 0, inf = 0;
    int64_t tokens = 0;
    for (size_t i = 0; i < n; ++i) {
      tok += r.tokenization[i];
      queue += r.queue[i];
      inf += r.inference[i];
      tokens += r.tokens[i];
      metrics->observe("te_" + r.family + "_tokenization_duration", r.tokenization[i]);
      metrics->observe("te_" + r.family + "_queue_duration", r.queue[i]);
      metrics->observe("te_" + r.family + "_inference_duration", r.inference[i]);
      metrics->observe("te_" + r.family + "_duration", r.tokenization[i] + r.queue[i] + r.inference[i]);
    }
    tok /= (double)n, queue /= (double)n, inf /= (double)n;
    const double total = std::chrono::duration<double>(Clock::now() - r.exchange->start()).count();
    metrics->add("te_request_success", method);
    metrics->add("te_" + r.family + "_success", "", (double)n);
    metrics->observe("te_request_duration", total);
    metrics->observe("te_request_tokenization_duration", tok);
    metrics->observe("te_request_queue_duration", queue);
    metrics->observe("te_request_inference_duration", inf);
    reply.headers = {{"x-compute-type", "cpu"},
                     {"x-compute-time", std::to_string(ms(total))},
                     {"x-total-time", std::to_string(ms(total))},
                     {"x-compute-characters", std::to_string(r.characters)},
                     {"x-compute-tokens", std::to_string(tokens)},
                     {"x-tokenization-time", std::to_string(ms(tok))},
                     {"x-queue-time", std::to_string(ms(queue))},
                     {"x-inference-time", std::to_string(ms(inf))}};
    reply.inputs = (int64_t)n;
    reply.tokens = tokens;
    reply.tokenization_ms = 1000 * tok, reply.queue_ms = 1000 * queue, reply.inference_ms = 1000 * inf;
    return reply;
  };
  served.batcher->submit(r);
  Reply deferred;
  deferred.status = kDeferred;
  return deferred;
}

}  // namespace medenc::serve
