// `medenc train` wired end to end: the learning rate applied at each step (warmup, linear decay),
// gradient clipping, Hugging Face's weight-decay groups and gradient accumulation, checked against
// an optimisation loop written here in double precision (AdamW, clipping, the schedule and the decay
// groups from their definitions; only forward_train/backward come from the library, and those are
// tested against PyTorch in test_train_fixtures.cpp). Then best-model selection, checkpoint rotation
// and early stopping, and bit-identical weights whatever the thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <algorithm>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "medenc/safetensors.h"
#include "medenc/tokenizer.h"
#include "medenc/train.h"
#include "task_models.h"

namespace medenc {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Eight short notes with a score (the regression target).
const std::vector<std::pair<std::string, float>>& scored_texts() {
  static const std::vector<std::pair<std::string, float>> t{
      {"chest pain on exertion", 4.5f},    {"senate budget vote", 1.0f},      {"fever and dry cough", 4.0f},
      {"football match in the rain", 1.5f}, {"ct scan of the liver", 5.0f},    {"museum opening hours", 1.0f},
      {"kidney biopsy tomorrow", 3.5f},     {"garden party music", 2.0f}};
  return t;
}

std::string write_scored_jsonl(const std::string& dir) {
  std::string body;
  for (const auto& [text, score] : scored_texts()) body += json({{"text", text}, {"label", score}}).dump() + "\n";
  test::write_file(dir + "/train.jsonl", body);
  return dir + "/train.jsonl";
}

// A random ModernBERT regression model; dropout set to `dropout` everywhere.
std::string regression_model(double dropout) {
  const std::string dir = test::make_model("ModernBertForSequenceClassification", "modernbert-base", 1, "regression");
  json c = json::parse(test::read_file(dir + "/config.json"));
  for (const char* k : {"attention_dropout", "embedding_dropout", "mlp_dropout", "classifier_dropout"}) c[k] = dropout;
  test::write_file(dir + "/config.json", c.dump(2));
  return dir;
}

std::map<std::string, std::vector<float>> read_tensors(const std::string& path) {
  std::map<std::string, std::vector<float>> out;
  auto f = SafetensorsFile::open(path);
  for (const TensorInfo& t : f->tensors()) out[t.name] = f->read_f32(t);
  return out;
}

// The loop the Trainer should run, written from the definitions.
struct LoopSettings {
  double lr = 1e-3, weight_decay = 10.0, max_grad_norm = 0.05, eps = 1e-6, beta1 = 0.9, beta2 = 0.999;
  std::vector<double> lrs;  // per optimizer step
  bool clip = true;
  bool decay_norms_and_biases = false;  // true: a wrong decay rule, to show the test would notice
};

struct LoopResult {
  std::map<std::string, std::vector<double>> params;
  std::vector<double> losses, grad_norms;
};

// Hugging Face's rule: no weight decay for biases and LayerNorm weights (every ModernBERT norm is a
// LayerNorm module: embeddings.norm, attn_norm, mlp_norm, final_norm, head.norm).
bool hf_no_decay(const std::string& name) { return name.ends_with(".bias") || name.ends_with("norm.weight"); }

LoopResult reference_loop(const std::string& model_dir, const LoopSettings& s) {
  auto model = load_trainable(model_dir);
  auto tok = Tokenizer::from_dir(model_dir);
  Batch batch;
  TrainLabels labels;
  for (const auto& [text, score] : scored_texts()) {
    batch.add(tok->encode(text).ids);
    labels.values.push_back(score);
  }
  ParameterSet& ps = model->parameters();
  std::vector<double> p(ps.values().begin(), ps.values().end()), m(p.size(), 0.0), v(p.size(), 0.0);
  std::vector<uint8_t> decay(p.size(), 0);
  for (const ParamSpec& spec : ps.specs())
    std::fill(decay.begin() + (ptrdiff_t)spec.offset, decay.begin() + (ptrdiff_t)(spec.offset + spec.numel),
              s.decay_norms_and_biases || !hf_no_decay(spec.name) ? 1 : 0);
  LoopResult r;
  for (size_t step = 0; step < s.lrs.size(); ++step) {
    model->zero_grad();
    TrainOptions o;
    o.dropout = false;
    // The whole data set is one optimizer step: its mean loss, whatever the micro-batches.
    r.losses.push_back(model->forward_train(batch, labels, o).loss);
    model->backward(1.0f);
    std::vector<double> g(model->gradients().begin(), model->gradients().end());
    double sq = 0;
    for (double x : g) sq += x * x;
    const double norm = std::sqrt(sq);
    r.grad_norms.push_back(norm);
    if (s.clip && norm > 0) {
      const double f = std::min(1.0, s.max_grad_norm / (norm + 1e-6));
      for (double& x : g) x *= f;
    }
    const double lr = s.lrs[step], t = (double)(step + 1);
    const double bias1 = 1 - std::pow(s.beta1, t), bias2 = std::sqrt(1 - std::pow(s.beta2, t));
    for (size_t i = 0; i < p.size(); ++i) {
      if (decay[i]) p[i] *= 1.0 - lr * s.weight_decay;
      m[i] = s.beta1 * m[i] + (1 - s.beta1) * g[i];
      v[i] = s.beta2 * v[i] + (1 - s.beta2) * g[i] * g[i];
      p[i] -= lr / bias1 * m[i] / (std::sqrt(v[i]) / bias2 + s.eps);
    }
    for (size_t i = 0; i < p.size(); ++i) ps.values()[i] = (float)p[i];
    model->parameters_changed();
  }
  for (const ParamSpec& spec : ps.specs())
    r.params[spec.name] = std::vector<double>(p.begin() + (ptrdiff_t)spec.offset,
                                              p.begin() + (ptrdiff_t)(spec.offset + spec.numel));
  return r;
}

double max_param_diff(const std::map<std::string, std::vector<float>>& got, const LoopResult& want) {
  double d = 0;
  for (const auto& [name, values] : want.params) {
    auto it = got.find(name);
    if (it == got.end() || it->second.size() != values.size()) {
      ADD_FAILURE() << "saved model lacks " << name;
      return 1e30;
    }
    for (size_t i = 0; i < values.size(); ++i) d = std::max(d, std::fabs((double)it->second[i] - values[i]));
  }
  return d;
}

// 8 examples, batches of 4, accumulation 2: one optimizer step per epoch, 4 epochs. Warmup 2 steps,
// linear: the learning rates of steps 0..3 are 0, lr/2, lr, lr/2 (HF: step/warmup during warmup, then
// (total - step)/(total - warmup)). Clipping at 0.05 clips every step by a different factor; weight
// decay 10 makes the decay groups visible in the weights; epsilon 1e-6 keeps float rounding in
// near-zero gradients from dominating Adam's update.
TEST(TrainerWiring, TrainMatchesAnIndependentLoop) {
  const std::string base = regression_model(0.0);
  const std::string dir = test::temp_dir("wiring");
  const std::string data = write_scored_jsonl(dir);
  std::string out, err;
  ASSERT_EQ(test::run_cli("train --model " + base + " --task regression --train " + data + " --out " + dir +
                              "/run --learning-rate 1e-3 --num-train-epochs 4 --per-device-train-batch-size 4 "
                              "--gradient-accumulation-steps 2 --warmup-steps 2 --lr-scheduler-type linear "
                              "--max-grad-norm 0.05 --weight-decay 10 --adam-epsilon 1e-6 --logging-steps 1 "
                              "--save-strategy no --threads 1",
                          &out, &err),
            0)
      << err;
  LoopSettings s;
  s.lrs = {0.0, 5e-4, 1e-3, 5e-4};
  const LoopResult want = reference_loop(base, s);

  const json state = json::parse(test::read_file(dir + "/run/trainer_state.json"));
  std::vector<json> steps;
  for (const json& e : state["log_history"])
    if (e.contains("learning_rate")) steps.push_back(e);
  ASSERT_EQ(steps.size(), 4u) << state.dump();
  for (size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE("step " + std::to_string(i + 1));
    EXPECT_EQ(steps[i]["step"].get<int64_t>(), (int64_t)i + 1);
    EXPECT_DOUBLE_EQ(steps[i]["learning_rate"].get<double>(), s.lrs[i]);  // the rate applied at that step
    EXPECT_NEAR(steps[i]["loss"].get<double>(), want.losses[i], 1e-5 * want.losses[i]);
    EXPECT_NEAR(steps[i]["grad_norm"].get<double>(), want.grad_norms[i], 1e-4 * want.grad_norms[i]);
    EXPECT_GT(want.grad_norms[i], 2 * s.max_grad_norm);  // every step is clipped
  }
  const auto got = read_tensors(dir + "/run/model.safetensors");
  const double diff = max_param_diff(got, want);
  constexpr double kTol = 2e-6;
  EXPECT_LT(diff, kTol);

  // The comparison has the power to see each wiring bug: each of these loops ends far from the run.
  // (Micro-batch gradients summed instead of averaged would be clipped back to the same update; the
  // logged grad_norm above, twice the true norm then, is what catches that.)
  LoopSettings no_clip = s, all_decay = s, shifted = s;
  no_clip.clip = false;
  all_decay.decay_norms_and_biases = true;
  shifted.lrs = {5e-4, 1e-3, 5e-4, 0.0};  // the schedule one step ahead
  for (const auto& [what, bad] : std::vector<std::pair<const char*, LoopSettings>>{
           {"no clipping", no_clip}, {"decay on norms and biases", all_decay}, {"schedule one step ahead", shifted}})
    EXPECT_GT(max_param_diff(got, reference_loop(base, bad)), 20 * kTol) << what;

}

// Training gives the same bits with 1 and 2 threads (dropout on: its masks must not depend on the
// thread layout either), for a regression head with accumulation and for BERT token classification.
TEST(TrainerWiring, WeightsAreBitIdenticalAcrossThreadCounts) {
  const std::string dir = test::temp_dir("wiring_threads");
  const std::string data = write_scored_jsonl(dir);
  const std::string modernbert = regression_model(0.1);
  const std::string bert = test::make_model("BertForMaskedLM", "bert-base-uncased");
  const std::vector<std::pair<std::string, std::string>> runs{
      {"modernbert", "--model " + modernbert + " --task regression --train " + data +
                         " --per-device-train-batch-size 3 --gradient-accumulation-steps 2 --max-steps 4"},
      {"bert", "--model " + bert + " --task ner --train " + test::data_path("trainer/medmentions_dev_3docs.conll") +
                   " --per-device-train-batch-size 4 --max-steps 3 --max-length 64"}};
  for (const auto& [name, args] : runs) {
    std::vector<std::string> weights;
    for (int threads : {1, 2}) {
      const std::string o = dir + "/" + name + std::to_string(threads);
      std::string err;
      ASSERT_EQ(test::run_cli("train " + args + " --learning-rate 1e-3 --warmup-steps 1 --save-strategy no "
                                                "--threads " + std::to_string(threads) + " --out " + o,
                              nullptr, &err),
                0)
          << name << ": " << err;
      weights.push_back(test::read_file(o + "/model.safetensors"));
    }
    EXPECT_TRUE(weights[0] == weights[1]) << name << ": weights differ between 1 and 2 threads";
  }
}

// Hugging Face's _sorted_checkpoints + _rotate_checkpoints: the best checkpoint is moved to the
// second-newest place, the oldest beyond `limit` are deleted, and a limit of 1 keeps 2 while the
// best is not the newest. Applied at every save to what the previous saves left.
std::set<int64_t> hf_rotate(std::set<int64_t> kept, int64_t best, int64_t limit) {
  std::vector<int64_t> sorted(kept.begin(), kept.end());
  auto it = std::find(sorted.begin(), sorted.end(), best);
  if (it != sorted.end())
    for (auto i = it - sorted.begin(); i + 2 < (ptrdiff_t)sorted.size(); ++i) std::swap(sorted[i], sorted[i + 1]);
  if (limit == 1 && best >= 0 && sorted.back() != best) limit = 2;
  const ptrdiff_t remove = std::max<ptrdiff_t>(0, (ptrdiff_t)sorted.size() - limit);
  for (ptrdiff_t i = 0; i < remove; ++i) kept.erase(sorted[i]);
  return kept;
}

// Eval and a checkpoint every step, at most `limit` kept, the best model loaded at the end,
// patience 2. A learning rate far too high makes the eval loss rise after it first falls. What the
// Trainer must do follows from its own logged eval losses: Hugging Face's rules are applied to them
// here.
void check_best_model_rotation_and_early_stopping(int limit) {
  SCOPED_TRACE("save_total_limit " + std::to_string(limit));
  const std::string base = regression_model(0.0);
  const std::string dir = test::temp_dir("wiring_best");
  const std::string data = write_scored_jsonl(dir);
  const std::string o = dir + "/run";
  std::string out, err;
  ASSERT_EQ(test::run_cli("train --model " + base + " --task regression --train " + data + " --eval " + data +
                              " --out " + o +
                              " --learning-rate 3e-2 --max-steps 30 --per-device-train-batch-size 8 "
                              "--eval-strategy steps --eval-steps 1 --save-steps 1 --logging-steps 1 "
                              "--save-total-limit " + std::to_string(limit) +
                              " --load-best-model-at-end --metric-for-best-model loss "
                              "--early-stopping-patience 2 --lr-scheduler-type constant --threads 1",
                          &out, &err),
            0)
      << err;
  const json state = json::parse(test::read_file(o + "/trainer_state.json"));
  std::vector<std::pair<int64_t, double>> evals;  // (step, eval loss)
  for (const json& e : state["log_history"])
    if (e.contains("eval_loss")) evals.emplace_back(e["step"].get<int64_t>(), e["eval_loss"].get<double>());
  ASSERT_GE(evals.size(), 3u) << state.dump();

  // HF: the best is the step of the last strict improvement; patience counts evals without one, and
  // training stops when it reaches 2. Checkpoints rotate at each save, after that step's eval.
  int64_t best_step = -1, stop_step = -1;
  double best = 0;
  int patience = 0;
  std::set<int64_t> kept;
  for (const auto& [step, loss] : evals) {
    if (best_step < 0 || loss < best) {
      best = loss;
      best_step = step;
      patience = 0;
    } else {
      ++patience;
    }
    kept.insert(step);
    kept = hf_rotate(kept, best_step, limit);
    if (patience == 2) {
      stop_step = step;
      break;
    }
  }
  ASSERT_GT(stop_step, 0) << "the eval loss never stopped improving: the scenario does not test early stopping";
  EXPECT_LT(stop_step, 30);
  EXPECT_EQ(evals.back().first, stop_step);  // no eval after the stop
  EXPECT_EQ(state["global_step"].get<int64_t>(), stop_step);
  ASSERT_LT(best_step, stop_step - 1);  // the best is not among the newest: rotation must spare it
  EXPECT_DOUBLE_EQ(state["best_metric"].get<double>(), best);
  const std::string best_dir = o + "/checkpoint-" + std::to_string(best_step);
  EXPECT_EQ(fs::path(state["best_model_checkpoint"].get<std::string>()).filename(), fs::path(best_dir).filename());

  std::set<std::string> want, have;
  for (int64_t step : kept) want.insert("checkpoint-" + std::to_string(step));
  for (const auto& e : fs::directory_iterator(o))
    if (e.is_directory()) have.insert(e.path().filename().string());
  EXPECT_EQ(have, want);
  // The final model is the best checkpoint's, bit for bit, not the last step's.
  EXPECT_TRUE(test::read_file(o + "/model.safetensors") == test::read_file(best_dir + "/model.safetensors"));
  const std::string last = o + "/checkpoint-" + std::to_string(stop_step) + "/model.safetensors";
  if (fs::exists(last)) {
    EXPECT_FALSE(test::read_file(o + "/model.safetensors") == test::read_file(last));
  }
}

TEST(TrainerWiring, BestModelRotationAndEarlyStopping) {
  check_best_model_rotation_and_early_stopping(2);
  check_best_model_rotation_and_early_stopping(1);
}

}  // namespace
}  // namespace medenc
