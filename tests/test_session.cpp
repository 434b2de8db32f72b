// The library API: sessions over one shared model run concurrently with the same bits as one
// session alone; request calls return typed results equal to the CLI's JSON lines; cancellation.
#include <atomic>
#include <cmath>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "medenc/modernbert.h"
#include "medenc/session.h"
#include "medenc/result_json.h"
#include "task_models.h"
#include "test_support.h"

namespace medenc {
namespace {

std::vector<TextInput> inputs_from(size_t first, size_t count) {
  std::vector<std::string> s;
  for (const std::string& t : test::clinical_sentences())
    if (!t.empty()) s.push_back(t);
  std::vector<TextInput> in;
  for (size_t i = 0; i < count; ++i) in.emplace_back(s[(first + i) % s.size()]);
  return in;
}

TEST(Session, ConcurrentSessionsOverOneModelMatchOneSessionBitForBit) {
  const std::string dir = test::make_model("ModernBertForTokenClassification", "modernbert-base", 5);
  const std::shared_ptr<const Model> model = Model::load(dir);
  constexpr int kThreads = 4;
  // Reference: one session, one thread, each thread's inputs alone.
  std::vector<NerResponse> alone;
  std::vector<EmbedResponse> alone_embed;
  {
    Session s(model, SessionOptions{1});
    for (int t = 0; t < kThreads; ++t) {
      const auto in = inputs_from((size_t)t * 3, 5 + (size_t)t);
      alone.push_back(s.ner(in, NerOptions{NerAggregation::None, {}}));
      alone_embed.push_back(s.embed(in));
    }
  }
  // Four threads, a session each, all at once, several rounds.
  std::vector<NerResponse> together(kThreads);
  std::vector<EmbedResponse> together_embed(kThreads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      Session s(model, SessionOptions{2});
      const auto in = inputs_from((size_t)t * 3, 5 + (size_t)t);
      ++ready;
      while (ready < kThreads) std::this_thread::yield();
      for (int round = 0; round < 3; ++round) {
        together[t] = s.ner(in, NerOptions{NerAggregation::None, {}});
        together_embed[t] = s.embed(in);
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(alone[t].results.size(), together[t].results.size());
    for (size_t i = 0; i < alone[t].results.size(); ++i) {
      ASSERT_TRUE(together[t].inputs[i].ok()) << together[t].inputs[i].error;
      ASSERT_EQ(alone[t].results[i].size(), together[t].results[i].size());
      ASSERT_FALSE(alone[t].results[i].empty());  // aggregation none: every token is an entity
      for (size_t e = 0; e < alone[t].results[i].size(); ++e)
        EXPECT_EQ(alone[t].results[i][e].score, together[t].results[i][e].score);  // bitwise
    }
    EXPECT_EQ(alone_embed[t].data, together_embed[t].data);  // bitwise
    EXPECT_EQ(alone_embed[t].dim, model->info().hidden_size);
  }
}

TEST(Session, TypedResultsAgreeWithTheCli) {
  const std::string dir = test::make_model("ModernBertForSequenceClassification", "modernbert-base", 3);
  const auto in = inputs_from(0, 6);
  std::string jsonl;
  for (const TextInput& t : in) jsonl += nlohmann::json{{"text", t.text}}.dump() + "\n";
  std::string out, err;
  ASSERT_EQ(test::run_cli("classify --model " + dir + " --top-k 2", &out, &err, jsonl), 0) << err;
  std::istringstream lines(out);
  Session s(Model::load(dir));
  ClassifyOptions o;
  o.top_k = 2;
  const ClassifyResponse r = s.classify(in, o);
  std::string line;
  for (size_t i = 0; i < in.size(); ++i) {
    ASSERT_TRUE(std::getline(lines, line));
    const auto j = nlohmann::json::parse(line);
    const ClassificationResult& c = r.results[i];
    EXPECT_EQ(j["label"], c.label);
    EXPECT_EQ(j["score"].get<double>(), json_float((float)c.score));
    ASSERT_EQ(j["scores"].size(), c.scores.size());
    EXPECT_EQ(j["scores"].begin().key(), c.scores[0].label);
    EXPECT_GT(r.inputs[i].tokens, 2);
    EXPECT_EQ(r.inputs[i].windows, 1);
  }
  EXPECT_GE(r.timings.tokenization, 0.0);
  EXPECT_GT(r.timings.inference, 0.0);
}

TEST(Session, BadInputsGetErrorsInPlaceAndWrongHeadsAreUnsupported) {
  const std::string dir = test::make_model("ModernBertForMaskedLM", "modernbert-base");
  Session s(Model::load(dir));
  const std::vector<TextInput> in{"no mask here", "The patient has [MASK] pain."};
  const FillMaskResponse r = s.fill_mask(in);
  ASSERT_EQ(r.inputs.size(), 2u);
  EXPECT_FALSE(r.inputs[0].ok());
  EXPECT_EQ(r.inputs[0].error_kind, ErrorKind::InvalidInput);
  EXPECT_TRUE(r.results[0].empty());
  ASSERT_TRUE(r.inputs[1].ok()) << r.inputs[1].error;
  ASSERT_EQ(r.results[1].size(), 1u);
  EXPECT_EQ(r.results[1][0].predictions.size(), 5u);
  try {
    s.classify(in);
    FAIL() << "a masked-LM checkpoint cannot classify";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
  }
  try {
    Model::load(test::temp_dir("empty-model"));
    FAIL() << "an empty folder is not a model";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidModel) << e.what();
  }
}

// Session::embed with SPLADE pooling returns vocabulary-wide rows (not the hidden size's: those rows
// were once dropped for zeros), each the max over the tokens of log(1 + relu(logit)) computed here
// from the model's own logits; "tokens" pooling, a row per token, is refused with a clear error.
TEST(Session, EmbedGivesSpladeVectorsAndRefusesPerTokenRows) {
  const std::string dir = test::make_model("ModernBertForMaskedLM", "modernbert-base", 4);
  const std::shared_ptr<const Model> model = Model::load(dir);
  Session s(model);
  const auto in = inputs_from(2, 3);
  EmbedOptions eo;
  eo.pooling = Pooling::Splade;
  const EmbedResponse r = s.embed(in, eo);
  const int64_t vocab = model->info().vocab_size;
  ASSERT_EQ(r.dim, vocab);
  ASSERT_EQ(r.data.size(), in.size() * (size_t)vocab);
  auto encoder = load_encoder(dir);
  for (size_t i = 0; i < in.size(); ++i) {
    ASSERT_TRUE(r.inputs[i].ok()) << r.inputs[i].error;
    const Encoding enc = model->tokenizer().encode(in[i].text);
    const ForwardOutput out = test::forward_one(*encoder, enc.ids);
    ASSERT_EQ(out.logits_cols, vocab);
    double worst = 0;
    int64_t nonzero = 0;
    for (int64_t v = 0; v < vocab; ++v) {
      double best = 0;
      for (int64_t t = 0; t < (int64_t)enc.ids.size(); ++t)
        best = std::max(best, std::log1p(std::max(0.0, (double)out.logits[t * vocab + v])));
      const float got = r.row(i)[(size_t)v];
      worst = std::max(worst, std::abs(got - best));
      nonzero += got != 0.0f;
      if (best == 0) ASSERT_EQ(got, 0.0f) << "input " << i << ", vocabulary entry " << v;
    }
    EXPECT_LT(worst, 1e-5) << "input " << i;
    EXPECT_GT(nonzero, 0) << "input " << i;
  }
  eo.pooling = Pooling::Tokens;
  try {
    s.embed(in, eo);
    FAIL() << "per-token rows do not fit [inputs, dim]";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("tokens"), std::string::npos) << e.what();
  }
}

// A long sequence on a model deep enough that one pass takes a while.
struct LongPass {
  std::unique_ptr<ModernBertModel> model;
  Batch batch;
  LongPass(int64_t tokens, int64_t layers) {
    ModernBertConfig c = modernbert_preset("tiny");
    c.num_hidden_layers = layers;
    c.layer_is_global.assign((size_t)layers, false);
    for (int64_t l = 0; l < layers; l += 3) c.layer_is_global[(size_t)l] = true;
    c.max_position_embeddings = 8192;
    model = std::make_unique<ModernBertModel>(c, LoadOptions{});
    model->init_weights(7);
    std::vector<int32_t> ids((size_t)tokens);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = (int32_t)(5 + i % 97);
    batch.add(ids);
  }
};

TEST(Session, StopCheckCancelsBetweenLayers) {
  LongPass p(300, 6);
  int calls = 0;
  ForwardOptions o;
  o.should_stop = [&] { return ++calls == 3; };  // before the third layer
  try {
    p.model->forward(p.batch, o);
    FAIL() << "expected a cancelled error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Cancelled);
  }
  EXPECT_EQ(calls, 3);
  o.should_stop = [] { return false; };
  EXPECT_EQ(p.model->forward(p.batch, o).last_hidden_state, p.model->forward(p.batch).last_hidden_state);
}

// The flag is polled before every layer, so a pass stops at the first layer boundary after it is
// raised: the wait is at most one layer (a ModernBERT-base layer at 8,192 tokens takes ~0.3 s here).
TEST(Session, StopFlagFromAnotherThreadEndsAn8192TokenPassAtTheNextLayer) {
  LongPass p(8192, 12);
  StopFlag flag;
  std::atomic<int> polls_after_raise{0};
  ForwardOptions o;
  o.should_stop = [&] {
    const bool stop = flag.check()();
    if (stop) ++polls_after_raise;
    return stop;
  };
  std::chrono::steady_clock::time_point raised;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    raised = std::chrono::steady_clock::now();
    flag.set();
  });
  bool cancelled = false;
  try {
    p.model->forward(p.batch, o);
  } catch (const Error& e) {
    cancelled = e.kind() == ErrorKind::Cancelled;
  }
  const auto returned = std::chrono::steady_clock::now();
  stopper.join();
  if (!cancelled) GTEST_SKIP() << "the pass finished before the flag was raised (fast machine)";
  EXPECT_EQ(polls_after_raise.load(), 1);  // the first poll after the flag ended the pass
  const double latency = std::chrono::duration<double>(returned - raised).count();
  RecordProperty("cancel_latency_ms", (int)(latency * 1000));
}

}  // namespace
}  // namespace medenc
