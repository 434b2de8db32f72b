#pragma once
// Helpers for the task tests: random-weight models with real vocabularies, label rewrites, a
// context-free variant, one-sequence reference forwards and pipeline runs.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "medenc/result_json.h"
#include "medenc/init.h"
#include "medenc/model.h"
#include "medenc/pipeline.h"
#include "medenc/safetensors.h"
#include "medenc/tokenizer.h"
#include "test_support.h"

namespace medenc::test {

// Sentences from MedMentions abstracts (CC0) and short notes written for these tests.
inline const std::vector<std::string>& clinical_sentences() {
  static const std::vector<std::string> s{
      "Pseudomonas aeruginosa (Pa) infection in cystic fibrosis (CF) patients is associated with worse long-term "
      "pulmonary disease and shorter survival.",
      "Nonylphenol diethoxylate inhibits apoptosis induced in PC12 cells",
      "Membranes with rectilinear arrays of square pores with widths ranging from 40 to 200 \xCE\xBCm were created.",
      "No acute cardiopulmonary abnormality.",
      "Pt c/o chest pain x3 days,  worse on exertion; denies SOB.",
      "Fi\xC3\xA8vre \xC3\xA0 39\xC2\xB0" "C, toux s\xC3\xA8" "che.",
      "",
      "BP 120/80, HR 72 bpm. Impression: stable.",
  };
  return s;
}

// A JSON Lines document per text: {"id": i, "text": ...}.
inline std::string to_jsonl(const std::vector<std::string>& texts) {
  std::string out;
  for (size_t i = 0; i < texts.size(); ++i) out += nlohmann::json({{"id", i}, {"text", texts[i]}}).dump() + "\n";
  return out;
}

// A random-weight checkpoint (medenc init) with the tokenizer files of `tokenizer`.
inline std::string make_model(const std::string& arch, const std::string& tokenizer, int num_labels = 0,
                              const std::string& problem_type = "", uint64_t seed = 7) {
  InitOptions o;
  o.architecture = arch;
  o.config = "tiny";
  o.out_dir = temp_dir("model");
  o.seed = seed;
  o.num_labels = num_labels;
  o.problem_type = problem_type;
  o.tokenizer_dir = data_path("tokenizers/" + tokenizer);
  write_random_checkpoint(o);
  return o.out_dir;
}

// Rewrites id2label / label2id of DIR/config.json.
inline void set_labels(const std::string& dir, const std::vector<std::string>& labels) {
  nlohmann::json j = nlohmann::json::parse(read_file(dir + "/config.json"));
  j["id2label"] = nlohmann::json::object();
  j["label2id"] = nlohmann::json::object();
  for (size_t i = 0; i < labels.size(); ++i) {
    j["id2label"][std::to_string(i)] = labels[i];
    j["label2id"][labels[i]] = i;
  }
  write_file(dir + "/config.json", j.dump(2));
}

// Zeroes every tensor whose name contains `part` (e.g. ModernBERT's "attn.Wo.weight": with no
// attention output and no position embeddings, every token's outputs depend on that token only).
inline void zero_tensors(const std::string& dir, const std::string& part) {
  const std::string path = dir + "/model.safetensors";
  std::vector<std::pair<TensorInfo, std::vector<float>>> tensors;
  {
    auto f = SafetensorsFile::open(path);
    for (const TensorInfo& t : f->tensors()) {
      std::vector<float> v = f->read_f32(t);
      if (t.name.find(part) != std::string::npos) std::fill(v.begin(), v.end(), 0.0f);
      tensors.emplace_back(t, std::move(v));
    }
  }
  SafetensorsWriter w;
  for (auto& [t, v] : tensors) w.add_f32(t.name, t.shape, v.data());
  w.write(path);
}

// Logits (or, with hidden, the last hidden state) of one sequence run alone.
inline ForwardOutput forward_one(Encoder& model, const std::vector<int32_t>& ids,
                                 const std::vector<int32_t>& type_ids = {}) {
  Batch b;
  if (model.info().type_vocab_size > 0)
    b.add(ids, type_ids.empty() ? std::vector<int32_t>(ids.size(), 0) : type_ids);
  else
    b.add(ids);
  return model.forward(b);
}

// Runs a task over JSON Lines and returns the parsed output lines.
inline std::vector<nlohmann::json> run_jsonl(Encoder& model, const Task& task, const std::string& jsonl,
                                             PipelineOptions options = {}, const std::string& pair_field = "") {
  std::istringstream in(jsonl);
  InputOptions io;
  io.pair_field = pair_field;
  auto reader = make_document_reader(in, io, "test");
  std::ostringstream out;
  run_pipeline_jsonl(model, task, *reader, out, options);
  std::vector<nlohmann::json> lines;
  std::istringstream res(out.str());
  std::string line;
  while (std::getline(res, line)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

inline double sigmoid_ref(double x) { return 1.0 / (1.0 + std::exp(-x)); }

inline std::vector<double> softmax_ref(const float* x, size_t n) {
  double m = x[0];
  for (size_t i = 1; i < n; ++i) m = std::max(m, (double)x[i]);
  std::vector<double> p(n);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += p[i] = std::exp((double)x[i] - m);
  for (double& v : p) v /= sum;
  return p;
}

// Code point -> byte offsets of a UTF-8 string (size = code points + 1).
inline std::vector<size_t> cp_offsets(const std::string& s) {
  std::vector<size_t> cp;
  for (size_t i = 0; i < s.size(); ++i)
    if (((unsigned char)s[i] & 0xC0) != 0x80) cp.push_back(i);
  cp.push_back(s.size());
  return cp;
}

inline std::string cp_slice(const std::string& s, int64_t start, int64_t end) {
  const auto cp = cp_offsets(s);
  return s.substr(cp[start], cp[end] - cp[start]);
}

// One JSON value per line of a command's output.
inline std::vector<nlohmann::json> parse_lines(const std::string& s) {
  std::vector<nlohmann::json> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

// --model/--tokenizer of the ModernBERT regression fixture (mean pooling).
inline std::string regression_args() {
  return "--model " + fixture_dir("modernbert_seqcls_regression_mean") + " --tokenizer " +
         data_path("tokenizers/modernbert-base");
}

}  // namespace medenc::test
