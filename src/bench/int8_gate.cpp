#include "bench/int8_gate.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/forward.h"
#include "medenc/metrics.h"
#include "medenc/safetensors.h"
#include "medenc/session.h"
#include "ops/ops.h"

namespace medenc::bench {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const NamedTensor* find_output(const std::vector<NamedTensor>& outs, const std::string& name) {
  for (const NamedTensor& t : outs)
    if (t.name == name) return &t;
  return nullptr;
}

// Largest |a - b| over the real tokens of a padded [B, T, C] tensor (or over all of a [B, C] one).
double max_abs_diff_real(const std::vector<float>& a, const std::vector<float>& b, const PaddedInputs& in,
                         bool per_token) {
  if (a.size() != b.size() || a.empty()) return NAN;
  double worst = 0.0;
  const size_t per_row = per_token ? a.size() / (size_t)(in.batch * in.seq_len) : 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (per_token) {
      const size_t token = i / per_row;
      if ((int64_t)(token % (size_t)in.seq_len) >= in.lengths[token / (size_t)in.seq_len]) continue;
    }
    worst = std::max(worst, (double)std::fabs(a[i] - b[i]));
  }
  return worst;
}

json fixture_errors(const std::string& dir) {
  const PaddedInputs in = read_padded_inputs(dir + "/inputs.json");
  if (!in.positions.empty() || !fs::exists(dir + "/expected.safetensors")) return nullptr;
  const auto expected = SafetensorsFile::open(dir + "/expected.safetensors");
  LoadOptions lo;
  auto f32 = load_encoder(dir, lo);
  lo.int8 = true;
  auto int8 = load_encoder(dir, lo);
  const std::vector<NamedTensor> a = run_padded_forward(*f32, in), b = run_padded_forward(*int8, in);
  json j = json::object();
  const NamedTensor* ha = find_output(a, "last_hidden_state");
  const NamedTensor* hb = find_output(b, "last_hidden_state");
  if (ha && hb) j["hidden_vs_fp32"] = max_abs_diff_real(ha->data, hb->data, in, true);
  const NamedTensor* la = find_output(a, "logits");
  const NamedTensor* lb = find_output(b, "logits");
  if (la && lb) {
    const bool per_token = la->shape.size() == 3;
    j["logits_vs_fp32"] = max_abs_diff_real(la->data, lb->data, in, per_token);
    if (const TensorInfo* t = expected->find("logits"); t && t->numel() == (int64_t)lb->data.size())
      j["logits_vs_hf_fp32"] = max_abs_diff_real(lb->data, expected->read_f32(*t), in, per_token);
    double scale = 0.0;
    for (size_t i = 0; i < la->data.size(); ++i) scale = std::max(scale, (double)std::fabs(la->data[i]));
    j["logits_max_abs"] = scale;
  }
  return j;
}

std::vector<double> relevance_scores(const std::string& model_dir, Precision precision,
                                     const std::vector<TextInput>& texts, int threads) {
  ModelOptions mo;
  mo.precision = precision;
  Session session(Model::load(model_dir, mo), SessionOptions{threads});
  const ClassifyResponse r = session.classify(texts);
  std::vector<double> scores;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (!r.inputs[i].ok()) throw Error(fmt::format("{}: text {} failed: {}", model_dir, i, r.inputs[i].error));
    scores.push_back(r.results[i].score);
  }
  return scores;
}

}  // namespace

json int8_accuracy_gate(const Int8GateOptions& o, int threads) {
  json gate = json::object();
  json fixtures = json::object();
  if (fs::is_directory(o.fixtures_dir)) {
    std::vector<std::string> dirs;
    for (const auto& e : fs::directory_iterator(o.fixtures_dir))
      if (e.is_directory() && fs::exists(e.path() / "inputs.json")) dirs.push_back(e.path().string());
    std::sort(dirs.begin(), dirs.end());
    for (const std::string& d : dirs) {
      json f = fixture_errors(d);
      if (!f.is_null()) fixtures[fs::path(d).filename().string()] = f;
    }
  }
  gate["fixtures"] = fixtures;
  if (!fs::exists(fs::path(o.relevance_model) / "config.json") || !fs::exists(o.relevance_texts)) {
    gate["relevance"] = {{"skipped", fmt::format("{} or {} not found", o.relevance_model, o.relevance_texts)}};
    return gate;
  }
  std::vector<TextInput> texts;
  std::vector<uint8_t> medical;
  std::ifstream in(o.relevance_texts);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const json j = json::parse(line);
    texts.emplace_back(j.at("text").get<std::string>());
    medical.push_back(j.at("score").get<double>() > 3.0);
  }
  const std::vector<double> f32 = relevance_scores(o.relevance_model, Precision::F32, texts, threads);
  const std::vector<double> int8 = relevance_scores(o.relevance_model, Precision::INT8, texts, threads);
  double sum = 0.0, worst = 0.0;
  for (size_t i = 0; i < f32.size(); ++i) {
    sum += std::fabs(f32[i] - int8[i]);
    worst = std::max(worst, std::fabs(f32[i] - int8[i]));
  }
  const double auc_f32 = roc_auc(f32, medical), auc_int8 = roc_auc(int8, medical);
  gate["relevance"] = {{"model", o.relevance_model},
                       {"texts", o.relevance_texts},
                       {"count", f32.size()},
                       {"mean_abs_score_diff", sum / (double)f32.size()},
                       {"max_abs_score_diff", worst},
                       {"roc_auc_f32", auc_f32},
                       {"roc_auc_int8", auc_int8},
                       {"roc_auc_diff", std::fabs(auc_int8 - auc_f32)}};
  return gate;
}

json determinism_check(const Encoder& model, const Batch& batch, int threads) {
  ForwardOptions fo;
  fo.want_hidden = true;
  fo.want_logits = true;
  auto run = [&](const Batch& b, int t) {
    const ops::ThreadScope scope(t);
    return model.forward(b, fo);
  };
  const ForwardOutput all = run(batch, threads), one = run(batch, 1);
  const int64_t H = all.hidden_size;
  bool same_threads = all.last_hidden_state == one.last_hidden_state && all.logits == one.logits;
  bool same_alone = true;
  const bool logits_per_sequence = all.logits_rows == batch.size();
  for (int64_t s = 0; s < batch.size() && same_alone; ++s) {
    Batch single;
    const int64_t t0 = batch.offsets[s], t1 = batch.offsets[s + 1];
    single.add(std::span<const int32_t>(batch.ids.data() + t0, (size_t)(t1 - t0)),
               batch.type_ids.empty() ? std::span<const int32_t>()
                                      : std::span<const int32_t>(batch.type_ids.data() + t0, (size_t)(t1 - t0)));
    const ForwardOutput alone = run(single, threads);
    same_alone = std::memcmp(alone.last_hidden_state.data(), all.last_hidden_state.data() + t0 * H,
                             sizeof(float) * (size_t)((t1 - t0) * H)) == 0;
    if (same_alone && logits_per_sequence) {
      const int64_t L = all.logits_cols;
      same_alone = std::memcmp(alone.logits.data(), all.logits.data() + s * L, sizeof(float) * (size_t)L) == 0;
    }
  }
  return {{"sequences", batch.size()},
          {"threads", threads},
          {"same_bits_with_one_thread", same_threads},
          {"same_bits_alone_as_in_batch", same_alone}};
}

}  // namespace medenc::bench
