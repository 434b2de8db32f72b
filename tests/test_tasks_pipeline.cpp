// The streaming job runner on a fake model and task: order, error lines, token-budget batches
// sorted by length inside the read-ahead window, fail-on-error.
#include <sstream>

#include <gtest/gtest.h>

#include "medenc/error.h"
#include "medenc/pipeline.h"
#include "medenc/result_json.h"

namespace medenc {
namespace {

// A "model" whose sequence logits are [length, first id]; it records every batch.
class RecordingEncoder : public Encoder {
 public:
  RecordingEncoder() { info_.head.kind = HeadKind::SequenceClassification; }
  const ModelInfo& info() const override { return info_; }
  std::unique_ptr<EncoderWorkspace> make_workspace() const override { return std::make_unique<EncoderWorkspace>(); }
  using Encoder::forward;
  ForwardOutput forward(const Batch& batch, const ForwardOptions&, EncoderWorkspace&) const override {
    std::vector<int64_t> lengths;
    ForwardOutput out;
    out.logits_rows = batch.size();
    out.logits_cols = 2;
    for (int64_t b = 0; b < batch.size(); ++b) {
      lengths.push_back(batch.length(b));
      out.logits.push_back((float)batch.length(b));
      out.logits.push_back((float)batch.ids[batch.offsets[b]]);
    }
    batches.push_back(lengths);
    return out;
  }
  double forward_flops(const Batch&) const override { return 0; }

  mutable std::vector<std::vector<int64_t>> batches;

 private:
  ModelInfo info_;
};

// One token per byte of the text; "reject" is refused by the task itself.
class BytesTask : public Task {
 public:
  void prepare(Job& job) const override {
    if (job.doc.text == "reject") throw Error("rejected by the task");
    Window& w = job.windows.emplace_back();
    for (unsigned char c : job.doc.text) w.enc.ids.push_back(c);
    if (w.enc.ids.empty()) w.enc.ids.push_back(0);
  }
  void collect(const ForwardOutput& out, const Batch& batch, std::span<Window* const> windows) const override {
    for (int64_t b = 0; b < batch.size(); ++b)
      windows[b]->values.assign(out.logits.begin() + 2 * b, out.logits.begin() + 2 * b + 2);
  }
  // The result is an "embedding" [length, first id].
  void finish(Job& job) const override { job.result = job.windows[0].values; }
};

std::vector<nlohmann::json> lines_of(const std::string& s) {
  std::vector<nlohmann::json> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(TasksPipeline, OneLinePerInputInOrderWithErrorsInPlace) {
  std::string input;
  const std::vector<std::string> texts{"aaaaaaa", "b", "ccccccccccccccc", "dd", "eeeee", "f", "gggggggggg"};
  for (size_t i = 0; i < texts.size(); ++i) {
    if (i == 3) input += "{\"id\": \"m\", \"text\": \"unterminated}\n";  // malformed, in the middle
    if (i == 5) input += "{\"id\": 99, \"txt\": \"x\"}\n";               // missing field
    if (i == 6) input += "{\"text\": \"reject\"}\n";                     // refused by the task
    input += "{\"id\": " + std::to_string(i) + ", \"text\": \"" + texts[i] + "\"}\n";
  }
  std::istringstream in(input);
  auto reader = make_document_reader(in, InputOptions{}, "in.jsonl");
  RecordingEncoder model;
  BytesTask task;
  std::ostringstream out;
  PipelineOptions o;
  o.read_ahead = 4;         // several read-ahead windows
  o.max_batch_tokens = 16;  // several batches per window
  const PipelineStats stats = run_pipeline_jsonl(model, task, *reader, out, o);

  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 10u);
  EXPECT_EQ(stats.documents, 10);
  EXPECT_EQ(stats.error_lines, 3);
  size_t t = 0;
  for (size_t l = 0; l < lines.size(); ++l) {
    const auto& j = lines[l];
    if (l == 3) {
      EXPECT_EQ(j["line"], 4);
      EXPECT_NE(j["error"].get<std::string>().find("malformed JSON"), std::string::npos);
      EXPECT_FALSE(j.contains("id"));
      continue;
    }
    if (l == 6) {
      EXPECT_EQ(j["error"], "missing field \"text\"");
      EXPECT_EQ(j["id"], 99);
      EXPECT_EQ(j["line"], 7);
      continue;
    }
    if (l == 8) {
      EXPECT_EQ(j["error"], "rejected by the task");
      EXPECT_EQ(j["line"], 9);
      continue;
    }
    EXPECT_EQ(j["id"], t);
    EXPECT_EQ(j["embedding"][0], texts[t].size());
    EXPECT_EQ(j["embedding"][1], (int)texts[t][0]);
    EXPECT_FALSE(j.contains("error"));
    ++t;
  }
  EXPECT_EQ(t, texts.size());

  // Batches: within the budget (a longer sequence alone), longest first inside each window.
  int64_t sequences = 0;
  for (const auto& b : model.batches) {
    int64_t tokens = 0;
    for (size_t i = 0; i < b.size(); ++i) {
      tokens += b[i];
      if (i > 0) {
        EXPECT_GE(b[i - 1], b[i]);
      }
    }
    if (b.size() > 1) {
      EXPECT_LE(tokens, 16);
    }
    sequences += (int64_t)b.size();
  }
  EXPECT_EQ(sequences, 7);
  EXPECT_EQ(stats.windows, 7);
  // The first read-ahead window holds texts 0..2 and a bad line: 15 goes alone, then 7 + 1.
  ASSERT_GE(model.batches.size(), 2u);
  EXPECT_EQ(model.batches[0], (std::vector<int64_t>{15}));
  EXPECT_EQ(model.batches[1], (std::vector<int64_t>{7, 1}));
}

TEST(TasksPipeline, FailOnErrorWritesTheLinesBeforeAndStops) {
  std::istringstream in("{\"text\": \"ab\"}\n{\"text\": \"cde\"}\n{\"text\": 3}\n{\"text\": \"never run\"}\n");
  auto reader = make_document_reader(in, InputOptions{}, "notes.jsonl");
  RecordingEncoder model;
  BytesTask task;
  std::ostringstream out;
  PipelineOptions o;
  o.fail_on_error = true;
  o.source = "notes.jsonl";
  try {
    run_pipeline_jsonl(model, task, *reader, out, o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "notes.jsonl: line 3: field \"text\" is not a string");
  }
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1]["embedding"][0], 3);
}

TEST(TasksPipeline, EmptyInputWritesNothing) {
  std::istringstream in("");
  auto reader = make_document_reader(in, InputOptions{}, "empty");
  RecordingEncoder model;
  BytesTask task;
  std::ostringstream out;
  const auto stats = run_pipeline_jsonl(model, task, *reader, out, PipelineOptions{});
  EXPECT_EQ(stats.documents, 0);
  EXPECT_EQ(out.str(), "");
  EXPECT_TRUE(model.batches.empty());
}

TEST(TasksPipeline, RequireHeadNamesTheRightCommand) {
  ModelInfo info;
  info.dir = "models/mlm";
  info.head.kind = HeadKind::MaskedLM;
  info.head.architecture = "ModernBertForMaskedLM";
  try {
    require_head(info, HeadKind::SequenceClassification, "classify");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("models/mlm"), std::string::npos) << m;
    EXPECT_NE(m.find("ModernBertForMaskedLM"), std::string::npos) << m;
    EXPECT_NE(m.find("medenc fill-mask"), std::string::npos) << m;
  }
  EXPECT_NO_THROW(require_head(info, HeadKind::MaskedLM, "fill-mask"));
}

}  // namespace
}  // namespace medenc
