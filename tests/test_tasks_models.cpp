// classify, embed and fill-mask on fixture and random-weight models with the real tokenizers: every
// result equals the model run on that one tokenized input, passed through the right function by hand.
#include <algorithm>
#include <cmath>
#include <numeric>

#include <gtest/gtest.h>

#include "medenc/classify.h"
#include "medenc/embed.h"
#include "medenc/error.h"
#include "medenc/fill_mask.h"
#include "task_models.h"

namespace medenc {
namespace {

using nlohmann::json;
using test::clinical_sentences;

constexpr double kTol = 2e-5;  // batched vs one-at-a-time float32 round-off

struct Loaded {
  std::unique_ptr<Encoder> model;
  std::unique_ptr<Tokenizer> tok;
  WindowOptions windows;
};

Loaded load(const std::string& model_dir, const std::string& tokenizer) {
  Loaded l;
  l.model = load_encoder(model_dir);
  l.tok = Tokenizer::from_dir(test::data_path("tokenizers/" + tokenizer));
  l.windows.max_length = l.model->info().max_positions;
  return l;
}

std::vector<float> logits_of(Loaded& l, const std::vector<int32_t>& ids, const std::vector<int32_t>& types = {}) {
  return test::forward_one(*l.model, ids, types).logits;
}

TEST(TasksModels, RegressionScoreIsTheRawLogit) {
  Loaded l = load(test::fixture_dir("modernbert_seqcls_regression_mean"), "modernbert-base");
  auto task = make_classify_task(*l.tok, l.model->info(), l.windows, {});
  PipelineOptions po;
  po.max_batch_tokens = 64;  // several batches
  const auto lines = test::run_jsonl(*l.model, *task, test::to_jsonl(clinical_sentences()), po);
  ASSERT_EQ(lines.size(), clinical_sentences().size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::vector<float> ref = logits_of(l, l.tok->encode(clinical_sentences()[i]).ids);
    ASSERT_EQ(ref.size(), 1u);
    EXPECT_EQ(lines[i]["id"], i);
    EXPECT_NEAR(lines[i]["score"].get<double>(), ref[0], kTol) << clinical_sentences()[i];
    EXPECT_FALSE(lines[i].contains("truncated"));
  }
}

TEST(TasksModels, MultiLabelIsSigmoidOverThreshold) {
  Loaded l = load(test::fixture_dir("modernbert_seqcls_multilabel_cls"), "modernbert-base");
  ClassifyOptions co;
  co.threshold = 0.6;
  auto task = make_classify_task(*l.tok, l.model->info(), l.windows, co);
  const auto lines = test::run_jsonl(*l.model, *task, test::to_jsonl(clinical_sentences()));
  const auto& labels = l.model->info().head.id2label;
  ASSERT_EQ(labels.size(), 5u);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::vector<float> ref = logits_of(l, l.tok->encode(clinical_sentences()[i]).ids);
    std::vector<std::string> on;
    for (size_t k = 0; k < labels.size(); ++k) {
      const double p = test::sigmoid_ref(ref[k]);
      EXPECT_NEAR(lines[i]["scores"][labels[k]].get<double>(), p, kTol);
      if (p > 0.6) on.push_back(labels[k]);
    }
    std::vector<std::string> got = lines[i]["labels"];
    std::sort(got.begin(), got.end());
    std::sort(on.begin(), on.end());
    EXPECT_EQ(got, on);
  }
}

TEST(TasksModels, SingleLabelIsSoftmaxAlsoWhenProblemTypeIsUnset) {
  for (const std::string problem : {"single_label_classification", ""}) {
    const std::string dir = test::make_model("ModernBertForSequenceClassification", "modernbert-base", 3, problem);
    test::set_labels(dir, {"unsafe", "neutral", "safe"});
    Loaded l = load(dir, "modernbert-base");
    auto task = make_classify_task(*l.tok, l.model->info(), l.windows, {});
    const auto lines = test::run_jsonl(*l.model, *task, test::to_jsonl(clinical_sentences()));
    for (size_t i = 0; i < lines.size(); ++i) {
      const std::vector<float> ref = logits_of(l, l.tok->encode(clinical_sentences()[i]).ids);
      const std::vector<double> p = test::softmax_ref(ref.data(), 3);
      const size_t best = std::max_element(p.begin(), p.end()) - p.begin();
      EXPECT_EQ(lines[i]["label"], l.model->info().head.id2label[best]);
      EXPECT_NEAR(lines[i]["score"].get<double>(), p[best], kTol);
      EXPECT_NEAR(lines[i]["scores"]["unsafe"].get<double>(), p[0], kTol);
      EXPECT_NEAR(lines[i]["scores"]["safe"].get<double>(), p[2], kTol);
    }
  }
}

// A long clinical text: the sentences repeated.
std::string long_text(int repeats) {
  std::string t;
  for (int r = 0; r < repeats; ++r)
    for (const auto& s : clinical_sentences()) t += s + (s.empty() ? "" : " ");
  return t;
}

TEST(TasksModels, TruncationAndStrideWindows) {
  Loaded l = load(test::fixture_dir("modernbert_seqcls_regression_mean"), "modernbert-base");
  const std::string text = long_text(1);
  const Encoding full = l.tok->encode(text);
  const int64_t n = (int64_t)full.size() - 2;  // tokens between [CLS] and [SEP]
  ASSERT_GT(n, 60);
  const int32_t cls = full.ids.front(), sep = full.ids.back();
  auto window_ids = [&](int64_t begin, int64_t end) {
    std::vector<int32_t> ids{cls};
    ids.insert(ids.end(), full.ids.begin() + 1 + begin, full.ids.begin() + 1 + end);
    ids.push_back(sep);
    return ids;
  };
  const std::string jsonl = test::to_jsonl({text, "Short note."});

  // --max-length 16: the first 14 tokens, flagged as truncated.
  WindowOptions w{16, 0};
  auto task = make_classify_task(*l.tok, l.model->info(), w, {});
  auto lines = test::run_jsonl(*l.model, *task, jsonl);
  EXPECT_EQ(lines[0]["truncated"], true);
  EXPECT_NEAR(lines[0]["score"].get<double>(), logits_of(l, window_ids(0, 14))[0], kTol);
  EXPECT_FALSE(lines[1].contains("truncated"));

  // --stride 4: windows of 14 tokens starting every 10 tokens until the text ends; mean or max.
  std::vector<float> scores;
  for (int64_t begin = 0;; begin += 10) {
    const int64_t end = std::min(begin + 14, n);
    scores.push_back(logits_of(l, window_ids(begin, end))[0]);
    if (end == n) break;
  }
  w.stride = 4;
  for (WindowAggregation how : {WindowAggregation::Mean, WindowAggregation::Max}) {
    ClassifyOptions co;
    co.window_aggregation = how;
    task = make_classify_task(*l.tok, l.model->info(), w, co);
    lines = test::run_jsonl(*l.model, *task, jsonl);
    const double expect = how == WindowAggregation::Mean
                              ? std::accumulate(scores.begin(), scores.end(), 0.0) / scores.size()
                              : *std::max_element(scores.begin(), scores.end());
    EXPECT_EQ(lines[0]["windows"], scores.size());
    EXPECT_FALSE(lines[0].contains("truncated"));
    EXPECT_NEAR(lines[0]["score"].get<double>(), expect, kTol);
    EXPECT_FALSE(lines[1].contains("windows"));
  }
}

TEST(TasksModels, BertPairsUseTokenTypesAndLongInputsTruncateTo512) {
  const std::string dir = test::make_model("BertForSequenceClassification", "bert-base-uncased", 2,
                                           "single_label_classification");
  Loaded l = load(dir, "bert-base-uncased");
  ASSERT_EQ(l.windows.max_length, 512);
  auto task = make_classify_task(*l.tok, l.model->info(), l.windows, {});
  const std::string a = "Chest radiograph: no focal consolidation.", b = "Is there pneumonia?";
  const std::string jsonl = json({{"text", a}, {"text_pair", b}}).dump() + "\n" +
                            json({{"text", long_text(12)}}).dump() + "\n";
  const auto lines = test::run_jsonl(*l.model, *task, jsonl, {}, "text_pair");
  ASSERT_EQ(lines.size(), 2u);

  // [CLS] a [SEP] b [SEP] with token types 0 for the first part and 1 for the second.
  const Encoding ea = l.tok->encode(a), eb = l.tok->encode(b);
  std::vector<int32_t> ids = ea.ids, types(ea.size(), 0);
  ids.insert(ids.end(), eb.ids.begin() + 1, eb.ids.end());
  types.resize(ids.size(), 1);
  std::vector<double> p = test::softmax_ref(logits_of(l, ids, types).data(), 2);
  EXPECT_NEAR(lines[0]["scores"]["LABEL_1"].get<double>(), p[1], kTol);
  // The same ids with all-zero token types give other scores: the types were used.
  const std::vector<double> p0 = test::softmax_ref(logits_of(l, ids).data(), 2);
  EXPECT_GT(std::fabs(p0[1] - p[1]), 1e-6);

  const Encoding full = l.tok->encode(long_text(12));
  ASSERT_GT(full.size(), 512u);
  std::vector<int32_t> cut(full.ids.begin(), full.ids.begin() + 511);
  cut.push_back(full.ids.back());
  p = test::softmax_ref(logits_of(l, cut).data(), 2);
  EXPECT_EQ(lines[1]["truncated"], true);
  EXPECT_NEAR(lines[1]["scores"]["LABEL_0"].get<double>(), p[0], kTol);
}

TEST(TasksModels, PairStrideWindowsTheLongerText) {
  const std::string dir = test::make_model("BertForSequenceClassification", "bert-base-uncased", 2,
                                           "single_label_classification");
  Loaded l = load(dir, "bert-base-uncased");
  const std::string question = "Is this about the lungs?", report = long_text(1);
  const Encoding eq = l.tok->encode(question), er = l.tok->encode(report);
  const int64_t nq = (int64_t)eq.size() - 2, nr = (int64_t)er.size() - 2;
  const int64_t max_length = 64, stride = 16, room = max_length - 3 - nq, step = room - stride;
  ASSERT_GT(nr, room + step);
  // Windows over the report (the second text): [CLS] question [SEP] report[b:e] [SEP].
  std::vector<double> sum(2, 0.0);
  int64_t windows = 0;
  for (int64_t b = 0;; b += step) {
    const int64_t e = std::min(b + room, nr);
    std::vector<int32_t> ids = eq.ids, types(eq.size(), 0);
    ids.insert(ids.end(), er.ids.begin() + 1 + b, er.ids.begin() + 1 + e);
    ids.push_back(er.ids.back());
    types.resize(ids.size(), 1);
    const std::vector<float> logits = logits_of(l, ids, types);
    sum[0] += logits[0], sum[1] += logits[1];
    ++windows;
    if (e == nr) break;
  }
  const std::vector<float> mean{(float)(sum[0] / windows), (float)(sum[1] / windows)};
  const std::vector<double> p = test::softmax_ref(mean.data(), 2);

  auto task = make_classify_task(*l.tok, l.model->info(), WindowOptions{max_length, stride}, {});
  const std::string jsonl = json({{"text", question}, {"text_pair", report}}).dump() + "\n" +
                            json({{"text", report}, {"text_pair", report}}).dump() + "\n";
  const auto lines = test::run_jsonl(*l.model, *task, jsonl, {}, "text_pair");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["windows"], windows);
  EXPECT_NEAR(lines[0]["scores"]["LABEL_1"].get<double>(), p[1], kTol);
  // Two long texts leave no room for windows: the pair is truncated, not an error.
  EXPECT_EQ(lines[1]["truncated"], true);
  EXPECT_FALSE(lines[1].contains("error"));
}

