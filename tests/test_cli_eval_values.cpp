// `medenc eval` values, not just its keys: the metrics are recomputed here from the predictions that
// `medenc classify` writes for the same data, with the definitions written out (scikit-learn's, with
// zero_division = 0), and compared with what eval reports. Regression at the default threshold (2)
// and another, multi-label at 0.5 and another threshold, and NER (seqeval's entity matching, default
// and strict IOB2, written out here) from the per-token predictions of `medenc ner --aggregation none`.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "medenc/safetensors.h"
#include "task_models.h"

namespace medenc {
namespace {

using nlohmann::json;


// Sets every element of tensor `name` in DIR/model.safetensors to scale * element + shift.
void rescale_tensor(const std::string& dir, const std::string& name, float scale, float shift) {
  const std::string path = dir + "/model.safetensors";
  std::vector<std::pair<TensorInfo, std::vector<float>>> tensors;
  {
    auto f = SafetensorsFile::open(path);
    for (const TensorInfo& t : f->tensors()) tensors.emplace_back(t, f->read_f32(t));
  }
  SafetensorsWriter w;
  bool found = false;
  for (auto& [t, v] : tensors) {
    if (t.name == name) {
      for (float& x : v) x = scale * x + shift;
      found = true;
    }
    w.add_f32(t.name, t.shape, v.data());
  }
  ASSERT_TRUE(found) << name;
  w.write(path);
}

// Average ranks (1-based), ties sharing their mean rank.
std::vector<double> ranks(const std::vector<double>& x) {
  std::vector<size_t> order(x.size());
  for (size_t i = 0; i < x.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> r(x.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    for (size_t k = i; k <= j; ++k) r[order[k]] = (double)(i + j) / 2.0 + 1.0;
    i = j + 1;
  }
  return r;
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) ma += a[i] / (double)a.size(), mb += b[i] / (double)b.size();
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

// ROC AUC as the probability that a random positive scores above a random negative (ties: one half).
double roc_auc(const std::vector<double>& score, const std::vector<bool>& positive) {
  double wins = 0, pairs = 0;
  for (size_t i = 0; i < score.size(); ++i)
    for (size_t j = 0; j < score.size(); ++j)
      if (positive[i] && !positive[j]) {
        pairs += 1;
        wins += score[i] > score[j] ? 1.0 : score[i] == score[j] ? 0.5 : 0.0;
      }
  return wins / pairs;
}

// rel: eval's own forward pass may round a prediction differently in the last float bit from
// classify's (about 1e-7 relative); correlations and R² of predictions that vary little amplify that.
void expect_close(const json& metrics, const std::string& key, double want, double rel = 1e-7) {
  ASSERT_TRUE(metrics.contains(key)) << key << " in " << metrics.dump();
  EXPECT_NEAR(metrics[key].get<double>(), want, 1e-9 + rel * std::fabs(want)) << key;
}

TEST(CliEvalValues, RegressionMetricsFromClassifyPredictions) {
  // A random regression head made to spread its predictions around 3 (weights x30, bias 3), so that
  // both thresholds split them and the correlations are not at the mercy of float rounding.
  const std::string model =
      test::make_model("ModernBertForSequenceClassification", "modernbert-base", 1, "regression", 21);
  rescale_tensor(model, "classifier.weight", 30.0f, 0.0f);
  rescale_tensor(model, "classifier.bias", 0.0f, 3.0f);
  const std::string dir = test::temp_dir("eval_regression");
  const std::vector<std::string>& sentences = test::clinical_sentences();
  std::string data;
  std::vector<double> target;
  for (size_t i = 0; i < 24; ++i) {
    const double score = 1.0 + (double)((i * 7) % 9) * 0.5;  // 1.0 .. 5.0, with ties
    target.push_back(score);
    data += json({{"text", sentences[i % sentences.size()] + " " + std::to_string(i)}, {"label", score}}).dump() + "\n";
  }
  test::write_file(dir + "/data.jsonl", data);
  std::string out, err;
  ASSERT_EQ(test::run_cli("classify --model " + model + " --threads 1 " + dir + "/data.jsonl", &out, &err), 0) << err;
  std::vector<double> pred;
  for (const json& line : test::parse_lines(out)) pred.push_back(line.at("score").get<double>());
  ASSERT_EQ(pred.size(), target.size());

  const double n = (double)pred.size();
  double se = 0, ae = 0, mean_t = 0, ss = 0;
  for (size_t i = 0; i < pred.size(); ++i) se += (pred[i] - target[i]) * (pred[i] - target[i]), ae += std::fabs(pred[i] - target[i]), mean_t += target[i] / n;
  for (double t : target) ss += (t - mean_t) * (t - mean_t);

  // The default threshold (2), and one halfway between the two middle predictions (no prediction
  // near it), which splits them in two.
  std::vector<double> sorted = pred;
  std::sort(sorted.begin(), sorted.end());
  const double median = std::round((sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]) / 2 * 1e6) / 1e6;
  ASSERT_GT(sorted[sorted.size() / 2] - sorted[sorted.size() / 2 - 1], 1e-5);
  for (double threshold : {2.0, median}) {
    SCOPED_TRACE("threshold " + std::to_string(threshold));
    const std::string flag = threshold == 2.0 ? "" : fmt::format(" --regression-threshold {}", threshold);
    ASSERT_EQ(test::run_cli("eval --model " + model + " --data " + dir + "/data.jsonl --threads 1" + flag, &out, &err), 0)
        << err;
    const json m = json::parse(out)["metrics"];
    expect_close(m, "mse", se / n);
    expect_close(m, "rmse", std::sqrt(se / n));
    expect_close(m, "mae", ae / n);
    expect_close(m, "r2", 1.0 - se / ss, 1e-4);
    expect_close(m, "pearson", pearson(pred, target), 1e-4);
    expect_close(m, "spearman", pearson(ranks(pred), ranks(target)));
    std::vector<bool> high;
    double right = 0;
    for (size_t i = 0; i < pred.size(); ++i) {
      high.push_back(target[i] > threshold);
      right += (pred[i] > threshold) == high.back();
    }
    expect_close(m, "threshold", threshold);
    expect_close(m, "positives", (double)std::count(high.begin(), high.end(), true));
    expect_close(m, "accuracy", right / n);
    expect_close(m, "roc_auc", roc_auc(pred, high));
    expect_close(m, "count", n);
    if (threshold != 2.0) {  // the predictions fall on both sides, so accuracy means something here
      EXPECT_GT(std::count_if(pred.begin(), pred.end(), [&](double p) { return p > threshold; }), 0);
      EXPECT_GT(std::count_if(pred.begin(), pred.end(), [&](double p) { return p <= threshold; }), 0);
    }
  }
}

TEST(CliEvalValues, MultiLabelMetricsFromClassifyScores) {
  const std::string data = test::data_path("trainer/roco_ccby_80.jsonl");
  std::vector<std::set<std::string>> gold;
  std::set<std::string> all;
  for (const json& line : test::parse_lines(test::read_file(data))) {
    gold.emplace_back();
    for (const json& l : line.at("labels")) gold.back().insert(l.get<std::string>()), all.insert(l.get<std::string>());
  }
  const std::vector<std::string> labels(all.begin(), all.end());
  const std::string model = test::make_model("ModernBertForSequenceClassification", "modernbert-base",
                                             (int)labels.size(), "multi_label_classification", 5);
  test::set_labels(model, labels);
  std::string out, err;
  ASSERT_EQ(test::run_cli("classify --model " + model + " --threads 1 " + data, &out, &err), 0) << err;
  const std::vector<json> predictions = test::parse_lines(out);
  ASSERT_EQ(predictions.size(), gold.size());

  for (double threshold : {0.5, 0.45}) {
    SCOPED_TRACE("threshold " + std::to_string(threshold));
    const std::string flag = threshold == 0.5 ? "" : " --threshold 0.45";  // 0.5 is the default
    ASSERT_EQ(test::run_cli("eval --model " + model + " --data " + data + " --threads 1" + flag, &out, &err), 0) << err;
    const json m = json::parse(out)["metrics"];
    std::map<std::string, std::array<double, 3>> counts;  // label -> tp, fp, fn
    double exact = 0, wrong = 0;
    for (size_t i = 0; i < gold.size(); ++i) {
      bool all_right = true;
      for (const std::string& l : labels) {
        const bool p = predictions[i]["scores"].at(l).get<double>() > threshold, g = gold[i].count(l) > 0;
        counts[l][0] += p && g;
        counts[l][1] += p && !g;
        counts[l][2] += !p && g;
        if (p != g) all_right = false, wrong += 1;
      }
      exact += all_right;
    }
    auto f1 = [](double tp, double fp, double fn) { return 2 * tp + fp + fn > 0 ? 2 * tp / (2 * tp + fp + fn) : 0.0; };
    auto div = [](double a, double b) { return b > 0 ? a / b : 0.0; };
    double TP = 0, FP = 0, FN = 0, f1_macro = 0, p_macro = 0, r_macro = 0, predicted_on = 0;
    for (const auto& [l, c] : counts) {
      TP += c[0], FP += c[1], FN += c[2];
      f1_macro += f1(c[0], c[1], c[2]) / (double)labels.size();
      p_macro += div(c[0], c[0] + c[1]) / (double)labels.size();
      r_macro += div(c[0], c[0] + c[2]) / (double)labels.size();
      predicted_on += c[0] + c[1];
    }
    const double n = (double)gold.size(), cells = n * (double)labels.size();
    expect_close(m, "f1", f1(TP, FP, FN));
    expect_close(m, "precision_micro", div(TP, TP + FP));
    expect_close(m, "recall_micro", div(TP, TP + FN));
    expect_close(m, "f1_macro", f1_macro);
    expect_close(m, "precision_macro", p_macro);
    expect_close(m, "recall_macro", r_macro);
    expect_close(m, "exact_match", exact / n);
    expect_close(m, "hamming_loss", wrong / cells);
    expect_close(m, "label_accuracy", 1.0 - wrong / cells);
    EXPECT_GT(predicted_on, 0);  // some labels are on and some off: the counts are not trivial
    EXPECT_LT(predicted_on, cells);
  }
}


// Entities of one sentence's tags as (type, first word, end word). Default mode reads tags as
// conlleval does: B-X starts an entity, so does an I-X that does not continue one of type X. Strict
// IOB2: only B-X starts one, continued by I-X; other I- tags belong to no entity.
using Entity = std::tuple<std::string, size_t, size_t>;
std::set<Entity> entities(const std::vector<std::string>& tags, bool strict) {
  std::set<Entity> out;
  std::string open;  // type of the entity being read, "" when none
  size_t begin = 0;
  for (size_t i = 0; i <= tags.size(); ++i) {
    const std::string tag = i < tags.size() ? tags[i] : "O";
    const char prefix = tag[0];
    const std::string type = tag == "O" ? "" : tag.substr(2);
    const bool continues = prefix == 'I' && !open.empty() && type == open;
    if (continues) continue;
    if (!open.empty()) out.insert({open, begin, i});
    open.clear();
    if (prefix == 'B' || (prefix == 'I' && !strict)) open = type, begin = i;
  }
  return out;
}

TEST(CliEvalValues, NerEntityScoresFromTokenPredictions) {
  const std::vector<std::string> labels{"O", "B-DIS", "I-DIS", "B-DRUG", "I-DRUG"};
  const std::string model = test::make_model("BertForTokenClassification", "bert-base-uncased", 5, "", 11);
  test::set_labels(model, labels);
  // Sentences of whitespace-separated words (CoNLL joins a sentence's words with single spaces).
  std::vector<std::vector<std::string>> words;
  for (const std::string& s : test::clinical_sentences()) {
    std::istringstream in(s);
    std::vector<std::string> w;
    for (std::string x; in >> x;) w.push_back(x);
    if (!w.empty()) words.push_back(w);
  }
  std::vector<std::string> texts;
  for (const auto& w : words) {
    std::string t;
    for (const std::string& x : w) t += (t.empty() ? "" : " ") + x;
    texts.push_back(t);
  }
  const std::string dir = test::temp_dir("eval_ner");
  test::write_file(dir + "/texts.jsonl", test::to_jsonl(texts));
  std::string out, err;
  ASSERT_EQ(test::run_cli("ner --model " + model + " --aggregation none --threads 1 " + dir + "/texts.jsonl", &out, &err),
            0)
      << err;
  const std::vector<json> lines = test::parse_lines(out);
  ASSERT_EQ(lines.size(), texts.size());

  // A word's predicted tag is its first token's label ("O" when that token is not listed: O is left
  // out by default). Words start where the previous one ended plus one space (in code points).
  std::vector<std::vector<std::string>> predicted;
  for (size_t s = 0; s < words.size(); ++s) {
    std::map<int64_t, std::string> by_start;  // first token starting at a position wins
    for (const json& e : lines[s].at("entities")) by_start.emplace(e.at("start").get<int64_t>(), e.at("label"));
    predicted.emplace_back();
    int64_t start = 0;
    for (const std::string& w : words[s]) {
      auto it = by_start.find(start);
      predicted.back().push_back(it == by_start.end() ? "O" : it->second);
      int64_t cps = 0;
      for (unsigned char c : w) cps += (c & 0xC0) != 0x80;
      start += cps + 1;
    }
  }

  // Gold tags (valid IOB2): sentence 0 mod 3 takes the predicted entities as they are, 1 mod 3 the
  // predicted entities with the other type, 2 mod 3 a fixed pattern of its own.
  std::vector<std::vector<std::string>> gold;
  for (size_t s = 0; s < words.size(); ++s) {
    std::vector<std::string> g(words[s].size(), "O");
    if (s % 3 == 2) {
      for (size_t i = 0; i < g.size(); ++i) g[i] = i % 4 == 1 ? "B-DIS" : i % 4 == 2 ? "I-DIS" : i % 7 == 0 ? "B-DRUG" : "O";
    } else {
      for (const auto& [type, b, e] : entities(predicted[s], false)) {
        const std::string t = s % 3 == 0 ? type : type == "DIS" ? "DRUG" : "DIS";
        for (size_t i = b; i < e; ++i) g[i] = (i == b ? "B-" : "I-") + t;
      }
    }
    gold.push_back(g);
  }
  std::string conll;
  for (size_t s = 0; s < words.size(); ++s) {
    for (size_t i = 0; i < words[s].size(); ++i) conll += words[s][i] + " " + gold[s][i] + "\n";
    conll += "\n";
  }
  test::write_file(dir + "/gold.conll", conll);
  ASSERT_EQ(test::run_cli("eval --model " + model + " --data " + dir + "/gold.conll --threads 1", &out, &err), 0) << err;
  const json m = json::parse(out)["metrics"];

  for (const bool strict : {false, true}) {
    SCOPED_TRACE(strict ? "strict IOB2" : "default");
    std::map<std::string, std::array<double, 3>> per;  // type -> gold, predicted, correct
    for (size_t s = 0; s < words.size(); ++s) {
      const std::set<Entity> g = entities(gold[s], strict), p = entities(predicted[s], strict);
      for (const Entity& e : g) per[std::get<0>(e)][0] += 1;
      for (const Entity& e : p) per[std::get<0>(e)][1] += 1, per[std::get<0>(e)][2] += g.count(e);
    }
    auto div = [](double a, double b) { return b > 0 ? a / b : 0.0; };
    auto f1 = [&](double p, double r) { return div(2 * p * r, p + r); };
    double G = 0, P = 0, C = 0, f1_macro = 0;
    for (const auto& [type, c] : per) {
      G += c[0], P += c[1], C += c[2];
      f1_macro += f1(div(c[2], c[1]), div(c[2], c[0])) / (double)per.size();
    }
    const std::string pre = strict ? "strict_" : "";
    expect_close(m, pre + "precision", div(C, P));
    expect_close(m, pre + "recall", div(C, G));
    expect_close(m, pre + "f1", f1(div(C, P), div(C, G)));
    expect_close(m, pre + "f1_macro", f1_macro);
    const json& types = m.at(strict ? "per_type_strict" : "per_type");
    EXPECT_EQ(types.size(), per.size()) << types.dump();
    for (const auto& [type, c] : per) {
      SCOPED_TRACE(type);
      ASSERT_TRUE(types.contains(type)) << types.dump();
      expect_close(types[type], "precision", div(c[2], c[1]));
      expect_close(types[type], "recall", div(c[2], c[0]));
      expect_close(types[type], "f1", f1(div(c[2], c[1]), div(c[2], c[0])));
      expect_close(types[type], "support", c[0]);
      expect_close(types[type], "predicted", c[1]);
    }
    if (!strict) {
      expect_close(m, "gold_entities", G);
      expect_close(m, "predicted_entities", P);
      expect_close(m, "correct_entities", C);
      // Not trivial: some predicted entities are right, some wrong, some gold ones missed.
      EXPECT_GT(C, 0);
      EXPECT_LT(C, P);
      EXPECT_LT(C, G);
    }
  }
  // Word level: accuracy over every word.
  double right = 0, n = 0;
  for (size_t s = 0; s < words.size(); ++s)
    for (size_t i = 0; i < words[s].size(); ++i) right += gold[s][i] == predicted[s][i], n += 1;
  expect_close(m, "words", n);
  expect_close(m, "accuracy", right / n);
}

}  // namespace
}  // namespace medenc
