// The library hooks a server or a binding builds on: SPLADE and per-token (no) pooling in the embed
// task, left truncation of windows, the raw logits behind a ClassificationResult, and jobs whose
// windows were prepared elsewhere. References: the model run on each window by itself, and the
// tokenizer's untruncated encoding cut by hand.
#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>

#include "medenc/classify.h"
#include "medenc/embed.h"
#include "medenc/session.h"
#include "task_models.h"

namespace medenc {
namespace {

const std::string kLong =
    "The patient is a 67-year-old man with a history of hypertension and type 2 diabetes who presents with "
    "three days of productive cough, fever to 38.9 C and pleuritic chest pain on the right side.";

TEST(ApiHooks, SpladePoolingIsMaxOverTokensAndWindowsOfLog1pReluLogits) {
  auto model = load_encoder(test::fixture_dir("modernbert_mlm"));
  auto tok = Tokenizer::from_dir(test::data_path("tokenizers/modernbert-base"));
  WindowOptions windows;
  windows.max_length = 16;
  windows.stride = 4;
  EmbedOptions eo;
  eo.pooling = Pooling::Splade;
  auto task = make_embed_task(*tok, model->info(), windows, eo);
  const auto lines = test::run_jsonl(*model, *task, test::to_jsonl({"Short note.", kLong}));
  ASSERT_EQ(lines.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EncodeOptions o;
    o.max_length = windows.max_length;
    o.stride = windows.stride;
    const Encoding first = tok->encode(i == 0 ? "Short note." : kLong, o);
    std::vector<const Encoding*> all{&first};
    for (const Encoding& w : first.overflowing) all.push_back(&w);
    std::vector<double> best((size_t)model->info().vocab_size, 0.0);
    for (const Encoding* w : all) {
      const ForwardOutput out = test::forward_one(*model, w->ids);
      ASSERT_EQ(out.logits_cols, model->info().vocab_size);
      for (int64_t t = 0; t < (int64_t)w->size(); ++t)
        for (int64_t v = 0; v < out.logits_cols; ++v)
          best[(size_t)v] = std::max(best[(size_t)v], std::log1p(std::max(0.0, (double)out.logits[t * out.logits_cols + v])));
    }
    const auto& got = lines[i]["embedding"];
    ASSERT_EQ(got.size(), best.size());
    double worst = 0;
    for (size_t v = 0; v < best.size(); ++v) {
      worst = std::max(worst, std::abs(got[v].get<double>() - best[v]));
      if (best[v] == 0) {
        EXPECT_EQ(got[v].get<double>(), 0.0);  // no positive logit: an exact zero
      }
    }
    EXPECT_LT(worst, 1e-5);
    if (i == 1) {
      EXPECT_GT(all.size(), 2u);
    }
  }
  // Splade needs a masked-LM head.
  auto cls = load_encoder(test::make_model("ModernBertForSequenceClassification", "modernbert-base", 2));
  EXPECT_THROW(make_embed_task(*tok, cls->info(), windows, eo), Error);
}

TEST(ApiHooks, TokenPoolingKeepsEveryRowAndLeftTruncationKeepsTheEnd) {
  auto model = load_encoder(test::fixture_dir("modernbert_mlm"));
  auto tok = Tokenizer::from_dir(test::data_path("tokenizers/modernbert-base"));
  const Encoding full = tok->encode(kLong);
  for (TruncationSide side : {TruncationSide::Left, TruncationSide::Right}) {
    WindowOptions windows;
    windows.max_length = 16;
    windows.side = side;
    Job job;
    job.doc.text = kLong;
    prepare_windows(*tok, job, windows, false, true);
    ASSERT_TRUE(job.truncated);
    ASSERT_EQ(job.windows.size(), 1u);
    // The untruncated encoding cut by hand: the specials around the first or the last 14 tokens.
    std::vector<int32_t> want{full.ids.front()};
    if (side == TruncationSide::Left) want.insert(want.end(), full.ids.end() - 15, full.ids.end() - 1);
    else want.insert(want.end(), full.ids.begin() + 1, full.ids.begin() + 15);
    want.push_back(full.ids.back());
    EXPECT_EQ(job.windows[0].enc.ids, want);

    EmbedOptions eo;
    eo.pooling = Pooling::Tokens;
    auto task = make_embed_task(*tok, model->info(), windows, eo);
    auto ws = model->make_workspace();
    Job fresh;
    fresh.doc.text = kLong;
    Job* jobs[] = {&fresh};
    run_jobs(*model, *ws, *task, jobs, BatchOptions{});
    ASSERT_TRUE(fresh.error.empty()) << fresh.error;
    const ForwardOutput out = test::forward_one(*model, want);
    EXPECT_EQ(std::get<std::vector<float>>(fresh.result), out.last_hidden_state);  // same kernels, same bits
  }
  WindowOptions strided;
  strided.max_length = 16;
  strided.stride = 4;
  EmbedOptions tokens;
  tokens.pooling = Pooling::Tokens;
  EXPECT_THROW(make_embed_task(*tok, model->info(), strided, tokens), Error);
}

TEST(ApiHooks, ClassificationResultCarriesTheWindowMeanLogits) {
  const std::string dir = test::make_model("ModernBertForSequenceClassification", "modernbert-base", 3,
                                           "single_label_classification");
  auto model = Model::load(dir);
  Session session(model, SessionOptions{1});
  RequestOptions request;
  request.max_length = 16;
  request.stride = 4;
  const ClassifyResponse r = session.classify(std::vector<TextInput>{kLong});
  ASSERT_TRUE(r.all_ok());
  const ClassifyResponse windowed = session.classify(std::vector<TextInput>{kLong}, {}, request);
  ASSERT_TRUE(windowed.all_ok());
  ASSERT_GT(windowed.inputs[0].windows, 2);
  EncodeOptions o;
  o.max_length = 16;
  o.stride = 4;
  const Encoding first = model->tokenizer().encode(kLong, o);
  std::vector<const Encoding*> all{&first};
  for (const Encoding& w : first.overflowing) all.push_back(&w);
  std::vector<double> mean(3, 0.0);
  for (const Encoding* w : all) {
    Batch b;
    b.add(w->ids);
    const ForwardOutput out = model->encoder().forward(b);
    for (int c = 0; c < 3; ++c) mean[(size_t)c] += out.logits[(size_t)c] / (double)all.size();
  }
  const std::vector<float>& logits = windowed.results[0].logits;
  ASSERT_EQ(logits.size(), 3u);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(logits[(size_t)c], mean[(size_t)c], 1e-5);
  // The probabilities are the softmax of exactly those logits.
  const std::vector<double> p = test::softmax_ref(logits.data(), 3);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(windowed.results[0].scores[(size_t)c].score, p[(size_t)c], 1e-6);
  EXPECT_EQ(r.results[0].logits.size(), 3u);
}

TEST(ApiHooks, PreparedJobsAreNotTokenizedAgain) {
  const std::string dir = test::make_model("ModernBertForSequenceClassification", "modernbert-base", 2,
                                           "single_label_classification");
  auto model = Model::load(dir);
  auto task = make_classify_task(model->tokenizer(), model->info(), model->window_options(0, 0), {});
  Session session(model, SessionOptions{1});
  // Reference: "No acute findings." classified normally.
  Job plain;
  plain.doc.text = "No acute findings.";
  // A job whose text says something else but whose windows were prepared from that text: run_jobs
  // must run the given windows.
  Job prepared;
  task->prepare(plain);
  prepared.doc.text = "A different text that would tokenize differently.";
  prepared.windows = plain.windows;
  prepared.prepared = true;
  plain.windows.clear();
  Job* jobs[] = {&plain, &prepared};
  session.run_jobs(*task, jobs, BatchOptions{});
  ASSERT_TRUE(plain.error.empty() && prepared.error.empty());
  EXPECT_EQ(std::get<ClassificationResult>(prepared.result).logits, std::get<ClassificationResult>(plain.result).logits);
  EXPECT_EQ(prepared.windows[0].enc.ids, model->tokenizer().encode("No acute findings.").ids);
}

}  // namespace
}  // namespace medenc