TEST(TasksModels, EmbedPoolsTheLastHiddenState) {
  Loaded l = load(test::fixture_dir("modernbert_mlm"), "modernbert-base");
  for (Pooling pooling : {Pooling::Cls, Pooling::Mean})
    for (bool normalize : {false, true}) {
      EmbedOptions eo;
      eo.pooling = pooling;
      eo.normalize = normalize;
      auto task = make_embed_task(*l.tok, l.model->info(), l.windows, eo);
      const auto lines = test::run_jsonl(*l.model, *task, test::to_jsonl(clinical_sentences()));
      for (size_t i = 0; i < lines.size(); ++i) {
        const Encoding e = l.tok->encode(clinical_sentences()[i]);
        const ForwardOutput out = test::forward_one(*l.model, e.ids);
        const int64_t H = out.hidden_size, n = (int64_t)e.size();
        std::vector<double> ref((size_t)H, 0.0);
        for (int64_t h = 0; h < H; ++h) {
          if (pooling == Pooling::Cls) {
            ref[h] = out.last_hidden_state[h];
          } else {
            for (int64_t t = 0; t < n; ++t) ref[h] += out.last_hidden_state[t * H + h];
            ref[h] /= (double)n;
          }
        }
        if (normalize) {
          double norm = 0;
          for (double v : ref) norm += v * v;
          for (double& v : ref) v /= std::sqrt(norm);
        }
        const auto& got = lines[i]["embedding"];
        ASSERT_EQ((int64_t)got.size(), H);
        for (int64_t h = 0; h < H; ++h) EXPECT_NEAR(got[h].get<double>(), ref[h], kTol);
      }
    }
}

TEST(TasksModels, FillMaskTopKAtEveryMask) {
  Loaded l = load(test::fixture_dir("modernbert_mlm"), "modernbert-base");
  FillMaskOptions fo;
  fo.top_k = 4;
  auto task = make_fill_mask_task(*l.tok, l.model->info(), l.windows, fo);
  const std::string text = "The patient has chest [MASK] and shortness of [MASK].";
  const auto lines = test::run_jsonl(*l.model, *task, test::to_jsonl({text, "No mask here."}));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[1]["error"].get<std::string>().find("no mask token [MASK]"), std::string::npos);

  const Encoding e = l.tok->encode(text);
  const ForwardOutput out = test::forward_one(*l.model, e.ids);  // every row's vocabulary logits
  const int64_t V = out.logits_cols;
  const auto& masks = lines[0]["masks"];
  size_t m = 0;
  for (size_t t = 0; t < e.size(); ++t) {
    if (e.ids[t] != *l.tok->mask_id()) continue;
    ASSERT_LT(m, masks.size());
    const std::vector<double> p = test::softmax_ref(out.logits.data() + t * V, (size_t)V);
    std::vector<int32_t> order(V);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return p[a] > p[b]; });
    const auto& preds = masks[m]["predictions"];
    ASSERT_EQ(preds.size(), 4u);
    for (size_t k = 0; k < 4; ++k) {
      EXPECT_EQ(preds[k]["token_id"], order[k]);
      EXPECT_NEAR(preds[k]["score"].get<double>(), p[order[k]], 1e-6);
      const int32_t id = order[k];
      EXPECT_EQ(preds[k]["token"], l.tok->decode(std::span<const int32_t>(&id, 1), false));
    }
    // The span is the mask token itself, without the space it absorbs.
    EXPECT_EQ(test::cp_slice(text, masks[m]["start"], masks[m]["end"]), "[MASK]");
    ++m;
  }
  EXPECT_EQ(m, 2u);
  EXPECT_EQ(masks.size(), 2u);
}

TEST(TasksModels, CommandsRefuseModelsTheyCannotServe) {
  Loaded l = load(test::fixture_dir("modernbert_mlm"), "modernbert-base");
  EXPECT_THROW(make_classify_task(*l.tok, l.model->info(), l.windows, {}), Error);
  Loaded c = load(test::fixture_dir("modernbert_seqcls_regression_mean"), "modernbert-base");
  EXPECT_THROW(make_fill_mask_task(*c.tok, c.model->info(), c.windows, {}), Error);
  WindowOptions stride{64, 8};
  EXPECT_THROW(make_fill_mask_task(*l.tok, l.model->info(), stride, {}), Error);
  EXPECT_NO_THROW(make_embed_task(*c.tok, c.model->info(), c.windows, {}));
}

}  // namespace
}  // namespace medenc
